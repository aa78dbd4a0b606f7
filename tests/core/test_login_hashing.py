"""The login's password check: the hash policy per account kind, rehash on login, no database connection held
while hashing, the dummy check for unknown accounts, and the bounded check slots (``certify.login_gate``)."""
from __future__ import annotations

import threading
import time

import pytest
from werkzeug.security import check_password_hash, generate_password_hash

from certify import accounts, login_gate
from certify.domain import CANDIDATE, PANELIST, SECRETARIAT, SUPERVISOR
from certify.extensions import db
from certify.models import User
from certify.services.passwords import (
    CHOSEN_HASH_METHOD,
    GENERATED_BITS,
    GENERATED_HASH_METHOD,
    hash_method,
    needs_rehash,
    stored_method,
)
from certify.uow import release_connection
from tests.conftest import TEST_PASSWORD, login

SCRYPT = "scrypt:32768:8:1"


# ------------------------------------------------------------------ the policy (pure)

def test_the_policy_gives_the_light_kdf_only_to_candidates_generated_passwords():
    assert GENERATED_BITS >= 60
    assert hash_method(CANDIDATE, generated=True) == GENERATED_HASH_METHOD == "pbkdf2:sha256:1000"
    assert hash_method(CANDIDATE, generated=False) == CHOSEN_HASH_METHOD == SCRYPT
    for role in (SECRETARIAT, SUPERVISOR, PANELIST):
        assert hash_method(role, generated=True) == hash_method(role, generated=False) == SCRYPT


@pytest.mark.parametrize(("stored", "wanted", "rehash"), [
    ("scrypt:32768:8:1", SCRYPT, False),
    ("scrypt:16384:8:1", SCRYPT, True),      # weaker scrypt
    ("scrypt:65536:8:1", SCRYPT, False),     # stronger: kept
    ("pbkdf2:sha256:1000", SCRYPT, True),    # a staff one-time password of the old policy
    ("pbkdf2:sha256:600000", SCRYPT, True),  # Werkzeug's old default for chosen passwords
    ("pbkdf2:sha256:1000", GENERATED_HASH_METHOD, False),
    ("pbkdf2:sha256:100", GENERATED_HASH_METHOD, True),
    ("pbkdf2:sha256:600000", GENERATED_HASH_METHOD, False),  # never a downgrade
    ("scrypt:32768:8:1", GENERATED_HASH_METHOD, False),      # never a downgrade
])
def test_needs_rehash_upgrades_only(stored, wanted, rehash):
    assert needs_rehash(f"{stored}$salt$abc", wanted) is rehash


def test_stored_method_of_usable_and_unusable_hashes():
    assert stored_method(generate_password_hash("x", method=GENERATED_HASH_METHOD)) == GENERATED_HASH_METHOD
    assert stored_method("!unissued") == "" and stored_method("") == ""


# ------------------------------------------------------------------ both kinds verify, wrong ones fail

def _user(username: str) -> User:
    db.session.expire_all()
    return db.session.execute(db.select(User).filter_by(username=username)).scalar_one()


def test_a_candidates_one_time_password_is_light_and_logs_in(app, make_user, ctx):
    cand = make_user(CANDIDATE, "T2024001")
    one_time = accounts.reset_password(cand)
    db.session.commit()
    assert cand.password_hash.startswith(GENERATED_HASH_METHOD + "$")
    assert login(app.test_client(), "T2024001", one_time + "x").status_code == 200  # refused
    resp = app.test_client().post("/api/login", json={"username": "T2024001", "password": one_time})
    assert resp.status_code == 200 and resp.get_json()["user"]["must_change_password"] is True
    assert _user("T2024001").password_hash.startswith(GENERATED_HASH_METHOD + "$")  # policy met: not rehashed


def test_staff_hashes_are_strong_and_verify(app, make_user, ctx):
    staff, one_time = accounts.create_staff("zj-01", PANELIST)
    db.session.commit()
    assert staff.password_hash.startswith(SCRYPT + "$")
    n, r, p = (int(x) for x in stored_method(staff.password_hash).split(":")[1:])
    assert n >= 2 ** 15 and r >= 8 and p >= 1
    assert login(app.test_client(), "zj-01", "wrong-" + one_time).status_code == 200
    assert login(app.test_client(), "zj-01", one_time).status_code == 302
    sec = make_user(SECRETARIAT)
    assert sec.password_hash.startswith(SCRYPT + "$")
    assert login(app.test_client(), sec.username, TEST_PASSWORD).status_code == 302


