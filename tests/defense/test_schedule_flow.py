"""Defense organisation with the app: panelist import (real files), panels, days, the scheduler job, manual moves,
publication and change notices, who sees what, printouts, CLI exit codes and exports."""
from __future__ import annotations

import io
from datetime import date

import pytest
from openpyxl import Workbook, load_workbook

from certify.extensions import db
from certify.models import AuditEntry, User
from certify.tabular import ImportFailed
from defense.models import Conflict, Panel, Panelist
from defense.schedule import operations as ops
from defense.schedule import panelist_import
from defense.scoring.models import DefenseCase
from tests.conftest import TEST_PASSWORD, login

HEADER = ["姓名", "工作单位", "专业领域", "手机", "答辩组", "组长"]


def xlsx(*sheets) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    for title, rows in sheets:
        ws = wb.create_sheet(title)
        for r in rows:
            ws.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def roster(n_panels=3, size=3):
    rows = [HEADER]
    k = 0
    for p in range(n_panels):
        for m in range(size):
            k += 1
            rows.append([f"专家{k}", f"专家单位{k}", "科学教育", f"1380000{k:04d}", f"第{p + 1}组", "是" if m == 0 else "否"])
    return rows


@pytest.fixture
def rnd(make_round):
    return make_round("2026-cq", "重庆", 2026)


@pytest.fixture
def cands(rnd, make_candidate):
    out = [make_candidate(rnd, level="中级", work_unit=f"学校{i % 4}") for i in range(9)]
    make_candidate(rnd, level="初级", work_unit="学校0")  # junior: no defense in Chongqing
    return out


def setup_round(rnd, cands, rows=None, conflicts=None, days=("2026-12-01",)):
    sheets = [("评审专家", rows or roster())]
    if conflicts:
        sheets.append(("回避", [["专家姓名", "回避对象"]] + conflicts))
    panelist_import.import_panelists(rnd, xlsx(*sheets), "专家.xlsx")
    for panel in ops.round_panels(rnd):
        panel.room = f"{panel.name}会议室"
    for d in days:
        ops.save_day(rnd, day=date.fromisoformat(d), start="08:30", end="17:30", slot_minutes=20, breaks="12:00-13:30")
    db.session.commit()


# ------------------------------------------------------------------ import

def test_import_creates_panelists_accounts_panels_and_conflicts_idempotently(rnd, cands):
    data = xlsx(("评审专家", roster()), ("回避", [["专家姓名", "回避对象"], ["专家1", cands[0].id_number],
                                              ["专家2", cands[1].ticket], ["专家3", "学校2"]]))
    result = panelist_import.import_panelists(rnd, data, "专家.xlsx")
    db.session.commit()
    assert (result.created, result.panels_created, result.conflicts_added) == (9, 3, 3)
    p1 = db.session.execute(db.select(Panelist).filter_by(name="专家1")).scalar_one()
    shown = {name: password for name, _username, password in result.credentials}  # shown once, never stored
    assert p1.user.role == "panelist" and p1.user.must_change_password and shown["专家1"]
    assert p1.user.check_password(shown["专家1"])
    panels = ops.round_panels(rnd)
    assert [len(p.members) for p in panels] == [3, 3, 3] and all(p.chair is not None for p in panels)
    targets = {(c.panelist.name, c.candidate_id, c.work_unit) for c in ops.round_conflicts(rnd)}
    assert targets == {("专家1", cands[0].id, ""), ("专家2", cands[1].id, ""), ("专家3", None, "学校2")}
    again = panelist_import.import_panelists(rnd, data, "专家.xlsx")
    db.session.commit()
    assert not again.changed and again.unchanged == 9
    assert db.session.execute(db.select(db.func.count(Panelist.id))).scalar() == 9
    assert db.session.execute(db.select(db.func.count(Conflict.id))).scalar() == 3


