"""Integrity signals a proctor can trust: which browser tab holds an attempt, takeover vs. a reload of the same
tab, live heartbeats and concurrent sessions (two live tabs on one attempt).

Each exam page keeps a per-tab id in sessionStorage and sends it at start (header ``X-Exam-Tab``) and with
its Socket.IO heartbeats. A start from the tab that already holds the attempt is a reload: it resumes silently.
A start from another tab or device is a takeover (``takeover`` event); if the previous tab was live within
``EXAM_CONCURRENT_WINDOW_SECONDS`` it is also a concurrent session. A heartbeat from a tab whose token is stale
while the holding tab is live is a concurrent session too. ``concurrent_session`` is recorded once per episode:
an episode ends when no two live tabs have been seen together for the window.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import update

from certify.clock import utcnow
from certify.extensions import db

from ..models import IN_PROGRESS, Attempt, AttemptEvent
from .base import TAKEN_OVER, ExamError, locked
from .rows import _notify_state

TAB_HEADER = "X-Exam-Tab"
MAX_CLIENT_ID = 64
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def concurrent_window() -> timedelta:
    return timedelta(seconds=int(current_app.config.get("EXAM_CONCURRENT_WINDOW_SECONDS", 60)))


def clean_tab(tab) -> str:
    """A usable tab id, or "" (unknown tab: treated as another device, as before tab ids existed)."""
    return tab if isinstance(tab, str) and _CLIENT_ID.match(tab) else ""


def clean_event_id(value) -> str | None:
    """The browser's id for an integrity event (optional; at most 64 characters of ``[A-Za-z0-9_.:-]``)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _CLIENT_ID.match(value):
        raise ExamError("invalid_event", f"事件编号无效（至多 {MAX_CLIENT_ID} 个字母、数字或 _.:- 字符）", 400)
    return value


def is_live(seen_at: datetime | None, now: datetime) -> bool:
    return seen_at is not None and now - seen_at <= concurrent_window()


def note_concurrent(attempt: Attempt, now: datetime, *, how: str, seconds_apart: float | None) -> bool:
    """Two live tabs were seen on a locked attempt: record ``concurrent_session`` unless this episode already has
    one. Returns whether an event was recorded. The caller queues the monitor row (``_notify_state``)."""
    previous = attempt.concurrent_seen_at
    attempt.concurrent_seen_at = now
    if previous is not None and now - previous <= concurrent_window():
        return False  # the same episode
    detail = {"how": how}
    if seconds_apart is not None:
        detail["seconds_apart"] = round(seconds_apart, 1)
    db.session.add(AttemptEvent(attempt_id=attempt.id, kind="concurrent_session", at=now, detail=detail))
    current_app.logger.info("concurrent session on attempt %s (%s)", attempt.id, how)
    return True


def note_start(attempt: Attempt, tab: str, previous_tab: str, previous_seen: datetime | None, now: datetime) -> bool:
    """A start/resume of a locked, in-progress attempt that held a token. Returns whether it is a takeover (a
    different or unknown tab); a reload of the same tab records nothing."""
    if tab and tab == previous_tab:
        return False
    apart = (now - previous_seen).total_seconds() if previous_seen is not None else None
    detail = {"same_tab": False}
    if apart is not None:
        detail["previous_seen_seconds_ago"] = round(apart, 1)
    db.session.add(AttemptEvent(attempt_id=attempt.id, kind="takeover", at=now, detail=detail))
    if tab and previous_tab and is_live(previous_seen, now):
        note_concurrent(attempt, now, how="start", seconds_apart=apart)
    return True


def heartbeat(attempt: Attempt, *, token: str | None, tab, now: datetime | None = None) -> dict:
    """A live exam page says it is still there (Socket.IO ``heartbeat``, every ~20 s).

    The page holding the token: one conditional UPDATE of ``last_seen_at``. A page whose token is stale is
    refused (``taken_over``, so it stops); if the holding tab is live at that moment, that is a concurrent session
    (recorded, and kept although the heartbeat is refused)."""
    now = now or utcnow()
    table = Attempt.__table__
    if token:
        touched = db.session.execute(update(table).where(table.c.id == attempt.id, table.c.client_token == token,
                                                         table.c.state == IN_PROGRESS)
                                     .values(last_seen_at=now)).rowcount
        if touched:
            return {"ok": True}
    locked(attempt)
    if attempt.state != IN_PROGRESS:
        raise ExamError("attempt_closed", "本场考试已交卷", 409)
    tab = clean_tab(tab)
    if tab and attempt.client_tab and tab != attempt.client_tab and is_live(attempt.last_seen_at, now):
        if note_concurrent(attempt, now, how="heartbeat",
                           seconds_apart=(now - attempt.last_seen_at).total_seconds()):
            db.session.flush()
            _notify_state(attempt)
    raise ExamError("taken_over", TAKEN_OVER, 409, keep_changes=True)
