"""Writing and checking the audit trail. Every operation that changes a score, a key, a schedule or a decision
calls ``audit()``; ``verify()`` walks the hash chain (certify.services.audit_chain).

Entries are sealed when they are flushed: the session takes the trail's write lock (PostgreSQL: a transaction
advisory lock on a constant; SQLite: the database write lock, taken by a write before the read), reads the last
entry's id and hash inside that same transaction, and gives each new entry the next id, ``prev_hash`` and
``entry_hash``. The lock is held until the transaction ends, so two writers can never chain to the same
predecessor (and ``prev_hash`` is unique in the table besides).

``audit(..., at_commit=True)`` keeps the entry out of the session until the transaction commits (or releases a
savepoint): it is sealed by the commit's own flush, so the trail's lock is held only from there to the COMMIT, not
for the rest of the caller's work. A hot path that audits first and then does more (a start, which then builds
the candidate's paper) uses it, so concurrent starts do not queue on the lock. Its entry has no id until then.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

from flask_login import current_user
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from .clock import utcnow
from .extensions import db
from .models import AuditEntry, Round, User
from .services import audit_chain
from .services.audit_chain import VerifyResult

_PENDING = "audit_pending"
_AT_COMMIT = "audit_at_commit"


def _current_actor() -> User | None:
    try:
        if current_user and current_user.is_authenticated:
            return current_user._get_current_object()
    except RuntimeError:  # outside a request (CLI, sweeper)
        return None
    return None


def audit(action: str, *, target=None, target_type: str = "", target_id="", round_id: int | None = None,
          reason: str = "", actor: User | None = None, at_commit: bool = False, **detail) -> AuditEntry:
    """Add an audit entry to the session (flushed with the caller's transaction, never committed here); with
    ``at_commit`` only when the transaction commits (see the module docstring)."""
    actor = actor or _current_actor()
    if target is not None:
        target_type = target_type or type(target).__name__
        target_id = target_id or getattr(target, "id", "")
        if round_id is None:  # an entry about a round belongs to that round
            round_id = target.id if isinstance(target, Round) else getattr(target, "round_id", None)
    entry = AuditEntry(
        at=utcnow(),
        action=action,
        target_type=target_type,
        target_id=str(target_id or ""),
        round_id=round_id,
        reason=reason or "",
        actor_id=actor.id if actor else None,
        actor_name=(actor.display_name or actor.username) if actor else "系统",
        detail=_jsonable(detail),
    )
    session = db.session()
    if at_commit:
        if not session.in_transaction():
            session.begin()  # the entry belongs to this transaction: its rollback drops it
        session.info.setdefault(_AT_COMMIT, []).append(entry)
        return entry
    session.info.setdefault(_PENDING, []).append(entry)
    session.add(entry)
    return entry


_jsonable = audit_chain.jsonable


# ------------------------------------------------------------------ sealing


def _seal_pending(session: Session, _flush_context, _instances) -> None:
    new = [obj for obj in session.new if isinstance(obj, AuditEntry)]
    if not new:
        return
    order = {id(e): i for i, e in enumerate(session.info.get(_PENDING, []))}
    new.sort(key=lambda e: order.get(id(e), len(order)))
    conn = session.connection()
    _lock_trail(conn)
    last = conn.execute(select(AuditEntry.id, AuditEntry.entry_hash)
                        .order_by(AuditEntry.id.desc()).limit(1)).first()
    rows = []
    for e in new:
        if e.at is None:
            e.at = utcnow()
        e.detail = _jsonable(e.detail or {})
        rows.append(_row(e))
    audit_chain.seal(rows, last[0] if last else None, last[1] if last else None)
    for e, row in zip(new, rows):
        e.id, e.prev_hash, e.entry_hash = row["id"], row["prev_hash"], row["entry_hash"]
    sealed = {id(e) for e in new}
    session.info[_PENDING] = [e for e in session.info.get(_PENDING, []) if id(e) not in sealed]


def _forget_pending(session: Session, *_args) -> None:
    session.info.pop(_PENDING, None)


def _add_at_commit(session: Session) -> None:
    """Before a commit's flush (also a savepoint's release: an entry is never lost to the order in which nested
    transactions end), the entries kept for it join the session and are sealed by that flush."""
    late = session.info.pop(_AT_COMMIT, None)
    if late:
        session.info.setdefault(_PENDING, []).extend(late)
        session.add_all(late)


def _forget_at_commit(session: Session, transaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended (a rolled-back savepoint keeps them)
        session.info.pop(_AT_COMMIT, None)


def _lock_trail(conn) -> None:
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": audit_chain.PG_LOCK_KEY})
    elif dialect == "sqlite":
        # pysqlite opens its transaction lazily, at the first write: write first (a no-op that still takes the
        # database's write lock), so the read of the last hash below happens inside the write transaction.
        conn.execute(text("UPDATE audit_entries SET id = id WHERE 0 = 1"))


_installed = False


def install() -> None:
    global _installed
    if not _installed:
        event.listen(Session, "before_flush", _seal_pending)
        event.listen(Session, "after_rollback", _forget_pending)
        event.listen(Session, "after_commit", _forget_pending)
        event.listen(Session, "before_commit", _add_at_commit)
        event.listen(Session, "after_transaction_end", _forget_at_commit)
        _installed = True


install()


def _row(e: AuditEntry) -> dict:
    return {"id": e.id, "at": e.at, "actor_id": e.actor_id, "actor_name": e.actor_name or "",
            "round_id": e.round_id, "action": e.action, "target_type": e.target_type or "",
            "target_id": e.target_id or "", "reason": e.reason or "", "detail": e.detail or {},
            "prev_hash": getattr(e, "prev_hash", None), "entry_hash": getattr(e, "entry_hash", None)}


# ------------------------------------------------------------------ verifying

_COLUMNS = (AuditEntry.id, AuditEntry.at, AuditEntry.actor_id, AuditEntry.actor_name, AuditEntry.round_id,
            AuditEntry.action, AuditEntry.target_type, AuditEntry.target_id, AuditEntry.reason, AuditEntry.detail,
            AuditEntry.prev_hash, AuditEntry.entry_hash)
_KEYS = [c.key for c in _COLUMNS]


def verify(*, anchor: tuple[int, str] | None = None, batch: int = 2000,
           start: VerifyResult | None = None) -> VerifyResult:
    """Check the whole trail, oldest first, reading it in batches by id (no long-lived cursor); with ``start``
    (an earlier intact result) only the entries after its head."""

    def rows():
        after = (start.head_id or 0) if start else 0
        while True:
            chunk = db.session.execute(select(*_COLUMNS).where(AuditEntry.id > after)
                                       .order_by(AuditEntry.id).limit(batch)).all()
            for r in chunk:
                yield dict(zip(_KEYS, r))
            if len(chunk) < batch:
                return
            after = chunk[-1][0]

    def locate(column: str, value: str) -> int | None:
        col = AuditEntry.prev_hash if column == "prev_hash" else AuditEntry.entry_hash
        return db.session.execute(select(AuditEntry.id).where(col == value).limit(1)).scalar()

    return audit_chain.verify_chain(rows(), locate=locate, anchor=anchor, start=start)


@dataclass
class _Checked:
    result: VerifyResult
    full_at: float  # time.monotonic() of the last walk from the first entry
    checked_at: datetime


_last_check: dict[str, _Checked] = {}
_check_lock = threading.Lock()


def chain_state(max_age: float = 300.0) -> tuple[VerifyResult, datetime]:
    """The chain's state for the audit page, cheap enough to show on every view: a full walk at most every
    ``max_age`` seconds per process (and per database); in between only the entries added since the last
    intact head are walked, after checking that head is still there with the same hash. Returns the result and
    when the last full walk happened (UTC). ``certify audit verify`` always walks everything."""
    key = str(db.engine.url)
    with _check_lock:
        previous = _last_check.get(key)
    now = time.monotonic()
    if previous and previous.result.ok and now - previous.full_at < max_age and _head_unchanged(previous.result):
        result = verify(start=previous.result)
        checked = _Checked(result, previous.full_at, previous.checked_at)
    else:
        result = verify()
        checked = _Checked(result, now, utcnow())
    with _check_lock:
        _last_check[key] = checked
    return checked.result, checked.checked_at


def _head_unchanged(result: VerifyResult) -> bool:
    if result.head_id is None:  # the trail was empty: walking it "from the start" is the full walk anyway
        return True
    stored = db.session.execute(select(AuditEntry.entry_hash).where(AuditEntry.id == result.head_id)).scalar()
    return stored == result.head_hash
