"""Delivering the outbox against a local SMTP sink (aiosmtpd, in a thread) and a local HTTP SMS gateway: a notice
arrives; with the mail server down it stays pending with a back-off and arrives once the server is up; nothing is
ever sent twice, and two workers never take the same row."""
from __future__ import annotations

import email
import json
import socket
import threading
from datetime import timedelta
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from aiosmtpd.controller import Controller

from certify.clock import utcnow
from certify.extensions import db
from certify.notices import operations as ops
from certify.notices.delivery import claim, deliver_due
from certify.notices.models import NoticeDelivery


class Sink:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content, policy=default_policy)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(app, monkeypatch):
    """The app's mail settings pointing at a port where a sink can be started and stopped."""
    port = free_port()
    sink = Sink()
    for key, value in (("NOTICE_EMAIL_BACKEND", "smtp"), ("SMTP_HOST", "127.0.0.1"), ("SMTP_PORT", port),
                       ("SMTP_TIMEOUT", 5), ("MAIL_FROM", "certify@example.org"), ("NOTICE_CHANNELS", "email")):
        monkeypatch.setitem(app.config, key, value)
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    sink.start, sink.stop = controller.start, controller.stop
    yield sink
    try:
        controller.stop()
    except (AssertionError, RuntimeError):
        pass  # not running


@pytest.fixture
def notice_for(make_round, make_candidate):
    rounds = []

    def make(address: str = "cand@example.org"):
        rounds[:] = rounds or [make_round()]
        cand = make_candidate(rounds[0])
        ops.set_contact(cand.user, email=address, mobile="")
        notice = ops.notify([cand.user_id], "exam", "笔试安排：初级笔试", "考试时间：2026-12-05 09:00 至 11:00",
                            round_id=cand.round_id)[0]
        db.session.commit()
        return notice

    return make


def rows():
    db.session.expire_all()
    return list(db.session.scalars(db.select(NoticeDelivery).order_by(NoticeDelivery.id)))


def test_a_notice_arrives_by_email(smtp, notice_for):
    notice_for()
    smtp.start()
    assert deliver_due()["sent"] == 1
    [(to, message)] = smtp.messages
    assert to == ["cand@example.org"] and message["Subject"] == "笔试安排：初级笔试"
    assert "考试时间：2026-12-05 09:00" in message.get_content() and message["From"] == "certify@example.org"
    [row] = rows()
    assert row.state == "sent" and row.attempts == 1 and row.sent_at is not None and row.last_error == ""
    assert deliver_due(now=utcnow() + timedelta(days=1)) == {"sent": 0, "retry": 0, "failed": 0, "skipped": 0}
    assert len(smtp.messages) == 1  # never twice


def test_mail_server_down_keeps_it_pending_with_back_off_then_it_arrives_once(smtp, notice_for):
    notice_for()
    before = utcnow()
    assert deliver_due()["retry"] == 1  # nothing listens on the port
    [row] = rows()
    assert row.state == "pending" and row.attempts == 1 and row.last_error
    assert timedelta(seconds=59) <= row.next_try_at - before <= timedelta(seconds=75)
    smtp.start()
    assert deliver_due()["sent"] == 0 and smtp.messages == []  # not due yet: the back-off holds
    assert deliver_due(now=utcnow() + timedelta(seconds=61))["sent"] == 1
    assert len(smtp.messages) == 1
    [row] = rows()
    assert row.state == "sent" and row.attempts == 2 and row.last_error == ""
    deliver_due(now=utcnow() + timedelta(days=2))
    assert len(smtp.messages) == 1


def test_the_wait_doubles_and_the_row_fails_after_the_last_attempt(app, smtp, notice_for, monkeypatch):
    monkeypatch.setitem(app.config, "NOTICE_MAX_ATTEMPTS", 3)
    notice_for()
    now = utcnow()
    waits = []
    for _ in range(3):
        deliver_due(now=now)
        [row] = rows()
        if row.next_try_at:
            waits.append(round((row.next_try_at - utcnow()).total_seconds() / 60))
            now = row.next_try_at + timedelta(seconds=1)
    assert waits == [1, 2]
    [row] = rows()
    assert row.state == "failed" and row.attempts == 3 and row.next_try_at is None
    assert "ConnectionRefused" in row.last_error


