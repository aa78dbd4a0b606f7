"""The live monitor over Socket.IO (Flask-SocketIO test client) and its audited actions; who may do what."""
import pytest
from sqlalchemy import select

from certify.extensions import db
from certify.models import AuditEntry
from exam.models import FORCE_SUBMITTED, Attempt
from tests.conftest import TEST_PASSWORD
from tests.defense.conftest_scoring import restore_socketio  # noqa: F401

NS = "/exam"


@pytest.fixture
def session3(make_exam_session):
    return make_exam_session(candidates=2, duration=60)



def events(client, name):
    return [e["args"][0] for e in client.get_received(NS) if e["name"] == name]


def candidate_start(app, cand, session):
    client = app.test_client()
    assert client.post("/api/login", json={"username": cand.ticket, "password": TEST_PASSWORD}).status_code == 200
    body = client.post(f"/api/exam/sessions/{session.id}/attempt").get_json()
    return client, body


def test_unauthenticated_socket_is_refused(app, restore_socketio):
    from tests.conftest import socket_client

    client = socket_client(app, NS, app.test_client())  # a valid CSRF token of an anonymous page: still refused
    assert not client.is_connected(NS)


def test_monitor_receives_save_and_submit_updates(app, make_user, sockets, session3):
    secretary = make_user("secretariat")
    monitor = sockets(secretary.username)
    assert monitor.emit("join_session", {"session_id": session3.id}, namespace=NS, callback=True)["ok"]
    cand = session3.candidates_made[0]
    client, attempt = candidate_start(app, cand, session3)
    rows = events(monitor, "row")
    assert rows and rows[-1]["status"] == "in_progress" and rows[-1]["candidate_id"] == cand.id
    headers = {"X-Attempt-Token": attempt["client_token"]}
    client.put(f"/api/exam/attempts/{attempt['attempt_id']}/answers/1", json={"response": ["A"], "seq": 1},
               headers=headers)
    progress = events(monitor, "progress")
    assert progress == [{"attempt_id": attempt["attempt_id"], "candidate_id": cand.id, "answered_count": 1,
                         "last_seen_at": progress[0]["last_seen_at"]}]
    client.post(f"/api/exam/attempts/{attempt['attempt_id']}/events", json={"kind": "blur"}, headers=headers)
    assert events(monitor, "events")[-1]["events"] == {"blur": 1}
    client.post(f"/api/exam/attempts/{attempt['attempt_id']}/submit", headers=headers)
    rows = events(monitor, "row")
    assert rows[-1]["status"] == "submitted" and rows[-1]["score"] is not None


def test_force_submit_from_the_monitor_reaches_the_candidate_and_is_audited(app, make_user, sockets, session3):
    secretary = make_user("secretariat")
    monitor = sockets(secretary.username)
    monitor.emit("join_session", {"session_id": session3.id}, namespace=NS, callback=True)
    cand = session3.candidates_made[0]
    _, attempt = candidate_start(app, cand, session3)
    cand_socket = sockets(cand.ticket)
    assert cand_socket.emit("join_attempt", {"attempt_id": attempt["attempt_id"]}, namespace=NS, callback=True)["ok"]
    monitor.get_received(NS)
    resp = monitor.flask_client.post(f"/exam/monitor/attempts/{attempt['attempt_id']}/force-submit",
                                     data={"reason": "考场违纪"})
    assert resp.status_code == 302
    closed = events(cand_socket, "closed")
    assert closed and closed[0]["state"] == FORCE_SUBMITTED
    assert events(monitor, "row")[-1]["status"] == FORCE_SUBMITTED
    assert db.session.get(Attempt, attempt["attempt_id"]).state == FORCE_SUBMITTED
    entry = db.session.execute(select(AuditEntry).filter_by(action="exam.attempt.force_submitted")).scalar_one()
    assert entry.reason == "考场违纪" and entry.actor_id == secretary.id


