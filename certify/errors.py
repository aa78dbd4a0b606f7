"""One error type for refusals, and the app-wide handlers. A client never sees a stack trace.

``DomainError(code, messages, status)`` is what every operation raises when it refuses something. The handlers turn
it into JSON ``{"error": {"code", "message", "messages", ...}}`` for the API, a flash and a redirect back for pages,
and an acknowledgement ``{"ok": false, "code", "error"}`` for Socket.IO events (``socket_ack``). The unit of work
(``certify.uow``) has already rolled the transaction back (or committed it, with ``keep_changes=True``).
"""
from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from .access import json_error, wants_json
from .extensions import db


class DomainError(Exception):
    """A refusal by the rules: ``code`` (machine-readable), one or more Chinese ``messages``, an HTTP ``status``.

    ``keep_changes``: the unit of work commits what the operation did before refusing (e.g. closing an overdue
    attempt) instead of rolling it back. ``extra``: more fields for the JSON body / socket ack. ``redirect_to``: where
    a page goes after the flash (default: back where the form came from).
    """

    status = 400
    code = "invalid"

    def __init__(self, code: str | None = None, messages: str | Iterable[str] = (), status: int | None = None, *,
                 keep_changes: bool = False, redirect_to: str | None = None, **extra):
        self.code = code or type(self).code
        self.messages = [messages] if isinstance(messages, str) else [str(m) for m in messages]
        if not self.messages:
            self.messages = [MESSAGES.get(status or self.status, ("", "请求失败"))[1]]
        self.status = status or type(self).status
        self.keep_changes = keep_changes
        self.redirect_to = redirect_to
        self.extra = extra
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return "；".join(self.messages)

    def to_json(self) -> dict:
        body = {"code": self.code, "message": self.message, **self.extra}
        if len(self.messages) > 1:
            body["messages"] = self.messages
        return body

    def socket_ack(self) -> dict:
        return {"ok": False, "code": self.code, "error": self.message, **self.extra}


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    status = 409
    code = "conflict"


def _back() -> str:
    """Same-origin page the form came from (never an open redirect), else the home page."""
    ref = request.referrer
    if ref:
        parts = urlsplit(ref)
        if parts.netloc == request.host and "\r" not in ref and "\n" not in ref:
            return parts.path + (f"?{parts.query}" if parts.query else "")
    if request.method == "GET":
        return url_for("core.index")
    return request.path


MESSAGES = {
    400: ("bad_request", "请求无效"),
    401: ("unauthenticated", "请先登录"),
    403: ("forbidden", "无权访问此页面"),
    404: ("not_found", "页面不存在"),
    405: ("method_not_allowed", "不支持的请求方式"),
    409: ("conflict", "操作冲突"),
    413: ("too_large", "上传的文件过大"),
    429: ("rate_limited", "请求过于频繁，请稍后再试"),
    500: ("server_error", "服务器内部错误，请稍后再试"),
}


def _respond(status: int, message: str | None = None, code: str | None = None):
    default_code, default_message = MESSAGES.get(status, ("error", "请求失败"))
    code, message = code or default_code, message or default_message
    if wants_json():
        return json_error(status, code, message)
    return render_template("core/error.html", status=status, message=message), status


def register_error_handlers(app):
    @app.errorhandler(DomainError)
    def domain_error(err: DomainError):
        response = _domain_response(err)
        retry_after = err.extra.get("retry_after")
        if retry_after is not None:  # 429 (rate limits) and the like: the client is told when to come back
            response = make_response(response)
            response.headers["Retry-After"] = str(retry_after)
        return response

    def _domain_response(err: DomainError):
        if wants_json():
            return json_error(err.status, err.code, err.message, **{k: v for k, v in err.to_json().items()
                                                                     if k not in ("code", "message")})
        if request.method == "GET" or err.status in (403, 404, 429):
            return _respond(err.status, err.message, err.code)
        for message in err.messages:
            flash(message, "error")
        return redirect(err.redirect_to or _back())

    @app.errorhandler(CSRFError)
    def csrf_error(err):
        return _respond(400, "页面已过期或表单校验失败，请刷新页面后重试", "csrf_failed")

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        message = None
        if err.code == 429:
            message = str(err.description) if err.description else None
        elif isinstance(err.description, str) and err.description and not err.description.startswith(
                ("The ", "You ", "The requested", "Bad request")) and err.code not in (404, 405):
            message = err.description
        return _respond(err.code or 500, message)

    @app.errorhandler(Exception)
    def unhandled(err: Exception):
        app.logger.exception("unhandled error")
        db.session.rollback()
        return _respond(500)
