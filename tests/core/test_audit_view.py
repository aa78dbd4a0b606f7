"""The audit log in words people read: Chinese action names, objects and ids by name (looked up in bulk),
changes as old → new, labelled detail lines, the same columns in the export, filters, and bad input that
never becomes a 500."""
from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import pytest
import time_machine
from openpyxl import load_workbook
from sqlalchemy import event

from certify.audit import audit
from certify.extensions import db
from certify.services.audit_text import (
    ACTION_LABELS,
    codes_in_source,
    describe,
    refs_of,
)
from tests.conftest import login

ROOT = Path(__file__).resolve().parents[2]


def test_every_action_code_written_in_the_code_has_a_chinese_name():
    from exam.models import AUTO_SUBMITTED, FORCE_SUBMITTED, SUBMITTED

    sources = [p.read_text(encoding="utf-8") for area in ("certify", "exam", "defense", "question_bank")
               for p in (ROOT / area).rglob("*.py")]
    codes = codes_in_source(sources)
    assert {"round.create", "exam.session.create", "defense.sheet_submit", "bank.import",
            "exam.attempt.{state}", "defense.schedule_move", "defense.schedule_change"} <= codes
    expanded = set()
    for code in codes:
        if code == "exam.attempt.{state}":
            expanded |= {f"exam.attempt.{s}" for s in (SUBMITTED, AUTO_SUBMITTED, FORCE_SUBMITTED)}
        else:
            assert "{" not in code, f"unexpanded code {code}: add its values here"
            expanded.add(code)
    missing = sorted(expanded - set(ACTION_LABELS))
    assert not missing, f"action codes without a Chinese name: {missing}"
    assert all(label and label != code for code, label in ACTION_LABELS.items())


def test_details_read_as_labelled_lines_with_changes_as_old_to_new():
    names = {("Candidate", "7"): "「张三」（T0001）", ("Panelist", "3"): "「李四」", ("ExamSession", "2"): "「初级笔试」"}
    lines = describe("scheme.update", {"level": "初级", "before": {"exam": "0.5", "ratio": "0.6"},
                                       "after": {"exam": "0.5", "ratio": "0.7"}}, names)
    assert lines == ["认定比例：0.6 → 0.7", "级别：初级"]
    assert describe("exam.attempt.regrade", {"candidate_id": 7, "before": "80", "after": "85", "erratum_id": 1},
                    names) == ["成绩：80 → 85", "考生：「张三」（T0001）", "勘误：1"]
    assert describe("exam.add_time", {"extra_before": 0, "extra_after": 15, "session_id": 2, "minutes": 15},
                    names) == ["延长时间（分钟）：0 → 15", "场次：「初级笔试」", "分钟数：15"]
    assert describe("score.component", {"component": "exam", "before": None,
                                        "after": {"status": "scored", "score": "88"}}) == \
        ["状态：已评分", "成绩：88", "成分：笔试成绩"]
    assert describe("defense.panel_update", {"members": [3, 9], "chair": 3, "ok": True}, names) == \
        ["成员：「李四」、#9", "组长：「李四」", "校验通过：是"]
    roster = describe("roster.import", {"file": "名单.xlsx", "added": 1, "updates": [
        {"ticket": "T0001", "changes": {"work_unit": ["甲校", "乙校"]}}]})
    assert roster == ["考生 T0001：工作单位 甲校 → 乙校", "文件：名单.xlsx", "新增：1"]
    long = describe("bank.import", {"added": [f"Q{i}" for i in range(25)]})[0]
    assert long.startswith("新增：Q0、Q1") and long.endswith("等 25 项")
    # times in details are shown in the display time zone when a converter is given
    assert describe("exam.attempt.start", {"deadline_at": "2024-05-01T01:30:00"},
                    localise=lambda d: d.strftime("%H:%M+8")) == ["截止时间：01:30+8"]
    assert refs_of("exam.session.update", {"added": [7, 8], "changed": {}}) == {("Candidate", "7"),
                                                                                ("Candidate", "8")}
    assert refs_of("roster.import", {"added": 3}) == set()


