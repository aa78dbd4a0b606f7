"""Error pages and JSON errors. A client never sees a stack trace."""
from __future__ import annotations

from flask import render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from .access import json_error, wants_json
from .extensions import db

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
