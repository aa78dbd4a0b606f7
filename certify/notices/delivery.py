"""Sending the outbox: e-mail over SMTP (smtplib), SMS through a provider interface (a generic JSON-over-HTTP
adapter, and a file/console adapter for development), and the worker's pass over due rows.

A pass takes each due row with one conditional UPDATE (``pending`` and due, or ``sending`` with an expired lease →
``sending`` under this worker's lease, attempts + 1) in its own short transaction, then sends outside any
transaction, then records ``sent`` (or the back-off) only if it still holds the lease. Two workers never send
the same row: the UPDATE succeeds for one of them. A worker that dies mid-send leaves a ``sending`` row whose
lease expires (``NOTICE_LEASE_SECONDS``, longer than any send can take: the SMTP and HTTP timeouts are shorter)
and is then tried again.

Settings (``certify.config``; README table): ``NOTICE_EMAIL_BACKEND`` smtp | console | off, ``SMTP_HOST``,
``SMTP_PORT``, ``SMTP_USER``, ``SMTP_PASSWORD``, ``SMTP_SECURITY`` none | starttls | ssl, ``SMTP_TIMEOUT``,
``MAIL_FROM``; ``NOTICE_SMS_BACKEND`` http | console | off, ``SMS_HTTP_URL``, ``SMS_HTTP_TOKEN``, ``SMS_FILE``.
"""
from __future__ import annotations

import json
import logging
import smtplib
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol

from flask import current_app
from sqlalchemy import and_, or_, select, update

from certify.clock import utcnow
from certify.extensions import db

from .models import Notice, NoticeDelivery
from .services.delivery import EMAIL, PENDING, SENDING, SENT, SMS, RetryPolicy, after_failure, short_error, sms_text

log = logging.getLogger(__name__)


class Sender(Protocol):
    def send(self, address: str, subject: str, body: str) -> None:
        """Deliver or raise."""


class Disabled(Exception):
    """The channel is switched off in this deployment: the row stays pending."""


# ---------------------------------------------------------------- e-mail

class SmtpSender:
    def __init__(self, config):
        self.host = config.get("SMTP_HOST") or ""
        self.port = int(config.get("SMTP_PORT") or 25)
        self.user = config.get("SMTP_USER") or ""
        self.password = config.get("SMTP_PASSWORD") or ""
        self.security = (config.get("SMTP_SECURITY") or "none").lower()
        self.timeout = float(config.get("SMTP_TIMEOUT") or 20)
        self.sender = config.get("MAIL_FROM") or "noreply@localhost"

    def send(self, address: str, subject: str, body: str) -> None:
        if not self.host:
            raise Disabled("SMTP_HOST 未设置")
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.sender, address, subject
        msg["Date"], msg["Message-ID"] = formatdate(localtime=False), make_msgid()
        msg.set_content(body)
        cls = smtplib.SMTP_SSL if self.security == "ssl" else smtplib.SMTP
        with cls(self.host, self.port, timeout=self.timeout) as smtp:
            if self.security == "starttls":
                smtp.starttls()
            if self.user:
                smtp.login(self.user, self.password)
            smtp.send_message(msg)


class ConsoleSender:
    """Development: writes each message to the log and, if a file is set, appends it there as a JSON line."""

    def __init__(self, channel: str, path: str | None = None):
        self.channel, self.path = channel, path

    def send(self, address: str, subject: str, body: str) -> None:
        log.info("notice %s to %s: %s", self.channel, address, subject)
        if self.path:
            line = json.dumps({"channel": self.channel, "to": address, "subject": subject, "body": body,
                               "at": utcnow().isoformat()}, ensure_ascii=False)
            with Path(self.path).open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")


class OffSender:
    def send(self, address: str, subject: str, body: str) -> None:
        raise Disabled("该发送渠道未启用")


# ---------------------------------------------------------------- SMS

class HttpSmsSender:
    """A generic SMS gateway: POST ``{"to", "text"}`` as JSON to ``SMS_HTTP_URL`` with ``Authorization: Bearer
    SMS_HTTP_TOKEN``; any 2xx answer is success."""

    def __init__(self, config):
        self.url = config.get("SMS_HTTP_URL") or ""
        self.token = config.get("SMS_HTTP_TOKEN") or ""
        self.timeout = float(config.get("SMS_HTTP_TIMEOUT") or 15)

    def send(self, address: str, subject: str, body: str) -> None:
        import urllib.error
        import urllib.request

        if not self.url:
            raise Disabled("SMS_HTTP_URL 未设置")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps({"to": address, "text": sms_text(subject, body)}, ensure_ascii=False).encode()
        request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:  # noqa: S310 (configured URL)
                status = resp.status
        except urllib.error.HTTPError as err:
            raise RuntimeError(f"短信网关返回 HTTP {err.code}: {err.read(200).decode('utf-8', 'replace')}") from None
        if not 200 <= status < 300:
            raise RuntimeError(f"短信网关返回 HTTP {status}")


