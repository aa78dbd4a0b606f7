"""The pool pings a connection only after it sat idle (``certify.config.install_idle_ping``), not on every checkout,
and a connection that died while idle is replaced before a request uses it (PostgreSQL: TEST_DATABASE_URL)."""
from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text

from certify.config import install_idle_ping, normalise_database_url


@pytest.fixture
def pg_engine():
    url = os.environ.get("TEST_DATABASE_URL")
    if not url or not url.startswith("postgres"):
        pytest.skip("set TEST_DATABASE_URL to a PostgreSQL database")
    engine = create_engine(normalise_database_url(url), pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def _pings(engine, monkeypatch) -> list:
    seen = []
    real = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda dbapi_conn: seen.append(1) or real(dbapi_conn))
    return seen


def test_a_busy_connection_is_not_pinged(pg_engine, monkeypatch):
    install_idle_ping(pg_engine, 60)
    pings = _pings(pg_engine, monkeypatch)
    for _ in range(5):
        with pg_engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    assert pings == []  # no extra round trip per checkout


def test_an_idle_connection_killed_by_the_server_is_replaced_before_use(pg_engine, monkeypatch):
    install_idle_ping(pg_engine, 0)  # every checkout after a checkin counts as idle
    pings = _pings(pg_engine, monkeypatch)
    with pg_engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with create_engine(pg_engine.url).connect() as other:  # the database drops the pooled connection meanwhile
        assert other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one() is True
    with pg_engine.connect() as conn:  # no OperationalError: the ping failed and the pool connected anew
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
    assert pings == [1]