def test_import_csv_gb18030_with_conflicts_file_and_english_headers(rnd, cands):
    text = "name,work_unit,phone,panel,chair\n" + "\n".join(
        f"专家{k},专家单位{k},,第一组,{'是' if k == 1 else '否'}" for k in range(1, 4)) + "\n"
    conflicts = "panelist,conflict\n专家1,学校1\n".encode("utf-8-sig")
    result = panelist_import.import_panelists(rnd, text.encode("gb18030"), "专家.csv", conflicts, "回避.csv")
    assert result.created == 3 and result.conflicts_added == 1
    # key without a phone: name + work unit
    assert {p.import_key for p in ops.round_panelists(rnd)} >= {"name:专家1|专家单位1"}


def test_import_rejects_every_error_class_and_writes_nothing(rnd, cands):
    rows = [HEADER,
            ["甲", "一中", "", "13800000001", "A组", "是"],
            ["乙", "二中", "", "13800000001", "A组", "是"],  # duplicate key (phone) + second chair of A组
            ["丙", "三中", "", "", "A组", "否"],
            ["丁", "四中", "", "", "B组", "否"],  # B组: no chair, 1 member
            ["", "五中", "", "", "", "也许"],  # missing name, unknown chair value
            ]
    conflicts = [["专家姓名", "回避对象"], ["甲", "不存在的学校"], ["无此人", cands[0].ticket]]
    with pytest.raises(ImportFailed) as info:
        panelist_import.import_panelists(rnd, xlsx(("评审专家", rows), ("回避", conflicts)), "专家.xlsx")
    messages = [(e.row, e.column, e.sheet, e.message) for e in info.value.errors]
    text = "\n".join(str(e) for e in info.value.errors)
    assert any(r == 3 and c == "手机" and "与第 2 行重复" in m for r, c, _, m in messages)
    assert "答辩组「A组」须有且只有一名组长（现有 2 名" in text
    assert "答辩组「B组」须有且只有一名组长（现有 0 名" in text
    assert "答辩组「B组」须有 3–5 名专家（现有 1 名" in text
    assert any(r == 6 and c == "姓名" for r, c, _, _ in messages)
    assert any(r == 6 and c == "组长" and "也许" in m for r, c, _, m in messages)
    assert any(s == "回避" and r == 2 and c == "回避对象" and "不存在的学校" in m for r, c, s, m in messages)
    assert any(s == "回避" and r == 3 and c == "专家姓名" and "无此人" in m for r, c, s, m in messages)
    db.session.rollback()
    assert db.session.execute(db.select(db.func.count(Panelist.id))).scalar() == 0
    assert db.session.execute(db.select(db.func.count(User.id)).filter_by(role="panelist")).scalar() == 0


def test_import_page_shows_row_errors_and_credentials(client, login_as, rnd, cands):
    login_as("secretariat")
    bad = xlsx(("评审专家", [HEADER, ["甲", "一中", "", "", "A组", "否"]]))
    resp = client.post(f"/defense/admin/{rnd.code}/panelists/import",
                       data={"file": (io.BytesIO(bad), "专家.xlsx")}, content_type="multipart/form-data")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "须有且只有一名组长" in html and "未写入任何数据" in html
    resp = client.post(f"/defense/admin/{rnd.code}/panelists/import",
                       data={"file": (io.BytesIO(xlsx(("评审专家", roster()))), "专家.xlsx")},
                       content_type="multipart/form-data")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "新增专家 9 名" in html and "zj-2026-cq-01" in html


# ------------------------------------------------------------------ panels, days

def test_panel_rules_on_manual_entry(rnd, cands):
    setup_round(rnd, cands)
    people = ops.round_panelists(rnd)
    with pytest.raises(ops.DefenseError) as info:
        ops.save_panel(rnd, None, name="新组", room="", member_ids=[p.id for p in people[:2]], chair_id=None)
    assert "须有 3–5 名专家（现为 2 名）" in info.value.message and "组长" in info.value.message
    assert "答辩地点" in info.value.message
    db.session.rollback()
    panel = ops.save_panel(rnd, None, name="新组", room="", meeting_link="https://m.example/1",
                           member_ids=[p.id for p in people[:4]], chair_id=people[1].id)
    assert panel.chair.id == people[1].id and len(panel.members) == 4


