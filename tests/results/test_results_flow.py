"""Totals, freezing, reopen, publication, complaints, exports and role rules through the app."""
from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal

import pytest
import time_machine
from openpyxl import load_workbook

from certify.extensions import db
from certify.models import AuditEntry
from certify.results import operations as ops
from certify.results.exports import PUBLICITY_HEADERS, RESULT_HEADERS, results_sheet
from certify.results.models import CERTIFIED
from certify.scores import record_component
from tests.conftest import login

D = Decimal


def actions():
    return [e.action for e in db.session.execute(db.select(AuditEntry).order_by(AuditEntry.id)).scalars()]


@pytest.fixture
def cq_mid(make_round, scored):
    """Chongqing intermediate (20/40/40) with ties at the cut line, an absent and a .xx5 total."""
    rnd = make_round("2024-cq", "重庆")
    c = {
        "a": scored(rnd, "中级", exam="88.125", defense=90, record="70.5", name="甲"),   # 81.825 -> 81.83
        "b": scored(rnd, "中级", exam=80, defense=80, record=80, name="乙"),            # 80
        "c": scored(rnd, "中级", exam=100, defense=70, record=80, name="丙"),           # 20+28+32 = 80
        "d": scored(rnd, "中级", exam=60, defense=60, record=60, name="丁"),            # 60
        "e": scored(rnd, "中级", exam="absent", defense=90, record=90, name="戊"),      # 缺考
        "f": scored(rnd, "中级", exam=50, defense=50, record=50, name="己"),            # 50
    }
    return rnd, c


def test_preview_ranks_ties_and_absent(ctx, cq_mid):
    rnd, c = cq_mid
    comp = ops.compute(rnd, "中级", ratio=D("0.4"))  # eligible 5, quota round(2.0) = 2; b, c tie at #2
    by = {ln.candidate.id: ln for ln in comp.lines}
    assert by[c["a"].id].total == D("81.825") and by[c["a"].id].rank == 1
    assert (by[c["b"].id].rank, by[c["c"].id].rank, by[c["d"].id].rank, by[c["f"].id].rank) == (2, 2, 4, 5)
    assert [by[c[k].id].outcome for k in "abcdf"] == ["certified", "certified", "certified", "not_certified",
                                                      "not_certified"]
    assert by[c["e"].id].outcome == "absent" and by[c["e"].id].rank is None
    assert (comp.eligible, comp.quota, comp.certified, comp.cut_line) == (5, 2, 3, D("80"))
    # quota at .5: ratio 0.5 × 5 = 2.5 -> 3 ; with min total 81 only a
    assert ops.compute(rnd, "中级", ratio=D("0.5")).quota == 3
    assert ops.compute(rnd, "中级", ratio=D("1"), min_total=D("81"), override_min=True).certified == 1


def test_missing_component_blocks_confirmation_with_a_list(ctx, make_round, scored):
    rnd = make_round("2024-cq", "重庆")
    scored(rnd, "初级", exam=80, record=80)
    lacking = scored(rnd, "初级", exam=70, name="缺项")
    with pytest.raises(ops.ResultsError) as info:
        ops.confirm(rnd, "初级")
    assert any(lacking.ticket in item and "业绩成果得分" in item for item in info.value.items)


def test_confirm_freezes_and_reopen_needs_a_reason(ctx, cq_mid):
    rnd, c = cq_mid
    rs = ops.confirm(rnd, "中级", ratio=D("0.4"))
    db.session.commit()
    record_component(c["d"], "exam", D("100"), source="regrade")  # later change: must not alter frozen rows
    db.session.commit()
    frozen = ops.current(rnd, "中级")
    assert frozen.confirmed and frozen.cut_line == D("80") and frozen.certified == 3
    d_line = next(ln for ln in frozen.lines if ln.candidate.id == c["d"].id)
    assert d_line.total == D("60") and d_line.rank == 4
    changes = ops.drift(rs)
    assert [(cand.id, comp, was, now) for cand, comp, was, now in changes] == [(c["d"].id, "exam", D("60"), "100.00")]
    with pytest.raises(ops.ResultsError):
        ops.confirm(rnd, "中级")
    with pytest.raises(ops.ResultsError):
        ops.reopen(rnd, "中级", "  ")
    ops.reopen(rnd, "中级", "笔试复核后更正")
    db.session.commit()
    assert not ops.current(rnd, "中级").confirmed
    assert next(ln for ln in ops.current(rnd, "中级").lines if ln.candidate.id == c["d"].id).total == D("68")
    reopen = db.session.execute(db.select(AuditEntry).filter_by(action="results.reopen")).scalar_one()
    assert reopen.reason == "笔试复核后更正" and reopen.target_id == str(rs.id)


