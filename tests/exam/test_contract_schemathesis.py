"""Schemathesis against /api/openapi.json through the WSGI app: generated requests (valid and invalid bodies,
parameters and headers) for every operation get no 500, a documented status, the documented content type and a
body matching the schema. The candidate is logged in and holds a started attempt, and the generated ids are
replaced by that attempt's (and its token sent) on most cases, so the checks reach the operations' real paths
rather than stopping at 401/404. Bounded examples keep it well under a minute."""
from __future__ import annotations

import json
import random

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from exam.delivery.openapi import build_spec
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.schemathesis
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]


@pytest.fixture
def world(app, client, make_exam_session, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)  # the spec requires X-CSRFToken: enforce it here
    session = make_exam_session(candidates=1, duration=60)
    cand = session.candidates_made[0]
    login = client.post("/api/login", json={"username": cand.ticket, "password": TEST_PASSWORD})
    csrf = login.get_json()["csrf_token"]
    attempt = client.post(f"/api/exam/sessions/{session.id}/attempt", headers={"X-CSRFToken": csrf}).get_json()
    return {"session_id": session.id, "attempt_id": attempt["attempt_id"], "token": attempt["client_token"],
            "csrf": csrf,
            "cookie": client.get_cookie("session").value, "rng": random.Random(7),
            "served": client.get("/api/openapi.json").get_json()}


# The spec the app serves at /api/openapi.json (asserted equal in the test); requests go to the WSGI app.
schema = schemathesis.openapi.from_dict(json.loads(json.dumps(build_spec())))
schema.config.generation.update(with_security_parameters=False)  # the session cookie is supplied, not generated


@schema.parametrize()
@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_api_conforms_to_its_openapi(case, app, world):
    assert world["served"] == schema.raw_schema
    rng = world["rng"]
    positive = case.meta is None or case.meta.generation.mode.name.lower() == "positive"
    if rng.random() < 0.8:  # mostly the real attempt, sometimes the generated (foreign / missing) ids
        for name in ("attempt_id", "session_id"):
            if positive and case.path_parameters and name in case.path_parameters:  # never undo a negation
                case.path_parameters[name] = world[name]
        if case.headers is not None and "X-Attempt-Token" in case.headers:
            case.headers["X-Attempt-Token"] = world["token"]
    if case.headers is not None and "X-CSRFToken" in case.headers:
        case.headers["X-CSRFToken"] = world["csrf"]  # a generated token is just wrong; a missing one stays missing
    cookies = {"session": world["cookie"]} if rng.random() < 0.9 else None
    case.call_and_validate(cookies=cookies, checks=CHECKS, app=app)  # the WSGI transport
