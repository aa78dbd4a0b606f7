"""One structured line per request: method, route pattern, endpoint, status, ms, user id, and never a password or
an ID number."""
from __future__ import annotations

import json
import logging

from certify.logging_setup import JsonFormatter, KeyValueFormatter


def _request_records(caplog):
    return [r for r in caplog.records if r.name == "certify.request"]


def test_one_info_line_per_request_with_route_status_time_and_user(client, login_as, caplog):
    user = login_as("secretariat")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="certify.request"):
        resp = client.get("/rounds/")
    records = _request_records(caplog)
    assert len(records) == 1
    record = records[0]
    assert record.levelno == logging.INFO
    fields = record.fields
    assert fields["method"] == "GET" and fields["route"] == "/rounds/"
    assert fields["status"] == resp.status_code and fields["user"] == str(user.id)
    assert float(fields["ms"]) >= 0 and fields["endpoint"]
    line = KeyValueFormatter().format(record)
    assert "level=INFO" in line and "route=/rounds/" in line and f"user={user.id}" in line
    parsed = json.loads(JsonFormatter().format(record))
    assert parsed["status"] == resp.status_code and parsed["method"] == "GET"


def test_log_lines_never_carry_passwords_or_id_numbers(client, make_user, caplog):
    user = make_user("secretariat")
    id_number = "110101199003071234"
    with caplog.at_level(logging.DEBUG):
        client.post("/login", data={"username": user.username, "password": "wrong-secret-pw"})
        client.get(f"/no/such/page/{id_number}?id_number={id_number}")
    text = "\n".join(KeyValueFormatter().format(r) for r in caplog.records)
    assert "wrong-secret-pw" not in text and id_number not in text
    routes = [r.fields["route"] for r in _request_records(caplog)]
    assert routes == ["/login", "-"]  # the route pattern, never the concrete path or query


def test_the_app_logs_at_the_configured_level(app):
    assert logging.getLogger("certify").getEffectiveLevel() <= logging.INFO
