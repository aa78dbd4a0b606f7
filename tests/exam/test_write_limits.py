"""Candidate write limits and the read rules: bounded seq, bounded integrity events, the token on every attempt
read and write, GET pages that show an overdue attempt as closed without writing, one extra-time operation, the
export format converter, and socket refusals answered as acks."""
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from certify.extensions import db
from certify.models import AuditEntry
from exam.delivery import operations as ops
from exam.delivery import saving
from exam.models import (
    AUTO_SUBMITTED,
    IN_PROGRESS,
    Attempt,
    AttemptEvent,
    SessionCandidate,
)
from tests.exam.test_api import api_login, save, start


@pytest.fixture
def session2(make_exam_session):
    return make_exam_session(candidates=2, duration=60)


def _started(client, session):
    api_login(client, session.candidates_made[0].ticket)
    return start(client, session.id)


def test_seq_is_bounded_with_a_400(client, session2):
    """seq is stored in an INTEGER column: beyond it PostgreSQL would refuse the statement (a 500 before)."""
    attempt = _started(client, session2)
    for bad in (10 ** 20, 2 ** 63, 2 ** 31, -1, 0, "x", True, 1.5e300, None, [1]):
        resp = save(client, attempt, 1, ["A"], bad)
        assert resp.status_code == 400, (bad, resp.get_json())
        assert resp.get_json()["error"]["code"] == "invalid_seq"
    assert save(client, attempt, 1, ["A"], 2 ** 31 - 1).get_json()["applied"] is True


def test_a_huge_attempt_id_is_a_404_never_a_500(client, session2):
    attempt = _started(client, session2)
    headers = {"X-Attempt-Token": attempt["client_token"]}
    for url in (f"/api/exam/attempts/{10 ** 20}", f"/api/exam/attempts/{2 ** 40}", f"/api/exam/attempts/{2 ** 40}/submit"):
        resp = client.get(url, headers=headers) if not url.endswith("submit") else client.post(url, headers=headers)
        assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"
    for attempt_id in (10 ** 20, 2 ** 40):
        resp = client.put(f"/api/exam/attempts/{attempt_id}/answers/1", json={"response": ["A"], "seq": 1},
                          headers=headers)
        assert resp.status_code == 404
        resp = client.put(f"/api/exam/attempts/{attempt['attempt_id']}/answers/{attempt_id}",
                          json={"response": ["A"], "seq": 1}, headers=headers)
        assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"
    resp = client.put(f"/api/exam/attempts/{attempt['attempt_id']}/answers/{2 ** 31 - 1}",
                      json={"response": ["A"], "seq": 1}, headers=headers)
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "invalid_position"


def test_time_spent_never_overflows_its_column(client, session2):
    attempt = _started(client, session2)
    for seq in range(1, 30):
        resp = client.put(f"/api/exam/attempts/{attempt['attempt_id']}/answers/1",
                          json={"response": ["A"], "seq": seq, "time_spent_ms": 10 ** 12},
                          headers={"X-Attempt-Token": attempt["client_token"]})
        assert resp.status_code == 200
    from exam.models import Answer

    stored = db.session.execute(select(Answer).filter_by(attempt_id=attempt["attempt_id"], position=1)).scalar_one()
    assert stored.time_spent_ms == ops.MAX_TIME_SPENT_MS


def _event(client, attempt, detail=None, kind="blur"):
    return client.post(f"/api/exam/attempts/{attempt['attempt_id']}/events", json={"kind": kind, "detail": detail or {}},
                       headers={"X-Attempt-Token": attempt["client_token"]})


def test_event_detail_is_bounded(client, session2):
    attempt = _started(client, session2)
    assert _event(client, attempt, {"note": "x" * 1000}).status_code == 200
    resp = _event(client, attempt, {"note": "x" * (ops.MAX_EVENT_DETAIL_BYTES + 1)})
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "event_too_large"
    nested = {"a": {"b": ["c"] * 2000}}
    assert _event(client, attempt, nested).status_code == 400
    assert db.session.scalar(select(func.count(AttemptEvent.id))) == 1


def test_events_per_attempt_are_capped(client, session2, monkeypatch):
    monkeypatch.setattr(saving, "MAX_EVENTS_PER_ATTEMPT", 3)
    attempt = _started(client, session2)
    bodies = [_event(client, attempt).get_json() for _ in range(5)]
    assert [b["recorded"] for b in bodies] == [True, True, True, False, False]
    assert [b["count"] for b in bodies] == [1, 2, 3, 3, 3]
    stored = db.session.scalar(select(func.count(AttemptEvent.id)).where(AttemptEvent.kind == "blur"))
    assert stored == 3


