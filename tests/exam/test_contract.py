"""The exam API contract: requests validated by their models (the documented codes, Chinese messages naming the
field), responses built through models that forbid extra fields, the spec generated from those models, and the
suite-wide hook that checks every /api/* response against it."""
from __future__ import annotations

import copy

import pytest
from pydantic import ValidationError

from exam.delivery import schemas
from exam.delivery.openapi import ContractChecker, build_spec
from tests.exam.test_api import api_login, start


@pytest.fixture
def session2(make_exam_session):
    return make_exam_session(candidates=2, duration=60)


@pytest.fixture
def attempt(client, session2):
    api_login(client, session2.candidates_made[0].ticket)
    return start(client, session2.id)


def _put(client, attempt, what, body, position=1):
    return client.put(f"/api/exam/attempts/{attempt['attempt_id']}/{what}/{position}", json=body,
                      headers={"X-Attempt-Token": attempt["client_token"]})


def _event(client, attempt, body):
    return client.post(f"/api/exam/attempts/{attempt['attempt_id']}/events", json=body,
                       headers={"X-Attempt-Token": attempt["client_token"]})


def _error(resp, status, code):
    assert resp.status_code == status, resp.get_json()
    err = resp.get_json()["error"]
    assert err["code"] == code, err
    return err


@pytest.mark.parametrize("body, code, named", [
    ({"seq": 1}, "invalid_response", "response"),
    ({"response": "A", "seq": 1}, "invalid_response", "response"),
    ({"response": [1], "seq": 1}, "invalid_response", "response"),
    ({"response": ["A"] * 9, "seq": 1}, "invalid_response", "response"),
    ({"response": ["A"]}, "invalid_seq", "seq"),
    ({"response": ["A"], "seq": "1"}, "invalid_seq", "seq"),
    ({"response": ["A"], "seq": 1, "time_spent_ms": -1}, "invalid_json", "time_spent_ms"),
    ({"response": ["A"], "seq": 1, "time_spent_ms": "5"}, "invalid_json", "time_spent_ms"),
])
def test_a_bad_save_body_is_a_400_naming_the_field(client, attempt, body, code, named):
    err = _error(_put(client, attempt, "answers", body), 400, code)
    assert named in err["message"] and err["field"] == named
    assert any("\u4e00" <= ch <= "\u9fff" for ch in err["message"])  # Chinese


def test_a_bad_flag_or_event_body_is_a_400_naming_the_field(client, attempt):
    err = _error(_put(client, attempt, "flags", {"flagged": "yes"}), 400, "invalid_json")
    assert "flagged" in err["message"] and "true 或 false" in err["message"]
    _error(_put(client, attempt, "flags", {}), 400, "invalid_json")
    err = _error(_event(client, attempt, {"kind": "hack"}), 400, "invalid_event")
    assert err["message"] == "未知的事件类型：hack"
    err = _error(_event(client, attempt, {"kind": "blur", "detail": ["x"]}), 400, "invalid_event")
    assert "detail" in err["message"]
    err = _error(_event(client, attempt, {"kind": "blur", "client_event_id": "e" * 65}), 400, "invalid_event")
    assert "client_event_id" in err["message"]
    assert _event(client, attempt, {"kind": "blur", "client_event_id": "e" * 64}).status_code == 200
    assert _event(client, attempt, {"kind": "blur", "unknown_field": 1}).status_code == 200  # extra is ignored


def test_a_bad_login_body_is_a_400_naming_the_field(client):
    err = _error(client.post("/api/login", json={"username": "x"}), 400, "invalid_json")
    assert "password" in err["message"] and "缺少" in err["message"]
    err = _error(client.post("/api/login", json={"username": 5, "password": "p"}), 400, "invalid_json")
    assert "username" in err["message"]
    _error(client.post("/api/login", json=["x"]), 400, "invalid_json")


