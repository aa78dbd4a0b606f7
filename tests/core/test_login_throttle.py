"""One login limit for /login and /api/login: exponential back-off per account, per address and per trusted
browser; a neighbour behind the same NAT cannot keep a candidate out; proxies believed only when configured."""
from __future__ import annotations

import os

import pytest
import time_machine

from certify import login_throttle
from certify.domain import CANDIDATE
from certify.services.backoff import Policy, remaining_wait, wait_after
from tests.conftest import TEST_PASSWORD, login


@pytest.fixture
def limits(app):
    """Set the login limits for one test, and forget every bucket before and after."""
    saved = {k: app.config.get(k) for k in ("LOGIN_RATE_LIMIT", "LOGIN_IP_RATE_LIMIT")}

    def set_limits(account: str, address: str | None = None):
        app.config["LOGIN_RATE_LIMIT"] = account
        app.config["LOGIN_IP_RATE_LIMIT"] = address
        login_throttle.reset(app)

    yield set_limits
    app.config.update(saved)
    login_throttle.reset(app)


def api_login(client, username, password):
    return client.post("/api/login", json={"username": username, "password": password})


# ------------------------------------------------------------------ the pure rule

def test_backoff_doubles_after_the_free_failures_and_is_capped():
    policy = Policy(free=3, period=60, base=1, cap=10)
    assert [wait_after(n, policy) for n in range(1, 9)] == [0, 0, 1, 2, 4, 8, 10, 10]
    assert remaining_wait(4, 100.0, 101.5, policy) == 0.5 and remaining_wait(4, 100.0, 103, policy) == 0
    assert wait_after(10_000, Policy(free=1, period=1, cap=900)) == 900  # no overflow


# ------------------------------------------------------------------ one limit, both doors

def test_page_and_api_logins_share_one_limit(app, make_user, limits):
    limits("3 per minute")
    user = make_user(CANDIDATE)
    client = app.test_client()
    assert login(client, user.username, "bad-1").status_code == 200
    assert api_login(client, user.username, "bad-2").status_code == 401
    assert login(client, user.username, "bad-3").status_code == 200
    api = api_login(client, user.username, TEST_PASSWORD)
    assert api.status_code == 429 and api.get_json()["error"]["code"] == "login_throttled"
    assert int(api.headers["Retry-After"]) >= 1 and api.get_json()["error"]["retry_after"] >= 1
    page = login(client, user.username, TEST_PASSWORD)
    assert page.status_code == 429 and "登录尝试过于频繁" in page.get_data(as_text=True)
    assert page.headers["Retry-After"] and 'name="username"' in page.get_data(as_text=True)


def test_waits_double_then_everything_is_forgotten_after_a_quiet_period(app, make_user, limits):
    limits("2 per minute")
    user = make_user(CANDIDATE)
    client = app.test_client()
    with time_machine.travel(1_900_000_000, tick=False) as clock:
        assert [login(client, user.username, "bad").status_code for _ in range(2)] == [200, 200]
        assert login(client, user.username, TEST_PASSWORD).status_code == 429  # waits 1 s
        clock.shift(1.1)
        assert login(client, user.username, "bad").status_code == 200  # allowed, wrong: now waits 2 s
        clock.shift(1.1)
        assert login(client, user.username, TEST_PASSWORD).status_code == 429
        clock.shift(1.0)
        assert login(client, user.username, "bad").status_code == 200  # waits 4 s
        clock.shift(4.1 + 60)  # the wait plus the quiet period: forgotten
        assert [login(client, user.username, "bad").status_code for _ in range(2)] == [200, 200]
        clock.shift(2.0)
        assert login(client, user.username, TEST_PASSWORD).status_code == 302


def test_refused_attempts_are_not_checked_so_hammering_gains_nothing(app, make_user, limits):
    limits("2 per minute")
    user = make_user(CANDIDATE)
    client = app.test_client()
    with time_machine.travel(1_900_000_000, tick=False) as clock:
        for _ in range(2):
            login(client, user.username, "bad")
        codes = {login(client, user.username, TEST_PASSWORD).status_code for _ in range(20)}
        assert codes == {429}  # the right password inside the wait is not even checked
        clock.shift(1.1)
        assert login(client, user.username, TEST_PASSWORD).status_code == 302  # hammering did not lengthen it


# ------------------------------------------------------------------ the exam room behind one NAT

def test_a_neighbour_guessing_cannot_keep_the_candidate_out_of_their_own_browser(app, make_user, limits):
    # the clock stands still: on a loaded machine hashing alone can outlast the first 1 s back-off
    with time_machine.travel(1_900_000_000, tick=False):
        limits("3 per minute")
        candidate = make_user(CANDIDATE)
        own_browser, neighbour = app.test_client(), app.test_client()  # same address (127.0.0.1)
        assert login(own_browser, candidate.username).status_code == 302  # e.g. when changing the one-time password
        own_browser.post("/logout")
        for _ in range(6):
            login(neighbour, candidate.username, "guess")
        assert login(neighbour, candidate.username, TEST_PASSWORD).status_code == 429  # untrusted: waits
        assert login(own_browser, candidate.username).status_code == 302  # trusted browser: straight in
        own_browser.post("/logout")
        assert login(neighbour, candidate.username, "guess").status_code == 429  # and the neighbour still waits
        # the trusted browser has its own bucket: its own wrong guesses slow only itself
        for _ in range(3):
            assert login(own_browser, candidate.username, "typo").status_code == 200
        assert login(own_browser, candidate.username).status_code == 429