@pytest.mark.parametrize(("role", "old", "must_change", "after"), [
    (SUPERVISOR, "pbkdf2:sha256:1000", True, SCRYPT),       # staff one-time password of the previous policy
    (CANDIDATE, "pbkdf2:sha256:600000", False, SCRYPT),     # a chosen password under Werkzeug's old default
    (CANDIDATE, "scrypt:16384:8:1", False, SCRYPT),         # a weaker scrypt
    (CANDIDATE, "pbkdf2:sha256:600000", True, "pbkdf2:sha256:600000"),  # stronger than needed: kept
])
def test_old_hashes_verify_and_are_upgraded_at_login(app, make_user, ctx, role, old, must_change, after):
    user = make_user(role, "legacy-1")
    user.password_hash = generate_password_hash("legacy-pass-77", method=old)
    user.must_change_password = must_change
    db.session.commit()
    assert login(app.test_client(), "legacy-1", "legacy-pass-78").status_code == 200
    assert stored_method(_user("legacy-1").password_hash) == old  # a wrong password changes nothing
    assert login(app.test_client(), "legacy-1", "legacy-pass-77").status_code == 302
    upgraded = _user("legacy-1").password_hash
    assert stored_method(upgraded) == after and check_password_hash(upgraded, "legacy-pass-77")
    assert login(app.test_client(), "legacy-1", "legacy-pass-77").status_code == 302


def test_rehash_on_login_can_be_switched_off(app, make_user, ctx, monkeypatch):
    monkeypatch.setitem(app.config, "PASSWORD_REHASH_ON_LOGIN", False)
    user = make_user(CANDIDATE, "bench-1")
    user.password_hash = generate_password_hash("bench-pass-77", method=GENERATED_HASH_METHOD)
    db.session.commit()
    assert login(app.test_client(), "bench-1", "bench-pass-77").status_code == 302
    assert stored_method(_user("bench-1").password_hash) == GENERATED_HASH_METHOD


# ------------------------------------------------------------------ no connection held while hashing

@pytest.fixture
def checks(monkeypatch):
    """Every password check of the login: (hash method, pooled connections checked out at that moment)."""
    seen: list[tuple[str, int]] = []

    def spy(password_hash, password):
        seen.append((stored_method(password_hash), db.engine.pool.checkedout()))
        return check_password_hash(password_hash, password)

    monkeypatch.setattr(login_gate, "check_password_hash", spy)
    return seen


@pytest.mark.parametrize("path", ["/login", "/api/login"])
def test_no_database_connection_is_held_while_the_password_is_checked(app, make_user, ctx, checks, path):
    cand = make_user(CANDIDATE, "T2024002")
    one_time = accounts.reset_password(cand)
    db.session.commit()
    client = app.test_client()
    data = {"username": "T2024002", "password": one_time}
    resp = client.post(path, json=data) if path.startswith("/api") else client.post(path, data=data)
    assert resp.status_code in (200, 302) and client.get("/").status_code == 302  # logged in
    assert checks == [(GENERATED_HASH_METHOD, 0)]
    assert _user("T2024002").last_login_at is not None  # the second transaction recorded the login


def test_unknown_disabled_and_unissued_accounts_cost_a_one_time_check(app, make_user, ctx, checks):
    off = make_user(SUPERVISOR, "sup-off")
    off.is_active_account = False
    unissued, _ = accounts.create_user("T2024003", CANDIDATE, issue=False)
    db.session.commit()
    assert unissued.password_hash == "!unissued"
    for name in ("nobody-here", "sup-off", "T2024003"):
        assert login(app.test_client(), name, TEST_PASSWORD).status_code == 200
    assert checks == [(GENERATED_HASH_METHOD, 0)] * 3  # the dummy: cheap, no CPU handed to made-up names


def test_a_password_changed_during_the_check_wins(app, make_user, ctx, monkeypatch):
    user_id = make_user(CANDIDATE, "T2024004").id
    real = login_gate.check_password_hash

    def reset_meanwhile(password_hash, password):
        with app.app_context():  # another request resets the password while this check runs
            other = db.session.get(User, user_id)
            accounts.reset_password(other)
            db.session.commit()
        return real(password_hash, password)

    monkeypatch.setattr(login_gate, "check_password_hash", reset_meanwhile)
    assert login(app.test_client(), "T2024004", TEST_PASSWORD).status_code == 200  # refused: the old password
    assert _user("T2024004").last_login_at is None


