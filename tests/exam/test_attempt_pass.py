"""The signed attempt pass (``X-Attempt-Pass``): saves, flags and events without the session cookie or CSRF, and every
pass that should not write (forged, altered, expired, another attempt's, another device's, taken over, past the
deadline) writes nothing."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from certify.clock import utcnow
from certify.extensions import db
from exam.models import Answer, AttemptEvent
from exam.services import attempt_pass
from tests.conftest import TEST_PASSWORD

KEY = attempt_pass.derive_key("k" * 32)


# ------------------------------------------------------------------------------------------------- the pure part

def test_a_pass_verifies_only_with_its_key_token_attempt_and_before_expiry():
    value = attempt_pass.issue(KEY, attempt_id=7, user_id=3, candidate_id=5, client_token="tok", expires=1000)
    claims = attempt_pass.verify(KEY, value, client_token="tok", attempt_id=7, now=999)
    assert claims == attempt_pass.AttemptPass(attempt_id=7, user_id=3, candidate_id=5, expires=1000)
    assert attempt_pass.verify(KEY, value, client_token="tok", attempt_id="7", now=999) == claims  # URL value
    assert attempt_pass.verify(KEY, value, client_token="tok", attempt_id=7, now=1000) is None  # expired
    assert attempt_pass.verify(KEY, value, client_token="other", attempt_id=7, now=0) is None  # another device
    assert attempt_pass.verify(KEY, value, client_token="tok", attempt_id=8, now=0) is None  # another attempt
    assert attempt_pass.verify(attempt_pass.derive_key("x" * 32), value, client_token="tok", attempt_id=7,
                               now=0) is None  # another secret
    for forged in (value.replace(".3.", ".4."), value.replace(".5.", ".6."), value.replace(".1000.", ".9999."),
                   value[:-2] + ("AA" if value[-2:] != "AA" else "BB"), "", "p1.7.3.5.1000", value + ".x",
                   "p1.7.3.5.1000." + "A" * 24, value.replace("p1", "p2"), "p1.7.3.5.１０００." + value.split(".")[-1]):
        assert attempt_pass.verify(KEY, forged, client_token="tok", attempt_id=7, now=0) is None, forged
    assert attempt_pass.verify(KEY, None, client_token="tok", attempt_id=7, now=0) is None
    assert attempt_pass.verify(KEY, value, client_token=None, attempt_id=7, now=0) is None


# ------------------------------------------------------------------------------------------------- through the API

@pytest.fixture
def csrf_on(app, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)  # as in production: cookie writes need the header


@pytest.fixture
def room(app, make_exam_session):
    """Two candidates logged in (their own test clients) and started; returns (session, [(client, csrf, attempt)])."""
    session = make_exam_session(candidates=2, duration=60)
    out = []
    for cand in session.candidates_made:
        client = app.test_client()
        body = client.post("/api/login", json={"username": cand.ticket, "password": TEST_PASSWORD}).get_json()
        csrf = body["csrf_token"]
        resp = client.post(f"/api/exam/sessions/{session.id}/attempt", headers={"X-CSRFToken": csrf})
        assert resp.status_code == 200, resp.get_json()
        out.append((client, csrf, resp.get_json()))
    return session, out


def _save(app, attempt, position, seq, *, pass_=None, token=None, response=("A",)):
    bare = app.test_client()  # no cookie at all: the pass is the only credential
    return bare.put(f"/api/exam/attempts/{attempt['attempt_id']}/answers/{position}",
                    json={"response": list(response), "seq": seq},
                    headers={"X-Attempt-Pass": pass_ or attempt["attempt_pass"],
                             "X-Attempt-Token": token or attempt["client_token"]})


def _stored(attempt_id):
    return {a.position: (a.response, a.seq) for a in
            db.session.execute(select(Answer).filter_by(attempt_id=attempt_id)).scalars()}


def _position(attempt):
    item = next(i for i in attempt["items"] if i["type"] == "single")
    return item["position"], item["options"][0]["id"]


def test_start_and_get_return_a_pass_and_a_save_with_it_needs_no_cookie_nor_csrf(app, ctx, room, csrf_on, caplog):
    _, [(client, csrf, attempt), _] = room
    assert attempt["attempt_pass"].startswith("p1.")
    got = client.get(f"/api/exam/attempts/{attempt['attempt_id']}",
                     headers={"X-Attempt-Token": attempt["client_token"]}).get_json()
    assert got["attempt_pass"]
    position, letter = _position(attempt)
    resp = _save(app, attempt, position, 1, response=[letter])
    assert resp.status_code == 200 and resp.get_json()["applied"] is True, resp.get_json()
    assert resp.headers["Cache-Control"] == "no-store" and "Set-Cookie" not in resp.headers
    logged = [r for r in caplog.records if r.name == "certify.request"][-1].fields
    assert logged["endpoint"] == "exam_api.save_answer" and logged["user"] == attempt["attempt_pass"].split(".")[2]
    assert _stored(attempt["attempt_id"])[position] == (letter, 1)
    # the cookie path still works, and without the CSRF header it is still refused
    url = f"/api/exam/attempts/{attempt['attempt_id']}/answers/{position}"
    resp = client.put(url, json={"response": [letter], "seq": 2}, headers={"X-Attempt-Token": attempt["client_token"]})
    assert resp.status_code == 400
    resp = client.put(url, json={"response": [letter], "seq": 2},
                      headers={"X-Attempt-Token": attempt["client_token"], "X-CSRFToken": csrf})
    assert resp.status_code == 200 and resp.get_json()["applied"] is True


def test_flags_and_events_take_the_pass_too(app, ctx, room, csrf_on):
    _, [(_, _, attempt), _] = room
    headers = {"X-Attempt-Pass": attempt["attempt_pass"], "X-Attempt-Token": attempt["client_token"]}
    position, _ = _position(attempt)
    bare = app.test_client()
    resp = bare.put(f"/api/exam/attempts/{attempt['attempt_id']}/flags/{position}", json={"flagged": True},
                    headers=headers)
    assert resp.status_code == 200 and resp.get_json()["flagged"] is True
    resp = bare.post(f"/api/exam/attempts/{attempt['attempt_id']}/events", json={"kind": "blur"}, headers=headers)
    assert resp.status_code == 200 and resp.get_json()["recorded"] is True
    assert db.session.execute(select(AttemptEvent).filter_by(attempt_id=attempt["attempt_id"], kind="blur")).first()


def test_passes_that_must_not_write_write_nothing(app, ctx, room, csrf_on):
    _, [(_, _, mine), (_, _, theirs)] = room
    position, letter = _position(mine)
    good = mine["attempt_pass"]
    parts = good.split(".")
    refused = {
        "forged signature": ".".join(parts[:5] + ["A" * len(parts[5])]),
        "another candidate named": ".".join(parts[:3] + [str(int(parts[3]) + 1)] + parts[4:]),
        "longer expiry": ".".join(parts[:4] + [str(int(parts[4]) + 3600)] + parts[5:]),
        "another attempt's pass": theirs["attempt_pass"],
        "garbage": "p1.x",
    }
    for why, value in refused.items():
        resp = _save(app, mine, position, 5, pass_=value, response=[letter])
        assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "invalid_pass", why
    # my pass with another device's token, or on their attempt's URL
    resp = _save(app, mine, position, 5, token=theirs["client_token"], response=[letter])
    assert resp.status_code == 401
    resp = _save(app, {**theirs, "attempt_pass": good, "client_token": mine["client_token"]}, position, 5,
                 response=[letter])
    assert resp.status_code == 401
    # a pass on a view that does not take one: the cookie is not read, so it is an anonymous request
    bare = app.test_client()
    resp = bare.post(f"/api/exam/attempts/{mine['attempt_id']}/submit",
                     headers={"X-Attempt-Pass": good, "X-Attempt-Token": mine["client_token"]})
    assert resp.status_code in (400, 401)
    assert _stored(mine["attempt_id"]) == {} and _stored(theirs["attempt_id"]) == {}


def test_a_pass_signed_with_another_key_or_expired_is_refused(app, ctx, room, monkeypatch):
    _, [(_, _, attempt), _] = room
    position, letter = _position(attempt)
    other = attempt_pass.issue(attempt_pass.derive_key("not the app's key"), attempt_id=attempt["attempt_id"],
                               user_id=1, candidate_id=1, client_token=attempt["client_token"],
                               expires=int(time.time()) + 3600)
    assert _save(app, attempt, position, 1, pass_=other, response=[letter]).status_code == 401
    monkeypatch.setattr("exam.delivery.api.time.time", lambda: time.time_ns() / 1e9 + 2 * 3600)  # past its expiry
    assert _save(app, attempt, position, 1, response=[letter]).status_code == 401
    assert _stored(attempt["attempt_id"]) == {}


def test_after_a_takeover_the_old_pass_is_409_and_the_new_one_saves(app, ctx, room):
    session, [(client, csrf, old), _] = room
    position, letter = _position(old)
    again = app.test_client()
    cand = session.candidates_made[0]
    again.post("/api/login", json={"username": cand.ticket, "password": TEST_PASSWORD})
    new = again.post(f"/api/exam/sessions/{session.id}/attempt", headers={"X-Exam-Tab": "other-device"}).get_json()
    assert new["client_token"] != old["client_token"]
    resp = _save(app, old, position, 1, response=[letter])
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "taken_over"
    resp = _save(app, {**old, "attempt_pass": old["attempt_pass"], "client_token": new["client_token"]},
                 position, 1, response=[letter])
    assert resp.status_code == 401  # the old pass with the new token: not the pass of that token
    assert _stored(old["attempt_id"]) == {}
    assert _save(app, new, position, 2, response=[letter]).status_code == 200


def test_the_deadline_is_checked_by_the_save_not_by_the_pass(app, ctx, room):
    _, [(_, _, attempt), _] = room
    position, letter = _position(attempt)
    with time_machine.travel(utcnow() + timedelta(minutes=60, seconds=30), tick=False):
        resp = _save(app, attempt, position, 1, response=[letter])  # the pass has expired as well: 401 first
        assert resp.status_code == 401
        claims = attempt["attempt_pass"].split(".")
        longer = attempt_pass.issue(attempt_pass.derive_key(app.config["SECRET_KEY"]),
                                    attempt_id=attempt["attempt_id"], user_id=int(claims[2]),
                                    candidate_id=int(claims[3]), client_token=attempt["client_token"],
                                    expires=int(time.time()) + 3600)
        resp = _save(app, attempt, position, 1, pass_=longer, response=[letter])
        assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "deadline_passed"
    assert all(seq == 0 for _, seq in _stored(attempt["attempt_id"]).values())  # closed and graded, nothing saved