def test_add_time_pushes_the_new_deadline_to_the_candidate(app, make_user, sockets, session3):
    secretary = make_user("secretariat")
    monitor = sockets(secretary.username)
    monitor.emit("join_session", {"session_id": session3.id}, namespace=NS, callback=True)
    cand = session3.candidates_made[0]
    _, attempt = candidate_start(app, cand, session3)
    cand_socket = sockets(cand.ticket)
    cand_socket.emit("join_attempt", {"attempt_id": attempt["attempt_id"]}, namespace=NS, callback=True)
    from exam.delivery.operations import assignment

    sc = assignment(session3.id, cand.id)
    resp = monitor.flask_client.post(f"/exam/monitor/assignments/{sc.id}/add-time",
                                     data={"minutes": "10", "reason": "停电"})
    assert resp.status_code == 302
    pushed = events(cand_socket, "deadline")
    assert pushed and pushed[0]["remaining_seconds"] > attempt["remaining_seconds"] + 590
    assert "10 分钟" in pushed[0]["message"]
    assert events(monitor, "row")[-1]["extra_minutes"] == 10
    assert db.session.get(Attempt, attempt["attempt_id"]).deadline_at is not None


def test_extra_time_from_the_session_page_reaches_the_candidate_in_the_room(app, make_user, sockets, session3):
    """The session page's extra time moves an open deadline too; without the notice the candidate's page would
    count down to the old deadline and hand the paper in early."""
    secretary = make_user("secretariat")
    monitor = sockets(secretary.username)
    monitor.emit("join_session", {"session_id": session3.id}, namespace=NS, callback=True)
    cand = session3.candidates_made[0]
    _, attempt = candidate_start(app, cand, session3)
    cand_socket = sockets(cand.ticket)
    cand_socket.emit("join_attempt", {"attempt_id": attempt["attempt_id"]}, namespace=NS, callback=True)
    monitor.get_received(NS)
    resp = monitor.flask_client.post(f"/exam/admin/sessions/{session3.id}/extra-time",
                                     data={"candidate_id": cand.id, "minutes": "10", "reason": "视力障碍"})
    assert resp.status_code == 302
    pushed = events(cand_socket, "deadline")
    assert pushed and pushed[0]["remaining_seconds"] > attempt["remaining_seconds"] + 590
    rows = events(monitor, "row")
    assert rows and rows[-1]["extra_minutes"] == 10 and rows[-1]["deadline_at"] == pushed[0]["deadline_at"]


def test_takeover_is_told_to_the_old_page_at_once(app, sockets, session3):
    cand = session3.candidates_made[0]
    _, first = candidate_start(app, cand, session3)
    old_page = sockets(cand.ticket)
    old_page.emit("join_attempt", {"attempt_id": first["attempt_id"]}, namespace=NS, callback=True)
    _, second = candidate_start(app, cand, session3)
    notices = events(old_page, "taken_over")
    assert notices and notices[0]["token_tag"] == second["token_tag"] != first["token_tag"]


def test_supervisor_watches_read_only_and_candidates_cannot_watch(app, make_user, sockets, session3):
    supervisor = make_user("supervisor")
    watcher = sockets(supervisor.username)
    assert watcher.emit("join_session", {"session_id": session3.id}, namespace=NS, callback=True)["ok"]
    page = watcher.flask_client.get(f"/exam/monitor/sessions/{session3.id}")
    assert page.status_code == 200 and "只读" in page.get_data(as_text=True)
    cand_a, cand_b = session3.candidates_made
    _, attempt = candidate_start(app, cand_a, session3)
    resp = watcher.flask_client.post(f"/exam/monitor/attempts/{attempt['attempt_id']}/force-submit",
                                     data={"reason": "x"})
    assert resp.status_code == 403
    cand_socket = sockets(cand_b.ticket)
    ack = cand_socket.emit("join_session", {"session_id": session3.id}, namespace=NS, callback=True)
    assert not ack["ok"]
    ack = cand_socket.emit("join_attempt", {"attempt_id": attempt["attempt_id"]}, namespace=NS, callback=True)
    assert not ack["ok"] and ack["code"] == "not_found"
    assert cand_socket.flask_client.get(f"/exam/monitor/sessions/{session3.id}").status_code == 403