def test_a_body_is_validated_before_the_attempt_is_looked_up(app, attempt, session2):
    other = app.test_client()
    api_login(other, session2.candidates_made[1].ticket)
    resp = other.put(f"/api/exam/attempts/{attempt['attempt_id']}/answers/1", json={"response": ["A"], "seq": 0})
    _error(resp, 400, "invalid_seq")  # says nothing about someone else's attempt
    resp = other.put(f"/api/exam/attempts/{attempt['attempt_id']}/answers/1", json={"response": ["A"], "seq": 1})
    assert resp.status_code == 404


def test_response_models_refuse_fields_outside_the_contract():
    item = dict(position=1, item_id=1, item_version_id=1, version=1, type="single", type_label="单选题", stem="题干",
                points="2", options=[{"id": "A", "text": "x"}], response=[], flagged=False, seq=0, time_spent_ms=0)
    schemas.PaperItem(**item)
    with pytest.raises(ValidationError):
        schemas.PaperItem(**item, answer="B")
    with pytest.raises(ValidationError):
        schemas.PaperItem(**{**item, "type": "essay"})
    spec = build_spec()["components"]["schemas"]
    assert spec["PaperItem"]["additionalProperties"] is False
    assert set(spec["PaperItem"]["required"]) == set(item)
    assert "client_event_id" in spec["EventRequest"]["properties"]
    assert spec["EventRequest"]["properties"]["client_event_id"]["anyOf"][0]["maxLength"] == 64


def test_the_spec_lists_each_operations_error_codes_and_is_served_as_built(client):
    spec = build_spec()
    assert client.get("/api/openapi.json").get_json() == spec
    save = spec["paths"]["/api/exam/attempts/{attempt_id}/answers/{position}"]["put"]
    assert save["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SaveAnswerRequest"}
    codes = save["responses"]["400"]["content"]["application/json"]["schema"]["allOf"][1]
    assert set(codes["properties"]["error"]["properties"]["code"]["enum"]) >= {
        "invalid_json", "invalid_position", "invalid_seq", "invalid_response", "csrf_failed"}
    assert spec["components"]["securitySchemes"]["sessionCookie"] == {"type": "apiKey", "in": "cookie",
                                                                      "name": "session"}


def test_the_checker_finds_what_breaks_the_contract():
    checker = ContractChecker()
    ok = {"server_time": "2026-01-01T00:00:00Z", "server_time_ms": 1}
    assert checker.check("GET", "/api/time", 200, ok) == []
    assert checker.check("GET", "/api/time", 500, ok)  # undocumented status
    assert checker.check("GET", "/api/time", 200, {**ok, "extra": 1})  # extra field
    assert checker.check("GET", "/api/time", 200, {"server_time": "yesterday", "server_time_ms": 1})  # format
    assert checker.check("GET", "/api/time", 200, None)  # not JSON
    flag = "/api/exam/attempts/1/flags/2"
    assert checker.check("PUT", flag, 409, {"error": {"code": "taken_over", "message": "x"}}) == []
    problems = checker.check("PUT", flag, 409, {"error": {"code": "no_paper", "message": "x"}})
    assert problems and "no_paper" in problems[0]  # a code this operation does not document
    assert checker.check("GET", "/api/nowhere", 404, {"error": {"code": "not_found", "message": "x"}}) == []
    assert checker.check("GET", "/api/nowhere", 200, {})
    assert checker.check("DELETE", flag, 405, {"error": {"code": "method_not_allowed", "message": "x"}}) == []
    narrowed = copy.deepcopy(build_spec())
    del narrowed["paths"]["/api/time"]["get"]["responses"]["200"]
    assert ContractChecker(narrowed).check("GET", "/api/time", 200, ok)


def test_every_test_clients_api_responses_are_checked(client, monkeypatch):
    assert type(client).__name__ == "ContractClient"
    assert client.get("/api/time").status_code == 200
    monkeypatch.setattr(schemas, "dump", lambda model: {**model.model_dump(mode="json"), "answer": "B"})
    with pytest.raises(AssertionError, match="breaks the contract"):
        client.get("/api/time")
    assert client.get("/healthz").status_code == 200  # only /api/* is checked
