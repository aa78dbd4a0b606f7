"""Integrity signals a proctor can trust: each event counted once, a reload of the same tab is no takeover,
concurrent sessions are detected (once per episode) and shown live, the monitor row carries every kind's count,
the events page reads in local time with Chinese labels, and the exam export has one column per event kind."""
import csv
import io
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from certify.clock import utcnow
from certify.extensions import db
from exam.grading.exports import EVENT_HEADERS, HEADERS, exam_rows
from exam.models import EVENT_KINDS, Attempt, AttemptEvent, ExamSession
from exam.services.event_display import detail_rows
from tests.conftest import TEST_PASSWORD, login
from tests.defense.conftest_scoring import restore_socketio  # noqa: F401

NS = "/exam"


@pytest.fixture
def session2(make_exam_session):
    return make_exam_session(candidates=2, duration=60)



def received(client, name):
    return [e["args"][0] for e in client.get_received(NS) if e["name"] == name]


def candidate_client(app, cand):
    client = app.test_client()
    assert client.post("/api/login", json={"username": cand.ticket, "password": TEST_PASSWORD}).status_code == 200
    return client


def start(client, session, tab=None):
    headers = {"X-Exam-Tab": tab} if tab else {}
    resp = client.post(f"/api/exam/sessions/{session.id}/attempt", headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def kinds_of(attempt_id):
    db.session.expire_all()
    return db.session.execute(select(AttemptEvent.kind).filter_by(attempt_id=attempt_id)
                              .order_by(AttemptEvent.id)).scalars().all()


def post_event(client, body, attempt):
    return client.post(f"/api/exam/attempts/{attempt['attempt_id']}/events", json=body,
                       headers={"X-Attempt-Token": attempt["client_token"]})


# ------------------------------------------------------------------------------------ 1. each event once

def test_a_resent_event_is_stored_and_counted_once(app, session2):
    session2.event_warning_threshold = 2
    db.session.commit()
    client = candidate_client(app, session2.candidates_made[0])
    attempt = start(client, session2, tab="tab-a")
    first = post_event(client, {"kind": "blur", "client_event_id": "ev-1"}, attempt).get_json()
    assert (first["count"], first["recorded"], first["duplicate"], first["warning"]) == (1, True, False, False)
    again = post_event(client, {"kind": "blur", "client_event_id": "ev-1"}, attempt).get_json()
    assert (again["count"], again["recorded"], again["duplicate"], again["warning"]) == (1, False, True, False)
    assert kinds_of(attempt["attempt_id"]) == ["blur"]
    other = post_event(client, {"kind": "copy", "client_event_id": "ev-2"}, attempt).get_json()
    assert (other["count"], other["warning"]) == (2, True)
    # the same id in another attempt is another event
    client_b = candidate_client(app, session2.candidates_made[1])
    attempt_b = start(client_b, session2, tab="tab-b")
    assert post_event(client_b, {"kind": "blur", "client_event_id": "ev-1"}, attempt_b).get_json()["count"] == 1
    # events without an id are still accepted (older pages), each one stored
    post_event(client, {"kind": "paste"}, attempt)
    post_event(client, {"kind": "paste"}, attempt)
    assert kinds_of(attempt["attempt_id"]).count("paste") == 2


def test_a_malformed_event_id_is_refused(app, session2):
    client = candidate_client(app, session2.candidates_made[0])
    attempt = start(client, session2)
    for bad in ("x" * 65, "has space", 12, ["a"]):
        resp = post_event(client, {"kind": "blur", "client_event_id": bad}, attempt)
        assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "invalid_event"
    assert kinds_of(attempt["attempt_id"]) == []


def test_the_monitor_is_pushed_only_for_a_new_event(app, make_user, sockets, session2):
    monitor = sockets(make_user("secretariat").username)
    assert monitor.emit("join_session", {"session_id": session2.id}, namespace=NS, callback=True)["ok"]
    client = candidate_client(app, session2.candidates_made[0])
    attempt = start(client, session2, tab="tab-a")
    received(monitor, "events")
    post_event(client, {"kind": "hidden", "client_event_id": "same"}, attempt)
    post_event(client, {"kind": "hidden", "client_event_id": "same"}, attempt)
    pushes = received(monitor, "events")
    assert len(pushes) == 1 and pushes[0]["events"] == {"hidden": 1}


# ------------------------------------------------------------------------------ 2. reload is no takeover

def test_reloading_the_same_tab_resumes_without_a_takeover(app, session2):
    client = candidate_client(app, session2.candidates_made[0])
    first = start(client, session2, tab="tab-a")
    reloaded = start(client, session2, tab="tab-a")
    assert reloaded["attempt_id"] == first["attempt_id"]
    assert kinds_of(first["attempt_id"]) == []
    # the reloaded page holds the attempt; the page before the reload does not
    assert post_event(client, {"kind": "blur"}, reloaded).status_code == 200
    assert post_event(client, {"kind": "blur"}, first).get_json()["error"]["code"] == "taken_over"
    # another tab (or a page that sends no tab id) is a takeover
    t0 = utcnow()
    with time_machine.travel(t0 + timedelta(minutes=5), tick=False):
        start(client, session2, tab="tab-b")
    with time_machine.travel(t0 + timedelta(minutes=10), tick=False):
        start(client, session2)
    assert kinds_of(first["attempt_id"]) == ["blur", "takeover", "takeover"]


# ------------------------------------------------------------------------------ 3. concurrent sessions

def test_a_second_live_device_is_a_concurrent_session_once_per_episode(app, make_user, sockets, session2):
    monitor = sockets(make_user("secretariat").username)
    assert monitor.emit("join_session", {"session_id": session2.id}, namespace=NS, callback=True)["ok"]
    cand = session2.candidates_made[0]
    laptop, phone = candidate_client(app, cand), candidate_client(app, cand)
    t0 = utcnow()
    with time_machine.travel(t0, tick=False):
        a = start(laptop, session2, tab="laptop")
    with time_machine.travel(t0 + timedelta(seconds=20), tick=False):
        start(phone, session2, tab="phone")  # the laptop was live 20 s ago
    assert kinds_of(a["attempt_id"]) == ["takeover", "concurrent_session"]
    rows = received(monitor, "row")
    assert rows[-1]["events"] == {"concurrent_session": 1, "takeover": 1} and rows[-1]["concurrent_sessions"] == 1
    with time_machine.travel(t0 + timedelta(seconds=40), tick=False):
        start(laptop, session2, tab="laptop")  # the same episode: fighting over the account
    assert kinds_of(a["attempt_id"]) == ["takeover", "concurrent_session", "takeover"]
    with time_machine.travel(t0 + timedelta(minutes=10), tick=False):
        start(phone, session2, tab="phone")  # the laptop was last seen long ago: a plain device change
    assert kinds_of(a["attempt_id"]).count("concurrent_session") == 1
    with time_machine.travel(t0 + timedelta(minutes=10, seconds=30), tick=False):
        start(laptop, session2, tab="laptop")  # the phone is live again: a new episode
    assert kinds_of(a["attempt_id"]).count("concurrent_session") == 2


def test_heartbeats_keep_a_tab_live_and_a_stale_live_page_is_a_concurrent_session(app, sockets, session2):
    cand = session2.candidates_made[0]
    laptop, phone = candidate_client(app, cand), candidate_client(app, cand)
    t0 = utcnow()
    with time_machine.travel(t0, tick=False):
        a = start(laptop, session2, tab="laptop")
    laptop_socket = sockets(cand.ticket)
    beat = {"attempt_id": a["attempt_id"], "token": a["client_token"], "tab": "laptop"}
    with time_machine.travel(t0 + timedelta(minutes=5), tick=False):
        assert laptop_socket.emit("heartbeat", beat, namespace=NS, callback=True) == {"ok": True}
    db.session.expire_all()
    assert db.session.get(Attempt, a["attempt_id"]).last_seen_at == t0 + timedelta(minutes=5)
    with time_machine.travel(t0 + timedelta(minutes=5, seconds=30), tick=False):
        b = start(phone, session2, tab="phone")  # the heartbeat says the laptop is live: concurrent
    assert kinds_of(a["attempt_id"]) == ["takeover", "concurrent_session"]
    # the laptop missed the takeover notice and keeps beating much later while the phone is live
    phone_socket = sockets(cand.ticket)
    with time_machine.travel(t0 + timedelta(minutes=9), tick=False):
        assert phone_socket.emit("heartbeat", {"attempt_id": a["attempt_id"], "token": b["client_token"],
                                               "tab": "phone"}, namespace=NS, callback=True) == {"ok": True}
    with time_machine.travel(t0 + timedelta(minutes=9, seconds=10), tick=False):
        ack = laptop_socket.emit("heartbeat", beat, namespace=NS, callback=True)
    assert ack["ok"] is False and ack["code"] == "taken_over"
    assert kinds_of(a["attempt_id"]) == ["takeover", "concurrent_session", "concurrent_session"]
    with time_machine.travel(t0 + timedelta(minutes=9, seconds=20), tick=False):
        assert laptop_socket.emit("heartbeat", beat, namespace=NS, callback=True)["code"] == "taken_over"
    assert kinds_of(a["attempt_id"]).count("concurrent_session") == 2  # the same episode


def test_a_device_change_after_the_old_tab_went_quiet_is_only_a_takeover(app, session2):
    cand = session2.candidates_made[0]
    t0 = utcnow()
    with time_machine.travel(t0, tick=False):
        a = start(candidate_client(app, cand), session2, tab="old")
    with time_machine.travel(t0 + timedelta(minutes=3), tick=False):
        start(candidate_client(app, cand), session2, tab="new")
    assert kinds_of(a["attempt_id"]) == ["takeover"]


def test_heartbeats_are_the_candidates_own(app, sockets, session2):
    a_cand, b_cand = session2.candidates_made
    a = start(candidate_client(app, a_cand), session2, tab="a")
    intruder = sockets(b_cand.ticket)
    ack = intruder.emit("heartbeat", {"attempt_id": a["attempt_id"], "token": "x", "tab": "b"}, namespace=NS,
                        callback=True)
    assert ack["ok"] is False and ack["code"] == "not_found"
    assert kinds_of(a["attempt_id"]) == []


# ------------------------------------------------------------------------- 4. one source of truth for counts

def test_the_monitor_row_counts_every_kind_including_takeovers(app, make_user, session2):
    cand = session2.candidates_made[0]
    client = candidate_client(app, cand)
    t0 = utcnow()
    with time_machine.travel(t0, tick=False):
        a = start(client, session2, tab="one")
    with time_machine.travel(t0 + timedelta(minutes=5), tick=False):
        start(client, session2, tab="two")
    with time_machine.travel(t0 + timedelta(minutes=10), tick=False):
        latest = start(client, session2, tab="three")
        post_event(client, {"kind": "blur", "client_event_id": "b1"}, latest)
    watcher = app.test_client()
    assert login(watcher, make_user("secretariat").username).status_code == 302
    row = next(r for r in watcher.get(f"/exam/monitor/sessions/{session2.id}/rows.json").get_json()["rows"]
               if r["attempt_id"] == a["attempt_id"])
    assert row["events"] == {"blur": 1, "takeover": 2} and row["takeovers"] == 2
    assert row["event_total"] == 3 and row["browser_events"] == 1
    page = watcher.get(f"/exam/monitor/sessions/{session2.id}").get_data(as_text=True)
    assert "新设备接管 2" in page and "窗口失焦 1" in page
    events_page = watcher.get(f"/exam/monitor/attempts/{a['attempt_id']}/events").get_data(as_text=True)
    assert events_page.count('data-kind="takeover"') == 2


# ------------------------------------------------------------------------ 5. local time, Chinese labels

def test_the_events_page_reads_in_local_time_with_chinese_labels(app, make_user, session2):
    client = candidate_client(app, session2.candidates_made[0])
    attempt = start(client, session2, tab="tab-a")
    post_event(client, {"kind": "copy", "client_event_id": "c1",
                        "detail": {"client_at": "2026-03-01T01:02:03.456Z"}}, attempt)
    watcher = app.test_client()
    assert login(watcher, make_user("supervisor").username).status_code == 302
    page = watcher.get(f"/exam/monitor/attempts/{attempt['attempt_id']}/events").get_data(as_text=True)
    assert "浏览器时间：2026-03-01 09:02:03" in page  # Asia/Shanghai
    assert "client_at" not in page and "01:02:03" not in page and "复制" in page


def test_event_details_are_labelled_and_local():
    rows = detail_rows({"client_at": "2026-03-01T23:30:00Z", "what": "answer", "late_seconds": 2.5,
                        "deadline_at": "2026-03-01T23:29:57.500000", "same_tab": False, "how": "start",
                        "odd": "x"}, "Asia/Shanghai")
    assert rows == [("浏览器时间", "2026-03-02 07:30:00"), ("被拒绝的操作", "保存答案"),
                    ("截止时间", "2026-03-02 07:29:57"), ("超时（秒）", "2.5"), ("同一页面重新加载", "否"),
                    ("发现方式", "另一页面或设备进入作答时，原页面仍在活动"), ("odd", "x")]
    assert detail_rows({"client_at": "not a time"}, "Asia/Shanghai") == [("浏览器时间", "not a time")]
    assert detail_rows(None, "UTC") == []


# ------------------------------------------------------------------------------------------- 6. export

def test_the_exam_export_has_one_count_column_per_event_kind(app, session2, tmp_path):
    a_cand, b_cand = session2.candidates_made
    client = candidate_client(app, a_cand)
    t0 = utcnow()
    with time_machine.travel(t0, tick=False):
        start(client, session2, tab="x")
    with time_machine.travel(t0 + timedelta(minutes=5), tick=False):
        latest = start(client, session2, tab="y")
        for n, kind in enumerate(("blur", "blur", "paste")):
            post_event(client, {"kind": kind, "client_event_id": f"e{n}"}, latest)
        post_event(client, {"kind": "blur", "client_event_id": "e0"}, latest)  # a resend: not counted
    assert len(EVENT_HEADERS) == len(EVENT_KINDS) and HEADERS[-len(EVENT_KINDS):] == EVENT_HEADERS
    rnd = db.session.get(ExamSession, session2.id).scheme.round
    rows = {r[0]: r for r in exam_rows(rnd, full=False, session=session2)}
    counts = dict(zip(EVENT_KINDS, rows[a_cand.ticket][-len(EVENT_KINDS):], strict=True))
    assert counts == {"blur": 2, "hidden": 0, "copy": 0, "paste": 1, "fullscreen_exit": 0,
                      "concurrent_session": 0, "takeover": 1, "late_save": 0}
    assert rows[b_cand.ticket][-len(EVENT_KINDS):] == [None] * len(EVENT_KINDS)  # never started
    out = tmp_path / "exam.csv"
    result = app.test_cli_runner().invoke(args=["export", "exam", "--round", rnd.code, str(out)])
    assert result.exit_code == 0, result.output
    table = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert table[0] == HEADERS and "新设备接管（次）" in table[0]
    line = next(r for r in table if r[0] == a_cand.ticket)
    assert line[HEADERS.index("窗口失焦（次）")] == "2" and line[HEADERS.index("新设备接管（次）")] == "1"