def test_day_validation(rnd):
    with pytest.raises(ops.DefenseError, match="休息时段"):
        ops.save_day(rnd, day=date(2026, 12, 1), start="08:30", end="17:30", slot_minutes=20, breaks="12:00")
    with pytest.raises(ops.DefenseError, match="没有任何完整的答辩时段"):
        ops.save_day(rnd, day=date(2026, 12, 1), start="08:30", end="08:40", slot_minutes=20, breaks="")


# ------------------------------------------------------------------ schedule, move, publish

def _assert_valid(rnd):
    seen = set()
    panels = {p.id: p for p in ops.round_panels(rnd)}
    for a in ops.round_assignments(rnd):
        assert (a.panel_id, a.start_at) not in seen
        seen.add((a.panel_id, a.start_at))
        for m in panels[a.panel_id].members:
            assert m.panelist.work_unit != a.candidate.work_unit
            assert not db.session.execute(db.select(Conflict).filter_by(panelist_id=m.panelist_id,
                                                                        candidate_id=a.candidate_id)).first()


def test_schedule_job_runs_in_background_and_reports_progress(client, login_as, rnd, cands):
    rows = roster()
    rows[1][1] = "学校1"  # 专家1 (chair of 第1组) works at 学校1
    setup_round(rnd, cands, rows=rows, conflicts=[["专家4", cands[0].ticket]])
    login_as("secretariat")
    resp = client.post(f"/defense/admin/{rnd.code}/schedule/run")
    assert resp.status_code == 302
    status = client.get(f"/defense/admin/{rnd.code}/schedule/status").get_json()
    assert status["state"] == "running" and status["job_id"]  # queued for the background worker
    from certify.jobs.queue import run_pending

    assert run_pending() == [status["job_id"]]  # what certify worker does
    status = client.get(f"/defense/admin/{rnd.code}/schedule/status").get_json()
    assert status["state"] == "done" and status["progress"] == 100 and "9 名考生" in status["message"]
    db.session.expire_all()
    assignments = ops.round_assignments(rnd)
    assert len(assignments) == 9  # the junior candidate has no defense
    _assert_valid(rnd)
    assert sorted(len(ops.panel_timetable(p)) for p in ops.round_panels(rnd)) == [3, 3, 3]
    page = client.get(f"/defense/admin/{rnd.code}/schedule").get_data(as_text=True)
    assert "第1组" in page and cands[0].name in page


def test_infeasible_schedule_says_why(rnd, cands):
    rows = [HEADER] + [[f"专家{k}", f"学校{k % 4}", "", "", "唯一组", "是" if k == 0 else "否"] for k in range(4)]
    setup_round(rnd, cands, rows=rows)
    result = ops.run_schedule(rnd)
    assert not result.ok
    assert any("与每个答辩组都有回避冲突" in r and cands[0].name in r for r in result.reasons)
    assert not ops.round_assignments(rnd)


