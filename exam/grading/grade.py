"""Grading a stored attempt: its paper's keys (with the session's errata), its answers, the scoring policy."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from certify.domain import EXAM
from certify.extensions import db
from certify.models import Round
from certify.scores import record_component
from question_bank.models import ItemVersion

from ..models import Answer, Attempt, ExamSession, KeyErratum, PaperItem, SessionCandidate
from ..services import grading


def _errata(session_id: int, extra: KeyErratum | None = None) -> dict[int, tuple[grading.Erratum, ...]]:
    rows = list(db.session.execute(select(KeyErratum).filter_by(session_id=session_id)
                                   .order_by(KeyErratum.applied_at, KeyErratum.id)).scalars())
    if extra is not None and extra not in rows:
        rows.append(extra)
    out: dict[int, list[grading.Erratum]] = {}
    for row in rows:
        out.setdefault(row.item_version_id, []).append(grading.Erratum(row.kind, tuple(row.accepted or ())))
    return {k: tuple(v) for k, v in out.items()}


def _paper_items(paper_id: int) -> list[tuple[int, Decimal, int, str, str]]:
    return list(db.session.execute(
        select(PaperItem.position, PaperItem.points, PaperItem.item_version_id, ItemVersion.type, ItemVersion.answer)
        .join(ItemVersion, ItemVersion.id == PaperItem.item_version_id)
        .where(PaperItem.paper_id == paper_id).order_by(PaperItem.position)))


def _policy(session_id: int) -> str:
    return db.session.execute(select(Round.mc_policy).join(ExamSession, ExamSession.round_id == Round.id)
                              .where(ExamSession.id == session_id)).scalar_one()


def compute_grade(attempt: Attempt, errata=None, policy: str | None = None) -> grading.PaperGrade:
    errata = _errata(attempt.session_id) if errata is None else errata
    items = [grading.GradedItem(position, item_type, key, Decimal(points), errata.get(ivid, ()))
             for position, points, ivid, item_type, key in _paper_items(attempt.paper_id)]
    responses = dict(db.session.execute(select(Answer.position, Answer.response)
                                        .where(Answer.attempt_id == attempt.id)).all())
    return grading.grade_paper(items, responses, policy or _policy(attempt.session_id))


def _superseded(attempt: Attempt) -> bool:
    """True when the candidate sits a later session of the same scheme (a make-up, ``exam/authoring/makeup.py``):
    grading this attempt (again, e.g. after an erratum) must not overwrite the component that session records."""
    this = select(ExamSession.scheme_id, ExamSession.opens_at).where(ExamSession.id == attempt.session_id).subquery()
    return db.session.execute(
        select(SessionCandidate.id).join(ExamSession, ExamSession.id == SessionCandidate.session_id)
        .where(SessionCandidate.candidate_id == attempt.candidate_id, ExamSession.scheme_id == this.c.scheme_id,
               ExamSession.opens_at > this.c.opens_at, ExamSession.practice.is_(False)).limit(1)).first() is not None


def _write_grade(attempt: Attempt, result: grading.PaperGrade, now: datetime, *, reason: str = "",
                 actor=None) -> None:
    answers = {a.position: a for a in db.session.execute(select(Answer).filter_by(attempt_id=attempt.id)).scalars()}
    for position, points in result.points.items():
        row = answers.get(position)
        if row is None:  # every position gets a row once graded (item analysis reads them)
            row = Answer(attempt_id=attempt.id, position=position, response="", flagged=False, seq=0,
                         time_spent_ms=0, saved_at=now)
            db.session.add(row)
        row.points = points
    attempt.score = result.score
    attempt.graded_at = now
    session = attempt.session or db.session.get(ExamSession, attempt.session_id)
    # a practice paper is scored for the candidate only, never for results; a make-up's grade is the one results
    # use (exam/authoring/makeup.py)
    if session.practice or _superseded(attempt):
        return
    record_component(attempt.candidate, EXAM, result.score, source=f"exam_session:{attempt.session_id}",
                     reason=reason, actor=actor)
