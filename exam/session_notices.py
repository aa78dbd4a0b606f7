"""Notices of the exam (``certify.notices``): a session's window and place to its candidates when it is created or
its window, duration or place changes (candidates added later get theirs), and the release of its scores.
Created in the caller's transaction: they exist only if the change commits."""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from certify.clock import to_local
from certify.extensions import db
from certify.models import Candidate
from certify.notices import operations as notices
from certify.notices.services import texts
from certify.notices.services.delivery import EXAM, RESULTS

from .models import ExamSession, SessionCandidate

ANNOUNCED_FIELDS = ("opens_at", "closes_at", "duration_minutes", "place", "name")


def _fmt(value) -> str:
    return to_local(value).strftime("%Y-%m-%d %H:%M")


def _users(session: ExamSession, candidate_ids: Iterable[int] | None = None) -> list[int]:
    query = select(Candidate.user_id).join(SessionCandidate, SessionCandidate.candidate_id == Candidate.id).where(
        SessionCandidate.session_id == session.id, Candidate.user_id.is_not(None))
    if candidate_ids is not None:
        ids = sorted(set(candidate_ids))
        if not ids:
            return []
        query = query.where(Candidate.id.in_(ids))
    return list(db.session.scalars(query))


def announce_session(session: ExamSession, *, changed: bool = False, candidate_ids: Iterable[int] | None = None):
    """The session's window and place to its candidates (or only to ``candidate_ids``)."""
    title, body = texts.exam_notice(session.name, _fmt(session.opens_at), _fmt(session.closes_at),
                                    session.duration_minutes, session.place or "", changed=changed)
    return notices.notify(_users(session, candidate_ids), EXAM, title, body, round_id=session.round_id)


def announce_scores(session: ExamSession):
    title, body = texts.exam_scores_notice(session.name)
    return notices.notify(_users(session), RESULTS, title, body, round_id=session.round_id)