def test_manual_move_checks_constraints_and_publication_notifies(client, app, rnd, cands, make_user):
    setup_round(rnd, cands)
    assert ops.run_schedule(rnd).ok
    db.session.commit()
    a = ops.candidate_assignment(cands[0])
    other_panel = next(p for p in ops.round_panels(rnd) if p.id != a.panel_id)
    grid = ops.slot_grid(rnd)
    busy = ops.panel_timetable(other_panel)[0]
    # double booking refused
    with pytest.raises(ops.DefenseError, match="同一答辩组不能同时面试两名考生"):
        ops.move_candidate(rnd, cands[0], other_panel, busy.start_at)
    db.session.rollback()
    # conflict refused: declare one and try to move there
    ops.add_conflict(other_panel.members[1].panelist, cands[0].ticket)
    db.session.commit()
    free = grid[-1][0]
    with pytest.raises(ops.DefenseError, match="须回避"):
        ops.move_candidate(rnd, cands[0], other_panel, free)
    db.session.rollback()
    db.session.delete(db.session.execute(db.select(Conflict)).scalars().first())
    db.session.commit()
    # publish, then a change needs a reason and is marked, audited and shown
    ops.publish_schedule(rnd)
    db.session.commit()
    with pytest.raises(ops.DefenseError, match="须填写理由"):
        ops.move_candidate(rnd, cands[0], other_panel, free)
    db.session.rollback()
    old_panel_id = a.panel_id
    ops.move_candidate(rnd, cands[0], other_panel, free, reason="考生申请改期")
    db.session.commit()
    a = ops.candidate_assignment(cands[0])
    assert a.changed_after_publication and a.panel_id == other_panel.id
    entry = db.session.execute(db.select(AuditEntry).filter_by(action="defense.schedule_change")).scalar_one()
    assert entry.reason == "考生申请改期" and entry.detail["from_panel_id"] == old_panel_id
    # the candidate sees the change notice on their home page
    login(client, cands[0].ticket)
    html = client.get("/").get_data(as_text=True)
    if "答辩安排" in html:  # the candidate home (core) renders the registered panels
        assert "您的答辩安排已变更" in html
    from defense.schedule.setup import candidate_slot_panel

    with app.test_request_context():
        assert "您的答辩安排已变更" in candidate_slot_panel(cands[0])
        assert other_panel.name in candidate_slot_panel(cands[0])
    client.post("/logout")
    # members of both panels see the notice
    old_member = db.session.get(Panel, old_panel_id).members[0].panelist
    new_member = other_panel.members[0].panelist
    for p in (old_member, new_member):
        p.user.set_password(TEST_PASSWORD)
        p.user.must_change_password = False
    db.session.commit()
    login(client, old_member.user.username)
    html = client.get("/defense/schedule").get_data(as_text=True)
    assert "安排变更" in html and "已调出本组" in html and cands[0].name in html
    client.post("/logout")
    login(client, new_member.user.username)
    html = client.get("/defense/schedule").get_data(as_text=True)
    assert "已变更" in html and cands[0].name in html


def test_rescheduling_is_refused_after_publication(rnd, cands):
    setup_round(rnd, cands)
    assert ops.run_schedule(rnd).ok
    ops.publish_schedule(rnd)
    db.session.commit()
    result = ops.run_schedule(rnd)
    assert not result.ok and "已发布" in result.reasons[0]


# ------------------------------------------------------------------ who sees what

def test_panelists_see_only_their_own_panel(client, rnd, cands):
    setup_round(rnd, cands)
    assert ops.run_schedule(rnd).ok
    db.session.commit()
    panels = ops.round_panels(rnd)
    mine, other = panels[0], panels[1]
    me = mine.members[1].panelist
    me.user.set_password(TEST_PASSWORD)
    me.user.must_change_password = False
    db.session.commit()
    login(client, me.user.username)
    assert "尚未发布" in client.get("/defense/schedule").get_data(as_text=True)
    assert client.get(f"/defense/admin/panels/{mine.id}/timetable").status_code == 403  # draft
    ops.publish_schedule(rnd)
    db.session.commit()
    html = client.get("/defense/schedule").get_data(as_text=True)
    mine_names = {a.candidate.name for a in ops.panel_timetable(mine)}
    other_names = {a.candidate.name for a in ops.panel_timetable(other)}
    assert all(n in html for n in mine_names) and not any(f"<td>{n}</td>" in html for n in other_names)
    assert client.get(f"/defense/admin/panels/{mine.id}/timetable").status_code == 200
    sheets = client.get(f"/defense/admin/panels/{mine.id}/blank-sheets").get_data(as_text=True)
    assert sheets.count('class="print-page sheet-page"') == len(mine_names) * len(mine.members)
    assert "组织策划能力" in sheets and "40.00" in sheets
    assert client.get(f"/defense/admin/panels/{other.id}/timetable").status_code == 403
    assert client.get(f"/defense/admin/panels/{other.id}/blank-sheets").status_code == 403
    assert client.get(f"/defense/room/{other.id}").status_code == 403
    assert client.get(f"/defense/admin/{rnd.code}/schedule").status_code == 403