def _publish(rnd, start=date(2024, 7, 1)):
    for level in ops.levels_with_candidates(rnd):
        if not ((rs := ops.result_set_for(rnd, level)) and rs.confirmed):
            ops.confirm(rnd, level, ratio=D("0.4"))
    period = ops.publish(rnd, start)
    db.session.commit()
    return period


def test_publication_period_and_complaint_revokes(ctx, cq_mid, make_user):
    rnd, c = cq_mid
    period = _publish(rnd, date(2024, 7, 3))
    assert period.end_date == date(2024, 7, 9)  # 5 working days, weekend skipped
    sup = make_user("supervisor")
    with time_machine.travel(datetime(2024, 7, 2, 2, 0), tick=False):  # before the period (Beijing 10:00)
        with pytest.raises(ops.ResultsError, match="尚未开始"):
            ops.record_complaint(rnd, c["b"].ticket, "业绩材料不实", actor=sup)
    with time_machine.travel(datetime(2024, 7, 10, 2, 0), tick=False):  # after the period: only with a reason
        with pytest.raises(ops.ResultsError, match="须填写理由"):
            ops.record_complaint(rnd, c["b"].ticket, "业绩材料不实", actor=sup)
    with time_machine.travel(datetime(2024, 7, 8, 2, 0), tick=False):
        complaint = ops.record_complaint(rnd, c["b"].ticket, "业绩材料不实", complainant="匿名", actor=sup)
        db.session.commit()
    with pytest.raises(ops.ResultsError):
        ops.decide_complaint(complaint, "upheld", "", actor=sup)  # outcome needs a note
    ops.decide_complaint(complaint, "upheld", "经核查业绩材料造假", actor=sup)
    db.session.commit()
    line = next(ln for ln in ops.current(rnd, "中级").lines if ln.candidate.id == c["b"].id)
    assert line.outcome == CERTIFIED and line.revoked and line.final_outcome == "not_certified"
    revoke = db.session.execute(db.select(AuditEntry).filter_by(action="results.revoke")).scalar_one()
    assert revoke.reason == "经核查业绩材料造假" and revoke.actor_id == sup.id
    # the revocation survives a reopen and a new confirmation
    ops.reopen(rnd, "中级", "重算")
    ops.confirm(rnd, "中级", ratio=D("0.4"))
    db.session.commit()
    line = next(ln for ln in ops.current(rnd, "中级").lines if ln.candidate.id == c["b"].id)
    assert line.revoked and line.final_outcome == "not_certified"


def test_results_export_columns_masking_and_numbers(ctx, cq_mid, client, login_as):
    rnd, c = cq_mid
    _publish(rnd)
    sheet = results_sheet(rnd, masked=False)
    assert sheet.headers == RESULT_HEADERS == ["准考证号", "姓名", "证件号", "工作单位", "认证级别", "笔试成绩",
                                               "答辩成绩", "业绩成果得分", "总分", "排名", "认证结果"]
    login_as("secretariat")
    wb = load_workbook(io.BytesIO(client.get(f"/results/{rnd.code}/export/results.xlsx").data))
    ws = wb.active
    assert [cell.value for cell in ws[1]] == RESULT_HEADERS and ws.freeze_panes == "A2"
    rows = {r[0].value: r for r in ws.iter_rows(min_row=2)}
    a = rows[c["a"].ticket]
    assert a[2].value == c["a"].id_number  # full ID for the secretariat
    assert a[8].value == 81.83 and a[8].number_format == "0.00" and a[5].value == 88.13
    assert (a[9].value, a[10].value) == (1, "认定")
    e = rows[c["e"].ticket]
    assert (e[5].value, e[8].value, e[9].value, e[10].value) == (None, None, None, "缺考")
    csv_text = client.get(f"/results/{rnd.code}/export/results.csv").data
    assert csv_text.startswith(b"\xef\xbb\xbf") and b"81.83" in csv_text
    client.post("/logout")

    login_as("supervisor")
    masked = client.get(f"/results/{rnd.code}/export/results.csv").data.decode("utf-8-sig")
    assert c["a"].id_number not in masked and c["a"].id_number[:6] in masked
    pub = client.get(f"/results/{rnd.code}/export/publicity.xlsx")
    ws = load_workbook(io.BytesIO(pub.data)).active
    assert [cell.value for cell in ws[1]] == PUBLICITY_HEADERS
    flat = " ".join(str(cell.value) for row in ws.iter_rows() for cell in row)
    assert all(cand.id_number[:6] not in flat and cand.id_number not in flat for cand in c.values())
    page = client.get(f"/results/{rnd.code}/publicity").get_data(as_text=True)
    assert "甲" in page and c["a"].id_number not in page and "2024年07月05日" in page


