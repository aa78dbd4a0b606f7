"""What every exam delivery operation shares: limits, ``ExamError``, notices, lookups, the attempt guard and the
attempt lock.

Every write to an attempt (save, flag, event, submit, the sweep, force-submit, extra time, reopen, resume) first
locks the attempt's row and only then reads its state, always attempt row first (one lock order, no deadlock):
PostgreSQL ``SELECT … FOR UPDATE`` (the save path: its ``UPDATE … RETURNING``, which takes the same row lock);
SQLite has one writer at a time, and pysqlite begins the transaction only at the first write statement, so the
first statement of every attempt write *is* a write (an UPDATE of the row): the database write lock is taken
before anything is read, waiting (busy timeout) instead of failing on a stale snapshot. A save therefore either
commits before a submit reads the answers, or sees the closed state and is refused.
"""
from __future__ import annotations

import functools
import hashlib
from datetime import datetime

from flask import current_app
from sqlalchemy import bindparam, select, update

from certify import realtime
from certify.clock import utcnow
from certify.errors import DomainError
from certify.extensions import db
from certify.models import Candidate

from ..models import IN_PROGRESS, Attempt, ExamSession, SessionCandidate, is_real_session
from ..services import timing

BROWSER_EVENT_KINDS = ("blur", "hidden", "copy", "paste", "fullscreen_exit")
MAX_EXTRA_MINUTES = 600
SQL_INT_MAX = 2 ** 31 - 1           # ids and sequence numbers are INTEGER columns (PostgreSQL: 4 bytes)
MAX_TIME_SPENT_MS = 24 * 3600 * 1000  # time on one item, per save and in total
MAX_EVENT_DETAIL_BYTES = 2048       # an integrity event's detail, as JSON
MAX_EVENTS_PER_ATTEMPT = 1000       # browser events stored per attempt (further ones are counted, not stored)
NAMESPACE = "/exam"  # the Socket.IO namespace of exam notices (exam.delivery.events)


class ExamError(DomainError):
    """A refused exam operation: a code for programs, a Chinese message for people, an HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400, *, keep_changes: bool = False, **extra):
        super().__init__(code, message, status, keep_changes=keep_changes, **extra)


def session_room(session_id: int) -> str:
    return f"session-{session_id}"


def attempt_room(attempt_id: int) -> str:
    return f"attempt-{attempt_id}"


def _emit(event: str, payload: dict, room: str) -> None:
    """Queue a Socket.IO notice on the ``/exam`` namespace; it is sent only after the transaction commits."""
    realtime.queue(NAMESPACE, room, event, payload)


def token_tag(token: str) -> str:
    """A short fingerprint of a client token, so a page can tell whether a takeover notice is about itself."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def grace_seconds() -> int:
    return int(current_app.config.get("EXAM_SAVE_GRACE_SECONDS", 5))


@functools.cache
def _lookups() -> dict:
    """The start path's lookups, built once with bound parameters (not rebuilt on every call)."""
    pair = {"session_id": bindparam("b_session"), "candidate_id": bindparam("b_candidate")}
    return {"candidate": select(Candidate).where(Candidate.user_id == bindparam("b_user")),
            "assignment": select(SessionCandidate).filter_by(**pair),
            "attempt": select(Attempt).filter_by(**pair)}


def candidate_of(user) -> Candidate | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return db.session.execute(_lookups()["candidate"], {"b_user": user.id}).scalar_one_or_none()


def assignments_of(candidate: Candidate) -> list[SessionCandidate]:
    return list(db.session.execute(
        select(SessionCandidate).join(ExamSession).where(SessionCandidate.candidate_id == candidate.id,
                                                          is_real_session())
        .order_by(ExamSession.opens_at)).scalars())


def assignment(session_id: int, candidate_id: int) -> SessionCandidate | None:
    return db.session.execute(_lookups()["assignment"], {"b_session": session_id, "b_candidate": candidate_id}
                              ).scalar_one_or_none()


