"""``audit(..., at_commit=True)``: the entry joins the trail only when its transaction commits, sealed by the commit's
own flush, so the trail's lock is held from there to the COMMIT only. The chain stays whole and in order; an entry
is never lost to a savepoint (released or rolled back) and never outlives a rolled-back transaction."""
from __future__ import annotations

import itertools
import threading

from sqlalchemy import event, func, select

from certify.audit import audit, verify
from certify.extensions import db
from certify.models import AuditEntry


def _actions() -> list[str]:
    return db.session.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars().all()


def _statements():
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(" ".join(statement.split()))

    return seen, count


def test_an_entry_kept_for_the_commit_is_sealed_by_it_after_everything_else(ctx):
    audit("a.before")
    db.session.commit()
    seen, count = _statements()
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        entry = audit("a.late", target_type="Round", target_id="1", at_commit=True)
        db.session.flush()
        assert entry.id is None and not [s for s in seen if "audit_entries" in s]  # not even the lock yet
        audit("a.now")  # an ordinary entry in the same transaction seals at its flush
        db.session.flush()
        flushed = len(seen)
        db.session.commit()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert entry.id is not None
    assert seen[flushed:][-1].startswith("INSERT INTO audit_entries")  # the commit's flush wrote it, last
    assert _actions() == ["a.before", "a.now", "a.late"]
    rows = db.session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars().all()
    assert all(b.prev_hash == a.entry_hash for a, b in itertools.pairwise(rows))
    assert verify().ok


def test_a_rolled_back_transaction_drops_it_and_a_savepoint_does_not(ctx):
    audit("a.lost", at_commit=True)
    db.session.rollback()
    db.session.commit()
    assert _actions() == []
    audit("a.kept", at_commit=True)
    savepoint = db.session.begin_nested()
    savepoint.rollback()  # the savepoint's end is not the transaction's: the entry waits for the commit
    db.session.commit()
    assert _actions() == ["a.kept"]
    audit("a.released", at_commit=True)
    with db.session.begin_nested():  # released: sealed there (early, never lost)
        pass
    audit("a.after")
    db.session.commit()
    assert _actions() == ["a.kept", "a.released", "a.after"]
    assert db.session.execute(select(func.count()).select_from(AuditEntry)).scalar() == 3
    assert verify().ok


def test_concurrent_writers_at_commit_keep_one_chain(app, ctx):
    audit("a.first")
    db.session.commit()
    writers, per_writer = 4, 5
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(k: int):
        try:
            with app.app_context():
                barrier.wait(timeout=30)
                for i in range(per_writer):
                    audit("test.late", writer=k, i=i, at_commit=True)
                    if i % 2:
                        audit("test.now", writer=k, i=i)
                    db.session.flush()
                    threading.Event().wait(0.005)
                    db.session.commit()
                db.session.remove()
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    db.session.remove()
    ids = db.session.execute(select(AuditEntry.id).order_by(AuditEntry.id)).scalars().all()
    assert ids == list(range(1, 2 + writers * per_writer + writers * (per_writer // 2)))
    assert verify().ok