def test_monitor_page_lists_every_assigned_candidate(client, login_as, session3):
    login_as("secretariat")
    html = client.get(f"/exam/monitor/sessions/{session3.id}").get_data(as_text=True)
    for cand in session3.candidates_made:
        assert cand.ticket in html
    assert "未开始" in html and "js/exam/monitor.js" in html
    rows = client.get(f"/exam/monitor/sessions/{session3.id}/rows.json").get_json()["rows"]
    assert {r["status"] for r in rows} == {"not_started"}


# ---------------------------------------------------------------------------------------------- two processes

REDIS_SETUP = r'''
import json, sys
sys.path.insert(0, "bench")
from exam_save import build, make_app
from certify.accounts import create_user
from certify.extensions import db
import os
app = make_app(os.environ["DATABASE_URL"])
session_id, tickets = build(app, 2, n_items=6)
with app.app_context():
    create_user("mishu-h4", "secretariat", password="test-pass-123", generated=False)
    db.session.commit()
print(json.dumps({"session_id": session_id, "ticket": tickets[0]}))
'''


@pytest.mark.redis
def test_monitor_on_one_process_sees_a_save_made_on_another(tmp_path):
    """Two real server processes sharing a SQLite file and the Redis message queue (db 3): the secretariat's
    monitor connected to process A receives, live, a candidate's save made through process B's API."""
    import os
    import subprocess
    import sys
    import threading
    from pathlib import Path

    redis_url = os.environ.get("TEST_REDIS_URL")
    if not redis_url:
        pytest.skip("TEST_REDIS_URL is unset")
    import requests
    import socketio

    from tests.defense.test_scoring_redis import SERVER, free_port, socket_login, wait_up

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}", "REDIS_URL": redis_url,
           "SECRET_KEY": "two-process-exam-test", "CERTIFY_INSTANCE": str(tmp_path / "instance"),
           "PYTHONPATH": str(root), "EXAM_SWEEPER_ENABLED": "0"}
    out = subprocess.run([sys.executable, "-c", REDIS_SETUP], env=env, cwd=root, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    ids = __import__("json").loads(out.stdout.strip().splitlines()[-1])
    ports = [free_port(), free_port()]
    procs = [subprocess.Popen([sys.executable, "-c", SERVER, str(p)], env=env, cwd=root,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for p in ports]
    monitor = None
    try:
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        for base, proc in zip(bases, procs):
            wait_up(base, proc)
        seen = threading.Event()
        received = []

        def on_progress(payload):
            received.append(payload)
            seen.set()

        monitor = socketio.Client()
        monitor.on("progress", on_progress, namespace=NS)
        monitor.connect(bases[0], namespaces=[NS], **socket_login(bases[0], "mishu-h4"), transports=["websocket"])
        assert monitor.call("join_session", {"session_id": ids["session_id"]}, namespace=NS, timeout=10)["ok"]

        http = requests.Session()
        login_resp = http.post(f"{bases[1]}/api/login", json={"username": ids["ticket"], "password": "bench-pass-123"},
                               timeout=10)
        assert login_resp.status_code == 200, login_resp.text
        csrf = login_resp.json()["csrf_token"]
        attempt = http.post(f"{bases[1]}/api/exam/sessions/{ids['session_id']}/attempt",
                            headers={"X-CSRFToken": csrf}, timeout=10).json()
        item = attempt["items"][0]
        resp = http.put(f"{bases[1]}/api/exam/attempts/{attempt['attempt_id']}/answers/{item['position']}",
                        json={"response": [item["options"][0]["id"]], "seq": 1},
                        headers={"X-CSRFToken": csrf, "X-Attempt-Token": attempt["client_token"]}, timeout=10)
        assert resp.status_code == 200, resp.text
        assert seen.wait(10), "the monitor on process A never saw the save made on process B"
        assert received[0]["attempt_id"] == attempt["attempt_id"] and received[0]["answered_count"] == 1
    finally:
        if monitor is not None:
            monitor.disconnect()
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