def attempt_of(session_id: int, candidate_id: int) -> Attempt | None:
    return db.session.execute(_lookups()["attempt"], {"b_session": session_id, "b_candidate": candidate_id}
                              ).scalar_one_or_none()


def own_attempt(attempt_id, user) -> Attempt:
    """The user's own attempt; anything else (another candidate's, missing) is 404 — nothing is revealed."""
    attempt = None
    if str(attempt_id).isdigit() and int(attempt_id) <= SQL_INT_MAX:
        attempt = db.session.execute(
            select(Attempt).join(Candidate, Candidate.id == Attempt.candidate_id)
            .where(Attempt.id == int(attempt_id), Candidate.user_id == user.id)).scalar_one_or_none()
    if attempt is None:
        raise ExamError("not_found", "找不到该场考试的作答记录", 404)
    return attempt


TAKEN_OVER = "本场考试已在另一台设备或另一个窗口继续作答，此页面已停止保存。"


def load_attempt(attempt_id, user, token: str | None, *, lock: bool = False, now: datetime | None = None) -> Attempt:
    """The guard of every candidate API call that takes an attempt: the user's own attempt (else 404), locked
    first when the call writes (``lock``), and, while it is in progress, the current client token (else 409).
    (The save path's form of this guard is ``_header``: the same checks in one locking statement.)"""
    attempt = own_attempt(attempt_id, user)
    if lock:
        locked(attempt)
    now = now or utcnow()
    if timing.shown_state(now, attempt.state, attempt.deadline_at, grace_seconds()) == IN_PROGRESS:
        check_token(attempt, token)
    return attempt


def check_token(attempt: Attempt, token: str | None) -> None:
    """Reading an attempt in progress needs its current client token (a missing one is as stale as an old one)."""
    if token is None or token != attempt.client_token:
        raise ExamError("taken_over", TAKEN_OVER, 409)


def lock_attempt(attempt_id: int) -> None:
    """Lock one attempt row until the transaction ends (see above)."""
    table = Attempt.__table__
    if _dialect() == "postgresql":
        db.session.execute(select(table.c.id).where(table.c.id == attempt_id).with_for_update())
    else:
        db.session.execute(update(table).where(table.c.id == attempt_id).values(id=table.c.id))


_LOCKS = "exam_attempt_locks"  # session.info: (transaction, {attempt ids locked and reloaded in it})


def locked(attempt: Attempt) -> Attempt:
    """``attempt`` locked and reloaded: its state is the committed one, and stays so until this transaction ends
    (a second call in the same transaction costs nothing)."""
    mark = db.session.info.get(_LOCKS)
    if mark is not None and mark[0] is db.session().get_transaction() and attempt.id in mark[1]:
        return attempt
    if _dialect() == "postgresql":
        db.session.refresh(attempt, with_for_update=True)
    else:
        lock_attempt(attempt.id)
        db.session.refresh(attempt)
    tx = db.session().get_transaction()
    if mark is None or mark[0] is not tx:
        mark = db.session.info[_LOCKS] = (tx, set())
    mark[1].add(attempt.id)
    return attempt


_CREATED = "exam_attempts_created"  # session.info: (transaction, {attempt ids created in it})


def mark_created(attempt: Attempt) -> None:
    """Note that ``attempt`` was created in the current transaction (``created_now``)."""
    tx = db.session().get_transaction()
    mark = db.session.info.get(_CREATED)
    if mark is None or mark[0] is not tx:
        mark = db.session.info[_CREATED] = (tx, set())
    mark[1].add(attempt.id)


def created_now(attempt: Attempt) -> bool:
    """Whether ``attempt`` was created in the current transaction (so it has no saved answers yet)."""
    mark = db.session.info.get(_CREATED)
    return mark is not None and mark[0] is db.session().get_transaction() and attempt.id in mark[1]


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ExamError("reason_required", "请填写原因", 400)
    return reason


def _minutes(value, message: str) -> int:
    if isinstance(value, bool):
        raise ExamError("invalid_minutes", message, 400)
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise ExamError("invalid_minutes", message, 400) from None
