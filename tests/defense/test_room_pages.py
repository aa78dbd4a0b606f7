"""Pages of live scoring: room and sheet rendering, case list, quality report, exports, roles, demo, CLI."""
import io
from decimal import Decimal

import openpyxl
import pytest

from certify.domain import CANDIDATE, PANELIST, SECRETARIAT, SUPERVISOR
from certify.extensions import db
from certify.models import ComponentScore
from defense.scoring import operations as ops
from defense.scoring.models import DefenseCase, Rubric
from tests.conftest import login
from tests.defense.conftest_scoring import scoring_panel  # noqa: F401

ROUTES = {  # path template → roles allowed
    "/defense/room": {PANELIST},
    "/defense/cases": {SECRETARIAT, SUPERVISOR},
    "/defense/quality": {SECRETARIAT, SUPERVISOR},
    "/defense/export/{code}.xlsx": {SECRETARIAT, SUPERVISOR},
}


def finalise_one(setup, totals=("80", "85", "90"), case_index=0):
    """Score and finalise a case through the operations (as the socket handlers do)."""
    panel = setup.panel
    cases = ops.ensure_cases(panel)
    case = cases[case_index]
    ops.check_in(case)
    ops.call_next(panel)
    rubric = ops.get_rubric(panel.round_id)
    ids = [str(c.id) for c in rubric.criteria]
    for sheet, total in zip(sorted(case.sheets, key=lambda s: s.id), totals):
        t = Decimal(total)
        scores = dict(zip(ids, [str(min(t, 30)), str(min(30, t - min(t, 30))), str(t - min(t, 30) - min(30, t - min(t, 30)))]))
        ops.submit_sheet(sheet, scores, sheet.version)
    ops.end_defense(case)
    if case.state == "flagged":
        ops.confirm_flags(case, "维持")
    ops.finalise(case)
    db.session.commit()
    return case


@pytest.mark.parametrize("role", [PANELIST, SECRETARIAT, SUPERVISOR, CANDIDATE])
def test_route_roles(client, login_as, role, scoring_panel):
    setup = scoring_panel(members=3)
    ops.ensure_cases(setup.panel)  # as publication or the room's first join does (a read never creates cases)
    db.session.commit()
    login_as(role)
    for template, roles in ROUTES.items():
        resp = client.get(template.format(code=setup.round.code))
        if role in roles:
            assert resp.status_code in (200, 302), (template, role, resp.status_code)
        else:
            assert resp.status_code == 403, (template, role)
    for path in (f"/defense/room/{setup.panel.id}", f"/defense/room/{setup.panel.id}/sheet/1"):
        assert client.get(path).status_code == 403  # not a member (or not a panelist at all)
    # a waiting case cannot be reopened (refused with a message)
    resp = client.post("/defense/cases/1/reopen", data={"reason": "x"}, follow_redirects=True)
    if role == SECRETARIAT:
        assert "不能重新开放" in resp.get_data(as_text=True)
    else:
        assert resp.status_code == 403


def test_room_and_sheet_pages_render_for_members(client, scoring_panel):
    setup = scoring_panel(members=3)
    login(client, "p0")
    resp = client.get("/defense/room")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/defense/room/{setup.panel.id}")
    html = client.get(f"/defense/room/{setup.panel.id}").get_data(as_text=True)
    assert 'data-is-chair="1"' in html and "叫号" in html and "socket.io.min.js" in html and "<script>" not in html
    assert db.session.execute(db.select(DefenseCase)).first() is None  # reading the page created nothing
    ops.ensure_cases(setup.panel)  # what the page's socket "join" does
    db.session.commit()
    case = db.session.execute(db.select(DefenseCase)).scalars().first()
    html = client.get(f"/defense/room/{setup.panel.id}/sheet/{case.id}").get_data(as_text=True)
    for text in ("认识理解", "科技素养", "组织策划能力", 'step="0.5"', 'max="40.00"', "js/defense/sheet.js"):
        assert text in html
    client.post("/logout")
    login(client, "p1")
    assert 'data-is-chair="0"' in client.get(f"/defense/room/{setup.panel.id}").get_data(as_text=True)