@pytest.fixture
def scene(ctx, make_round, make_candidate):
    """A round with a name, a candidate and an exam session 「2024年初级笔试」."""
    from exam.models import ExamSession

    rnd = make_round("2024-cq", "重庆")
    rnd.name = "2024年重庆认证"
    cand = make_candidate(rnd, name="张三", ticket="T0001")
    session = ExamSession(round_id=rnd.id, scheme_id=rnd.scheme_for("初级").id, name="2024年初级笔试",
                          opens_at=datetime(2024, 5, 1, 1), closes_at=datetime(2024, 5, 1, 3), duration_minutes=90)
    db.session.add(session)
    db.session.commit()
    return rnd, cand, session


def test_entries_show_objects_by_name_and_changes(scene, client, make_user):
    rnd, cand, session = scene
    audit("exam.session.update", target=session, changed={"duration_minutes": {"before": 90, "after": 100}},
          added=[cand.id], removed=[], deadlines_clamped=[])
    audit("score.component", target=cand, round_id=rnd.id, reason="复核", component="record",
          before={"status": "scored", "score": "70"}, after={"status": "scored", "score": "75"})
    audit("defense.panelist_delete", target_type="Panelist", target_id="999", round_id=rnd.id, name="李四")
    db.session.commit()
    login(client, make_user("supervisor").username)
    html = client.get("/audit/").get_data(as_text=True)
    assert "修改笔试场次" in html and "场次「2024年初级笔试」" in html and "ExamSession" not in html
    assert "考试时长（分钟）：90 → 100" in html and "新增：「张三」（T0001）" in html
    assert "成分成绩变更" in html and "考生「张三」（T0001）" in html and "成绩：70 → 75" in html
    assert "专家「李四」（#999，已删除）" in html
    assert "2024-cq" in html  # the round column


def test_export_carries_the_same_readable_columns(scene, client, make_user):
    session = scene[2]
    audit("exam.session.update", target=session, reason="调整时长",
          changed={"duration_minutes": {"before": 90, "after": 100}})
    db.session.commit()
    login(client, make_user("secretariat").username)
    ws = load_workbook(io.BytesIO(client.get("/audit/export.xlsx").data)).active
    header = [c.value for c in ws[1]]
    assert header == ["时间", "操作人", "轮次", "操作", "操作代码", "对象", "理由", "详情", "记录号"]
    row = dict(zip(header, [c.value for c in ws[2]]))
    assert row["操作"] == "修改笔试场次" and row["操作代码"] == "exam.session.update"
    assert row["对象"] == "场次「2024年初级笔试」" and row["理由"] == "调整时长" and row["轮次"] == "2024-cq"
    assert row["详情"] == "考试时长（分钟）：90 → 100"
    csv_text = client.get("/audit/export.csv").data.decode("utf-8-sig")
    assert "场次「2024年初级笔试」" in csv_text and "考试时长（分钟）：90 → 100" in csv_text


def _count_queries():
    counter = {"n": 0}

    def count(*_args):
        counter["n"] += 1

    return counter, count


def test_names_are_looked_up_in_bulk_not_per_entry(ctx, make_round, make_candidate, client, make_user):
    rnd = make_round("2024-cq", "重庆")
    login(client, make_user("secretariat").username)

    def queries_for_page() -> int:
        counter, count = _count_queries()
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            assert client.get("/audit/?action=score.component").status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return counter["n"]

    def add(n: int):
        for _ in range(n):
            cand = make_candidate(rnd)
            audit("score.component", target=cand, round_id=rnd.id, component="exam", candidate_id=cand.id,
                  before=None, after={"status": "scored", "score": "80"})
        db.session.commit()

    add(3)
    few = queries_for_page()
    add(30)
    many = queries_for_page()
    assert many == few, (few, many)


