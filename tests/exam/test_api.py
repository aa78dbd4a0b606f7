"""The candidate JSON API: login, sessions, start/resume, save, flag, events, submit, role rules, no keys
before submission, and the OpenAPI description."""
import json
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from certify.clock import utcnow
from certify.extensions import db
from exam.models import AttemptEvent, ExamSession
from question_bank.models import ItemVersion
from tests.conftest import TEST_PASSWORD, login

OPERATION_IDS = {"candidateLogin", "listMyExamSessions", "startAttempt", "getAttempt", "saveAnswer", "flagItem",
                 "submitAttempt", "serverTime"}


@pytest.fixture
def session2(make_exam_session):
    return make_exam_session(candidates=2, duration=60)


def api_login(client, username):
    resp = client.post("/api/login", json={"username": username, "password": TEST_PASSWORD})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def start(client, session_id):
    resp = client.post(f"/api/exam/sessions/{session_id}/attempt")
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def save(client, attempt, position, response, seq, token=None):
    return client.put(f"/api/exam/attempts/{attempt['attempt_id']}/answers/{position}",
                      json={"response": response, "seq": seq, "time_spent_ms": 1000},
                      headers={"X-Attempt-Token": token or attempt["client_token"]})


def test_candidate_login_is_json_only_and_rejects_bad_passwords(client, session2):
    cand = session2.candidates_made[0]
    resp = client.post("/api/login", data={"username": cand.ticket, "password": TEST_PASSWORD})
    assert resp.status_code == 415 and resp.get_json()["error"]["code"] == "unsupported_media_type"
    resp = client.post("/api/login", json={"username": cand.ticket, "password": "wrong"})
    assert resp.status_code == 401 and resp.get_json()["error"]["message"] == "账号或密码错误"
    body = api_login(client, cand.ticket)
    assert body["csrf_token"] and body["user"]["username"] == cand.ticket


def test_candidate_login_refuses_other_roles(client, make_user):
    user = make_user("secretariat")
    resp = client.post("/api/login", json={"username": user.username, "password": TEST_PASSWORD})
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "not_candidate"


def test_unauthenticated_calls_get_json_401(client):
    resp = client.get("/api/exam/sessions")
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "unauthenticated"


def test_server_time_is_public(client):
    body = client.get("/api/time").get_json()
    assert body["server_time"].endswith("Z") and isinstance(body["server_time_ms"], int)


def test_list_start_save_flag_submit_round_trip(client, session2):
    cand = session2.candidates_made[0]
    api_login(client, cand.ticket)
    sessions = client.get("/api/exam/sessions").get_json()["sessions"]
    assert [s["session_id"] for s in sessions] == [session2.id] and sessions[0]["can_enter"]
    attempt = start(client, session2.id)
    assert attempt["state"] == "in_progress" and 3590 <= attempt["remaining_seconds"] <= 3600
    item = attempt["items"][0]
    assert [o["id"] for o in item["options"]]  # stable option ids in the candidate's order
    choice = item["options"][0]["id"]
    resp = save(client, attempt, item["position"], [choice], 1)
    assert resp.status_code == 200 and resp.get_json()["applied"] is True
    resp = save(client, attempt, item["position"], ["B"], 1)  # same seq again: stale
    assert resp.get_json()["applied"] is False
    resp = client.put(f"/api/exam/attempts/{attempt['attempt_id']}/flags/2", json={"flagged": True},
                      headers={"X-Attempt-Token": attempt["client_token"]})
    assert resp.status_code == 200
    again = client.get(f"/api/exam/attempts/{attempt['attempt_id']}",
                       headers={"X-Attempt-Token": attempt["client_token"]}).get_json()
    assert again["items"][0]["response"] == [choice] and again["items"][1]["flagged"] is True
    assert again["answered_count"] == 1
    resp = client.post(f"/api/exam/attempts/{attempt['attempt_id']}/submit",
                       headers={"X-Attempt-Token": attempt["client_token"]})
    body = resp.get_json()
    assert resp.status_code == 200 and body["state"] == "submitted" and body["items"] == []
    assert body["score"] is None  # not released yet


def test_bad_answer_gets_a_chinese_error_naming_the_item(client, session2):
    api_login(client, session2.candidates_made[0].ticket)
    attempt = start(client, session2.id)
    resp = save(client, attempt, 1, ["Z"], 1)
    err = resp.get_json()["error"]
    assert resp.status_code == 400 and err["code"] == "invalid_response" and "第 1 题" in err["message"]