def test_role_rules_on_secretariat_pages(client, login_as, rnd, cands):
    setup_round(rnd, cands)
    login_as("supervisor")
    assert client.get(f"/defense/admin/{rnd.code}/schedule").status_code == 200
    assert client.get(f"/defense/admin/{rnd.code}/panelists").status_code == 200
    assert client.post(f"/defense/admin/{rnd.code}/schedule/run").status_code == 403
    assert client.post(f"/defense/admin/{rnd.code}/schedule/publish").status_code == 403
    assert client.post(f"/defense/admin/{rnd.code}/panelists", data={"new-name": "x"}).status_code == 403
    client.post("/logout")
    login_as("candidate")
    assert client.get(f"/defense/admin/{rnd.code}/schedule").status_code == 403
    assert client.get("/defense/schedule").status_code == 403


def test_secretariat_pages_render_and_manual_entry_works(client, login_as, rnd, cands):
    setup_round(rnd, cands)
    login_as("secretariat")
    for path in ("schedule", "panelists", "panels", "days"):
        assert client.get(f"/defense/admin/{rnd.code}/{path}").status_code == 200
    resp = client.post(f"/defense/admin/{rnd.code}/panelists", data={"new-name": "新专家", "new-work_unit": "新单位"})
    assert resp.status_code == 302
    assert db.session.execute(db.select(Panelist).filter_by(name="新专家")).scalar_one().user is not None
    resp = client.post(f"/defense/admin/{rnd.code}/days", data={"day": "2026-12-03", "start_time": "13:00",
                                                                 "end_time": "15:00", "slot_minutes": "30",
                                                                 "breaks": ""})
    assert resp.status_code == 302 and len(ops.round_days(rnd)) == 2
    resp = client.post(f"/defense/admin/{rnd.code}/conflicts",
                       data={"conflict-panelist_id": ops.round_panelists(rnd)[0].id, "conflict-target": "无此单位"})
    assert resp.status_code == 422 and "无此单位" in resp.get_data(as_text=True)


# ------------------------------------------------------------------ CLI and exports

def test_cli_import_schedule_and_export(app, rnd, cands, tmp_path):
    runner = app.test_cli_runner()
    bad = tmp_path / "bad.csv"
    bad.write_text("姓名,工作单位,答辩组,组长\n甲,一中,A组,否\n", encoding="utf-8")
    result = runner.invoke(args=["import-panelists", "--round", rnd.code, str(bad)])
    assert result.exit_code == 1 and "须有且只有一名组长" in result.output
    good = tmp_path / "good.xlsx"
    good.write_bytes(xlsx(("评审专家", roster())))
    conflicts = tmp_path / "conflicts.csv"
    conflicts.write_text(f"专家姓名,回避对象\n专家1,{cands[0].ticket}\n", encoding="utf-8")
    result = runner.invoke(args=["import-panelists", "--round", rnd.code, str(good), "--conflicts", str(conflicts)])
    assert result.exit_code == 0, result.output
    assert "新增专家 9 名" in result.output and "新增回避 1 条" in result.output
    result = runner.invoke(args=["schedule", "--round", rnd.code])
    assert result.exit_code == 2 and "没有可用的答辩时段" in result.output
    result = runner.invoke(args=["schedule", "--round", rnd.code, "--days", "2026-12-01,2026-12-02",
                                 "--slot-minutes", "30", "--start", "09:00", "--end", "12:00", "--breaks", ""])
    assert result.exit_code == 0, result.output
    assert "已为 9 名考生排定答辩" in result.output and "第1组：3 名考生" in result.output
    with app.app_context():
        for p in db.session.execute(db.select(Panel)).scalars():
            p.room = "301"
        db.session.commit()
    out = tmp_path / "schedule.xlsx"
    result = runner.invoke(args=["export", "schedule", "--round", rnd.code, str(out)])
    assert result.exit_code == 0, result.output
    ws = load_workbook(out).worksheets[0]
    header = [c.value for c in ws[1]]
    assert header[:5] == ["准考证号", "姓名", "证件号", "工作单位", "认证级别"] and "开始时间" in header
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 9 and all("*" in r[2] for r in rows)
    assert rows[0][header.index("开始时间")].startswith("2026-12-01 09:00")  # local time
    bad_round = runner.invoke(args=["schedule", "--round", "nope"])
    assert bad_round.exit_code != 0 and "不存在" in bad_round.output