def test_two_workers_never_take_the_same_row(notice_for):
    notice_for()
    [row] = rows()
    now = utcnow()
    assert claim(row.id, "worker-a", now, 300) is True
    assert claim(row.id, "worker-b", now, 300) is False  # leased by a
    assert claim(row.id, "worker-b", now + timedelta(seconds=301), 300) is True  # a died: its lease expired
    [row] = rows()
    assert row.lease_holder == "worker-b" and row.attempts == 2


def test_two_concurrent_passes_send_each_notice_once(app, smtp, notice_for):
    for i in range(6):
        notice_for(f"c{i}@example.org")
    smtp.start()
    results = []

    def worker(name):
        with app.app_context():
            try:
                results.append(deliver_due(holder=name))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(r["sent"] for r in results) == 6
    assert sorted(to[0] for to, _ in smtp.messages) == [f"c{i}@example.org" for i in range(6)]
    assert all(r.state == "sent" for r in rows())


class Gateway(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Gateway.received.append((self.headers.get("Authorization"), json.loads(body)))
        self.send_response(Gateway.status)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def test_sms_through_the_http_gateway(app, monkeypatch, make_round, make_candidate):
    server = HTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Gateway.received, Gateway.status = [], 503
    try:
        for key, value in (("NOTICE_SMS_BACKEND", "http"), ("NOTICE_CHANNELS", "sms"),
                           ("SMS_HTTP_URL", f"http://127.0.0.1:{server.server_port}/send"),
                           ("SMS_HTTP_TOKEN", "tok")):
            monkeypatch.setitem(app.config, key, value)
        cand = make_candidate(make_round())
        cand.phone = "13800000003"
        ops.notify([cand.user_id], "defense", "答辩安排已发布", "答辩时间：2026-12-10 09:00")
        db.session.commit()
        assert deliver_due()["retry"] == 1  # the gateway answered 503
        [row] = rows()
        assert row.state == "pending" and "HTTP 503" in row.last_error
        Gateway.status = 200
        assert deliver_due(now=utcnow() + timedelta(minutes=2))["sent"] == 1
        assert Gateway.received[-1] == ("Bearer tok", {"to": "13800000003",
                                                       "text": "【答辩安排已发布】答辩时间：2026-12-10 09:00"})
        assert len(Gateway.received) == 2
    finally:
        server.shutdown()


def test_console_sms_writes_a_file(app, monkeypatch, tmp_path, make_round, make_candidate):
    out = tmp_path / "sms.jsonl"
    monkeypatch.setitem(app.config, "NOTICE_CHANNELS", "sms")
    monkeypatch.setitem(app.config, "SMS_FILE", str(out))
    cand = make_candidate(make_round())
    cand.phone = "13800000004"
    ops.notify([cand.user_id], "results", "笔试成绩已发布", "请查看")
    db.session.commit()
    assert deliver_due()["sent"] == 1
    line = json.loads(out.read_text(encoding="utf-8"))
    assert line["to"] == "13800000004" and line["subject"] == "笔试成绩已发布"


def test_cli_deliver_and_status(app, notice_for, smtp):
    notice_for()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["notices", "deliver"])
    assert result.exit_code == 0 and "待重试 1 条" in result.output
    result = runner.invoke(args=["notices", "status"])
    assert result.exit_code == 0 and "电子邮件：待发送 1" in result.output and "cand@example.org" in result.output
    smtp.start()
    with app.app_context():
        row = rows()[0]
        row.next_try_at = utcnow()
        db.session.commit()
    assert "已发送 1 条" in runner.invoke(args=["notices", "deliver"]).output
    assert "已发送 1" in runner.invoke(args=["notices", "status"]).output


def test_the_worker_runs_the_delivery_as_a_periodic_task(app, smtp, notice_for, monkeypatch):
    from certify import worker
    from certify.notices.delivery import deliver_tick

    task = worker.PERIODIC["notices-deliver"]
    assert task.fn is deliver_tick and task.enabled_key == "NOTICE_DELIVERY_ENABLED"
    assert not worker._enabled(app, task)  # the test app never starts it by itself
    monkeypatch.setitem(app.config, "NOTICE_DELIVERY_ENABLED", True)
    assert worker._enabled(app, task)
    notice_for()
    smtp.start()
    deliver_tick(app)  # what the worker's thread calls, outside any app context
    assert len(smtp.messages) == 1
    assert [r.state for r in rows()] == ["sent"]
