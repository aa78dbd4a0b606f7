"""The unit of work: every request and every Socket.IO event commits once at the edge, or rolls back.

- A view (any blueprint) runs inside ``unit_of_work()``, installed app-wide by ``CertifyFlask.dispatch_request``:
  on success the transaction commits once and the realtime outbox is flushed; on any exception it rolls back,
  except a ``DomainError`` raised with ``keep_changes=True`` ("refuse, but what was done before stays": an answer
  saved after the deadline closes the attempt, then is refused), which commits what was done and re-raises.
- A GET/HEAD/OPTIONS request never writes: its transaction is rolled back, and a flush during it is a bug
  (``UOW_STRICT_READS`` turns it into an error, on in tests).
- Socket.IO handlers of ``UnitOfWorkNamespace`` run inside the same wrapper and answer ``DomainError`` with an
  acknowledgement ``{"ok": false, "code", "error"}``. A connection is refused unless its ``auth`` payload carries
  the page's CSRF token (``{"csrf_token": <meta csrf-token>}``, checked once at connect with Flask-WTF's
  ``validate_csrf``), so no other site can drive a logged-in user's socket (``check_socket_csrf``). Every other
  event counts against its connection's rate limit (``certify.rate_limits``, ack ``"rate_limited"`` over it).
- Operations never commit; CLI commands use ``commit()`` below (commit + post-commit notices).

Indico's ``RH.process`` is the model: one place decides when a transaction ends.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from functools import wraps

from flask import Flask, current_app, request
from sqlalchemy import event
from sqlalchemy.orm import Session

from . import rate_limits, realtime
from .errors import DomainError
from .extensions import db

log = logging.getLogger(__name__)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_WROTE = "uow_wrote"


class ReadWroteError(RuntimeError):
    """A GET request flushed a change to the database (a programming error)."""


def commit() -> None:
    """Commit the current transaction and run its post-commit notices (CLI, jobs, tests)."""
    db.session.commit()
    realtime.run_ready()


def release_connection() -> None:
    """End the request's transaction so far, which must have only read, returning its pooled connection before a
    slow step that needs no database (the login's password check, ``certify.login_gate``); the next query opens a
    fresh transaction, and the unit of work commits that one as usual. Loaded objects are expired, not detached.

    Refuses (``RuntimeError``, a programming error) when the transaction has changes, which this would discard.
    """
    session = db.session()
    if session.info.get(_WROTE) or session.new or session.dirty or session.deleted:
        raise RuntimeError("release_connection() with unsaved or flushed changes: they would be rolled back")
    session.rollback()


def _mark_write(session: Session, _flush_context) -> None:
    if session.new or session.dirty or session.deleted:
        session.info[_WROTE] = True


_installed = False


def install() -> None:
    global _installed
    if not _installed:
        event.listen(Session, "before_flush", lambda s, ctx, inst: _mark_write(s, ctx))
        _installed = True
    realtime.install()


@contextmanager
def unit_of_work(*, read_only: bool = False):
    """Run a block as one transaction: commit on success, roll back on error (see the module docstring)."""
    session = db.session()
    session.info.pop(_WROTE, None)
    try:
        yield session
    except DomainError as err:
        if err.keep_changes and not read_only:
            commit()
        else:
            db.session.rollback()
        raise
    except BaseException:
        db.session.rollback()
        raise
    if read_only:
        wrote = session.info.pop(_WROTE, False) or bool(session.new or session.dirty or session.deleted)
        db.session.rollback()
        if wrote:
            message = f"{request.method} {request.path} wrote to the database" if request else "a read wrote"
            if current_app.config.get("UOW_STRICT_READS"):
                raise ReadWroteError(message)
            log.warning("%s; the change was rolled back", message)
        return
    commit()


def transactional(fn):
    """Decorator form of ``unit_of_work`` for functions outside a request (jobs, the sweeper loop)."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        with unit_of_work():
            return fn(*args, **kwargs)

    return wrapper


class CertifyFlask(Flask):
    """Flask with every view inside the unit of work."""

    def dispatch_request(self):
        with unit_of_work(read_only=request.method in SAFE_METHODS):
            return super().dispatch_request()


SOCKET_CSRF_REFUSED = "csrf_failed"


def check_socket_csrf(auth) -> None:
    """Refuse a Socket.IO connection whose ``auth`` lacks the page's CSRF token for this session (the same token
    every form and API write carries). Raises ``ConnectionRefusedError`` (the client gets ``connect_error``)."""
    from flask_wtf.csrf import validate_csrf
    from socketio.exceptions import ConnectionRefusedError
    from wtforms import ValidationError

    message = "页面已过期，请刷新页面后重试"
    token = auth.get("csrf_token") if isinstance(auth, dict) else None
    if not isinstance(token, str) or len(token) > 512:
        raise ConnectionRefusedError(message, {"code": SOCKET_CSRF_REFUSED})
    try:
        validate_csrf(token)
    except ValidationError:
        raise ConnectionRefusedError(message, {"code": SOCKET_CSRF_REFUSED}) from None


def _namespace_base():
    from flask_socketio import Namespace

    class UnitOfWorkNamespace(Namespace):
        """A Socket.IO namespace whose every event runs inside the unit of work (connect included), and whose
        connections carry the page's CSRF token (``check_socket_csrf``, before the namespace's own ``on_connect``)."""

        def trigger_event(self, event_name, *args):
            # The wrapper must run inside Flask-SocketIO's request context (``_handle_event`` pushes it, then calls
            # the handler), not around it: there is no app context, hence no session, outside.
            handler = getattr(self, "on_" + (event_name or ""), None)
            if handler is None:
                return None

            @wraps(handler)
            def in_unit_of_work(*handler_args):
                # Called by Flask-SocketIO inside the app and request context, and before its error handler:
                # the transaction ends (commit, or rollback / keep_changes) before a refusal becomes the ack.
                if event_name == "connect":
                    check_socket_csrf(handler_args[0] if handler_args else None)
                elif event_name != "disconnect":  # every event a client sends counts against its connection's limit
                    rate_limits.hit("socket_event", request.sid)  # RateLimited → ack {ok: false, "rate_limited"}
                with unit_of_work():
                    return handler(*handler_args)

            return self.socketio._handle_event(in_unit_of_work, event_name, self.namespace, *args)

    return UnitOfWorkNamespace


UnitOfWorkNamespace = _namespace_base()