def test_old_token_is_answered_409_taken_over(app, session2):
    cand = session2.candidates_made[0]
    first, second = app.test_client(), app.test_client()
    api_login(first, cand.ticket)
    api_login(second, cand.ticket)
    a1 = start(first, session2.id)
    save(first, a1, 1, ["A"], 1)
    a2 = start(second, session2.id)
    assert a2["attempt_id"] == a1["attempt_id"] and a2["client_token"] != a1["client_token"]
    assert a2["items"][0]["response"] == ["A"]
    assert [i["position"] for i in a2["items"]] == [i["position"] for i in a1["items"]]
    assert [[o["id"] for o in i["options"]] for i in a2["items"]] == \
        [[o["id"] for o in i["options"]] for i in a1["items"]]
    resp = save(first, a1, 2, ["A"], 2)
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "taken_over"
    assert "另一台设备" in resp.get_json()["error"]["message"]
    assert save(second, a2, 2, ["A"], 2).status_code == 200


def test_no_key_explanation_or_points_awarded_before_submission(client, session2):
    api_login(client, session2.candidates_made[0].ticket)
    attempt = start(client, session2.id)
    save(client, attempt, 1, ["A"], 1)
    bodies = [attempt, client.get(f"/api/exam/attempts/{attempt['attempt_id']}").get_json(),
              client.get("/api/exam/sessions").get_json()]
    versions = {v.id: v for v in db.session.execute(select(ItemVersion)).scalars()}
    for body in bodies:
        text = json.dumps(body, ensure_ascii=False)
        for forbidden in ('"answer"', '"key"', '"explanation"', '"earned"', '"points_awarded"'):
            assert forbidden not in text
    for item in attempt["items"]:
        assert set(item) == {"position", "item_id", "item_version_id", "version", "type", "type_label", "stem",
                             "points", "options", "response", "flagged", "seq", "time_spent_ms"}
        assert item["item_version_id"] in versions


def test_a_candidate_can_never_read_another_candidates_attempt(app, session2):
    alice, bob = session2.candidates_made
    ca, cb = app.test_client(), app.test_client()
    api_login(ca, alice.ticket)
    api_login(cb, bob.ticket)
    a_attempt = start(ca, session2.id)
    for resp in (cb.get(f"/api/exam/attempts/{a_attempt['attempt_id']}"),
                 save(cb, a_attempt, 1, ["A"], 1),
                 cb.put(f"/api/exam/attempts/{a_attempt['attempt_id']}/flags/1", json={"flagged": True},
                        headers={"X-Attempt-Token": a_attempt["client_token"]}),
                 cb.post(f"/api/exam/attempts/{a_attempt['attempt_id']}/submit",
                         headers={"X-Attempt-Token": a_attempt["client_token"]}),
                 cb.post(f"/api/exam/attempts/{a_attempt['attempt_id']}/events", json={"kind": "blur"},
                         headers={"X-Attempt-Token": a_attempt["client_token"]})):
        assert resp.status_code in (403, 404), resp.get_json()


def test_candidate_not_assigned_to_a_session_cannot_start_it(client, make_exam_session, make_candidate, session2):
    outsider = make_candidate(session2.scheme.round)
    api_login(client, outsider.ticket)
    resp = client.post(f"/api/exam/sessions/{session2.id}/attempt")
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_assigned"


def test_staff_cannot_use_the_candidate_api(client, login_as, session2):
    login_as("secretariat")
    assert client.get("/api/exam/sessions").status_code == 403


def test_integrity_events_warn_at_the_threshold(client, session2):
    session2.event_warning_threshold = 2
    db.session.commit()
    api_login(client, session2.candidates_made[0].ticket)
    attempt = start(client, session2.id)
    url = f"/api/exam/attempts/{attempt['attempt_id']}/events"
    headers = {"X-Attempt-Token": attempt["client_token"]}
    first = client.post(url, json={"kind": "blur", "detail": {"client_at": "x"}}, headers=headers).get_json()
    second = client.post(url, json={"kind": "paste"}, headers=headers).get_json()
    assert first["warning"] is False and second["warning"] is True and "异常操作" in second["message"]
    bad = client.post(url, json={"kind": "hack"}, headers=headers)
    assert bad.status_code == 400
    assert db.session.execute(select(AttemptEvent.kind).filter_by(attempt_id=attempt["attempt_id"])
                              ).scalars().all() == ["blur", "paste"]


