"""Exam delivery state changes: start/resume, save, flag, integrity events, submit, the deadline sweep,
force-submit, add time, reopen, and key errata with regrading.

One function per state change. Each validates, writes, audits (certify.audit) and queues its Socket.IO
notices (``certify.realtime.queue``: sent only after the transaction commits). Nothing here commits: the unit
of work (``certify.uow``) commits at the edge of every request, socket event and sweeper tick. An ``ExamError``
with ``keep_changes=True`` means the operation changed state before refusing (e.g. it closed an overdue
attempt): the unit of work commits that, then answers with the error.

The save path (``save_answer``) is built for thousands of simultaneous candidates: one ownership/deadline
read of the attempt row, one upsert of the answer row guarded by the per-attempt sequence number (a stale
request never overwrites a newer answer), one update of the attempt's bookkeeping. Option counts are
validated against a per-process cache of each paper's shape (papers never change once generated).
"""
from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from certify import realtime
from certify.audit import audit
from certify.clock import iso_utc, utcnow
from certify.domain import EXAM
from certify.errors import DomainError
from certify.extensions import db
from certify.models import Candidate, ComponentScore, Round
from certify.scores import record_component
from question_bank.models import ItemVersion

from .models import (AUTO_SUBMITTED, CLOSED_STATES, ERRATUM_KINDS, FORCE_SUBMITTED, IN_PROGRESS, SUBMITTED, Answer,
                     Attempt, AttemptEvent, ExamSession, KeyErratum, Paper, PaperItem, SessionCandidate)
from .services import attempt_state, grading, timing
from .services.attempt_state import Action, AttemptState

BROWSER_EVENT_KINDS = ("blur", "hidden", "copy", "paste", "fullscreen_exit")
MAX_EXTRA_MINUTES = 600
SQL_INT_MAX = 2 ** 31 - 1           # ids and sequence numbers are INTEGER columns (PostgreSQL: 4 bytes)
MAX_TIME_SPENT_MS = 24 * 3600 * 1000  # time on one item, per save and in total
MAX_EVENT_DETAIL_BYTES = 2048       # an integrity event's detail, as JSON
MAX_EVENTS_PER_ATTEMPT = 1000       # browser events stored per attempt (further ones are counted, not stored)


NAMESPACE = "/exam"  # the Socket.IO namespace of exam notices (exam.events)