def test_a_forged_or_foreign_device_cookie_is_not_trusted(app, make_user, limits):
    with time_machine.travel(1_900_000_000, tick=False):  # back-offs measured on a still clock
        limits("2 per minute")
        victim, other = make_user(CANDIDATE), make_user(CANDIDATE)
        attacker = app.test_client()
        assert login(attacker, other.username).status_code == 302  # trusted for *their own* account only
        attacker.post("/logout")
        for _ in range(2):
            login(attacker, victim.username, "guess")
        assert login(attacker, victim.username, "guess").status_code == 429
        attacker.set_cookie(login_throttle.DEVICE_COOKIE, "forged.value")
        assert login(attacker, victim.username, "guess").status_code == 429


def test_the_address_limit_is_generous_and_separate_from_the_account_limit(app, make_user, limits):
    with time_machine.travel(1_900_000_000, tick=False):  # back-offs measured on a still clock
        limits("5 per minute", "4 per minute")
        users = [make_user(CANDIDATE) for _ in range(3)]
        room = app.test_client()
        trusted = app.test_client()
        assert login(trusted, users[2].username).status_code == 302
        trusted.post("/logout")
        assert [login(room, u.username, "typo").status_code for u in users[:2] for _ in range(2)] == [200] * 4
        assert login(room, users[2].username, TEST_PASSWORD).status_code == 429  # the address now waits
        assert login(trusted, users[2].username).status_code == 302  # a trusted browser does not


def test_default_address_limit_is_ten_times_the_account_allowance(app, limits):
    limits("10 per minute")
    with app.test_request_context("/login"):
        assert login_throttle.address_policy().free == 100 and login_throttle.account_policy().free == 10


def test_a_secretariat_reset_clears_the_accounts_wait(app, make_user, limits, ctx):
    from certify.accounts import reset_password

    limits("2 per minute")
    user = make_user(CANDIDATE)
    client = app.test_client()
    for _ in range(3):
        login(client, user.username, "guess")
    with app.test_request_context("/"):
        password = reset_password(user)
    from certify.extensions import db

    db.session.commit()
    assert login(client, user.username, password).status_code == 302


# ------------------------------------------------------------------ addresses and proxies

def test_forwarded_addresses_are_ignored_without_trusted_proxies(app, make_user, limits):
    limits("100 per minute", "3 per minute")
    users = [make_user(CANDIDATE) for _ in range(4)]
    client = app.test_client()
    codes = [client.post("/login", data={"username": u.username, "password": "bad"},
                         headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code for i, u in enumerate(users)]
    assert codes == [200, 200, 200, 429]  # one address: the header did not split it


def test_trusted_proxies_setting_installs_proxy_fix():
    from flask import Flask, request

    def make(hops):
        app = Flask(__name__)
        app.config["TRUSTED_PROXIES"] = hops
        login_throttle.install_proxy_fix(app)
        app.add_url_rule("/ip", "ip", lambda: request.remote_addr)
        return app.test_client()

    headers = {"X-Forwarded-For": "203.0.113.9"}
    assert make(0).get("/ip", headers=headers).get_data(as_text=True) == "127.0.0.1"
    assert make(1).get("/ip", headers=headers).get_data(as_text=True) == "203.0.113.9"
    # one proxy: a client cannot prepend a fake address of its own
    spoofed = {"X-Forwarded-For": "1.2.3.4, 203.0.113.9"}
    assert make(1).get("/ip", headers=spoofed).get_data(as_text=True) == "203.0.113.9"
    with pytest.raises(RuntimeError):
        make("many")


# ------------------------------------------------------------------ shared storage

def test_redis_store_keeps_buckets_for_several_processes():
    redis = pytest.importorskip("redis")
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/6")
    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError:
        pytest.skip("no Redis")
    policy = Policy(free=1, period=30)
    one = login_throttle.RedisStore(url, "certify-test:login-throttle:")
    two = login_throttle.RedisStore(url, "certify-test:login-throttle:")  # another process
    one.reset()
    assert one.fail("acct:x", 1000.0, policy) == 1 and two.fail("acct:x", 1001.0, policy) == 2
    assert one.get("acct:x", 1002.0) == (2, 1001.0)
    ttl = one._redis.ttl("certify-test:login-throttle:acct:x")
    assert 31 < ttl <= 32  # the current wait (2 s) + the quiet period
    two.clear("acct:x")
    assert one.get("acct:x", 1003.0) is None
    one.reset()
