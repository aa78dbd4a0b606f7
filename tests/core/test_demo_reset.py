"""The demo tells the truth about time: rounds of the current year, exam sessions open now, defense days on the
coming working days, instructions written from the session's settings; ``certify demo --reset`` renews it the
next day (only demo rounds), idempotently; ``certify demo`` on an existing demo says what it found."""
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from certify.cli import demo_command
from certify.clock import to_local
from certify.demo_core import demo_defense_days, demo_exam_window, is_working_day
from certify.domain import MC_ALL_OR_NOTHING, MC_PARTIAL_HALF
from certify.extensions import db
from certify.models import ComponentScore, Round
from exam.demo import session_instructions

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _local(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


# ------------------------------------------------------------------ pure rules


def test_defense_days_are_the_next_working_days_after_today():
    assert demo_defense_days(date(2025, 3, 6)) == [date(2025, 3, 7), date(2025, 3, 10)]  # Thu → Fri, Mon
    assert demo_defense_days(date(2025, 3, 7)) == [date(2025, 3, 10), date(2025, 3, 11)]  # Fri → Mon, Tue
    # National Day 2025: 1–8 October off; the next working days are Thursday 9 and Saturday 11 (调休上班).
    assert demo_defense_days(date(2025, 9, 30)) == [date(2025, 10, 9), date(2025, 10, 10)]
    assert demo_defense_days(date(2025, 10, 9), 2) == [date(2025, 10, 10), date(2025, 10, 11)]
    assert is_working_day(date(2025, 10, 11)) and not is_working_day(date(2025, 10, 12))


def test_exam_window_starts_this_hour_and_leaves_a_full_paper_for_the_last_entrant():
    opens, closes, late = demo_exam_window(datetime(2026, 3, 5, 2, 47, 13, 500))
    assert opens == datetime(2026, 3, 5, 2, 0) and late == 24 * 60
    assert closes - (opens + timedelta(minutes=late)) >= timedelta(minutes=60)
    assert demo_exam_window(datetime(2026, 3, 5, 2, 59)) == (opens, closes, late)  # same hour: same window


def test_instructions_follow_the_settings():
    opens = datetime(2026, 3, 5, 2, 0)
    text = session_instructions(opens_at=opens, closes_at=opens + timedelta(hours=25), duration_minutes=60,
                                late_entry_minutes=1440, mc_policy=MC_PARTIAL_HALF, event_warning_threshold=5,
                                tz="Asia/Shanghai")
    assert "限时 60 分钟" in text and "开考后 24 小时内可入场" in text and "30 分钟" not in text
    assert "2026-03-05 10:00（北京时间）至 2026-03-06 10:00（北京时间）" in text
    assert "2026-03-06 11:00（北京时间）结束" in text
    assert "少选得一半，错选不得分" in text and "累计 5 次" in text
    text = session_instructions(opens_at=opens, closes_at=opens + timedelta(hours=2), duration_minutes=90,
                                late_entry_minutes=30, mc_policy=MC_ALL_OR_NOTHING, event_warning_threshold=None,
                                tz="Asia/Shanghai")
    assert "限时 90 分钟" in text and "开考后 30 分钟内可入场" in text and "10:30（北京时间）" in text
    assert "完全正确才得分" in text and "少选" not in text and "累计" not in text


# ------------------------------------------------------------------ the CLI across days


@pytest.fixture
def runner(app, monkeypatch):
    # The test schema is made by the fixtures, not by migrations (a fresh machine's path through
    # ``upgrade_database`` is covered by tests/worker/test_backup.py, which runs ``certify demo`` for real).
    monkeypatch.setattr("certify.cli.upgrade_database", lambda: None)
    return app.test_cli_runner()


def _run(runner, *args):
    result = runner.invoke(demo_command, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    db.session.remove()
    return result.output


def _demo_state():
    from defense.schedule import operations as dops
    from exam.models import ExamSession

    cq = db.session.execute(db.select(Round).filter_by(code="demo-cq")).scalar_one()
    jl = db.session.execute(db.select(Round).filter_by(code="demo-jl")).scalar_one()
    sessions = db.session.execute(db.select(ExamSession).filter_by(round_id=cq.id, practice=False)
                                  .order_by(ExamSession.id)).scalars().all()
    days = [d.day for d in dops.round_days(cq)]
    slots = {a.candidate_id: (a.panel_id, a.start_at) for a in dops.round_assignments(cq)}
    return cq, jl, sessions, days, slots


def _assert_slots_on(days, slots):
    local_days = {to_local(start).date() for _panel, start in slots.values()}
    assert slots and local_days <= set(days)


def test_demo_lives_in_the_present_and_reset_renews_it_the_next_day(app, runner, make_round):
    from defense.schedule import operations as dops
    from exam.delivery.base import ExamError
    from exam.delivery.lifecycle import record_absentees, start_attempt
    from exam.models import Attempt

    # A real round with a defense day: --reset must never touch it.
    with time_machine.travel(_local(2025, 12, 30, 10, 20), tick=True):
        real = make_round("2025-cq", "重庆", 2025)
        dops.save_day(real, day=date(2025, 12, 31), start="08:30", end="17:30", slot_minutes=20,
                      breaks="12:00-13:30")
        db.session.commit()
        real_id = real.id
        db.session.remove()

        out = _run(runner)
        assert "演示数据已创建" in out and "账号 mishu" in out
        cq, jl, sessions, days, slots = _demo_state()
        assert (cq.year, jl.year) == (2025, 2025) and cq.name.startswith("2025年")
        assert sorted(s.name for s in sessions) == ["2025年中级笔试（演示）", "2025年初级笔试（演示）"]
        from exam.delivery import practice
        assert [len(practice.chosen_item_ids(practice.practice_session(cq.id, s.scheme_id))) for s in sessions] == [7, 7]
        now = datetime(2025, 12, 30, 2, 20)
        for s in sessions:
            assert s.opens_at <= now < s.opens_at + timedelta(minutes=s.late_entry_minutes) <= s.closes_at
            assert f"开考后 {s.late_entry_minutes // 60} 小时内可入场" in s.instructions
            assert "30 分钟内" not in s.instructions
        # Wednesday 31 December, then 1–3 January off and Sunday 4 January a make-up working day.
        assert days == demo_defense_days(date(2025, 12, 30)) == [date(2025, 12, 31), date(2026, 1, 4)]
        _assert_slots_on(days, slots)
        assert dops.is_published(cq)
        junior = next(s for s in sessions if "初级" in s.name)
        first, second = (sc.candidate for sc in junior.assignments[:2])
        start_attempt(junior, first)  # one candidate sits the paper on the first day
        db.session.commit()
        first_id, second_id, junior_id = first.id, second.id, junior.id
        db.session.remove()

    # A week later (and a new year): the windows have closed and the sweeper has recorded the absentees.
    with time_machine.travel(_local(2026, 1, 6, 9, 5), tick=True):
        record_absentees()
        db.session.commit()
        db.session.remove()
        assert db.session.execute(db.select(ComponentScore).filter_by(
            candidate_id=second_id, component="exam", status="absent")).scalar_one_or_none() is not None

        out = _run(runner)  # without --reset: nothing changes, and it says what is out of date
        assert "演示数据已存在，未作改动" in out and "已过时" in out and "certify demo --reset" in out
        cq, _jl, sessions, days, slots_before = _demo_state()
        assert cq.year == 2025 and days[0] == date(2025, 12, 31)
        junior = db.session.get(type(sessions[0]), junior_id)
        with pytest.raises(ExamError):
            start_attempt(junior, db.session.get(type(first), second_id))
        db.session.rollback()
        db.session.remove()

        out = _run(runner, "--reset")
        assert "演示数据已更新" in out and "演示笔试场次已移到今天" in out and "答辩日已移到" in out
        assert "撤回旧场次结束时记录的" in out and "已作答的 1 份答卷保留" in out
        cq, jl, sessions, days, slots = _demo_state()
        assert (cq.year, jl.year) == (2026, 2026) and cq.name.startswith("2026年") and jl.name.startswith("2026年")
        assert sorted(s.name for s in sessions) == ["2026年中级笔试（演示）", "2026年初级笔试（演示）"]
        now = datetime(2026, 1, 6, 1, 5)
        for s in sessions:
            assert s.opens_at <= now < s.opens_at + timedelta(minutes=s.late_entry_minutes)
            assert s.absentees_recorded_at is None and "2026-01-06 09:00（北京时间）" in s.instructions
        assert days == demo_defense_days(date(2026, 1, 6)) == [date(2026, 1, 7), date(2026, 1, 8)]
        _assert_slots_on(days, slots)
        assert dops.is_published(cq) and set(slots) == set(slots_before)
        assert {cid: p for cid, (p, _s) in slots.items()} == {cid: p for cid, (p, _s) in slots_before.items()}
        # Same local time of day, on the matching new day.
        old_times = sorted(to_local(s).time() for _p, s in slots_before.values())
        assert sorted(to_local(s).time() for _p, s in slots.values()) == old_times
        assert db.session.execute(db.select(ComponentScore).filter_by(
            candidate_id=second_id, component="exam", status="absent")).scalar_one_or_none() is None
        assert db.session.execute(db.select(Attempt).filter_by(candidate_id=first_id)).scalar_one() is not None
        junior = db.session.get(type(sessions[0]), junior_id)
        attempt, _token = start_attempt(junior, db.session.get(type(first), second_id))  # open again
        assert attempt.deadline_at <= junior.closes_at
        db.session.rollback()
        # The real round is untouched.
        real = db.session.get(Round, real_id)
        assert real.year == 2025 and [d.day for d in dops.round_days(real)] == [date(2025, 12, 31)]
        db.session.remove()

        snapshot = _demo_state()
        state = ([(s.name, s.opens_at, s.closes_at, s.instructions) for s in snapshot[2]], snapshot[3], snapshot[4])
        db.session.remove()
        out = _run(runner, "--reset")  # idempotent
        assert "演示数据已是最新，未作改动" in out
        again = _demo_state()
        assert ([(s.name, s.opens_at, s.closes_at, s.instructions) for s in again[2]], again[3], again[4]) == state


def test_a_demo_step_that_cannot_do_its_part_fails_with_the_reason_and_writes_nothing(ctx, runner, monkeypatch):
    from decimal import Decimal

    import exam.demo

    rows = [dict(exam.demo.DEMO_ROWS[0], count=500, points=Decimal("0.04"))] + exam.demo.DEMO_ROWS[1:]  # still 100
    monkeypatch.setattr(exam.demo, "DEMO_ROWS", rows)
    result = runner.invoke(demo_command, [])
    assert result.exit_code == 1
    assert "演示数据未能创建（未写入任何数据）：演示题库无法满足" in result.output
    db.session.remove()
    assert db.session.execute(db.select(db.func.count(Round.id))).scalar() == 0
