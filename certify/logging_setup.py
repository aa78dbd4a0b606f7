"""Structured logs: one line per request, key=value (default) or JSON, at a configurable level (LOG_LEVEL).

A request line carries the method, the route pattern and endpoint (never the concrete path or query string, which
could carry personal data such as an ID number), the status, the server time in ms and the user id (the numeric
account id only). Passwords, ID numbers and form bodies are never logged.

``configure_logging`` installs one stderr handler on the root logger unless the process already configured logging
(a test runner, a logging config of the deployment), so INFO lines of the app are not dropped under gunicorn.
"""
from __future__ import annotations

import json
import logging
import re
import sys
import time

from flask import g, request, session
from sqlalchemy import inspect as sa_inspect

request_log = logging.getLogger("certify.request")
_HANDLER_MARK = "_certify_handler"


class KeyValueFormatter(logging.Formatter):
    """``ts=… level=INFO logger=certify.request msg="request" method=PUT …``"""

    def format(self, record: logging.LogRecord) -> str:
        fields = {"ts": _timestamp(record), "level": record.levelname, "logger": record.name,
                  "msg": record.getMessage()}
        fields.update(getattr(record, "fields", {}) or {})
        line = " ".join(f"{k}={_kv(v)}" for k, v in fields.items())
        if record.exc_info:
            line += " exc=" + _kv(self.formatException(record.exc_info))
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = {"ts": _timestamp(record), "level": record.levelname, "logger": record.name,
                  "msg": record.getMessage()}
        fields.update(getattr(record, "fields", {}) or {})
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        return json.dumps(fields, ensure_ascii=False, default=str)


_second: tuple[int, str] = (-1, "")  # the last second formatted (one tuple: read and replaced atomically)


def _timestamp(record: logging.LogRecord) -> str:
    """``2026-01-02T03:04:05.678Z`` (UTC, milliseconds); the date and time part formatted once per second."""
    global _second
    whole = int(record.created)
    cached = _second
    if cached[0] != whole:
        cached = _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{cached[1]}.{int((record.created - whole) * 1000):03d}Z"


_NEEDS_QUOTES = re.compile(r'[ "=\n\t]')


def _kv(value) -> str:
    text = str(value)
    if text == "" or _NEEDS_QUOTES.search(text):
        return json.dumps(text, ensure_ascii=False)
    return text


def make_formatter(kind: str) -> logging.Formatter:
    return JsonFormatter() if kind == "json" else KeyValueFormatter()


def configure_logging(app) -> None:
    level = getattr(logging, str(app.config.get("LOG_LEVEL", "INFO")).upper(), logging.INFO)
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]
    if not root.handlers or ours:
        handler = ours[0] if ours else logging.StreamHandler(sys.stderr)
        setattr(handler, _HANDLER_MARK, True)
        handler.setFormatter(make_formatter(app.config.get("LOG_FORMAT", "kv")))
        if not ours:
            root.addHandler(handler)
        root.setLevel(level)
        # Flask adds its own stderr handler to app.logger when it sees none: with ours on the root it would
        # print every app line twice.
        from flask.logging import default_handler

        app.logger.removeHandler(default_handler)
    for name in ("certify", app.logger.name):
        logging.getLogger(name).setLevel(level)


def _user_id() -> str:
    user = g.get("_login_user")
    if user is not None and not getattr(user, "is_anonymous", True):
        # The identity key, never an attribute load: after a failed request (rolled back, session removed by the
        # 503 handler) the user is expired and detached, and reading ``user.id`` would raise (a 500 instead of 503).
        state = sa_inspect(user, raiseerr=False)
        if state is not None and state.identity:
            return str(state.identity[0])
    credential = g.get("credential")  # a request authorised by a header credential (the exam's attempt pass)
    if credential is not None and getattr(credential, "user_id", None) is not None:
        return str(credential.user_id)
    # The session's "id:epoch" marker, without loading the user (the database may be the thing that is down).
    raw = session.get("_user_id") if "_user_id" in session else None
    return str(raw).partition(":")[0] if raw else "-"


def _start_timer():
    g._certify_t0 = time.perf_counter()


def _log_request(response):
    t0 = g.pop("_certify_t0", None)
    elapsed = (time.perf_counter() - t0) * 1000 if t0 is not None else 0.0
    rule = request.url_rule.rule if request.url_rule is not None else "-"
    static = request.endpoint == "static"
    fields = {"method": request.method, "route": rule, "endpoint": request.endpoint or "-",
              "status": response.status_code, "ms": f"{elapsed:.1f}",
              "user": "-" if static else _user_id()}  # static files stay free of the session (no Vary: Cookie)
    level = logging.INFO
    if response.status_code >= 500:
        level = logging.WARNING
    if static and response.status_code < 400:
        level = logging.DEBUG  # a page's assets would double the volume for nothing
    if request_log.isEnabledFor(level):
        # The record is made directly: Logger.log would also walk the stack for the caller's file and line (findCaller,
        # a large part of a JSON call's logging cost), which the request line never shows.
        request_log.handle(request_log.makeRecord(request_log.name, level, __file__, 0, "request", (), None,
                                                  extra={"fields": fields}))
    return response


def init_app(app) -> None:
    configure_logging(app)
    # first before_request of all, so the time covers the other hooks (access checks, user loading)
    app.before_request_funcs.setdefault(None, []).insert(0, _start_timer)
    app.after_request(_log_request)
