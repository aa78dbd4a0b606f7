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

from ..models import ExamSession, SessionCandidate

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


def slip_rows(candidate: Candidate) -> list[tuple[str, str]]:
    """The admission slip's exam lines: each session's window (with the candidate's own extra time) and place."""
    rows = []
    assigned = db.session.execute(select(ExamSession, SessionCandidate.extra_minutes).join(
        SessionCandidate, SessionCandidate.session_id == ExamSession.id).where(
        SessionCandidate.candidate_id == candidate.id).order_by(ExamSession.opens_at)).all()
    for session, extra in assigned:
        duration = f"时长 {session.duration_minutes} 分钟" + (f"，另加 {extra} 分钟" if extra else "")
        rows.append(("笔试时间", f"{_fmt(session.opens_at)} 至 {_fmt(session.closes_at)}（北京时间，{duration}；"
                                 f"开考 {session.late_entry_minutes} 分钟后不得入场）"))
        rows.append(("笔试地点", session.place or "线上（在浏览器中登录平台作答）"))
    return rows
