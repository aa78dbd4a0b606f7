"""The realtime outbox: operations queue notices, and they are emitted only after the transaction commits.

An operation that changes something a screen shows calls ``queue(namespace, room, event, payload)``. The notice is
kept on the database session (``session.info``), sent by Socket.IO right after a successful commit and dropped on
rollback, so nobody is ever told of a change that did not happen and nothing is sent twice. With ``REDIS_URL`` set
Flask-SocketIO relays the emits through the message queue to every process.

A notice whose payload must be built from the committed state (e.g. a panel room's per-member views) is queued as
``queue_callback(key, fn)``: ``fn()`` runs once after the commit, however many changes queued it in the
transaction (keyed de-duplication), and emits what it builds. SQLAlchemy allows no SQL inside its ``after_commit``
hook, so callbacks wait in ``ready`` until the unit of work (``certify.uow``) calls ``run_ready()`` after the
commit returns.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from .extensions import db, socketio

log = logging.getLogger(__name__)
_KEY = "realtime_outbox"
_READY = "realtime_ready"


def _outbox(session=None) -> dict:
    session = session if session is not None else db.session()
    return session.info.setdefault(_KEY, {"emits": [], "callbacks": {}})


def queue(namespace: str, room: str, name: str, payload: Any) -> None:
    """Emit ``name`` with ``payload`` to ``room`` of ``namespace`` once the current transaction commits."""
    _outbox()["emits"].append((namespace, room, name, payload))


def queue_callback(key: Any, fn: Callable[[], None]) -> None:
    """Run ``fn`` once after the commit (the last one queued under ``key`` wins)."""
    _outbox()["callbacks"][key] = fn


def pending(session=None) -> list[tuple[str, str, str, Any]]:
    """The notices queued so far in this transaction (tests and debugging)."""
    session = session if session is not None else db.session()
    return list(session.info.get(_KEY, {}).get("emits", []))


def _send(session: Session) -> None:
    box = session.info.pop(_KEY, None)
    if not box:
        return
    for namespace, room, name, payload in box["emits"]:
        try:
            socketio.emit(name, payload, to=room, namespace=namespace)
        except Exception:  # a notice must never break the request that committed the change
            log.exception("notice %s to %s%s failed", name, namespace, room)
    if box["callbacks"]:
        session.info.setdefault(_READY, {}).update(box["callbacks"])


def run_ready(session=None) -> None:
    """Run the callbacks of committed transactions (called by the unit of work after its commit)."""
    session = session if session is not None else db.session()
    ready = session.info.pop(_READY, None)
    for key, fn in (ready or {}).items():
        try:
            fn()
        except Exception:  # a notice must never break the request that committed the change
            log.exception("post-commit notice %r failed", key)
        finally:
            if session.in_transaction() and not (session.new or session.dirty or session.deleted):
                session.rollback()  # end the read-only transaction the callback opened


def _drop(session: Session) -> None:
    session.info.pop(_KEY, None)


_installed = False


def install() -> None:
    """Attach the outbox to every SQLAlchemy session (idempotent)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "after_commit", _send)
    event.listen(Session, "after_rollback", _drop)
    _installed = True
