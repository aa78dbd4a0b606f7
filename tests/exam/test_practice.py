"""Practice exam: the secretariat's practice paper, the candidate's repeatable, ungraded practice attempt, and every
consumer of sessions and attempts ignoring practice (``real_sessions`` / ``real_attempts``)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from certify.clock import utcnow
from certify.domain import EXAM
from certify.extensions import db
from certify.models import ComponentScore
from exam.analysis import operations as analysis
from exam.delivery import operations as ops
from exam.delivery import practice
from exam.grading import exports
from exam.models import Answer, Attempt, ExamSession, real_attempts, real_sessions
from question_bank.models import Item


def _items(n=5):
    return [item.id for item, _ in practice.eligible_items("初级")[:n]]


@pytest.fixture
def setup(make_exam_session):
    real = make_exam_session(candidates=2)
    rnd, scheme = real.scheme.round, real.scheme
    session = practice.set_practice_items(rnd, scheme, _items())
    db.session.commit()
    return real, session


def _practise(session, candidate, answers=("B",)):
    """Open practice, start, answer the first items, submit; returns the closed attempt."""
    practice.open_practice(candidate)
    attempt, token = ops.start_attempt(session, candidate)
    for position, response in enumerate(answers, 1):
        ops.save_answer(attempt.id, position=position, response=response, token=token, seq=position,
                        time_spent_ms=1000,
                        user_id=candidate.user_id)
    ops.submit_attempt(attempt, token=token)
    db.session.commit()
    return attempt


def test_the_practice_paper_totals_100_and_is_a_practice_session(setup):
    _, session = setup
    assert session.practice and session.name == "初级模拟练习"
    paper = practice.current_paper(session)
    assert len(paper.items) == 5 and sum(i.points for i in paper.items) == 100
    assert practice.chosen_item_ids(session) == _items()


def test_choosing_refuses_an_empty_or_unusable_set(setup):
    real, _ = setup
    rnd, scheme = real.scheme.round, real.scheme
    with pytest.raises(practice.PracticeError, match="至少选择一道题"):
        practice.set_practice_items(rnd, scheme, [])
    with pytest.raises(practice.PracticeError, match="不存在、已停用或不适用"):
        practice.set_practice_items(rnd, scheme, [999999])


def test_a_candidate_practises_repeatedly_and_sees_a_score_but_no_component(setup):
    real, session = setup
    cand = real.candidates_made[0]
    first = _practise(session, cand)
    assert first.score is not None and first.state == "submitted"
    assert db.session.execute(select(ComponentScore).filter_by(candidate_id=cand.id, component=EXAM)
                              ).scalar_one_or_none() is None
    again = _practise(session, cand, answers=())  # the closed attempt is replaced by a new one
    assert db.session.scalars(select(Attempt).filter_by(session_id=session.id, candidate_id=cand.id)).all() == [again]
    assert practice.practice_summary(cand)["finished"]


def test_practice_closes_once_the_real_exam_started(setup):
    real, session = setup
    cand = real.candidates_made[0]
    ops.start_attempt(real, cand)
    db.session.commit()
    with pytest.raises(practice.PracticeError, match="已开始正式考试"):
        practice.open_practice(cand)


def test_every_consumer_ignores_practice_attempts(setup):
    real, session = setup
    done, other = real.candidates_made
    attempt = _practise(session, done, answers=("B", "B", "A"))
    assert db.session.scalar(select(Answer.id).filter_by(attempt_id=attempt.id).limit(1)) is not None
    # the one helper
    assert session.id not in {s.id for s in db.session.scalars(real_sessions())}
    assert attempt.id not in {a.id for a in db.session.scalars(real_attempts())}
    # the candidate's exam list shows only the real session
    assert [sc.session_id for sc in ops.assignments_of(done)] == [real.id]
    # exports: the practice attempt is not a sat exam
    rows = {r[0]: r for r in exports.exam_rows(real.scheme.round, full=True)}
    assert rows[done.ticket][5] is None and rows[done.ticket][6] == exports.STATUS_NOT_YET
    # item analysis and the session lists of the round
    assert [s.id for s in analysis.round_sessions(real.scheme.round)] == [real.id]
    data = analysis.build_session_data(session)
    assert len(data.candidate_ids) == 0
    # difficulty write-back: nothing measured from practice
    session.closes_at = utcnow() + timedelta(seconds=1)
    facilities = dict(db.session.execute(select(Item.id, Item.facility)).all())
    with pytest.raises(analysis.AnalysisError):
        session.opens_at = utcnow() - timedelta(days=2)
        session.closes_at = utcnow() - timedelta(days=1)
        analysis.store_measured_facility(session)
    assert dict(db.session.execute(select(Item.id, Item.facility)).all()) == facilities
    # results: no exam component from practice
    assert db.session.scalars(select(ComponentScore).filter_by(component=EXAM)).all() == []
    # absentees: a closed practice window records nobody absent
    assert ops.record_absentees(now=utcnow()) == {}
    assert db.session.execute(select(ExamSession.absentees_recorded_at).filter_by(id=session.id)).scalar() is None
    assert other.id not in {c.candidate_id for c in db.session.scalars(select(ComponentScore))}


def test_the_monitor_and_the_sessions_page_ignore_practice(setup, login_as, client):
    real, session = setup
    _practise(session, real.candidates_made[0])
    login_as("secretariat")
    page = client.get("/exam/monitor/").get_data(as_text=True)
    assert real.name in page and session.name not in page
    page = client.get(f"/exam/admin/?round={real.scheme.round.code}").get_data(as_text=True)
    assert real.name in page and session.name not in page


def test_the_sweeper_closes_an_overdue_practice_attempt_without_a_component(setup):
    real, session = setup
    cand = real.candidates_made[0]
    practice.open_practice(cand)
    attempt, _ = ops.start_attempt(session, cand)
    db.session.commit()
    closed = ops.sweep(now=attempt.deadline_at + timedelta(minutes=5))
    db.session.commit()
    assert closed["closed"] == [attempt.id] and session.id not in closed["absent"]
    assert attempt.state == "auto_submitted" and attempt.score is not None
    assert db.session.scalars(select(ComponentScore).filter_by(candidate_id=cand.id)).all() == []
