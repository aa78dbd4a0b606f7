"""The candidate's writes during an attempt: save an answer, flag an item, record an integrity event.

The save path (``save_answer``) is built for thousands of simultaneous candidates: one locking ``UPDATE …
RETURNING`` of the attempt row that is also the ownership/token/deadline read (``_header``), one upsert of the
answer row guarded by the per-attempt sequence number (a stale request never overwrites a newer answer), one
update of the attempt's bookkeeping (none for a stale save). Option counts are validated against a per-process
cache of each paper's shape (papers never change once generated).
"""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from certify.clock import iso_utc, utcnow
from certify.extensions import db
from certify.models import Candidate
from question_bank.models import ItemVersion

from ..models import (
    IN_PROGRESS,
    Answer,
    Attempt,
    AttemptEvent,
    ExamSession,
    Paper,
    PaperItem,
)
from ..services import grading, timing
from .base import (
    BROWSER_EVENT_KINDS,
    MAX_EVENT_DETAIL_BYTES,
    MAX_EVENTS_PER_ATTEMPT,
    MAX_TIME_SPENT_MS,
    SQL_INT_MAX,
    TAKEN_OVER,
    ExamError,
    _dialect,
    _emit,
    grace_seconds,
    session_room,
)
from .integrity import clean_event_id
from .lifecycle import close_if_overdue
from .rows import event_counts

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
# A write authorised by the signed attempt pass: the pass names the candidate, so no join to the candidates.
_HEADER_BY_CANDIDATE = _HEADER.where(_attempts_t.c.candidate_id == bindparam("b_candidate"))


def _header(attempt_id, user_id: int | None, now: datetime, candidate_id: int | None = None) -> AttemptHeader:
    """Lock the attempt and read what a candidate write checks (404 unless it is the user's own, or with
    ``candidate_id`` (from a verified attempt pass) the candidate's own)."""
    if not str(attempt_id).isdigit() or int(attempt_id) > SQL_INT_MAX:
        raise ExamError("not_found", "找不到该场考试的作答记录", 404)
    if candidate_id is not None:
        query = _HEADER_BY_CANDIDATE
    else:
        query = _HEADER_BY_USER if user_id is not None else _HEADER
    row = db.session.connection().execute(query, {"b_attempt": int(attempt_id), "b_user": user_id,
                                                  "b_candidate": candidate_id, "b_now": now}).first()
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
                user_id: int | None = None, candidate_id: int | None = None, now: datetime | None = None) -> dict:
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
    header = _header(attempt_id, user_id, now, candidate_id)
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
              candidate_id: int | None = None, now: datetime | None = None) -> dict:
    now = now or utcnow()
    header = _header(attempt_id, user_id, now, candidate_id)
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
                 user_id: int | None = None, candidate_id: int | None = None, now: datetime | None = None,
                 client_event_id=None) -> dict:
    """Record a browser integrity event; answers whether the candidate must now be warned.

    Idempotent: an event carrying a ``client_event_id`` already stored for this attempt (a resend after a lost
    answer, a retry, a second overlapping send) is not stored again and does not raise the count (``duplicate``
    true). Bounded: ``detail`` larger than ``MAX_EVENT_DETAIL_BYTES`` (as JSON) is refused (400), and past
    ``MAX_EVENTS_PER_ATTEMPT`` browser events an attempt's further events are counted as seen but not stored
    (``recorded`` false), so a misbehaving page cannot fill the table."""
    now = now or utcnow()
    if kind not in BROWSER_EVENT_KINDS:
        raise ExamError("invalid_event", f"未知的事件类型：{str(kind)[:40]}", 400)
    client_event_id = clean_event_id(client_event_id)
    detail = detail or {}
    if not isinstance(detail, dict):
        raise ExamError("invalid_event", "事件详情格式无效", 400)
    try:
        size = len(json.dumps(detail, ensure_ascii=False, default=str).encode())
    except (TypeError, ValueError, RecursionError):
        raise ExamError("invalid_event", "事件详情格式无效", 400) from None
    if size > MAX_EVENT_DETAIL_BYTES:
        raise ExamError("event_too_large", f"事件详情过大（上限 {MAX_EVENT_DETAIL_BYTES} 字节）", 400)
    header = _header(attempt_id, user_id, now, candidate_id)
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
    duplicate = False
    if recorded:
        table = AttemptEvent.__table__
        ins = _insert()(table).values(attempt_id=header.id, kind=kind, at=now, detail=clean,
                                      client_event_id=client_event_id)
        if client_event_id is not None:  # the unique (attempt_id, client_event_id) makes a resend a no-op
            ins = ins.on_conflict_do_nothing(index_elements=[table.c.attempt_id, table.c.client_event_id])
        duplicate = db.session.execute(ins.returning(table.c.id)).first() is None
        recorded = not duplicate
    if recorded:
        counts[kind] = counts.get(kind, 0) + 1
        count += 1
        _emit("events", {"attempt_id": header.id, "candidate_id": header.candidate_id,
                         "events": counts}, session_room(header.session_id))
    threshold = db.session.execute(select(ExamSession.event_warning_threshold)
                                   .where(ExamSession.id == header.session_id)).scalar_one()
    warn = threshold is not None and count >= threshold
    return {"kind": kind, "count": count, "warning": warn, "recorded": recorded, "duplicate": duplicate,
            "client_event_id": client_event_id,
            "message": (f"系统已记录到 {count} 次离开考试页面或复制粘贴等异常操作，请专注作答；"
                        "异常记录将提交考务人员审核。" if warn else "")}