def test_reading_an_attempt_in_progress_needs_its_token(client, session2):
    attempt = _started(client, session2)
    url = f"/api/exam/attempts/{attempt['attempt_id']}"
    resp = client.get(url)
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "taken_over"
    assert client.get(url, headers={"X-Attempt-Token": "stale"}).status_code == 409
    assert client.get(url, headers={"X-Attempt-Token": attempt["client_token"]}).status_code == 200
    client.post(f"{url}/submit", headers={"X-Attempt-Token": attempt["client_token"]})
    closed = client.get(url)  # a closed attempt's result page reads it without a token
    assert closed.status_code == 200 and closed.get_json()["state"] == "submitted"


def test_gets_show_an_overdue_attempt_closed_without_writing_and_the_sweep_closes_it(app, client, session2):
    attempt = _started(client, session2)
    stored = db.session.get(Attempt, attempt["attempt_id"])
    later = stored.deadline_at + timedelta(minutes=2)
    with time_machine.travel(later, tick=False):
        # UOW_STRICT_READS: any of these GETs writing would be a 500.
        listed = client.get("/api/exam/sessions").get_json()["sessions"][0]
        assert listed["attempt"]["state"] == AUTO_SUBMITTED and not listed["can_enter"]
        body = client.get(f"/api/exam/attempts/{attempt['attempt_id']}").get_json()
        assert body["state"] == AUTO_SUBMITTED and body["items"] == [] and body["remaining_seconds"] == 0
        assert client.get(f"/exam/sessions/{session2.id}/").status_code == 302  # to the result page
        result = client.get(f"/exam/sessions/{session2.id}/result")
        assert result.status_code == 200 and "到时自动交卷" in result.get_data(as_text=True)
        assert client.get("/exam/").status_code == 200
        db.session.expire_all()
        assert db.session.get(Attempt, attempt["attempt_id"]).state == IN_PROGRESS  # nothing written
        from exam.delivery.sweeper import sweep_once

        assert sweep_once(app)["closed"] == [attempt["attempt_id"]]
    db.session.expire_all()
    assert db.session.get(Attempt, attempt["attempt_id"]).state == AUTO_SUBMITTED


def test_monitor_status_reads_the_same_rule(app, client, session2, login_as):
    attempt = _started(app.test_client(), session2)
    stored = db.session.get(Attempt, attempt["attempt_id"])
    with time_machine.travel(stored.deadline_at + timedelta(minutes=2), tick=False):
        login_as("secretariat")
        rows = client.get(f"/exam/monitor/sessions/{session2.id}/rows.json").get_json()["rows"]
    statuses = {r["candidate_id"]: r["status"] for r in rows}
    assert statuses == {session2.candidates_made[0].id: AUTO_SUBMITTED, session2.candidates_made[1].id: "absent"}


def test_one_extra_time_operation_for_the_monitor_and_the_session_page(app, client, login_as, session2):
    attempt = _started(app.test_client(), session2)
    cand = session2.candidates_made[0]
    sc = db.session.execute(select(SessionCandidate).filter_by(candidate_id=cand.id)).scalar_one()
    stored = db.session.get(Attempt, attempt["attempt_id"])
    deadline = stored.deadline_at
    login_as("secretariat")
    assert client.post(f"/exam/monitor/assignments/{sc.id}/add-time",
                       data={"minutes": "10", "reason": "停电"}).status_code == 302
    assert client.post(f"/exam/admin/sessions/{session2.id}/extra-time",
                       data={"candidate_id": cand.id, "minutes": "25", "reason": "视力障碍"}).status_code == 302
    assert client.post(f"/exam/monitor/assignments/{sc.id}/add-time",
                       data={"minutes": "5", "reason": "停电"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(SessionCandidate, sc.id).extra_minutes == 30  # 10, then set to 25, then +5
    assert db.session.get(Attempt, stored.id).deadline_at == deadline + timedelta(minutes=30)
    actions = db.session.execute(select(AuditEntry.action, AuditEntry.reason, AuditEntry.detail)
                                 .where(AuditEntry.action.like("exam.%time%")).order_by(AuditEntry.id)).all()
    assert [(a, r, d["before"], d["after"]) for a, r, d in actions] == [
        ("exam.session.extra_time", "停电", 0, 10), ("exam.session.extra_time", "视力障碍", 10, 25),
        ("exam.session.extra_time", "停电", 25, 30)]
    # A reason is required on both forms of the one operation.
    with pytest.raises(ops.ExamError, match="请填写原因"):
        ops.set_extra_time(db.session.get(SessionCandidate, sc.id), 40, reason=" ")
    db.session.rollback()
    page = client.post(f"/exam/admin/sessions/{session2.id}/extra-time",
                       data={"candidate_id": cand.id, "minutes": "40"}, follow_redirects=True)
    assert "请填写原因" in page.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(SessionCandidate, sc.id).extra_minutes == 30


def test_export_format_is_a_route_converter(client, login_as, session2):
    login_as("secretariat")
    assert client.get(f"/exam/admin/sessions/{session2.id}/export.csv").status_code == 200
    assert client.get(f"/exam/admin/sessions/{session2.id}/export.pdf").status_code == 404
    assert client.get("/exam/admin/rounds/2024-cq/export.exe").status_code == 404