def test_export_has_identifying_columns_scores_status_and_every_sheet(client, login_as, scoring_panel):
    setup = scoring_panel(members=3, candidates=3)
    finalise_one(setup, ("80", "85", "90.5"))
    cases = ops.ensure_cases(setup.panel)
    ops.mark_absent(cases[1])
    db.session.commit()
    login_as(SUPERVISOR)
    resp = client.get(f"/defense/export/{setup.round.code}.xlsx?full=1")  # full is ignored for supervisors
    wb = openpyxl.load_workbook(io.BytesIO(resp.data))
    main, detail = wb.worksheets
    rows = list(main.iter_rows(values_only=True))
    assert rows[0] == ("准考证号", "姓名", "证件号", "工作单位", "认证级别", "答辩成绩", "状态")
    by_ticket = {r[0]: r for r in rows[1:]}
    first, second = setup.candidates[0], setup.candidates[1]
    assert by_ticket[first.ticket][5] == pytest.approx(85.17) and by_ticket[first.ticket][6] == "已定分"
    assert by_ticket[first.ticket][2] == first.id_number[:6] + "********" + first.id_number[-4:]
    assert by_ticket[second.ticket][5] is None and by_ticket[second.ticket][6] == "缺考"
    detail_rows = list(detail.iter_rows(values_only=True))
    assert detail_rows[0][:7] == ("准考证号", "姓名", "证件号", "工作单位", "认证级别", "答辩组", "专家")
    assert "总分" in detail_rows[0] and "提交时间" in detail_rows[0] and "是否退回重评" in detail_rows[0]
    first_rows = [r for r in detail_rows[1:] if r[0] == first.ticket]
    total_col = detail_rows[0].index("总分")
    assert sorted(r[total_col] for r in first_rows) == [80, 85, 90.5]
    client.post("/logout")
    login_as(SECRETARIAT)
    wb = openpyxl.load_workbook(io.BytesIO(client.get(f"/defense/export/{setup.round.code}.xlsx?full=1").data))
    assert wb.worksheets[0]["C2"].value == first.id_number
    # the full-ID download is audited (its own transaction after the read); the supervisor's masked one is not
    from certify.models import AuditEntry

    entries = db.session.execute(db.select(AuditEntry).filter_by(action="defense.export_full")).scalars().all()
    assert len(entries) == 1 and entries[0].round_id == setup.round.id and entries[0].detail["fmt"] == "xlsx"
    assert entries[0].actor_id is not None
    csv_text = client.get(f"/defense/export/{setup.round.code}.csv").data.decode("utf-8-sig")
    assert csv_text.splitlines()[0] == "准考证号,姓名,证件号,工作单位,认证级别,答辩成绩,状态"
    assert "85.17" in csv_text and "缺考" in csv_text and first.id_number not in csv_text
    sheets_csv = client.get(f"/defense/export/{setup.round.code}.csv?part=sheets").data.decode("utf-8-sig")
    assert "专家p0" in sheets_csv and "90.5" in sheets_csv


def test_cli_export_defense(app, scoring_panel, tmp_path):
    setup = scoring_panel(members=3)
    finalise_one(setup)
    out = tmp_path / "defense.xlsx"
    result = app.test_cli_runner().invoke(args=["export", "defense", "--round", setup.round.code, str(out)])
    assert result.exit_code == 0, result.output
    wb = openpyxl.load_workbook(out)
    assert [ws.title for ws in wb.worksheets] == ["答辩成绩", "专家评分表"]
    assert wb.worksheets[0]["F2"].value == 85


def test_quality_report_and_case_list(client, login_as, scoring_panel):
    setup = scoring_panel(members=3, candidates=3)
    finalise_one(setup, ("80", "84", "90"), 0)
    finalise_one(setup, ("70", "76", "78"), 1)
    finalise_one(setup, ("60", "66", "70"), 2)
    login_as(SUPERVISOR)
    html = client.get(f"/defense/quality?round={setup.round.code}").get_data(as_text=True)
    assert "第一答辩组" in html and "ICC(3,1)" in html and "Kendall W" in html and "宽严度" in html
    assert "1.000" in html  # the three panelists rank the three candidates identically: W = 1
    html = client.get(f"/defense/cases?round={setup.round.code}").get_data(as_text=True)
    assert "已定分" in html and "重新开放" not in html.split("<tbody>")[1].split("</tbody>")[0].replace("<th>重新开放", "")


def test_quality_report_from_plain_rows_matches_the_cases_and_their_sheets(scoring_panel):
    from defense.scoring.reports import panel_quality
    from defense.services import rater_stats
    from defense.services.states import CaseState, SheetStatus

    setup = scoring_panel(members=3, candidates=4)
    for i, totals in enumerate((("80", "84", "90"), ("70", "76", "78"), ("60", "66", "95"))):
        finalise_one(setup, totals, i)
    db.session.commit()
    [report] = panel_quality(setup.round)
    cases = ops.round_cases(setup.round)  # the ORM objects, as the report used to read them
    ratings = {c.id: {s.panelist_id: s.total for s in c.sheets if s.status == SheetStatus.SUBMITTED}
               for c in cases if c.state == CaseState.FINALISED}
    assert len(ratings) == 3 and report["cases"] == len(cases) == 4 and report["finalised"] == 3
    assert report["icc"] == rater_stats.icc(ratings) and report["kendall_w"] == rater_stats.kendalls_w(ratings)
    severity = rater_stats.severity(ratings)
    assert [m["severity"] for m in report["members"]] == [severity.get(m.panelist_id) for m in
                                                          sorted(setup.panel.members, key=lambda m: m.id)]
    assert [m["scored"] for m in report["members"]] == [3, 3, 3]
    assert report["discrepancies"] == sum(1 for c in cases if c.flags)


