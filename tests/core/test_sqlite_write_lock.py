"""SQLite writes take the write lock when their transaction begins (certify.extensions.sqlite_begin_immediate).

A deferred transaction that reads, then writes after another connection committed, fails at once with "database is
locked" (its snapshot is stale; no busy timeout helps) — the SQLite 500s/503s of the first load runs. With
``BEGIN IMMEDIATE`` the second writer waits for the first and then succeeds.
"""
from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from flask import Flask
from sqlalchemy import create_engine, text

from certify import extensions  # noqa: F401  (registers the engine listeners)
from certify.extensions import sqlite_begin_immediate

web = Flask(__name__)


@pytest.fixture
def engine(tmp_path):
    eng = create_engine(f"sqlite:///{tmp_path / 'lock.db'}", connect_args={"timeout": 10})
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"))
        conn.execute(text("INSERT INTO counter VALUES (1, 0)"))
    yield eng
    eng.dispose()


def test_which_transactions_begin_immediate():
    assert sqlite_begin_immediate() is False  # worker, CLI: the driver's deferred BEGIN
    for method, expected in [("GET", False), ("HEAD", False), ("OPTIONS", False), ("POST", True), ("PUT", True),
                             ("DELETE", True)]:
        with web.test_request_context("/", method=method):
            assert sqlite_begin_immediate() is expected, method
    with web.test_request_context("/socket.io/", method="GET"):
        from flask import request

        request.sid = "abc"  # what flask-socketio sets while an event handler runs
        assert sqlite_begin_immediate() is True


def test_the_stale_snapshot_failure_that_deferred_transactions_have(tmp_path):
    """The reason, shown with the bare driver: read in a deferred transaction, another connection commits a write,
    then the first one's write fails immediately although the busy timeout is 10 s."""
    path = tmp_path / "raw.db"
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE t (n INTEGER)")
    setup.execute("INSERT INTO t VALUES (0)")
    a = sqlite3.connect(path, isolation_level=None, timeout=10)
    b = sqlite3.connect(path, isolation_level=None, timeout=10)
    a.execute("BEGIN")
    a.execute("SELECT n FROM t").fetchone()
    b.execute("BEGIN IMMEDIATE")
    b.execute("UPDATE t SET n = n + 1")
    b.execute("COMMIT")
    t0 = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        a.execute("UPDATE t SET n = n + 1")
    assert time.monotonic() - t0 < 1  # failed at once: waiting would not have helped
    a.execute("ROLLBACK")
    for c in (a, b, setup):
        c.close()


def test_concurrent_read_then_write_requests_all_succeed(engine):
    """Eight threads, each 40 POST-like transactions that read the counter and then write it: every one commits
    (none gets "database is locked") and no increment is lost."""
    errors: list[BaseException] = []

    def worker():
        for _ in range(40):
            try:
                with web.test_request_context("/api/x", method="POST"), engine.begin() as conn:
                    n = conn.execute(text("SELECT n FROM counter WHERE id = 1")).scalar()
                    conn.execute(text("UPDATE counter SET n = :n WHERE id = 1"), {"n": n + 1})
            except BaseException as err:  # noqa: BLE001 - collected and asserted below
                errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM counter")).scalar() == 8 * 40


def test_a_request_write_waits_for_the_sweepers_transaction_instead_of_failing(engine):
    """The worker (no request) reads and writes in a deferred transaction; a POST that starts meanwhile waits for its
    commit and then succeeds."""
    done = threading.Event()
    outcome: list = []
    with engine.connect() as sweeper:
        sweeper.begin()
        sweeper.execute(text("SELECT n FROM counter")).scalar()
        sweeper.execute(text("UPDATE counter SET n = n + 10 WHERE id = 1"))

        def request_write():
            try:
                with web.test_request_context("/api/save", method="PUT"), engine.begin() as conn:
                    conn.execute(text("UPDATE counter SET n = n + 1 WHERE id = 1"))
                outcome.append("ok")
            except BaseException as err:  # noqa: BLE001 - asserted below
                outcome.append(err)
            done.set()

        thread = threading.Thread(target=request_write)
        thread.start()
        time.sleep(0.3)
        assert not done.is_set()  # waiting for the lock, not failed
        sweeper.commit()
    thread.join(5)
    assert outcome == ["ok"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM counter")).scalar() == 11


def test_reads_do_not_wait_for_a_writer(engine):
    """A GET's deferred transaction reads while a write transaction holds the lock (WAL)."""
    with web.test_request_context("/x", method="POST"), engine.connect() as writer:
        writer.begin()
        writer.execute(text("UPDATE counter SET n = 99 WHERE id = 1"))
        with web.test_request_context("/y", method="GET"), engine.connect() as reader:
            t0 = time.monotonic()
            assert reader.execute(text("SELECT n FROM counter")).scalar() == 0
            assert time.monotonic() - t0 < 1
        writer.commit()
