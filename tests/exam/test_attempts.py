"""Attempt lifecycle through the operations: start, stale saves, resume/takeover, deadline, sweep, absentees,
secretariat actions. Time is controlled with time-machine; the sweep function is called directly."""
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from sqlalchemy import select

from certify.clock import utcnow
from certify.extensions import db
from certify.models import AuditEntry, ComponentScore
from exam.delivery import operations as ops
from exam.models import AUTO_SUBMITTED, FORCE_SUBMITTED, IN_PROGRESS, SUBMITTED, Answer, AttemptEvent, PaperItem
from question_bank.models import ItemVersion


def key_of(attempt, position):
    """The written-order key of a paper position (test helper)."""
    return db.session.execute(select(ItemVersion.answer).join(PaperItem, PaperItem.item_version_id == ItemVersion.id)
                              .where(PaperItem.paper_id == attempt.paper_id, PaperItem.position == position)).scalar_one()


def wrong_of(attempt, position):
    version = db.session.execute(select(ItemVersion).join(PaperItem, PaperItem.item_version_id == ItemVersion.id)
                                 .where(PaperItem.paper_id == attempt.paper_id, PaperItem.position == position)).scalar_one()
    return next(chr(65 + i) for i in range(len(version.options)) if chr(65 + i) not in version.answer)


@pytest.fixture
def session1(make_exam_session):
    return make_exam_session(candidates=2, duration=60)


def test_start_fixes_deadline_and_links_the_pregenerated_paper(session1):
    cand = session1.candidates_made[0]
    attempt, token = ops.start_attempt(session1, cand)
    db.session.commit()
    sc = ops.assignment(session1.id, cand.id)
    assert attempt.paper_id == sc.paper_id
    assert attempt.state == IN_PROGRESS and token == attempt.client_token
    assert attempt.deadline_at == attempt.started_at + timedelta(minutes=60)


def test_stale_save_is_ignored(session1):
    cand = session1.candidates_made[0]
    attempt, token = ops.start_attempt(session1, cand)
    db.session.commit()
    newer = ops.save_answer(attempt.id, token=token, position=1, response=["A"], seq=5)
    stale = ops.save_answer(attempt.id, token=token, position=1, response=["B"], seq=4)
    db.session.commit()
    assert newer["applied"] and not stale["applied"]
    row = db.session.execute(select(Answer).filter_by(attempt_id=attempt.id, position=1)).scalar_one()
    assert (row.response, row.seq) == ("A", 5)
    db.session.refresh(attempt)
    assert attempt.last_seq == 5 and attempt.answered_count == 1


def test_clearing_an_answer_updates_the_answered_count_and_time_accumulates(session1):
    attempt, token = ops.start_attempt(session1, session1.candidates_made[0])
    ops.save_answer(attempt.id, token=token, position=2, response=["A"], seq=1, time_spent_ms=1500)
    ops.save_answer(attempt.id, token=token, position=2, response=[], seq=2, time_spent_ms=500)
    db.session.commit()
    row = db.session.execute(select(Answer).filter_by(attempt_id=attempt.id, position=2)).scalar_one()
    assert (row.response, row.time_spent_ms) == ("", 2000)
    db.session.refresh(attempt)
    assert attempt.answered_count == 0


def test_invalid_letters_and_positions_are_refused_with_a_clear_message(session1):
    attempt, token = ops.start_attempt(session1, session1.candidates_made[0])
    with pytest.raises(ops.ExamError, match="选项“H”不存在") as err:
        ops.save_answer(attempt.id, token=token, position=1, response=["H"], seq=1)
    assert err.value.status == 400
    with pytest.raises(ops.ExamError, match="没有第 999 题"):
        ops.save_answer(attempt.id, token=token, position=999, response=["A"], seq=1)


def test_resume_from_a_second_client_keeps_order_answers_and_remaining_time(session1):
    cand = session1.candidates_made[0]
    t0 = utcnow()
    with time_machine.travel(t0, tick=False):
        attempt, first = ops.start_attempt(session1, cand)
        ops.save_answer(attempt.id, token=first, position=3, response=["B"], seq=1)
        db.session.commit()
    with time_machine.travel(t0 + timedelta(minutes=10), tick=False):
        again, second = ops.start_attempt(session1, cand)
        db.session.commit()
        assert again.id == attempt.id and second != first
        assert again.deadline_at == t0.replace(microsecond=t0.microsecond) + timedelta(minutes=60)
        with pytest.raises(ops.ExamError) as err:
            ops.save_answer(attempt.id, token=first, position=4, response=["A"], seq=2)
        assert (err.value.status, err.value.code) == (409, "taken_over")
        db.session.rollback()
        assert ops.save_answer(attempt.id, token=second, position=4, response=["A"], seq=2)["applied"]
        db.session.commit()
    kinds = db.session.execute(select(AttemptEvent.kind).filter_by(attempt_id=attempt.id)).scalars().all()
    assert kinds == ["takeover"]