def test_case_list_is_paged_and_filtered_by_panel_and_state(client, login_as, scoring_panel, monkeypatch):
    from defense.scoring import routes

    setup = scoring_panel(members=3, candidates=3)
    finalise_one(setup, ("80", "84", "90"), 0)
    db.session.commit()
    monkeypatch.setattr(routes, "CASES_PER_PAGE", 2)
    login_as(SUPERVISOR)
    base = f"/defense/cases?round={setup.round.code}"

    def rows(url):
        html = client.get(url).get_data(as_text=True)
        return html.split("<tbody>")[1].split("</tbody>")[0].count("<tr>"), html

    (n1, page1), (n2, _page2) = rows(base), rows(base + "&page=2")
    assert (n1, n2) == (2, 1) and "第 1 / 2 页，共 3 条" in page1 and "page=2" in page1
    n, html = rows(f"{base}&state=finalised")
    assert n == 1 and "已定分" in html
    assert rows(f"{base}&panel={setup.panel.id}")[0] == 2
    assert "没有符合筛选条件的考生" in rows(f"{base}&state=absent")[1]
    assert client.get(f"{base}&panel=x").status_code == 400


def test_demo_step_creates_the_default_rubric(app, ctx):
    from certify.demo import run_demo

    run_demo(lambda *a, **k: None)
    rubric = db.session.execute(db.select(Rubric)).scalar_one()
    assert [(c.name, c.max_points) for c in rubric.criteria] == [
        ("认识理解", Decimal("30")), ("科技素养", Decimal("30")), ("组织策划能力", Decimal("40"))]
    assert rubric.spread_threshold == Decimal("20") and rubric.max_total == Decimal("100")
    # No defense score is invented by the demo (other areas' demo steps may record their own components).
    assert db.session.execute(db.select(ComponentScore).filter_by(component="defense")).first() is None


def test_chair_locks_a_score_through_the_confirmation_page(app, client, scoring_panel):
    """确定成绩（锁定）: a page with each member's total, which count and the score to lock; the POST without the box
    and a reason is refused and changes nothing; members other than the chair get 403."""
    setup = scoring_panel(members=3)
    panel = setup.panel
    case = ops.ensure_cases(panel)[0]
    ops.check_in(case)
    ops.call_next(panel)
    rubric = ops.get_rubric(panel.round_id)
    ids = [str(c.id) for c in rubric.criteria]
    for sheet, total in zip(sorted(case.sheets, key=lambda s: s.id), (25, 26, 27)):
        ops.submit_sheet(sheet, dict(zip(ids, [str(total), "0", "0"])), sheet.version)
    ops.end_defense(case)
    db.session.commit()
    path = f"/defense/room/{panel.id}/finalise/{case.id}"
    member = app.test_client()
    login(member, setup.users[1].username)
    assert member.get(path).status_code == 403 and member.post(path).status_code == 403  # not the chair
    login(client, setup.chair.username)
    page = client.get(path).get_data(as_text=True)
    assert 'id="f-score">26.0000<' in page and page.count("计入") >= 3 and 'name="acknowledge"' in page
    for data in ({}, {"acknowledge": "y"}, {"reason": "合议无异议"}):
        resp = client.post(path, data=data, headers={"Accept": "application/json"})
        assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "confirmation_required"
    db.session.expire_all()
    assert db.session.get(DefenseCase, case.id).state == "scoring"
    resp = client.post(path, data={"acknowledge": "y", "reason": "合议无异议"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/defense/room/{panel.id}")
    db.session.expire_all()
    locked = db.session.get(DefenseCase, case.id)
    assert locked.state == "finalised" and locked.score == Decimal("26")
    from certify.models import AuditEntry

    entry = db.session.execute(db.select(AuditEntry).filter_by(action="defense.finalise")).scalar_one()
    assert entry.reason == "合议无异议"
    row = db.session.execute(db.select(ComponentScore).filter_by(candidate_id=case.candidate_id)).scalar_one()
    assert row.score == Decimal("26")
    assert client.get(path).status_code == 302  # already locked: back to the room with the reason
