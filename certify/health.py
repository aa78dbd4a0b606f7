"""Availability: ``GET /healthz`` for load balancers and monitors, and 503 + Retry-After when the database is out of
reach or every pooled connection is busy (instead of a pool-timeout 500).

- ``/healthz`` is public and reads no session: 200 ``{"database": "ok", "redis": "ok"|"off"}``, or 503 with
  ``Retry-After`` and ``"down"`` for the part that did not answer (Redis is only checked when REDIS_URL is set).
- ``sqlalchemy.exc.TimeoutError`` (pool exhausted for DB_POOL_TIMEOUT seconds) and ``OperationalError`` (database
  unreachable, SQLite busy) become 503 + Retry-After app-wide: JSON for ``/api/*`` and JSON clients, a short Chinese
  page for people, and a socket acknowledgement ``{"ok": false, "code": "unavailable"}``. The page is built without
  templates or the current user, since both could need the very database that is missing.
"""
from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify
from markupsafe import escape
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from .access import PUBLIC, allow, wants_json
from .extensions import db

log = logging.getLogger("certify.health")
bp = Blueprint("health", __name__)

UNAVAILABLE_MESSAGE = "服务器繁忙或数据库暂时不可用，请稍后重试"
UNAVAILABLE_ERRORS = (sa_exc.TimeoutError, sa_exc.OperationalError)

_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>暂时无法服务</title></head>
<body style="font-family: sans-serif; max-width: 36rem; margin: 4rem auto; line-height: 1.6">
<h1>暂时无法服务（503）</h1><p>{message}</p><p>已填写的内容不会丢失：请在 {seconds} 秒后刷新本页。</p>
</body></html>"""


def retry_after() -> int:
    return int(current_app.config.get("RETRY_AFTER_SECONDS", 5))


def _check_database() -> str:
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return "ok"
    except Exception as err:  # any failure to reach the database is "down", with the reason in the log
        log.warning("healthz: database unreachable: %s", type(err).__name__)
        return "down"


def _redis_client():
    client = current_app.extensions.get("certify_health_redis")
    if client is None:
        import redis

        client = redis.Redis.from_url(current_app.config["REDIS_URL"], socket_timeout=2, socket_connect_timeout=2)
        current_app.extensions["certify_health_redis"] = client
    return client


def _check_redis() -> str:
    if not current_app.config.get("REDIS_URL"):
        return "off"
    try:
        _redis_client().ping()
        return "ok"
    except Exception as err:
        log.warning("healthz: redis unreachable: %s", type(err).__name__)
        return "down"


@bp.get("/healthz")
@allow(PUBLIC)
def healthz():
    body = {"database": _check_database(), "redis": _check_redis()}
    healthy = all(v in ("ok", "off") for v in body.values())
    resp = jsonify(body)
    resp.headers["Cache-Control"] = "no-store"
    if not healthy:
        resp.status_code = 503
        resp.headers["Retry-After"] = str(retry_after())
    return resp


def unavailable_response():
    seconds = retry_after()
    if wants_json():
        resp = jsonify({"error": {"code": "unavailable", "message": UNAVAILABLE_MESSAGE, "retry_after": seconds}})
    else:
        resp = current_app.response_class(_PAGE.format(message=escape(UNAVAILABLE_MESSAGE), seconds=seconds),
                                          mimetype="text/html")
    resp.status_code = 503
    resp.headers["Retry-After"] = str(seconds)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def socket_unavailable_ack() -> dict:
    return {"ok": False, "code": "unavailable", "error": UNAVAILABLE_MESSAGE, "retry_after": retry_after()}


def init_app(app) -> None:
    app.register_blueprint(bp)

    def _unavailable(err):
        # The unit of work has rolled back already; drop the session so the next request starts clean.
        log.warning("database unavailable (%s): answering 503", type(err).__name__)
        try:
            db.session.remove()
        except Exception:  # the connection may be gone with the database
            pass
        return unavailable_response()

    for error in UNAVAILABLE_ERRORS:
        app.register_error_handler(error, _unavailable)