def test_filters_by_round_actor_action_and_dates(ctx, make_round, client, make_user):
    cq, jl = make_round("2024-cq", "重庆"), make_round("2024-jl", "吉林")
    alice = make_user("secretariat", display_name="王秘书")
    with time_machine.travel(datetime(2024, 3, 10, 4), tick=False):
        audit("round.update", target=cq, actor=alice, before={"name": ""}, after={"name": "甲"})
        db.session.commit()
    with time_machine.travel(datetime(2024, 4, 20, 4), tick=False):
        audit("round.update", target=jl, before={"name": ""}, after={"name": "乙"})
        db.session.commit()
    login(client, make_user("supervisor").username)

    def total(query: str) -> str:
        html = client.get(f"/audit/?{query}").get_data(as_text=True)
        return html.split("共 ")[1].split(" 条")[0]

    assert total("action=round.update") == "2"
    assert total("action=round.update&round=2024-jl") == "1"
    assert total("action=round.update&actor=王秘书") == "1"
    assert total("action=round.update&from=2024-04-01") == "1"
    assert total("action=round.update&from=2024-03-10&to=2024-03-10") == "1"
    assert total("action=round.update&to=2024-03-09") == "0"
    assert total("q=修改轮次") == "2"  # the Chinese name of an action finds it too


@pytest.mark.parametrize("query, status, message", [
    ("from=0001-01-01", 400, "超出范围"),
    ("to=9999-12-31", 400, "超出范围"),
    ("from=2024-02-30", 400, "不是有效日期"),
    ("from=2024-05-02&to=2024-05-01", 400, "开始日期晚于结束日期"),
    ("round=%00nope", 400, "不存在"),
    ("page=99999999999999999999999", 200, "共 4 条"),  # 3 entries + the round's creation
    ("page=-4", 200, "共 4 条"),
    ("page=abc", 200, "共 4 条"),
    ("page=%EF%BC%91", 200, "共 4 条"),  # a full-width digit
    ("q=%00abc", 200, "共 0 条"),
    ("actor=" + "x" * 5000, 200, "共 0 条"),
    ("action=%00", 200, "共 4 条"),  # NUL is dropped: no action filter left
])
def test_bad_filter_input_is_refused_or_clamped_never_a_500(ctx, make_round, client, make_user, query, status,
                                                            message):
    rnd = make_round("2024-cq", "重庆")
    for i in range(3):
        audit("round.update", target=rnd, n=i)
    db.session.commit()
    login(client, make_user("supervisor").username)
    resp = client.get(f"/audit/?{query}")
    assert resp.status_code == status
    assert message in resp.get_data(as_text=True)


def test_a_page_past_the_end_shows_the_last_page(ctx, make_round, client, make_user):
    rnd = make_round("2024-cq", "重庆")
    for i in range(55):
        audit("round.update", target=rnd, n=i)
    db.session.commit()
    login(client, make_user("supervisor").username)
    html = client.get("/audit/?page=40").get_data(as_text=True)
    assert "第 2 / 2 页" in html and html.count("<li>n：") == 5


@pytest.mark.parametrize("query", ["from=0001-01-01", "to=9999-12-31", "from=garbage", "round=nope"])
def test_export_with_bad_filters_is_refused_not_exported_unfiltered(ctx, make_round, client, make_user, query):
    make_round("2024-cq", "重庆")
    login(client, make_user("secretariat").username)
    resp = client.get(f"/audit/export.csv?{query}")
    assert resp.status_code == 400
    assert "审计日志" not in resp.headers.get("Content-Disposition", "")


def test_the_action_picker_is_grouped_by_area_in_chinese():
    from certify.services.audit_text import grouped_actions

    groups = dict(grouped_actions(["exam.session.create", "round.create", "test.custom", "defense.call"]))
    assert list(groups) == ["轮次与方案", "笔试", "答辩", "其他"]
    assert groups["笔试"] == [("exam.session.create", "新建笔试场次")]
    assert groups["其他"] == [("test.custom", "test.custom")]