def test_jilin_junior_and_empty_components_in_export(ctx, make_round, scored):
    rnd = make_round("2024-jl", "吉林")
    cand = scored(rnd, "初级", record="77.125", name="吉一")
    row = results_sheet(rnd, masked=True).rows[0]
    assert row[5] is None and row[6] is None and row[7] == D("77.13") and row[8] == D("77.13")
    assert row[2] != cand.id_number


def test_role_rules(ctx, cq_mid, client, make_user, make_candidate):
    rnd, c = cq_mid
    # a candidate sees nothing before release
    assert login(client, c["a"].ticket).status_code == 302
    page = client.get("/results/mine").get_data(as_text=True)
    assert "尚未发布" in page and "81.83" not in page
    assert client.get(f"/results/{rnd.code}").status_code == 403
    assert client.get(f"/results/{rnd.code}/export/results.csv").status_code == 403
    assert client.get("/audit/").status_code == 403
    client.post("/logout")
    _publish(rnd)
    login(client, c["a"].ticket)
    page = client.get("/results/mine").get_data(as_text=True)
    assert "81.83" in page and "认定" in page and "乙" not in page  # only their own
    home = client.get("/me").get_data(as_text=True)
    assert "81.83" in home
    client.post("/logout")
    # a supervisor reads but cannot confirm or reopen; a panelist sees nothing
    sup = make_user("supervisor")
    login(client, sup.username)
    assert client.get(f"/results/{rnd.code}/preview?level=中级").status_code == 200
    assert client.post(f"/results/{rnd.code}/reopen", data={"level": "中级", "reason": "x"}).status_code == 403
    client.post("/logout")
    pan = make_user("panelist")
    login(client, pan.username)
    assert client.get("/results/").status_code == 403
    assert client.get("/audit/").status_code == 403


def test_secretariat_web_flow_and_supervisor_complaint(ctx, cq_mid, client, make_user):
    rnd, c = cq_mid
    sec = make_user("secretariat")
    login(client, sec.username)
    html = client.get(f"/results/{rnd.code}/preview?level=中级&ratio=0.4").get_data(as_text=True)
    assert 'id="quota">2<' in html and 'id="cut-line">80.00<' in html and 'id="certified">3<' in html
    resp = client.post(f"/results/{rnd.code}/confirm", data={"level": "中级", "ratio": "0.4", "min_total": "",
                                                             "acknowledge": "y", "reason": "按 40% 认定"})
    assert resp.status_code == 302 and ops.result_set_for(rnd, "中级").confirmed
    resp = client.post(f"/results/{rnd.code}/publish", data={"start_date": "2024-07-01", "working_days": "5",
                                                             "acknowledge": "y", "reason": "按期公示"},
                       follow_redirects=True)
    assert "2024-07-05" in resp.get_data(as_text=True)
    # a secretariat may not record complaints (the supervision committee does)
    assert client.post(f"/results/{rnd.code}/complaints", data={"candidate": c["a"].ticket,
                                                                 "content": "x"}).status_code == 403
    client.post("/logout")
    sup = make_user("supervisor")
    with time_machine.travel(datetime(2024, 7, 2, 3, 0), tick=False):  # inside the period (sessions too)
        login(client, sup.username)
        resp = client.post(f"/results/{rnd.code}/complaints", data={"candidate": c["a"].ticket,
                                                                     "content": "成绩有误"}, follow_redirects=True)
        assert "已登记投诉" in resp.get_data(as_text=True)
        complaint_id = db.session.execute(db.select(db.func.max(AuditEntry.target_id)).filter_by(
            action="results.complaint")).scalar_one()
        resp = client.post(f"/results/complaints/{complaint_id}/decide",
                           data={"status": "dismissed", "note": "不属实"}, follow_redirects=True)
        assert "不属实" in resp.get_data(as_text=True)
    assert ops.current(rnd, "中级").certified == 3


