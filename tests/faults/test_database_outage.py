"""Database outages answer 503 + Retry-After, never 500, and the app recovers on its own.

- PostgreSQL (only with TEST_DATABASE_URL): the production command (gunicorn) reaches the database through a TCP
  proxy run by the test; stopping the proxy cuts every pooled connection and refuses new ones. During the outage
  the API answers JSON 503 ``unavailable`` with Retry-After, pages answer the Chinese 503 page, /healthz names the
  database; once the proxy is back the same logged-in candidate saves again, no restart, no new login.
- SQLite (the embedded default): another process holds the write lock longer than the busy timeout; a save answers
  503 (not 500) and the same save succeeds once the lock is released; reads go on meanwhile (WAL).
"""
from __future__ import annotations

import os
import sqlite3
import time
from urllib.parse import urlsplit

import pytest
import requests

from tests.faults.harness import (
    FIGURES,
    Candidate,
    TcpProxy,
    base_env,
    demo_tickets,
    gunicorn_command,
    run_cli,
    serve_command,
)

pytestmark = pytest.mark.faults
SCHEMA = "faults_outage"


def _assert_unavailable_json(resp: requests.Response) -> None:
    assert resp.status_code == 503, (resp.status_code, resp.text[:300])
    assert int(resp.headers["Retry-After"]) >= 1
    assert resp.json()["error"]["code"] == "unavailable"


def _until_ok(call, timeout: float = 30) -> requests.Response:
    deadline = time.monotonic() + timeout
    while True:
        resp = call()
        if resp.status_code != 503 or time.monotonic() > deadline:
            return resp
        assert int(resp.headers["Retry-After"]) >= 1
        time.sleep(0.3)


@pytest.fixture
def pg_schema():
    """A schema of its own in the test database (the session app's tables stay untouched), dropped afterwards."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url or not url.startswith("postgres"):
        pytest.skip("PostgreSQL outage: set TEST_DATABASE_URL to a PostgreSQL database")
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
    yield url
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


def _with_host_port(url: str, host: str, port: int) -> str:
    parts = urlsplit(url)
    auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    query = f"options=-csearch_path%3D{SCHEMA}"
    return f"{parts.scheme}://{auth}{host}:{port}{parts.path}?{query}"


def test_postgresql_outage_answers_503_and_recovers_without_restart(pg_schema, tmp_path, start_server):
    real = urlsplit(pg_schema)
    secrets = {"SECRET_KEY": "p" * 64, "CERTIFY_SECURE_COOKIES": "0", "CERTIFY_HSTS": "0", "RETRY_AFTER_SECONDS": 3,
               "EXAM_SWEEPER_ENABLED": "0"}
    run_cli(["demo"], base_env(tmp_path, DATABASE_URL=_with_host_port(pg_schema, real.hostname, real.port or 5432),
                               **secrets), tmp_path)
    proxy = TcpProxy((real.hostname, real.port or 5432))
    proxy.start()
    try:
        env = base_env(tmp_path, DATABASE_URL=_with_host_port(pg_schema, "127.0.0.1", proxy.port), **secrets)
        server = start_server(gunicorn_command, env)
        import psycopg

        with psycopg.connect(pg_schema, options=f"-csearch_path={SCHEMA}") as conn:
            tickets = demo_tickets(conn)
        cand = Candidate(server.base, tickets[0])
        assert cand.login().status_code == 200
        cand.start()
        assert cand.save(1, ["A"], 1).status_code == 200
        assert cand.http.get(f"{server.base}/", timeout=10).status_code == 200

        proxy.stop()  # the database is gone for the app: pooled connections cut, new ones refused
        FIGURES["faults injected"] += 1
        FIGURES["database outages (PostgreSQL)"] += 1
        statuses = []
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline or not statuses:
            save = cand.save(2, ["B"], 2)
            _assert_unavailable_json(save)
            listed = cand.http.get(f"{server.base}/api/exam/sessions", timeout=30)
            _assert_unavailable_json(listed)
            page = cand.http.get(f"{server.base}/", timeout=30)
            assert page.status_code == 503 and page.headers["Retry-After"] == "3"
            assert page.headers["Content-Type"].startswith("text/html")
            assert "暂时无法服务" in page.text and "Traceback" not in page.text
            newcomer = Candidate(server.base, tickets[1])
            _assert_unavailable_json(newcomer.login())
            health = requests.get(f"{server.base}/healthz", timeout=30)
            assert health.status_code == 503 and health.json() == {"database": "down", "redis": "off"}
            statuses += [save.status_code, listed.status_code, page.status_code, health.status_code, 503]
        FIGURES["HTTP 503 during outages"] += len(statuses)

        proxy.start()  # the database is back: no restart of the app, no new login
        resp = _until_ok(lambda: cand.save(2, ["B"], 2))
        assert resp.status_code == 200 and resp.json()["applied"] is True, resp.text[:300]
        assert requests.get(f"{server.base}/healthz", timeout=10).json() == {"database": "ok", "redis": "off"}
        assert Candidate(server.base, tickets[1]).login().status_code == 200
        with psycopg.connect(pg_schema, options=f"-csearch_path={SCHEMA}") as conn:
            rows = conn.execute("SELECT position, response, seq FROM exam_answers ORDER BY position").fetchall()
        assert rows == [(1, "A", 1), (2, "B", 2)]
        print(f"\nPostgreSQL outage: {len(statuses)} requests during the outage, all 503")
        assert "Traceback" not in server.log(), server.log()[-3000:]
    finally:
        proxy.stop()


def test_sqlite_write_lock_answers_503_and_the_save_goes_through_after(sqlite_copy, tmp_path, start_server):
    env = base_env(tmp_path, DATABASE_URL=f"sqlite:///{sqlite_copy}", EXAM_SWEEPER_ENABLED="0")
    with sqlite3.connect(sqlite_copy) as conn:
        tickets = demo_tickets(conn)
    server = start_server(serve_command, env)
    cand = Candidate(server.base, tickets[0])
    assert cand.login().status_code == 200
    cand.start()
    assert cand.save(1, ["A"], 1).status_code == 200

    blocker = sqlite3.connect(sqlite_copy, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock past the 5 s busy timeout
    FIGURES["faults injected"] += 1
    FIGURES["database outages (SQLite write lock)"] += 1
    try:
        started = time.monotonic()
        save = cand.save(2, ["B"], 2)
        waited = time.monotonic() - started
        _assert_unavailable_json(save)
        FIGURES["HTTP 503 during outages"] += 1
        # readers are not blocked by a writer (WAL): the candidate's paper still loads
        again = cand.http.get(f"{server.base}/api/exam/attempts/{cand.attempt['attempt_id']}",
                              headers=cand.headers(), timeout=30)
        assert again.status_code == 200 and again.json()["items"][0]["response"] == ["A"]
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    resp = cand.save(2, ["B"], 2)  # the page's retry of the refused save
    assert resp.status_code == 200 and resp.json()["applied"] is True, resp.text[:300]
    print(f"\nSQLite write lock: save answered 503 after {waited:.1f} s, then saved")
    with sqlite3.connect(sqlite_copy) as conn:
        rows = conn.execute("SELECT position, response, seq FROM exam_answers ORDER BY position").fetchall()
    assert rows == [(1, "A", 1), (2, "B", 2)]
