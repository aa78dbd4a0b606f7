"""Who may reach what. Every view declares its roles with ``@allow``; anything undeclared is refused.

The guard runs before every request (pages, JSON API); Socket.IO namespaces call ``socket_user_allowed``.
Supervisors read everything and change nothing: a non-GET request from a supervisor is refused unless the
view says ``supervisor_writes=True`` (complaints are the one thing they record).

A JSON view may also accept a **header credential** (``@allow(CANDIDATE, credential=…)``): a signed value the page's
script puts in a request header, verified without the session or the user (the exam's attempt pass). A request
to ``/api/*`` that carries such a header is served without its session cookie (``certify.web_security``: the cookie
is not even decoded, so ``current_user`` is anonymous): the header is its only credential. The guard verifies it
for the views that declare it (401 ``invalid_credential`` when it does not verify, nothing runs) and stores the
verified claims in ``g.credential``; every other view sees an anonymous request and refuses it as usual. CSRF does
not apply to such a request (``certify.extensions.CSRFProtect``): a browser never sends a header on its own the way
it sends a cookie, and no other site's page can read the pass or set the header (no CORS).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from flask import abort, current_app, g, jsonify, redirect, request, url_for
from flask_login import current_user

PUBLIC = "public"
AUTHENTICATED = "authenticated"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class HeaderCredential:
    """A credential sent in ``header`` and accepted by the views that declare it: ``verify(request)`` returns the
    verified claims (any object) or None. It stands for a user of ``role``, which the view must allow."""

    header: str
    role: str
    verify: Callable
    code: str = "invalid_credential"
    message: str = "凭证无效或已过期，请刷新页面"


CREDENTIAL_HEADERS: set[str] = set()  # every declared credential's header: such /api/* requests skip the cookie


def allow(*roles: str, supervisor_writes: bool = False, credential: HeaderCredential | None = None):
    """Declare the roles that may use a view: role names, ``PUBLIC`` or ``AUTHENTICATED``; ``credential``: a header
    credential the view also accepts instead of the session (see the module docstring)."""
    if not roles:
        raise ValueError("allow() needs at least one role")
    if credential is not None:
        if credential.role not in roles:
            raise ValueError(f"allow(): credential for {credential.role!r} on a view that does not allow it")
        CREDENTIAL_HEADERS.add(credential.header)

    def decorate(view):
        view.allowed_roles = frozenset(roles)
        view.supervisor_writes = supervisor_writes
        view.header_credential = credential
        return view

    return decorate


def credential_sent() -> bool:
    """True when this ``/api/*`` request carries a header credential (its session cookie is then not used)."""
    return request.path.startswith("/api/") and any(h in request.headers for h in CREDENTIAL_HEADERS)


def view_credential(view) -> HeaderCredential | None:
    target = getattr(view, "view_class", None) or view
    return getattr(target, "header_credential", None)


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
    credential = view_credential(view)
    if credential is not None and credential_sent() and credential.header in request.headers:
        claims = credential.verify(request)
        if claims is None:
            return json_error(401, credential.code, credential.message)
        g.credential = claims
        return None
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