def sender_for(channel: str, config) -> Sender:
    if channel == EMAIL:
        backend = (config.get("NOTICE_EMAIL_BACKEND") or "smtp").lower()
        if backend == "smtp":
            return SmtpSender(config)
        if backend == "console":
            return ConsoleSender(EMAIL, config.get("NOTICE_CONSOLE_FILE"))
        return OffSender()
    backend = (config.get("NOTICE_SMS_BACKEND") or "console").lower()
    if backend == "http":
        return HttpSmsSender(config)
    if backend == "console":
        return ConsoleSender(SMS, config.get("SMS_FILE") or config.get("NOTICE_CONSOLE_FILE"))
    return OffSender()


# ---------------------------------------------------------------- the worker's pass

def _due(now):
    t = NoticeDelivery
    return or_(and_(t.state == PENDING, t.next_try_at <= now), and_(t.state == SENDING, t.lease_until < now))


def claim(delivery_id: int, holder: str, now, lease_seconds: float) -> bool:
    """Take one due row under this holder's lease (one statement, its own transaction)."""
    t = NoticeDelivery
    try:
        rows = db.session.execute(update(t).where(t.id == delivery_id, _due(now)).values(
            state=SENDING, lease_holder=holder, lease_until=now + timedelta(seconds=lease_seconds),
            attempts=t.attempts + 1).execution_options(synchronize_session=False)).rowcount
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return rows == 1


def _finish(delivery_id: int, holder: str, values: dict) -> bool:
    t = NoticeDelivery
    try:
        rows = db.session.execute(update(t).where(t.id == delivery_id, t.state == SENDING, t.lease_holder == holder)
                                  .values(**values).execution_options(synchronize_session=False)).rowcount
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return rows == 1


def deliver_due(*, holder: str | None = None, limit: int = 50, now=None) -> dict:
    """One pass over the due rows (inside an app context). Returns counts: sent, retry, failed, skipped."""
    from certify.jobs.queue import worker_name

    config = current_app.config
    holder = holder or worker_name()
    lease_seconds = float(config.get("NOTICE_LEASE_SECONDS") or 300)
    policy = RetryPolicy(base=float(config.get("NOTICE_RETRY_BASE_SECONDS") or 60),
                         cap=float(config.get("NOTICE_RETRY_CAP_SECONDS") or 6 * 3600),
                         max_attempts=int(config.get("NOTICE_MAX_ATTEMPTS") or 8))
    senders: dict[str, Sender] = {}
    counts = {"sent": 0, "retry": 0, "failed": 0, "skipped": 0}
    now = now or utcnow()
    ids = list(db.session.scalars(select(NoticeDelivery.id).where(_due(now))
                                  .order_by(NoticeDelivery.next_try_at, NoticeDelivery.id).limit(limit)))
    db.session.rollback()
    for delivery_id in ids:
        if not claim(delivery_id, holder, now, lease_seconds):
            counts["skipped"] += 1  # another worker took it
            continue
        row = db.session.get(NoticeDelivery, delivery_id)
        notice = db.session.get(Notice, row.notice_id)
        channel, address, attempts = row.channel, row.address, row.attempts
        subject, body = notice.title, notice.body
        db.session.rollback()  # no transaction stays open while we talk to the mail server
        sender = senders.setdefault(channel, sender_for(channel, config))
        try:
            sender.send(address, subject, body)
        except Exception as err:  # noqa: BLE001 — any failure of the channel is recorded, never raised
            if isinstance(err, Disabled):
                state, next_try = PENDING, utcnow() + timedelta(seconds=policy.cap)
                attempts_after = max(attempts - 1, 0)  # a switched-off channel is not a failed try
            else:
                state, next_try = after_failure(attempts, utcnow(), policy)
                attempts_after = attempts
            _finish(delivery_id, holder, {"state": state, "next_try_at": next_try, "lease_until": None,
                                          "attempts": attempts_after, "last_error": short_error(err)})
            counts["failed" if state != PENDING else "retry"] += 1
            log.warning("notice delivery %s (%s) failed: %s", delivery_id, channel, short_error(err))
            continue
        if _finish(delivery_id, holder, {"state": SENT, "sent_at": utcnow(), "lease_until": None,
                                         "last_error": ""}):
            counts["sent"] += 1
    return counts



def deliver_tick(app) -> None:
    """The worker's periodic task (every ``NOTICE_DELIVERY_INTERVAL_SECONDS``, at most ``NOTICE_DELIVERY_BATCH`` rows;
    each row is leased just before it is sent, so a long pass never holds rows it has not reached)."""
    with app.app_context():
        try:
            counts = deliver_due(limit=int(app.config.get("NOTICE_DELIVERY_BATCH") or 500))
            if counts["sent"] or counts["retry"] or counts["failed"]:
                app.logger.info("notices: %s", counts)
        finally:
            db.session.remove()


def register_periodic() -> None:
    from certify.worker import register_periodic as register

    register("notices-deliver", deliver_tick, interval_key="NOTICE_DELIVERY_INTERVAL_SECONDS", default_interval=10,
             enabled_key="NOTICE_DELIVERY_ENABLED")