def test_late_save_is_refused_over_the_api_and_submit_after_deadline_is_auto(app, client, session2):
    api_login(client, session2.candidates_made[0].ticket)
    t0 = utcnow()
    with time_machine.travel(t0, tick=False):
        attempt = start(client, session2.id)
    deadline = t0 + timedelta(seconds=attempt["remaining_seconds"])
    with time_machine.travel(deadline + timedelta(seconds=app.config["EXAM_SAVE_GRACE_SECONDS"] + 2), tick=False):
        resp = save(client, attempt, 1, ["A"], 1)
        assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "deadline_passed"
        body = client.get(f"/api/exam/attempts/{attempt['attempt_id']}").get_json()
    assert body["state"] == "auto_submitted" and body["items"] == []


def test_released_score_is_shown_after_release(client, session2):
    api_login(client, session2.candidates_made[0].ticket)
    attempt = start(client, session2.id)
    headers = {"X-Attempt-Token": attempt["client_token"]}
    client.post(f"/api/exam/attempts/{attempt['attempt_id']}/submit", headers=headers)
    session = db.session.get(ExamSession, session2.id)
    session.scores_released_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    body = client.get(f"/api/exam/attempts/{attempt['attempt_id']}").get_json()
    assert body["score"] == "0.0000" or body["score"] == "0"
    page = client.get(f"/exam/sessions/{session2.id}/result").get_data(as_text=True)
    assert "0.00" in page and "成绩尚未公布" not in page


def test_openapi_documents_every_operation_and_validates(client):
    spec = client.get("/api/openapi.json").get_json()
    ids = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
    assert OPERATION_IDS <= ids
    for path in spec["paths"].values():
        for op in path.values():
            assert "200" in op["responses"]
            if op["operationId"] not in ("serverTime", "getOpenApi"):  # public reads that touch no data
                assert any(code.startswith(("4",)) for code in op["responses"])
    from openapi_spec_validator import validate

    validate(spec)


def test_page_login_then_room_page_uses_the_api(client, session2):
    cand = session2.candidates_made[0]
    login(client, cand.ticket)
    page = client.get(f"/exam/sessions/{session2.id}/room")
    assert page.status_code == 302 and page.headers["Location"].endswith(f"/exam/sessions/{session2.id}/")
    resp = client.post(f"/exam/sessions/{session2.id}/", data={"confirm": "y"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/room")
    html = client.get(f"/exam/sessions/{session2.id}/room").get_data(as_text=True)
    assert 'data-api="/api"' in html and "js/exam/room.js" in html
    home = client.get("/", follow_redirects=True).get_data(as_text=True)
    assert "笔试场次" in home and session2.name in home  # the candidate home panel (order 20)


def test_candidate_login_is_throttled_like_the_page_login(app, client, session2):
    cand = session2.candidates_made[0]
    saved = app.config["LOGIN_RATE_LIMIT"]
    app.config["LOGIN_RATE_LIMIT"] = "2 per minute"
    try:
        codes = [client.post("/api/login", json={"username": cand.ticket, "password": "wrong"}).status_code
                 for _ in range(3)]
    finally:
        app.config["LOGIN_RATE_LIMIT"] = saved
    assert codes[:2] == [401, 401] and codes[2] == 429


def test_my_sessions_page_lists_the_window_and_status(client, session2):
    cand = session2.candidates_made[0]
    login(client, cand.ticket)
    html = client.get("/exam/").get_data(as_text=True)
    assert session2.name in html and "可以进入" in html and "进入考试" in html


def test_submit_without_the_current_token_is_refused(client, session2):
    api_login(client, session2.candidates_made[0].ticket)
    attempt = start(client, session2.id)
    resp = client.post(f"/api/exam/attempts/{attempt['attempt_id']}/submit")
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "taken_over"
    ok = client.post(f"/api/exam/attempts/{attempt['attempt_id']}/submit",
                     headers={"X-Attempt-Token": attempt["client_token"]})
    assert ok.status_code == 200 and ok.get_json()["state"] == "submitted"