def test_audit_view_filters_paginates_and_exports(ctx, cq_mid, client, make_user):
    rnd, c = cq_mid
    ops.confirm(rnd, "中级", ratio=D("0.4"))
    ops.reopen(rnd, "中级", "特殊理由XYZ")
    db.session.commit()
    sup = make_user("supervisor")
    login(client, sup.username)
    html = client.get(f"/audit/?round={rnd.code}&action=results.reopen").get_data(as_text=True)
    assert "特殊理由XYZ" in html and "共 1 条" in html
    assert "共 1 条" in client.get("/audit/?q=特殊理由").get_data(as_text=True)
    assert "共 0 条" in client.get("/audit/?from=2000-01-01&to=2000-01-02").get_data(as_text=True)
    assert "不是有效日期" in client.get("/audit/?from=xx").get_data(as_text=True)
    total = db.session.execute(db.select(db.func.count(AuditEntry.id))).scalar_one()
    assert total > 50 or "第 1 /" not in client.get("/audit/").get_data(as_text=True)
    ws = load_workbook(io.BytesIO(client.get("/audit/export.xlsx?action=results.reopen").data)).active
    assert ws.max_row == 2 and ws["G2"].value == "特殊理由XYZ"
    csv_text = client.get("/audit/export.csv").data.decode("utf-8-sig")
    assert "results.confirm" in csv_text


def test_audit_view_paginates(ctx, make_round, client, make_user):
    rnd = make_round("2024-cq", "重庆")
    from certify.audit import audit
    for i in range(60):
        audit("test.entry", target_type="Round", target_id=rnd.id, round_id=rnd.id, n=i)
    db.session.commit()
    sec = make_user("secretariat")
    login(client, sec.username)
    first = client.get("/audit/?action=test.entry").get_data(as_text=True)
    assert "第 1 / 2 页" in first and "共 60 条" in first
    second = client.get("/audit/?action=test.entry&page=2").get_data(as_text=True)
    assert second.count('<li>n：') == 10  # details are readable "key：value" lines


def test_audit_trail_masks_id_numbers_for_supervisors(ctx, make_round, make_candidate, client, make_user):
    rnd = make_round("2024-cq", "重庆")
    cand = make_candidate(rnd, id_number="11010519491231002X")
    from certify.audit import audit
    audit("test.id", target=cand, round_id=rnd.id, reason="核对 11010519491231002X", id_number=cand.id_number)
    db.session.commit()
    sup = make_user("supervisor")
    login(client, sup.username)
    html = client.get("/audit/?action=test.id").get_data(as_text=True)
    assert "11010519491231002X" not in html and "110105********002X" in html and cand.ticket in html
    assert "11010519491231002X" not in client.get("/audit/export.csv?action=test.id").data.decode("utf-8-sig")
    client.post("/logout")
    sec = make_user("secretariat")
    login(client, sec.username)
    assert "11010519491231002X" in client.get("/audit/export.csv?action=test.id").data.decode("utf-8-sig")


def test_publicity_list_holds_confirmed_levels_only(ctx, cq_mid, scored):
    from certify.results.exports import publicity_sheet

    rnd, c = cq_mid
    junior = scored(rnd, "初级", exam=80, defense=80, record=80, name="初一")
    with pytest.raises(ops.ResultsError, match="尚无已确认"):
        publicity_sheet(rnd)
    ops.confirm(rnd, "中级")
    db.session.commit()
    rows = publicity_sheet(rnd).rows
    certified = {ln.candidate.name for ln in ops.current(rnd, "中级").lines if ln.final_outcome == CERTIFIED}
    assert [r[0] for r in rows] == list(range(1, len(certified) + 1))
    assert certified and certified < {cand.name for cand in c.values()}  # 未认定 and 缺考 are not listed
    assert {r[1] for r in rows} == certified and junior.name not in {r[1] for r in rows}
    assert all(r[3] == "中级" and len(r) == 4 for r in rows)


def test_results_index_queries_do_not_grow_with_rounds(ctx, make_round, scored, client, make_user):
    from sqlalchemy import event

    login(client, make_user("secretariat").username)

    def page_queries():
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            html = client.get("/results/").get_data(as_text=True)
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return html, len(statements)

    first = make_round("2024-cq-a", "重庆")
    scored(first, "中级", exam=80, defense=80, record=80)
    ops.confirm(first, "中级")
    ops.publish(first, date(2024, 7, 1), 5)
    db.session.commit()
    html, one = page_queries()
    assert "2024-cq-a" in html and "已确认" in html and "2024-07-01 至 2024-07-05" in html
    for i in range(3):
        scored(make_round(f"2024-cq-{i}", "重庆"), "初级", exam=70, defense=70, record=70)
    html, four = page_queries()
    assert all(f"2024-cq-{i}" in html for i in range(3)) and four == one