class ExamError(DomainError):
    """A refused exam operation: a code for programs, a Chinese message for people, an HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400, *, keep_changes: bool = False, **extra):
        super().__init__(code, message, status, keep_changes=keep_changes, **extra)


# --------------------------------------------------------------------------------------------- notifications

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


# --------------------------------------------------------------------------------------------- lookups

def candidate_of(user) -> Candidate | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return db.session.execute(select(Candidate).filter_by(user_id=user.id)).scalar_one_or_none()


def assignments_of(candidate: Candidate) -> list[SessionCandidate]:
    return list(db.session.execute(
        select(SessionCandidate).join(ExamSession).where(SessionCandidate.candidate_id == candidate.id)
        .order_by(ExamSession.opens_at)).scalars())


def assignment(session_id: int, candidate_id: int) -> SessionCandidate | None:
    return db.session.execute(select(SessionCandidate).filter_by(session_id=session_id, candidate_id=candidate_id)
                              ).scalar_one_or_none()


def attempt_of(session_id: int, candidate_id: int) -> Attempt | None:
    return db.session.execute(select(Attempt).filter_by(session_id=session_id, candidate_id=candidate_id)
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


# --------------------------------------------------------------------------------------------- the attempt lock
# Every write to an attempt (save, flag, event, submit, the sweep, force-submit, extra time, reopen, resume) first
# locks the attempt's row and only then reads its state, always attempt row first (one lock order, no deadlock):
# PostgreSQL ``SELECT … FOR UPDATE`` (the save path: its ``UPDATE … RETURNING``, which takes the same row lock);
# SQLite has one writer at a time, and pysqlite begins the transaction only at the first write statement, so the
# first statement of every attempt write *is* a write (an UPDATE of the row) — the database write lock is taken
# before anything is read, waiting (busy timeout) instead of failing on a stale snapshot. A save therefore either
# commits before a submit reads the answers, or sees the closed state and is refused.

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


# --------------------------------------------------------------------------------------------- the state machine

def transition(attempt: Attempt, action: str, *, actor=None, reason: str = "", now: datetime | None = None,
               deadline_at: datetime | None = None) -> str:
    """Move a locked attempt (``locked``) through the state machine (``services.attempt_state.TRANSITIONS``):
    check the pair, stamp the attempt, grade it (closing) or clear its grade (reopening), audit, queue the
    notices. Returns the new state; a pair not in the table is refused (409)."""
    now = now or utcnow()
    try:
        new = attempt_state.next_state(attempt.state, action)
    except attempt_state.IllegalTransition as err:
        raise ExamError(err.code, err.message, 409) from None
    if new in attempt_state.CLOSED:
        _close(attempt, new.value, now, actor=actor, reason=reason)
    elif action == Action.REOPEN:
        session = attempt.session
        before = {"state": attempt.state, "score": attempt.score, "deadline_at": attempt.deadline_at}
        attempt.state = IN_PROGRESS
        attempt.deadline_at = deadline_at
        attempt.submitted_at = None
        attempt.score = None
        attempt.graded_at = None
        attempt.client_token = secrets.token_urlsafe(24)  # the candidate resumes from a fresh page
        audit("exam.attempt.reopen", target=attempt, round_id=session.round_id, reason=reason, actor=actor,
              candidate_id=attempt.candidate_id, session_id=session.id, before=before,
              after={"state": IN_PROGRESS, "deadline_at": attempt.deadline_at})
        db.session.flush()
        _notify_state(attempt)
    else:  # pragma: no cover - the table has no other stored-attempt transitions
        raise AssertionError(f"no effect defined for {action}")
    return new.value


# --------------------------------------------------------------------------------------------- start / resume

def start_attempt(session: ExamSession, candidate: Candidate, *, now: datetime | None = None) -> tuple[Attempt, str]:
    """Start the candidate's attempt, or resume it (rotating the client token: the newest device wins)."""
    now = now or utcnow()
    sc = assignment(session.id, candidate.id)
    if sc is None:
        raise ExamError("not_assigned", "您未被安排参加本场考试", 404)
    attempt = attempt_of(session.id, candidate.id)
    if attempt is not None:
        close_if_overdue(locked(attempt), now=now)
        if attempt.state != IN_PROGRESS:
            code, message = attempt_state.REFUSALS[Action.START]
            raise ExamError(code, message, 409, keep_changes=True)
        previous = attempt.client_token
        token = secrets.token_urlsafe(24)
        attempt.client_token = token
        attempt.last_seen_at = now
        if previous:
            db.session.add(AttemptEvent(attempt_id=attempt.id, kind="takeover", at=now, detail={}))
            _emit("taken_over", {"attempt_id": attempt.id, "token_tag": token_tag(token),
                                 "message": "本场考试已在另一台设备或另一个窗口继续作答，此页面已停止保存。"},
                  attempt_room(attempt.id))
        db.session.flush()
        _notify_state(attempt)
        return attempt, token
    if not session.scheme.has_exam:
        raise ExamError("no_exam", "该认证级别不设笔试", 409)
    try:
        timing.check_entry(now, session.opens_at, session.closes_at, session.late_entry_minutes)
    except timing.EntryRefused as err:
        raise ExamError(err.code, err.message, 403) from None
    if sc.paper_id is None:
        raise ExamError("no_paper", "您的试卷尚未生成，请联系考务人员", 409)
    token = secrets.token_urlsafe(24)
    state = attempt_state.next_state(AttemptState.NOT_STARTED, Action.START).value
    attempt = Attempt(session_id=session.id, candidate_id=candidate.id, paper_id=sc.paper_id, state=state,
                      started_at=now, deadline_at=timing.deadline_for(now, session.duration_minutes,
                                                                      sc.extra_minutes, session.closes_at),
                      client_token=token, last_seen_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(attempt)
    except IntegrityError:  # a second device started at the same instant: resume that attempt instead
        return start_attempt(session, candidate, now=now)
    audit("exam.attempt.start", target=attempt, round_id=session.round_id, session_id=session.id,
          candidate_id=candidate.id, deadline_at=attempt.deadline_at)
    _notify_state(attempt)
    return attempt, token


# --------------------------------------------------------------------------------------------- the save path

_SHAPES: OrderedDict[tuple, dict[int, tuple[str, int]]] = OrderedDict()
_SHAPES_LOCK = threading.Lock()
_SHAPES_MAX = 20000


def paper_shape(paper_id: int, version=None) -> dict[int, tuple[str, int]]:
    """{position: (item type, option count)} of a paper, cached per process.

    A paper never changes once generated; the cache key also holds the paper's creation time (``version``) so a
    paper deleted and regenerated under a reused id is never validated against the old shape.
    """
    key = (paper_id, version)
    with _SHAPES_LOCK:
        shape = _SHAPES.get(key)
        if shape is not None:
            _SHAPES.move_to_end(key)
            return shape
    rows = db.session.execute(
        select(PaperItem.position, ItemVersion.type, ItemVersion.options)
        .join(ItemVersion, ItemVersion.id == PaperItem.item_version_id).where(PaperItem.paper_id == paper_id))
    shape = {position: (item_type, len(options or [])) for position, item_type, options in rows}
    if shape:
        with _SHAPES_LOCK:
            _SHAPES[key] = shape
            while len(_SHAPES) > _SHAPES_MAX:
                _SHAPES.popitem(last=False)
    return shape


@dataclass
class AttemptHeader:
    id: int
    state: str
    deadline_at: datetime
    client_token: str
    paper_id: int
    session_id: int
    candidate_id: int
    paper_created_at: datetime | None = None
    answered_count: int = 0


_attempts_t, _candidates_t, _papers_t = Attempt.__table__, Candidate.__table__, Paper.__table__
# The header read is the lock: one ``UPDATE … SET last_seen_at … RETURNING`` of the attempt row (PostgreSQL: the
# row lock; SQLite: the write lock, taken before anything is read). Ownership is checked in the same indexed
# statement (the attempt's candidate must be the requesting user's); a refused request rolls the touch back.
_HEADER = (update(_attempts_t).where(_attempts_t.c.id == bindparam("b_attempt"))
           .values(last_seen_at=bindparam("b_now"))
           .returning(_attempts_t.c.id, _attempts_t.c.state, _attempts_t.c.deadline_at, _attempts_t.c.client_token,
                      _attempts_t.c.paper_id, _attempts_t.c.session_id, _attempts_t.c.candidate_id,
                      select(_papers_t.c.created_at).where(_papers_t.c.id == _attempts_t.c.paper_id)
                      .scalar_subquery(), _attempts_t.c.answered_count))
_HEADER_BY_USER = _HEADER.where(_attempts_t.c.candidate_id.in_(
    select(_candidates_t.c.id).where(_candidates_t.c.user_id == bindparam("b_user"))))


def _header(attempt_id, user_id: int | None, now: datetime) -> AttemptHeader:
    """Lock the attempt and read what a candidate write checks (404 unless it is the user's own)."""
    if not str(attempt_id).isdigit() or int(attempt_id) > SQL_INT_MAX:
        raise ExamError("not_found", "找不到该场考试的作答记录", 404)
    query = _HEADER_BY_USER if user_id is not None else _HEADER
    row = db.session.connection().execute(query, {"b_attempt": int(attempt_id), "b_user": user_id,
                                                  "b_now": now}).first()
    if row is None:
        raise ExamError("not_found", "找不到该场考试的作答记录", 404)
    return AttemptHeader(*row)


def _guard_write(header: AttemptHeader, token: str | None, now: datetime, what: str) -> None:
    """Token, state and deadline checks shared by every candidate write."""
    if header.state != IN_PROGRESS:
        raise ExamError("attempt_closed", "本场考试已交卷，答案不能再修改", 409)
    if token is None or token != header.client_token:
        raise ExamError("taken_over", TAKEN_OVER, 409)
    if not timing.save_allowed(now, header.deadline_at, grace_seconds()):
        db.session.add(AttemptEvent(attempt_id=header.id, kind="late_save", at=now,
                                    detail={"what": what, "deadline_at": header.deadline_at.isoformat(),
                                            "late_seconds": round((now - header.deadline_at).total_seconds(), 3)}))
        current_app.logger.info("late %s refused for attempt %s (deadline %s, now %s)", what, header.id,
                                header.deadline_at, now)
        attempt = db.session.get(Attempt, header.id)
        close_if_overdue(attempt, now=now)  # already locked (the header): reloads, closes and grades
        raise ExamError("deadline_passed", "考试时间已到，此答案未被保存（已超过截止时间）", 409, keep_changes=True)


def _insert():
    return pg_insert if _dialect() == "postgresql" else sqlite_insert


def _position_shape(header: AttemptHeader, position) -> tuple[int, str, int]:
    try:
        position = int(position)
    except (TypeError, ValueError):
        raise ExamError("invalid_position", "题号无效", 400) from None
    shape = paper_shape(header.paper_id, header.paper_created_at).get(position)
    if shape is None:
        raise ExamError("invalid_position", f"本试卷没有第 {position} 题", 400)
    return position, shape[0], shape[1]


def save_answer(attempt_id, *, token: str | None, position, response, seq, time_spent_ms=0,
                user_id: int | None = None, now: datetime | None = None) -> dict:
    """Save one response. Returns {"applied": bool, "seq", "position", "response", "answered_count"}.

    ``applied`` is False when a newer save (higher seq) already wrote this position: the stale request is
    ignored, never overwriting the newer answer.
    """
    now = now or utcnow()
    if isinstance(seq, bool):
        raise ExamError("invalid_seq", "保存序号无效", 400)
    try:
        seq = int(seq)
    except (TypeError, ValueError, OverflowError):
        raise ExamError("invalid_seq", "保存序号无效", 400) from None
    if not 1 <= seq <= SQL_INT_MAX:
        raise ExamError("invalid_seq", f"保存序号必须是 1 到 {SQL_INT_MAX} 之间的整数", 400)
    header = _header(attempt_id, user_id, now)
    _guard_write(header, token, now, "answer")
    position, item_type, option_count = _position_shape(header, position)
    if response is None:
        response = []
    if not isinstance(response, (list, str)):
        raise ExamError("invalid_response", "答案格式无效", 400)
    try:
        letters = grading.normalise_response(item_type, response, option_count)
    except grading.InvalidResponse as err:
        raise ExamError("invalid_response", f"第 {position} 题：{err}", 400) from None
    try:
        spent = max(0, min(int(time_spent_ms or 0), MAX_TIME_SPENT_MS))
    except (TypeError, ValueError, OverflowError):
        spent = 0

    stmts = _save_statements(_dialect())
    conn = db.session.connection()
    params = {"b_attempt": header.id, "b_position": position, "b_response": letters, "b_seq": seq,
              "b_spent": spent, "b_now": now}
    applied = conn.execute(stmts["upsert"], params).first() is not None
    answered = conn.execute(stmts["bookkeep"], params).scalar_one() if applied else header.answered_count
    if applied:
        _emit("progress", {"attempt_id": header.id, "candidate_id": header.candidate_id, "answered_count": answered,
                           "last_seen_at": iso_utc(now)}, session_room(header.session_id))
    return {"applied": applied, "seq": seq, "position": position, "response": letters,
            "answered_count": answered}


def _dialect() -> str:
    return db.session.get_bind().dialect.name


_SAVE_STATEMENTS: dict[str, dict] = {}


def _save_statements(dialect: str) -> dict:
    """The save path's statements, built once per dialect with bound parameters (SQLAlchemy's compiled cache
    then skips rebuilding and recompiling them on every save)."""
    stmts = _SAVE_STATEMENTS.get(dialect)
    if stmts is not None:
        return stmts
    answers, attempts = Answer.__table__, Attempt.__table__
    insert_fn = pg_insert if dialect == "postgresql" else sqlite_insert
    ins = insert_fn(answers).values(attempt_id=bindparam("b_attempt"), position=bindparam("b_position"),
                                    response=bindparam("b_response"), flagged=False, seq=bindparam("b_seq"),
                                    time_spent_ms=bindparam("b_spent"), saved_at=bindparam("b_now"))
    least = func.min if dialect == "sqlite" else func.least  # the INTEGER column never overflows
    upsert = ins.on_conflict_do_update(
        index_elements=[answers.c.attempt_id, answers.c.position],
        set_={"response": ins.excluded.response, "seq": ins.excluded.seq, "saved_at": ins.excluded.saved_at,
              "time_spent_ms": least(answers.c.time_spent_ms + ins.excluded.time_spent_ms, MAX_TIME_SPENT_MS)},
        where=answers.c.seq < ins.excluded.seq).returning(answers.c.seq)  # no row back = stale, ignored
    greatest = func.max if dialect == "sqlite" else func.greatest
    answered = (select(func.count()).select_from(answers)
                .where(answers.c.attempt_id == bindparam("b_attempt"), answers.c.response != "").scalar_subquery())
    bookkeep = (update(attempts).where(attempts.c.id == bindparam("b_attempt"))
                .values(last_seq=greatest(attempts.c.last_seq, bindparam("b_seq")), answered_count=answered)
                .returning(attempts.c.answered_count))
    stmts = {"upsert": upsert, "bookkeep": bookkeep}
    _SAVE_STATEMENTS[dialect] = stmts
    return stmts


def flag_item(attempt_id, *, token: str | None, position, flagged: bool, user_id: int | None = None,
              now: datetime | None = None) -> dict:
    now = now or utcnow()
    header = _header(attempt_id, user_id, now)
    _guard_write(header, token, now, "flag")
    position, _, _ = _position_shape(header, position)
    flagged = bool(flagged)
    table = Answer.__table__
    ins = _insert()(table).values(attempt_id=header.id, position=position, response="", flagged=flagged, seq=0,
                                  time_spent_ms=0, saved_at=now)
    ins = ins.on_conflict_do_update(index_elements=[table.c.attempt_id, table.c.position],
                                    set_={"flagged": ins.excluded.flagged})
    db.session.execute(ins)  # last_seen_at was touched by the header's lock
    return {"position": position, "flagged": flagged}


def record_event(attempt_id, *, token: str | None, kind: str, detail: dict | None = None,
                 user_id: int | None = None, now: datetime | None = None) -> dict:
    """Record a browser integrity event; answers whether the candidate must now be warned.

    Bounded: ``detail`` larger than ``MAX_EVENT_DETAIL_BYTES`` (as JSON) is refused (400), and past
    ``MAX_EVENTS_PER_ATTEMPT`` browser events an attempt's further events are counted as seen but not stored
    (``recorded`` false), so a misbehaving page cannot fill the table."""
    now = now or utcnow()
    if kind not in BROWSER_EVENT_KINDS:
        raise ExamError("invalid_event", f"未知的事件类型：{str(kind)[:40]}", 400)
    detail = detail or {}
    if not isinstance(detail, dict):
        raise ExamError("invalid_event", "事件详情格式无效", 400)
    try:
        size = len(json.dumps(detail, ensure_ascii=False, default=str).encode())
    except (TypeError, ValueError, RecursionError):
        raise ExamError("invalid_event", "事件详情格式无效", 400) from None
    if size > MAX_EVENT_DETAIL_BYTES:
        raise ExamError("event_too_large", f"事件详情过大（上限 {MAX_EVENT_DETAIL_BYTES} 字节）", 400)
    header = _header(attempt_id, user_id, now)
    if header.state != IN_PROGRESS:
        raise ExamError("attempt_closed", "本场考试已交卷", 409)
    if token is None or token != header.client_token:
        raise ExamError("taken_over", TAKEN_OVER, 409)
    clean = {}
    for key, value in detail.items():
        if isinstance(key, str) and len(key) <= 40 and isinstance(value, (str, int, float, bool)):
            clean[key] = value if not isinstance(value, str) else value[:200]
    counts = event_counts([header.id]).get(header.id, {})
    count = sum(n for k, n in counts.items() if k in BROWSER_EVENT_KINDS)
    recorded = count < MAX_EVENTS_PER_ATTEMPT
    if recorded:
        db.session.add(AttemptEvent(attempt_id=header.id, kind=kind, at=now, detail=clean))
        counts[kind] = counts.get(kind, 0) + 1
        count += 1
        _emit("events", {"attempt_id": header.id, "candidate_id": header.candidate_id,
                         "events": counts}, session_room(header.session_id))
    threshold = db.session.execute(select(ExamSession.event_warning_threshold)
                                   .where(ExamSession.id == header.session_id)).scalar_one()
    warn = threshold is not None and count >= threshold
    return {"kind": kind, "count": count, "warning": warn, "recorded": recorded,
            "message": (f"系统已记录到 {count} 次离开考试页面或复制粘贴等异常操作，请专注作答；异常记录将提交考务人员审核。"
                        if warn else "")}


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


# --------------------------------------------------------------------------------------------- grading / closing

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
    record_component(attempt.candidate, EXAM, result.score, source=f"exam_session:{attempt.session_id}",
                     reason=reason, actor=actor)


def _close(attempt: Attempt, state: str, now: datetime, *, actor=None, reason: str = "") -> None:
    attempt.state = state
    if attempt.submitted_at is None:
        attempt.submitted_at = min(now, attempt.deadline_at) if state == AUTO_SUBMITTED else now
    attempt.answered_count = db.session.execute(select(func.count()).select_from(Answer).where(
        Answer.attempt_id == attempt.id, Answer.response != "")).scalar_one()
    _write_grade(attempt, compute_grade(attempt), now, reason=reason, actor=actor)
    audit(f"exam.attempt.{state}", target=attempt, round_id=attempt.session.round_id, reason=reason, actor=actor,
          session_id=attempt.session_id, candidate_id=attempt.candidate_id, score=attempt.score)
    db.session.flush()
    _emit("closed", {"attempt_id": attempt.id, "state": state, "message": CLOSE_MESSAGES[state]},
          attempt_room(attempt.id))
    _notify_state(attempt)


CLOSE_MESSAGES = {SUBMITTED: "已交卷", AUTO_SUBMITTED: "考试时间已到，系统已自动交卷",
                  FORCE_SUBMITTED: "考务人员已为您强制交卷"}


def close_if_overdue(attempt: Attempt, *, now: datetime | None = None) -> bool:
    """Close and grade an attempt whose time (plus grace) has run out. Locks the attempt first (``locked``)."""
    now = now or utcnow()
    locked(attempt)
    if attempt.state != IN_PROGRESS or timing.save_allowed(now, attempt.deadline_at, grace_seconds()):
        return False
    transition(attempt, Action.AUTO_CLOSE, now=now)
    return True


def submit_attempt(attempt: Attempt, *, token: str | None = None, now: datetime | None = None,
                   check: bool = True) -> Attempt:
    """The candidate hands in. After the deadline it counts as auto-submitted (time ran out)."""
    now = now or utcnow()
    locked(attempt)
    if check and attempt.state == IN_PROGRESS and token != attempt.client_token:  # a missing token is stale too
        raise ExamError("taken_over", TAKEN_OVER, 409)
    if close_if_overdue(attempt, now=now):
        return attempt
    transition(attempt, Action.AUTO_CLOSE if timing.is_overdue(now, attempt.deadline_at) else Action.SUBMIT,
               now=now)
    return attempt


def close_overdue(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """The sweep: close and grade overdue in-progress attempts. Each is locked, then checked again (safe with
    several processes and against a concurrent save or submit); locks are taken in id order."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=grace_seconds())
    table = Attempt.__table__
    ids = [row[0] for row in db.session.execute(
        select(table.c.id).where(table.c.state == IN_PROGRESS, table.c.deadline_at < cutoff)
        .order_by(table.c.id).limit(limit))]
    closed = []
    for attempt_id in ids:
        attempt = db.session.get(Attempt, attempt_id)
        locked(attempt)
        if attempt.state == IN_PROGRESS and attempt.deadline_at < cutoff:
            transition(attempt, Action.AUTO_CLOSE, now=now)
            closed.append(attempt_id)
    return closed


def record_absentees(*, now: datetime | None = None) -> dict[int, int]:
    """After a session closes, assigned candidates who never started are recorded absent (once per session)."""
    now = now or utcnow()
    table = ExamSession.__table__
    claimed = [row[0] for row in db.session.execute(
        update(table).where(table.c.closes_at <= now, table.c.absentees_recorded_at.is_(None))
        .values(absentees_recorded_at=now).returning(table.c.id))]
    out = {}
    for session_id in claimed:
        started = select(Attempt.candidate_id).where(Attempt.session_id == session_id)
        absent = list(db.session.execute(select(SessionCandidate).where(
            SessionCandidate.session_id == session_id, SessionCandidate.candidate_id.not_in(started))).scalars())
        n = 0
        for sc in absent:
            attempt_state.next_state(AttemptState.NOT_STARTED, Action.MARK_ABSENT)  # never started: absent
            existing = db.session.execute(select(ComponentScore).filter_by(
                candidate_id=sc.candidate_id, component=EXAM)).scalar_one_or_none()
            if existing is not None and existing.status == "scored":
                continue  # sat the exam in another session
            record_component(sc.candidate, EXAM, None, status="absent", source=f"exam_session:{session_id}",
                             reason="考试结束未参加笔试")
            n += 1
        session = db.session.get(ExamSession, session_id)
        audit("exam.session.absentees", target=session, round_id=session.round_id, absent=n)
        _emit("absentees", {"session_id": session_id, "absent": n}, session_room(session_id))
        out[session_id] = n
    return out


def sweep(*, now: datetime | None = None) -> dict:
    now = now or utcnow()
    return {"closed": close_overdue(now=now), "absent": record_absentees(now=now)}


# --------------------------------------------------------------------------------------------- secretariat actions

def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ExamError("reason_required", "请填写原因", 400)
    return reason


def force_submit(attempt: Attempt, *, actor=None, reason: str = "", now: datetime | None = None) -> Attempt:
    now = now or utcnow()
    reason = _reason(reason)
    if close_if_overdue(attempt, now=now):  # locks the attempt
        raise ExamError("attempt_closed", "该考生的作答时间已到，系统已自动交卷", 409, keep_changes=True)
    transition(attempt, Action.FORCE_SUBMIT, actor=actor, reason=reason, now=now)
    return attempt


def _minutes(value, message: str) -> int:
    if isinstance(value, bool):
        raise ExamError("invalid_minutes", message, 400)
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise ExamError("invalid_minutes", message, 400) from None


def set_extra_time(sc: SessionCandidate, minutes, *, actor=None, reason: str = "",
                   now: datetime | None = None) -> SessionCandidate:
    """Set one candidate's total extra minutes (0–600; the reason is required): an attempt in progress gets the new
    deadline (never past the close) and the candidate's page and the monitor are told. Time that already ran
    out is not given back (the attempt is closed as at any deadline; reopening is its own action). The session
    page sets the total; the monitor's "+N minutes" sets the current total + N."""
    now = now or utcnow()
    minutes = _minutes(minutes, f"延长时间须为 0–{MAX_EXTRA_MINUTES} 之间的整数（分钟）")
    if not 0 <= minutes <= MAX_EXTRA_MINUTES:
        raise ExamError("invalid_minutes", f"延长时间须为 0–{MAX_EXTRA_MINUTES} 之间的整数（分钟）", 400)
    reason = _reason(reason)
    session = sc.session
    attempt = attempt_of(sc.session_id, sc.candidate_id)
    if attempt is not None:  # attempt row first (the one lock order), then the assignment
        close_if_overdue(locked(attempt), now=now)
        if attempt.state != IN_PROGRESS:
            raise ExamError("attempt_closed", "该考生已交卷，延长时间不再生效；如需继续作答请重新开放", 409,
                            keep_changes=True)
    before = sc.extra_minutes or 0
    old_deadline = attempt.deadline_at if attempt is not None else None
    sc.extra_minutes = minutes
    if attempt is not None:
        attempt.deadline_at = timing.deadline_for(attempt.started_at, session.duration_minutes, minutes,
                                                  session.closes_at)
        if minutes > before and attempt.deadline_at <= old_deadline:
            raise ExamError("capped_at_close", "该考生的截止时间已是本场考试的结束时间，不能再延长", 409)
    audit("exam.session.extra_time", target=session, round_id=session.round_id, reason=reason, actor=actor,
          candidate_id=sc.candidate_id, before=before, after=minutes,
          deadline=None if attempt is None else {"before": old_deadline, "after": attempt.deadline_at})
    db.session.flush()
    message = (f"考务人员为您延长了 {minutes - before} 分钟作答时间" if minutes > before
               else f"考务人员已将您的延长时间调整为 {minutes} 分钟")
    notify_extra_time(sc, attempt, now=now, message=message)
    return sc


def add_time(sc: SessionCandidate, minutes, *, actor=None, reason: str = "", now: datetime | None = None) -> int:
    """The monitor's "+N minutes": ``set_extra_time`` with the current total + N. Returns the new total."""
    minutes = _minutes(minutes, "延长时间必须是整数分钟")
    total = (sc.extra_minutes or 0) + minutes
    if minutes < 1 or total > MAX_EXTRA_MINUTES:
        raise ExamError("invalid_minutes", f"延长时间须为 1 分钟以上，累计不超过 {MAX_EXTRA_MINUTES} 分钟", 400)
    return set_extra_time(sc, total, actor=actor, reason=reason, now=now).extra_minutes


def notify_extra_time(sc: SessionCandidate, attempt: Attempt | None, *, now: datetime, message: str) -> None:
    """After a candidate's extra time changed: an attempt in progress has its new deadline pushed to the
    candidate's page (which otherwise counts down to the old one) and the monitor gets the row."""
    if attempt is not None and attempt.state == IN_PROGRESS:
        _emit("deadline", {"attempt_id": attempt.id, "deadline_at": iso_utc(attempt.deadline_at),
                           "remaining_seconds": timing.remaining_seconds(now, attempt.deadline_at),
                           "message": message}, attempt_room(attempt.id))
    if attempt is not None:
        _notify_state(attempt)
    else:
        _emit("row", {"candidate_id": sc.candidate_id, "extra_minutes": sc.extra_minutes},
              session_room(sc.session_id))


def reopen_attempt(attempt: Attempt, *, minutes, actor=None, reason: str = "", now: datetime | None = None) -> Attempt:
    """Reopen a closed attempt (e.g. after a technical failure) for ``minutes`` more, never past the close."""
    now = now or utcnow()
    reason = _reason(reason)
    minutes = _minutes(minutes, "重新开放的时长必须是整数分钟")
    if not 1 <= minutes <= MAX_EXTRA_MINUTES:
        raise ExamError("invalid_minutes", "重新开放的时长须在 1 到 600 分钟之间", 400)
    locked(attempt)
    if not attempt_state.allowed(attempt.state, Action.REOPEN):
        transition(attempt, Action.REOPEN)  # refused with the table's reason
    session = attempt.session
    if now >= session.closes_at:
        raise ExamError("session_closed", "本场考试已结束，不能重新开放作答", 409)
    transition(attempt, Action.REOPEN, actor=actor, reason=reason, now=now,
               deadline_at=min(now + timedelta(minutes=minutes), session.closes_at))
    return attempt


# --------------------------------------------------------------------------------------------- errata and regrade

@dataclass
class RegradeRow:
    attempt: Attempt
    before: Decimal | None
    after: Decimal

    @property
    def delta(self) -> Decimal:
        return self.after - (self.before or Decimal(0))


def validate_erratum(session: ExamSession, item_version_id, kind: str, accepted) -> tuple[ItemVersion, list[str]]:
    if kind not in ERRATUM_KINDS:
        raise ExamError("invalid_kind", "请选择勘误类型", 400)
    version = db.session.get(ItemVersion, int(item_version_id)) if str(item_version_id).isdigit() else None
    used = version is not None and db.session.execute(
        select(func.count()).select_from(PaperItem).join(SessionCandidate, SessionCandidate.paper_id == PaperItem.paper_id)
        .where(SessionCandidate.session_id == session.id, PaperItem.item_version_id == version.id)).scalar_one() > 0
    if not used:
        raise ExamError("not_in_session", "本场考试的试卷中没有这道题", 404)
    keys = []
    for raw in accepted or []:
        raw = (raw or "").strip().upper().replace(",", "").replace(" ", "")
        if not raw:
            continue
        try:
            keys.append(grading.normalise_response(version.type, raw, len(version.options)))
        except grading.InvalidResponse as err:
            raise ExamError("invalid_key", f"答案“{raw}”无效：{err}", 400) from None
    keys = list(dict.fromkeys(keys))
    if kind == "void":
        keys = []
    elif not keys:
        raise ExamError("key_required", "请填写更正后的答案或可接受的答案", 400)
    elif kind == "correct" and len(keys) != 1:
        raise ExamError("invalid_key", "更正答案只能填写一个答案", 400)
    return version, keys


def _affected_attempts(session: ExamSession, item_version_id: int) -> list[Attempt]:
    return list(db.session.execute(
        select(Attempt).join(PaperItem, PaperItem.paper_id == Attempt.paper_id)
        .where(Attempt.session_id == session.id, Attempt.state.in_(CLOSED_STATES),
               PaperItem.item_version_id == item_version_id).order_by(Attempt.id)
        .with_for_update(of=Attempt)).scalars())  # PostgreSQL: no reopen races the regrade (SQLite: one writer)


def preview_erratum(session: ExamSession, item_version_id, kind: str, accepted) -> list[RegradeRow]:
    """The dry run: every affected (closed) attempt's score before and after the erratum; nothing written."""
    version, keys = validate_erratum(session, item_version_id, kind, accepted)
    errata = {k: list(v) for k, v in _errata(session.id).items()}
    errata.setdefault(version.id, []).append(grading.Erratum(kind, tuple(keys)))
    errata = {k: tuple(v) for k, v in errata.items()}
    policy = _policy(session.id)
    return [RegradeRow(a, a.score, compute_grade(a, errata, policy).score) for a in _affected_attempts(session, version.id)]


def apply_erratum(session: ExamSession, item_version_id, kind: str, accepted, *, reason: str, actor=None,
                  now: datetime | None = None) -> tuple[KeyErratum, list[RegradeRow]]:
    """Enter the erratum and regrade every affected closed attempt in this one transaction (audited)."""
    now = now or utcnow()
    reason = _reason(reason)
    version, keys = validate_erratum(session, item_version_id, kind, accepted)
    erratum = KeyErratum(session_id=session.id, item_version_id=version.id, kind=kind, accepted=keys, reason=reason,
                         applied_at=now, applied_by_id=getattr(actor, "id", None))
    db.session.add(erratum)
    db.session.flush()
    audit("exam.erratum", target=erratum, round_id=session.round_id, reason=reason, actor=actor,
          session_id=session.id, item_version_id=version.id, kind=kind, accepted=keys, original_key=version.answer)
    errata = _errata(session.id)
    policy = _policy(session.id)
    rows = []
    for attempt in _affected_attempts(session, version.id):
        before = attempt.score
        result = compute_grade(attempt, errata, policy)
        _write_grade(attempt, result, now, reason=f"题目勘误重新评分：{reason}", actor=actor)
        audit("exam.attempt.regrade", target=attempt, round_id=session.round_id, reason=reason, actor=actor,
              erratum_id=erratum.id, candidate_id=attempt.candidate_id, before=before, after=result.score)
        rows.append(RegradeRow(attempt, before, result.score))
        _notify_state(attempt)
    return erratum, rows


# --------------------------------------------------------------------------------------------- monitor rows

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
        "events": {k: v for k, v in events.items() if k in BROWSER_EVENT_KINDS},
        "event_total": sum(v for k, v in events.items() if k in BROWSER_EVENT_KINDS),
        "takeovers": events.get("takeover", 0),
        "late_saves": events.get("late_save", 0),
    }


def _notify_state(attempt: Attempt) -> None:
    session = attempt.session or db.session.get(ExamSession, attempt.session_id)
    sc = assignment(attempt.session_id, attempt.candidate_id)
    row = attempt_row(session, sc, attempt, event_counts([attempt.id]).get(attempt.id), utcnow())
    _emit("row", row, session_room(attempt.session_id))