def test_cli_schedule_infeasible_exit_code(app, rnd, cands, tmp_path):
    runner = app.test_cli_runner()
    f = tmp_path / "p.xlsx"
    f.write_bytes(xlsx(("评审专家", roster(n_panels=1))))
    assert runner.invoke(args=["import-panelists", "--round", rnd.code, str(f)]).exit_code == 0
    result = runner.invoke(args=["schedule", "--round", rnd.code, "--days", "2026-12-01", "--start", "09:00",
                                 "--end", "10:00", "--breaks", ""])
    assert result.exit_code == 2
    assert "容量不足：共有 9 名答辩考生，但只有 3 个时段" in result.output


def test_defense_export_has_identifying_columns_and_sheet_details(app, rnd, cands, tmp_path):
    with app.app_context():
        setup_round(rnd, cands)
        assert ops.run_schedule(rnd).ok
        db.session.commit()
    out = tmp_path / "defense.xlsx"
    result = app.test_cli_runner().invoke(args=["export", "defense", "--round", rnd.code, str(out)])
    assert result.exit_code == 0, result.output
    wb = load_workbook(out)  # a draft: scheduled candidates are listed as waiting; the export created no case
    assert {r[-1] for r in wb.worksheets[0].iter_rows(min_row=2, values_only=True)} == {"待签到"}
    assert wb.worksheets[1].max_row == 1
    with app.app_context():
        assert db.session.execute(db.select(DefenseCase)).first() is None
        ops.publish_schedule(db.session.get(type(rnd), rnd.id))  # publication creates the cases and sheets
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["export", "defense", "--round", rnd.code, str(out)])
    assert result.exit_code == 0, result.output
    wb = load_workbook(out)
    assert [c.value for c in wb.worksheets[0][1]][:5] == ["准考证号", "姓名", "证件号", "工作单位", "认证级别"]
    detail = [c.value for c in wb.worksheets[1][1]]
    assert detail[:5] == ["准考证号", "姓名", "证件号", "工作单位", "认证级别"] and "专家" in detail
    assert wb.worksheets[1].max_row == 1 + 9 * 3  # one sheet per candidate × panelist


def test_demo_step_builds_panels_and_publishes_a_valid_schedule(ctx):
    from certify.models import Round
    from certify.registry import demo_steps

    def run_demo(echo):  # the core steps (accounts, candidates) and this area's step: independent of others
        context = {"logins": [], "print": echo}
        for _order, name, step in demo_steps():
            if name.startswith("core.") or name == "defense.panels":
                step(context)
                db.session.flush()
        db.session.commit()
        return context

    lines = []
    context = run_demo(lines.append)
    rnd = db.session.execute(db.select(Round).filter_by(code="demo-cq")).scalar_one()
    panelists = ops.round_panelists(rnd)
    panels = ops.round_panels(rnd)
    assert 9 <= len(panelists) <= 12 and len(panels) == 3
    assert all(p.chair is not None and 3 <= len(p.members) <= 5 for p in panels)
    assert all(p.user.check_password("demo12345") and not p.user.must_change_password for p in panelists)
    assert len(ops.round_conflicts(rnd)) == 1 and len(ops.round_days(rnd)) == 2
    assert ops.is_published(rnd)
    assigned = {a.candidate_id for a in ops.round_assignments(rnd)}
    assert assigned == {c.id for c in ops.defense_candidates(rnd)}
    _assert_valid(rnd)
    logins = {row[1] for row in context["logins"]}
    chair = panels[0].chair
    assert chair.user.username in logins
    assert any("已排入 3 个答辩组并发布" in line for line in lines)
    run_demo(lambda *a: None)  # re-runnable
    assert len(ops.round_panelists(rnd)) == len(panelists)