def test_deadline_with_extra_time_is_capped_at_close(make_exam_session):
    opens = utcnow().replace(microsecond=0)
    session = make_exam_session(candidates=1, duration=60, opens_at=opens, closes_at=opens + timedelta(minutes=70),
                                extra={0: 30})
    with time_machine.travel(opens + timedelta(minutes=5), tick=False):
        attempt, _ = ops.start_attempt(session, session.candidates_made[0])
    assert attempt.deadline_at == opens + timedelta(minutes=70)


def test_late_entry_is_refused(make_exam_session):
    opens = utcnow().replace(microsecond=0)
    session = make_exam_session(candidates=1, opens_at=opens, late_entry=30)
    with time_machine.travel(opens + timedelta(minutes=31), tick=False):
        with pytest.raises(ops.ExamError) as err:
            ops.start_attempt(session, session.candidates_made[0])
    assert err.value.code == "late_entry_closed"


def test_late_save_after_grace_is_refused_logged_and_closes_the_attempt(app, session1):
    cand = session1.candidates_made[0]
    t0 = utcnow().replace(microsecond=0)
    with time_machine.travel(t0, tick=False):
        attempt, token = ops.start_attempt(session1, cand)
        db.session.commit()
    grace = app.config["EXAM_SAVE_GRACE_SECONDS"]
    with time_machine.travel(attempt.deadline_at + timedelta(seconds=grace - 1), tick=False):
        assert ops.save_answer(attempt.id, token=token, position=1, response=["A"], seq=1)["applied"]
        db.session.commit()
    with time_machine.travel(attempt.deadline_at + timedelta(seconds=grace + 1), tick=False):
        with pytest.raises(ops.ExamError) as err:
            ops.save_answer(attempt.id, token=token, position=2, response=["A"], seq=2)
        assert err.value.code == "deadline_passed" and err.value.keep_changes
        db.session.commit()
    db.session.refresh(attempt)
    assert attempt.state == AUTO_SUBMITTED and attempt.score is not None
    event = db.session.execute(select(AttemptEvent).filter_by(attempt_id=attempt.id, kind="late_save")).scalar_one()
    assert event.detail["what"] == "answer" and event.detail["late_seconds"] > grace
    assert db.session.execute(select(Answer.response).filter_by(attempt_id=attempt.id, position=2)).scalar_one() == ""


def test_deadline_close_with_no_client_grades_and_records_the_exam_component(session1):
    cand = session1.candidates_made[0]
    t0 = utcnow().replace(microsecond=0)
    with time_machine.travel(t0, tick=False):
        attempt, token = ops.start_attempt(session1, cand)
        ops.save_answer(attempt.id, token=token, position=1, response=list(key_of(attempt, 1)), seq=1)
        db.session.commit()
    with time_machine.travel(attempt.deadline_at - timedelta(seconds=1), tick=False):
        assert ops.close_overdue() == []
    with time_machine.travel(attempt.deadline_at + timedelta(minutes=1), tick=False):
        closed = ops.close_overdue()
        db.session.commit()
        assert closed == [attempt.id]
        assert ops.close_overdue() == []  # claimed once
    db.session.refresh(attempt)
    assert attempt.state == AUTO_SUBMITTED and attempt.submitted_at == attempt.deadline_at
    points = db.session.execute(select(PaperItem.points).filter_by(paper_id=attempt.paper_id, position=1)).scalar_one()
    assert attempt.score == points
    comp = db.session.execute(select(ComponentScore).filter_by(candidate_id=cand.id, component="exam")).scalar_one()
    assert comp.status == "scored" and comp.score == attempt.score
    n_items = db.session.execute(select(PaperItem).filter_by(paper_id=attempt.paper_id)).scalars().all()
    graded_rows = db.session.execute(select(Answer).filter_by(attempt_id=attempt.id)).scalars().all()
    assert len(graded_rows) == len(n_items) and all(r.points is not None for r in graded_rows)


def test_never_started_candidates_are_recorded_absent_after_close(make_exam_session):
    opens = utcnow().replace(microsecond=0)
    session = make_exam_session(candidates=2, opens_at=opens, closes_at=opens + timedelta(hours=2))
    sitter, absentee = session.candidates_made
    with time_machine.travel(opens + timedelta(minutes=1), tick=False):
        ops.start_attempt(session, sitter)
        db.session.commit()
    with time_machine.travel(opens + timedelta(hours=2, seconds=1), tick=False):
        result = ops.sweep()
        db.session.commit()
        assert result["absent"] == {session.id: 1}
        assert ops.sweep()["absent"] == {}
    statuses = dict(db.session.execute(select(ComponentScore.candidate_id, ComponentScore.status)
                                       .where(ComponentScore.component == "exam")).all())
    assert statuses == {sitter.id: "scored", absentee.id: "absent"}


