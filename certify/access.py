"""Who may reach what. Every view declares its roles with ``@allow``; anything undeclared is refused.

The guard runs before every request (pages, JSON API); Socket.IO namespaces call ``socket_user_allowed``.
Supervisors read everything and change nothing: a non-GET request from a supervisor is refused unless the
view says ``supervisor_writes=True`` (complaints are the one thing they record).
"""
from __future__ import annotations

from functools import wraps

from flask import abort, current_app, jsonify, redirect, request, url_for
from flask_login import current_user

PUBLIC = "public"
AUTHENTICATED = "authenticated"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def allow(*roles: str, supervisor_writes: bool = False):
    """Declare the roles that may use a view: role names, ``PUBLIC`` or ``AUTHENTICATED``."""
    if not roles:
        raise ValueError("allow() needs at least one role")

    def decorate(view):
        view.allowed_roles = frozenset(roles)
        view.supervisor_writes = supervisor_writes
        return view

    return decorate


def allowed_roles(view) -> frozenset[str] | None:
    target = getattr(view, "view_class", None) or view
    return getattr(target, "allowed_roles", getattr(view, "allowed_roles", None))


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def json_error(status: int, code: str, message: str, **extra):
    body = {"error": {"code": code, "message": message, **extra}}
    return jsonify(body), status


def enforce_access():
    """before_request hook: fail closed."""
    if request.endpoint is None:  # 404/405 are raised by routing
        return None
    if request.endpoint == "static" or request.endpoint.endswith(".static"):
        return None
    view = current_app.view_functions.get(request.endpoint)
    roles = allowed_roles(view)
    if roles is None:
        current_app.logger.error("endpoint %s declares no roles; refused", request.endpoint)
        abort(403)
    if PUBLIC in roles:
        return None
    if not current_user.is_authenticated:
        if wants_json():
            return json_error(401, "unauthenticated", "请先登录")
        return redirect(url_for("core.login", next=request.full_path if request.method == "GET" else None))
    if current_user.must_change_password and request.endpoint not in PASSWORD_CHANGE_EXEMPT:
        if wants_json():
            return json_error(403, "password_change_required", "首次登录请先修改密码")
        return redirect(url_for("core.change_password"))
    if AUTHENTICATED not in roles and current_user.role not in roles:
        abort(403)
    if current_user.role == "supervisor" and request.method not in SAFE_METHODS and not getattr(
            view, "supervisor_writes", False):
        abort(403)
    return None


PASSWORD_CHANGE_EXEMPT = {"core.change_password", "core.logout", "core.index"}


def role_required(*roles: str):
    """For helpers that are not views (e.g. socket handlers): abort unless the user has a role."""

    def decorate(fn):
        @wraps(fn)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated or current_user.role not in roles:
                abort(403)
            return fn(*args, **kwargs)

        return wrapper

    return decorate
