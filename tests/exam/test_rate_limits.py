"""Rate limits on candidate writes (per attempt and user) and on Socket.IO events (per connection), issue 10 item 6:
over the limit a 429 with ``Retry-After`` (documented in /api/openapi.json: the contract client checks every
response here) or a socket ack ``{"ok": false, "code": "rate_limited"}``; a real candidate's pace never meets them;
with Redis out of reach the counting goes on in process memory."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from certify import rate_limits
from certify.config import load_config
from tests.exam.test_api import api_login, save, start

DEFAULTS = {name: default for name, (_, default) in rate_limits.LIMITS.items()}


@pytest.fixture
def limits(app, monkeypatch):
    """Set the write limits for one test (the suite runs with them far out of the way) on fresh counters."""

    def set_limits(**values):
        for name, (setting, _) in rate_limits.LIMITS.items():
            monkeypatch.setitem(app.config, setting, values.get(name, "1000000 per minute"))
        rate_limits.reset(app)

    yield set_limits
    rate_limits.reset(app)


@pytest.fixture
def attempt(client, make_exam_session):
    session = make_exam_session(candidates=2, duration=60)
    api_login(client, session.candidates_made[0].ticket)
    body = start(client, session.id)
    body["session"] = session
    return body


def flag(client, attempt, position, flagged=True):
    return client.put(f"/api/exam/attempts/{attempt['attempt_id']}/flags/{position}", json={"flagged": flagged},
                      headers={"X-Attempt-Token": attempt["client_token"]})


def event(client, attempt, n):
    return client.post(f"/api/exam/attempts/{attempt['attempt_id']}/events",
                       json={"kind": "blur", "client_event_id": f"ev-{n}"},
                       headers={"X-Attempt-Token": attempt["client_token"]})


def assert_rate_limited(resp):
    assert resp.status_code == 429, resp.get_json()
    body = resp.get_json()["error"]
    assert body["code"] == "rate_limited" and body["message"].startswith("操作过于频繁")
    assert 1 <= int(resp.headers["Retry-After"]) <= 60 and body["retry_after"] == int(resp.headers["Retry-After"])


def test_the_defaults_are_settings_documented_in_the_readme(tmp_path):
    config = load_config(tmp_path)
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    for setting, default in rate_limits.LIMITS.values():
        assert config[setting] == os.environ.get(setting, default)
        assert f"| `{setting}` | `{default}` |" in readme, setting
    assert DEFAULTS["exam_save"] == "120 per minute"


def test_saves_over_the_limit_get_429_with_retry_after(client, attempt, limits):
    limits(exam_save="5 per minute")
    for seq in range(1, 6):
        assert save(client, attempt, 1, ["A"], seq).status_code == 200
    refused = save(client, attempt, 1, ["B"], 6)
    assert_rate_limited(refused)
    assert client.get(f"/api/exam/attempts/{attempt['attempt_id']}",
                      headers={"X-Attempt-Token": attempt["client_token"]}).get_json()["items"][0]["response"] == ["A"]


def test_flags_and_events_have_their_own_limits(client, attempt, limits):
    limits(exam_flag="3 per minute", exam_event="2 per minute")
    assert [flag(client, attempt, 1, i % 2 == 0).status_code for i in range(3)] == [200, 200, 200]
    assert_rate_limited(flag(client, attempt, 1))
    assert [event(client, attempt, i).status_code for i in range(2)] == [200, 200]
    assert_rate_limited(event(client, attempt, 2))
    assert save(client, attempt, 1, ["A"], 1).status_code == 200  # saves are counted apart


def test_a_real_candidates_pace_never_meets_the_defaults(client, attempt, limits):
    """Far faster than a person: every question answered and changed, flags toggled, integrity events, all in a few
    seconds (a person takes a minute for far fewer)."""
    limits(**DEFAULTS)
    positions = [item["position"] for item in attempt["items"]]
    statuses, seq = [], 0
    for round_ in range(2):
        for position in positions:
            seq += 1
            statuses.append(save(client, attempt, position, ["A" if round_ else "B"], seq).status_code)
    statuses += [flag(client, attempt, p, True).status_code for p in positions[:20]]
    statuses += [event(client, attempt, n).status_code for n in range(20)]
    assert len(statuses) >= 2 * len(positions) + 20 and set(statuses) == {200}


def test_another_candidate_naming_the_attempt_spends_only_their_own_allowance(app, client, attempt, limits):
    limits(exam_save="3 per minute")
    other = app.test_client()
    api_login(other, attempt["session"].candidates_made[1].ticket)
    for seq in range(1, 6):  # refused (not their attempt), then rate limited: either way their own bucket
        assert save(other, attempt, 1, ["B"], seq).status_code in (404, 429)
    assert [save(client, attempt, 1, ["A"], seq).status_code for seq in range(1, 4)] == [200, 200, 200]


def test_redis_down_counts_in_process_memory(app, caplog):
    from limits import parse

    limiter = rate_limits.Limiter("redis://127.0.0.1:1/0", "certify-test:rate-limit")  # nothing listens there
    item = parse("3 per minute")
    with caplog.at_level(logging.WARNING, logger="certify.rate_limits"):
        waits = [limiter.hit(item, "exam_save", "1", "2") for _ in range(4)]
    assert waits[:3] == [0, 0, 0] and 1 <= waits[3] <= 60  # still limited, never an error
    assert not limiter.using_redis and "redis unreachable" in caplog.text
    assert limiter.hit(item, "exam_save", "9", "2") == 0  # other keys unaffected


def test_the_app_keeps_answering_with_redis_down(app, client, attempt, limits, monkeypatch):
    limits(exam_save="2 per minute")
    monkeypatch.setitem(app.extensions, rate_limits.EXTENSION,
                        rate_limits.Limiter("redis://127.0.0.1:1/0", "certify-test:rate-limit"))
    assert [save(client, attempt, 1, ["A"], seq).status_code for seq in (1, 2)] == [200, 200]
    assert_rate_limited(save(client, attempt, 1, ["A"], 3))


@pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL"), reason="TEST_REDIS_URL is unset")
def test_processes_share_the_count_through_redis():
    import secrets

    from limits import parse

    prefix = f"certify-test-{secrets.token_hex(4)}:rate-limit"
    a, b = (rate_limits.Limiter(os.environ["TEST_REDIS_URL"], prefix) for _ in range(2))  # two processes' limiters
    item = parse("4 per minute")
    try:
        assert [a.hit(item, "exam_save", "1", "1"), b.hit(item, "exam_save", "1", "1")] == [0, 0]
        assert [a.hit(item, "exam_save", "1", "1"), b.hit(item, "exam_save", "1", "1")] == [0, 0]
        assert a.using_redis and b.hit(item, "exam_save", "1", "1") >= 1
    finally:
        a.reset()


def test_socket_events_over_the_limit_are_acknowledged_rate_limited(app, make_user, sockets, limits):
    limits(socket_event="3 per minute")
    user = make_user("secretariat")
    first, second = sockets(user.username), sockets(user.username)
    acks = [first.emit("join_session", {"session_id": 999999}, namespace="/exam", callback=True) for _ in range(4)]
    assert [a["code"] for a in acks[:3]] == ["not_found"] * 3
    assert acks[3]["ok"] is False and acks[3]["code"] == "rate_limited" and 1 <= acks[3]["retry_after"] <= 60
    # per connection: the same user's other connection is not slowed
    assert second.emit("join_session", {"session_id": 999999}, namespace="/exam", callback=True)["code"] == "not_found"
