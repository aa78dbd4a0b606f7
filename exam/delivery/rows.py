"""The live monitor's rows and the one entry rule applied to stored assignments and attempts."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from certify.clock import iso_utc, utcnow
from certify.extensions import db

from ..models import (
    AUTO_SUBMITTED,
    EVENT_KINDS,
    FORCE_SUBMITTED,
    IN_PROGRESS,
    SUBMITTED,
    Attempt,
    AttemptEvent,
    ExamSession,
    SessionCandidate,
)
from ..services import timing
from .base import BROWSER_EVENT_KINDS, _emit, assignment, grace_seconds, session_room


def event_counts(attempt_ids) -> dict[int, dict[str, int]]:
    ids = list(attempt_ids)
    out: dict[int, dict[str, int]] = {}
    if not ids:
        return out
    rows = db.session.execute(select(AttemptEvent.attempt_id, AttemptEvent.kind, func.count())
                              .where(AttemptEvent.attempt_id.in_(ids))
                              .group_by(AttemptEvent.attempt_id, AttemptEvent.kind))
    for attempt_id, kind, n in rows:
        out.setdefault(attempt_id, {})[kind] = n
    return out


NOT_STARTED, ABSENT = "not_started", "absent"


MONITOR_LABELS = {NOT_STARTED: "未开始", IN_PROGRESS: "作答中", SUBMITTED: "已交卷", AUTO_SUBMITTED: "到时自动交卷",
                  FORCE_SUBMITTED: "强制交卷", ABSENT: "缺考"}


def entry_of(session: ExamSession, sc: SessionCandidate | None, attempt: Attempt | None,
             now: datetime) -> timing.EntryStatus:
    """``timing.entry_status`` for a stored assignment and attempt: the one rule every page, the API and the
    monitor read ("may this candidate enter, what is their status")."""
    return timing.entry_status(now, opens_at=session.opens_at, closes_at=session.closes_at,
                               late_entry_minutes=session.late_entry_minutes,
                               has_paper=sc is not None and sc.paper_id is not None,
                               attempt_state=attempt.state if attempt is not None else None,
                               deadline_at=attempt.deadline_at if attempt is not None else None,
                               grace_seconds=grace_seconds())


def monitor_status(session: ExamSession, attempt: Attempt | None, now: datetime,
                   sc: SessionCandidate | None = None) -> str:
    """Attempt state (as it stands now), or not started / absent (once late entry has closed)."""
    return entry_of(session, sc, attempt, now).monitor_status


def attempt_row(session: ExamSession, sc: SessionCandidate | None, attempt: Attempt | None,
                events: dict[str, int] | None, now: datetime) -> dict:
    """One candidate's line on the live monitor (also pushed over Socket.IO)."""
    status = monitor_status(session, attempt, now, sc)
    events = events or {}
    return {
        "candidate_id": (attempt.candidate_id if attempt else sc.candidate_id),
        "assignment_id": sc.id if sc else None,
        "attempt_id": attempt.id if attempt else None,
        "status": status,
        "status_label": MONITOR_LABELS[status],
        "answered_count": attempt.answered_count if attempt else 0,
        "last_seen_at": iso_utc(attempt.last_seen_at) if attempt else None,
        "deadline_at": iso_utc(attempt.deadline_at) if attempt else None,
        "remaining_seconds": (timing.remaining_seconds(now, attempt.deadline_at)
                              if attempt and status == IN_PROGRESS else None),
        "extra_minutes": sc.extra_minutes if sc else 0,
        "score": str(attempt.score) if attempt and attempt.score is not None else None,
        # every kind's count (browser events, takeovers, concurrent sessions, late saves), from ``event_counts``:
        # the one source the events page, the export and the socket pushes also read
        "events": {k: events[k] for k in EVENT_KINDS if events.get(k)},
        "event_total": sum(events.get(k, 0) for k in EVENT_KINDS),
        "browser_events": sum(events.get(k, 0) for k in BROWSER_EVENT_KINDS),
        "takeovers": events.get("takeover", 0),
        "concurrent_sessions": events.get("concurrent_session", 0),
        "late_saves": events.get("late_save", 0),
    }


def _notify_state(attempt: Attempt, sc: SessionCandidate | None = None, *,
                  events: dict[str, int] | None = None) -> None:
    """Push the attempt's monitor row; ``sc`` (its assignment) and ``events`` (its event counts) when the caller
    has them already."""
    session = attempt.session or db.session.get(ExamSession, attempt.session_id)
    if sc is None:
        sc = assignment(attempt.session_id, attempt.candidate_id)
    if events is None:
        events = event_counts([attempt.id]).get(attempt.id)
    row = attempt_row(session, sc, attempt, events, utcnow())
    _emit("row", row, session_room(attempt.session_id))