def test_release_connection_refuses_to_drop_changes(ctx, make_user):
    user = make_user(CANDIDATE)
    user.display_name = "changed"
    with pytest.raises(RuntimeError):
        release_connection()
    db.session.rollback()


# ------------------------------------------------------------------ a storm queues, then 503, never 500

@pytest.fixture
def small_gate(app):
    saved = app.extensions.get(login_gate.EXTENSION)
    gate = login_gate.Gate(slots=2, wait_seconds=0.3, retry_after=3)
    app.extensions[login_gate.EXTENSION] = gate
    yield gate
    if saved is None:
        app.extensions.pop(login_gate.EXTENSION, None)
    else:
        app.extensions[login_gate.EXTENSION] = saved


def test_a_login_waits_for_a_busy_slot_then_gets_503_with_retry_after(app, make_user, ctx, small_gate, checks):
    make_user(CANDIDATE, "T2024005")
    for _ in range(small_gate.slots):
        small_gate._sem.acquire()
    try:
        api = app.test_client().post("/api/login", json={"username": "T2024005", "password": TEST_PASSWORD})
        page = login(app.test_client(), "T2024005")
    finally:
        for _ in range(small_gate.slots):
            small_gate._sem.release()
    assert api.status_code == 503 and api.headers["Retry-After"] == "3"
    assert api.get_json()["error"]["code"] == "unavailable" and api.get_json()["error"]["retry_after"] == 3
    assert page.status_code == 503 and page.headers["Retry-After"] == "3"
    assert "登录人数较多" in page.get_data(as_text=True)
    assert checks == [] and small_gate.refused == 2
    assert login(app.test_client(), "T2024005").status_code == 302  # slots free again


def test_concurrent_checks_never_exceed_the_slots_and_the_rest_queue(app, make_user, ctx, small_gate, monkeypatch):
    small_gate.wait_seconds = 10
    make_user(CANDIDATE, "T2024006")
    running, peak, lock = [0], [0], threading.Lock()

    def slow_check(password_hash, password):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return False

    monkeypatch.setattr(login_gate, "check_password_hash", slow_check)
    statuses = []

    def one():
        statuses.append(login(app.test_client(), "T2024006", "wrong-pass-123").status_code)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 8  # every one refused as a wrong password: queued, none failed
    assert peak[0] == 2 and small_gate.waited >= 1 and small_gate.refused == 0


def test_the_throttle_still_refuses_before_any_hash(app, make_user, ctx, checks, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "2 per minute")
    make_user(CANDIDATE, "T2024007")
    client = app.test_client()
    assert [login(client, "T2024007", "wrong-pass-123").status_code for _ in range(2)] == [200, 200]
    resp = login(client, "T2024007")
    assert resp.status_code == 429 and resp.headers["Retry-After"]
    assert len(checks) == 2  # the refused attempt checked no password


def test_the_first_password_change_hashes_outside_any_connection_too(app, make_user, ctx, checks, monkeypatch):
    cand = make_user(CANDIDATE, "T2024008")
    one_time = accounts.reset_password(cand)
    db.session.commit()
    made: list[tuple[str, int]] = []

    def spy_hash(password, method):
        made.append((method, db.engine.pool.checkedout()))
        return generate_password_hash(password, method=method)

    monkeypatch.setattr(login_gate, "generate_password_hash", spy_hash)
    monkeypatch.setattr(accounts, "generate_password_hash", spy_hash)
    client = app.test_client()
    assert login(client, "T2024008", one_time).status_code == 302
    resp = client.post("/account/password", data={"current": one_time, "new": "a-quiet-river-2024",
                                                  "confirm": "a-quiet-river-2024"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    assert checks == [(GENERATED_HASH_METHOD, 0)] * 2 and made == [(SCRYPT, 0)]
    user = _user("T2024008")
    assert not user.must_change_password and stored_method(user.password_hash) == SCRYPT
    assert login(app.test_client(), "T2024008", "a-quiet-river-2024").status_code == 302