def test_submit_grades_exactly_and_cannot_be_repeated(session1):
    attempt, token = ops.start_attempt(session1, session1.candidates_made[0])
    ops.save_answer(attempt.id, token=token, position=1, response=list(key_of(attempt, 1)), seq=1)
    ops.save_answer(attempt.id, token=token, position=2, response=[wrong_of(attempt, 2)], seq=2)
    ops.submit_attempt(attempt, token=token)
    db.session.commit()
    assert attempt.state == SUBMITTED
    p1 = db.session.execute(select(PaperItem.points).filter_by(paper_id=attempt.paper_id, position=1)).scalar_one()
    assert attempt.score == Decimal(p1)
    with pytest.raises(ops.ExamError) as err:
        ops.submit_attempt(attempt, token=token)
    assert err.value.code == "attempt_closed"
    with pytest.raises(ops.ExamError) as err:
        ops.save_answer(attempt.id, token=token, position=3, response=["A"], seq=3)
    assert err.value.code == "attempt_closed"


def test_force_submit_add_time_and_reopen_are_audited(make_user, session1):
    secretary = make_user("secretariat")
    cand_a, cand_b = session1.candidates_made
    attempt, token = ops.start_attempt(session1, cand_a)
    db.session.commit()
    old_deadline = attempt.deadline_at
    ops.add_time(ops.assignment(session1.id, cand_a.id), 15, actor=secretary, reason="设备故障")
    db.session.commit()
    assert attempt.deadline_at == old_deadline + timedelta(minutes=15)
    ops.force_submit(attempt, actor=secretary, reason="违纪")
    db.session.commit()
    assert attempt.state == FORCE_SUBMITTED
    ops.reopen_attempt(attempt, minutes=20, actor=secretary, reason="误操作")
    db.session.commit()
    assert attempt.state == IN_PROGRESS and attempt.score is None
    with pytest.raises(ops.ExamError, match="请填写原因"):
        ops.force_submit(attempt, actor=secretary, reason=" ")
    db.session.rollback()
    actions = db.session.execute(select(AuditEntry.action, AuditEntry.reason)
                                 .where(AuditEntry.action.like("exam.%"))).all()
    assert ("exam.session.extra_time", "设备故障") in actions
    assert ("exam.attempt.force_submitted", "违纪") in actions
    assert ("exam.attempt.reopen", "误操作") in actions


def test_sweeper_tick_closes_overdue_attempts_in_its_own_app_context(app, session1):
    from exam.delivery.sweeper import sweep_once

    cand = session1.candidates_made[0]
    t0 = utcnow().replace(microsecond=0)
    with time_machine.travel(t0, tick=False):
        attempt, _ = ops.start_attempt(session1, cand)
        db.session.commit()
    attempt_id, deadline = attempt.id, attempt.deadline_at
    with time_machine.travel(deadline + timedelta(minutes=2), tick=False):
        result = sweep_once(app)
    assert result["closed"] == [attempt_id]
    db.session.expire_all()
    assert db.session.get(ops.Attempt, attempt_id).state == AUTO_SUBMITTED


def test_sweeper_thread_is_not_started_when_disabled(app):
    from exam.delivery.sweeper import start_sweeper

    assert app.config["EXAM_SWEEPER_ENABLED"] is False
    assert start_sweeper(app) is None


def test_add_time_cannot_pass_the_session_close(make_user, make_exam_session):
    opens = utcnow().replace(microsecond=0)
    session = make_exam_session(candidates=1, duration=60, opens_at=opens, closes_at=opens + timedelta(minutes=65))
    cand = session.candidates_made[0]
    with time_machine.travel(opens + timedelta(minutes=1), tick=False):
        attempt, _ = ops.start_attempt(session, cand)
        ops.add_time(ops.assignment(session.id, cand.id), 10, reason="网络故障")
        assert attempt.deadline_at == session.closes_at
        with pytest.raises(ops.ExamError) as err:
            ops.add_time(ops.assignment(session.id, cand.id), 10, reason="网络故障")
    assert err.value.code == "capped_at_close"


def test_exam_sweep_command_closes_overdue_attempts(app, session1):
    cand = session1.candidates_made[0]
    t0 = utcnow().replace(microsecond=0)
    with time_machine.travel(t0, tick=False):
        attempt, _ = ops.start_attempt(session1, cand)
        db.session.commit()
    attempt_id = attempt.id
    with time_machine.travel(attempt.deadline_at + timedelta(minutes=1), tick=False):
        result = app.test_cli_runner().invoke(args=["exam-sweep"])
    assert result.exit_code == 0 and "已自动交卷 1 份作答" in result.output
    db.session.expire_all()
    assert db.session.get(ops.Attempt, attempt_id).state == AUTO_SUBMITTED


def test_paper_shape_cache_is_keyed_by_the_papers_creation_so_a_reused_id_is_reloaded(session1):
    attempt, _ = ops.start_attempt(session1, session1.candidates_made[0])
    created = attempt.paper.created_at
    first = ops.paper_shape(attempt.paper_id, created)
    assert ops.paper_shape(attempt.paper_id, created) is first  # cached
    again = ops.paper_shape(attempt.paper_id, created + timedelta(seconds=1))  # "regenerated" under the same id
    assert again is not first and again == first
