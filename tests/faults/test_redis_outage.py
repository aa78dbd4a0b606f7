"""Redis outage: the server (``certify serve`` with REDIS_URL, as one of several processes would run) loses its
Redis. Logins keep working (the login limiter falls back to process memory and still counts failures), answer
saves keep working (realtime notices are dropped, never the save), ``/healthz`` says 503 naming Redis; when Redis
returns, everything uses it again without restarting the app."""
from __future__ import annotations

import sqlite3
import time

import pytest
import redis

from tests.faults.harness import FIGURES, Candidate, base_env, demo_tickets, free_port, serve_command

pytestmark = pytest.mark.faults


def _healthz(server) -> tuple[int, dict, str | None]:
    import requests

    resp = requests.get(f"{server.base}/healthz", timeout=10)
    FIGURES[f"HTTP {resp.status_code}"] += 1
    return resp.status_code, resp.json(), resp.headers.get("Retry-After")


def _until(check, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_redis_outage_keeps_logins_and_saves_working_and_recovers(sqlite_copy, tmp_path, private_redis,
                                                                  start_server):
    env = base_env(tmp_path, DATABASE_URL=f"sqlite:///{sqlite_copy}", REDIS_URL=private_redis.url,
                   SECRET_KEY="f" * 64)
    with sqlite3.connect(sqlite_copy) as conn:
        tickets = demo_tickets(conn)
    server = start_server(serve_command, env)
    r = redis.Redis.from_url(private_redis.url)

    first = Candidate(server.base, tickets[0])
    assert first.login().status_code == 200
    first.start()
    assert first.save(1, ["A"], 1).status_code == 200
    assert _healthz(server)[:2] == (200, {"database": "ok", "redis": "ok"})
    assert Candidate(server.base, tickets[1]).login("wrong-password").status_code == 401
    assert any(b"login-throttle" in k for k in r.keys("*")), "the limiter keeps its buckets in Redis"

    private_redis.kill()
    outage_started = time.monotonic()

    status, body, retry = _healthz(server)
    assert (status, body) == (503, {"database": "ok", "redis": "down"}) and retry
    # logins: a right password gets in, a wrong one is refused (and counted, in memory), none is a 500
    second = Candidate(server.base, tickets[2])
    assert second.login().status_code == 200
    wrong = Candidate(server.base, tickets[3])
    assert [wrong.login("wrong-password").status_code for _ in range(3)] == [401, 401, 401]
    # saves: the answer is stored and acknowledged; the progress notice to the monitor is what is lost
    second.start()
    for seq, position in enumerate(range(1, 6), start=1):
        resp = second.save(position, ["B"], seq)
        assert resp.status_code == 200 and resp.json()["applied"] is True, resp.text[:300]
    assert first.save(2, ["A"], 2).status_code == 200
    # pages for people keep working too (a session that logged in before the outage)
    page = first.http.get(f"{server.base}/", timeout=10)
    assert page.status_code == 200, page.text[:300]

    outage = time.monotonic() - outage_started
    private_redis.start()  # same port: Redis is back

    assert _until(lambda: _healthz(server)[:2] == (200, {"database": "ok", "redis": "ok"})), _healthz(server)
    third = Candidate(server.base, tickets[4])
    assert third.login().status_code == 200
    r.flushdb()  # what the limiter writes from now on shows it uses Redis again (within its retry interval)
    guesser = Candidate(server.base, tickets[5])
    assert _until(lambda: guesser.login("wrong-password").status_code == 401
                  and any(b"login-throttle" in k for k in r.keys("*"))), "the limiter uses Redis again"
    third.start()
    assert third.save(1, ["A"], 1).status_code == 200
    with sqlite3.connect(sqlite_copy) as conn:
        saved = conn.execute("SELECT count(*) FROM exam_answers").fetchone()[0]
    assert saved == 1 + 5 + 1 + 1
    print(f"\nRedis outage: {outage:.1f} s of outage handled")
    log = server.log()
    assert "Traceback" not in log and " 500 " not in log, log[-3000:]


def test_login_limiter_counts_in_memory_while_redis_is_unreachable_and_remembers_after(private_redis):
    from certify.login_throttle import RedisStore
    from certify.services.backoff import Policy

    policy = Policy(free=2, period=60.0, base=1.0, cap=60.0)
    now = time.time()
    dead = RedisStore(f"redis://127.0.0.1:{free_port()}/0", "t:")  # nothing listens there
    started = time.monotonic()
    assert [dead.fail("acct:x", now, policy) for _ in range(3)] == [1, 2, 3]  # counted, not raised
    assert dead.get("acct:x", now)[0] == 3
    assert time.monotonic() - started < 3  # one short timeout, then memory until the retry interval passes
    dead.clear("acct:x")
    assert dead.get("acct:x", now) is None

    live = RedisStore(private_redis.url, "t:")
    for _ in range(3):
        live._memory.fail("acct:y", now, policy)  # failures counted while Redis was down
    assert live.fail("acct:y", now, policy) == 1  # Redis answers again: it is used
    assert live.get("acct:y", now)[0] == 3  # but the outage's count still slows the guesser