def test_refused_post_goes_back_with_reasons_and_publication_creates_the_cases(client, login_as, rnd, cands):
    setup_round(rnd, cands)
    login_as("secretariat")
    resp = client.post(f"/defense/admin/{rnd.code}/schedule/publish")  # nothing scheduled yet: refused
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/defense/admin/{rnd.code}/schedule")
    assert "还没有答辩安排" in client.get(resp.headers["Location"]).get_data(as_text=True)
    assert not ops.is_published(rnd)
    assert ops.run_schedule(rnd).ok
    db.session.commit()
    assert db.session.execute(db.select(DefenseCase)).first() is None
    assert client.get(f"/defense/admin/{rnd.code}/schedule").status_code == 200  # reading creates nothing
    page = client.get(f"/defense/admin/{rnd.code}/schedule/publish").get_data(as_text=True)
    assert f'id="d-candidates">{len(cands)}<' in page and 'name="acknowledge"' in page
    for data in ({}, {"acknowledge": "y"}, {"reason": "按期发布"}):  # not confirmed: refused, nothing published
        resp = client.post(f"/defense/admin/{rnd.code}/schedule/publish", data=data,
                           headers={"Accept": "application/json"})
        assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "confirmation_required"
    db.session.expire_all()
    assert not ops.is_published(rnd) and db.session.execute(db.select(DefenseCase)).first() is None
    resp = client.post(f"/defense/admin/{rnd.code}/schedule/publish", data={"acknowledge": "y", "reason": "按期发布"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert ops.is_published(rnd)
    entry = db.session.execute(db.select(AuditEntry).filter_by(action="defense.schedule_publish")).scalar_one()
    assert entry.reason == "按期发布" and entry.detail["candidates"] == len(cands)
    cases = db.session.execute(db.select(DefenseCase)).scalars().all()
    assert {c.assignment_id for c in cases} == {a.id for a in ops.round_assignments(rnd)}
    panels = {p.id: p for p in ops.round_panels(rnd)}
    assert all(len(c.sheets) == len(panels[c.panel_id].members) for c in cases)
    # a move after publication takes the case to the new panel's room and queues a push of both rooms
    from certify import realtime

    db.session.commit()
    a = ops.candidate_assignment(cands[0])
    old_panel_id = a.panel_id
    other = next(p for p in ops.round_panels(rnd) if p.id != old_panel_id)
    ops.move_candidate(rnd, cands[0], other, ops.slot_grid(rnd)[-1][0], reason="考生申请改期")
    assert {("panel", old_panel_id), ("panel", other.id)} <= set(realtime._outbox()["callbacks"])
    case = db.session.execute(db.select(DefenseCase).filter_by(candidate_id=cands[0].id)).scalar_one()
    assert case.panel_id == other.id
    assert {m.panelist_id for m in other.members} <= {s.panelist_id for s in case.sheets}
    db.session.rollback()
    assert not realtime._outbox()["callbacks"]  # dropped with the rollback


def test_schedule_page_shows_one_page_of_assignments_with_every_panel_linked(client, login_as, rnd, cands,
                                                                              monkeypatch):
    from defense.schedule import routes

    setup_round(rnd, cands)
    assert ops.run_schedule(rnd).ok
    db.session.commit()
    monkeypatch.setattr(routes, "SCHEDULE_PER_PAGE", 4)  # 9 candidates, 3 panels of 3: pages of 4, 4, 1
    login_as("supervisor")
    rows = ops.round_assignments(rnd)  # panel by panel, in time order: the pages' order
    pages = [client.get(f"/defense/admin/{rnd.code}/schedule?page={n}").get_data(as_text=True) for n in (1, 2, 3)]
    for n, html in enumerate(pages):
        assert html.count("<tr><td>") == len(rows[4 * n: 4 * n + 4]), n
        assert all(a.candidate.ticket in html for a in rows[4 * n: 4 * n + 4])
        assert f"第 {n + 1} / 3 页" in html and "共 9 名已安排的考生" in html
    last_panel = max(p.id for p in ops.round_panels(rnd))
    assert f"page=2#panel-{last_panel}" in pages[0]  # rows 7-9: a link to the page where they start
    assert "3 名考生" in pages[0] and "其余在相邻页" in pages[1]
    assert client.get(f"/defense/admin/{rnd.code}/schedule?page=0").status_code == 400
