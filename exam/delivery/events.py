"""Live exam notices: Socket.IO namespace ``/exam``.

Rooms: ``session-<id>`` for the secretariat and supervisors watching a session (monitor rows, save progress,
integrity event counts); ``attempt-<id>`` for the candidate's own pages (takeover, deadline changes, close).
Operations queue their notices with ``certify.realtime.queue``; they are sent only after the transaction
commits (and dropped on rollback), so nobody is ever told about a change that did not happen. With
``REDIS_URL`` set Flask-SocketIO relays the emits through the message queue to every process. Every event runs
in the unit of work (``UnitOfWorkNamespace``); a refusal (``DomainError``) becomes the ack
``{"ok": false, "code", "error"}``.
"""
from __future__ import annotations

from flask import g
from flask_login import current_user
from flask_socketio import join_room

from certify.domain import CANDIDATE, SECRETARIAT, SUPERVISOR
from certify.extensions import db
from certify.uow import UnitOfWorkNamespace

from .operations import NAMESPACE  # noqa: F401  (the namespace path, re-exported for exam.area())


class ExamNamespace(UnitOfWorkNamespace):
    def _user(self):
        g.pop("_login_user", None)  # every event loads the user of its own socket session
        if not current_user.is_authenticated or current_user.must_change_password:
            return None
        return current_user

    def on_connect(self, auth=None):
        return self._user() is not None  # authenticated users only

    def on_join_session(self, data):
        """Secretariat and supervisors watch a session: {session_id} → joins its room."""
        from ..models import ExamSession
        from . import operations as ops

        user = self._user()
        if user is None or user.role not in (SECRETARIAT, SUPERVISOR):
            return {"ok": False, "code": "forbidden", "error": "仅秘书处和监督委员会可以查看考试监控"}
        session_id = (data or {}).get("session_id")
        session = db.session.get(ExamSession, int(session_id)) if str(session_id).isdigit() else None
        if session is None:
            return {"ok": False, "code": "not_found", "error": "找不到该场考试"}
        join_room(ops.session_room(session.id))
        return {"ok": True}

    def on_join_attempt(self, data):
        """A candidate's page listens for its own attempt's notices: {attempt_id}."""
        from . import operations as ops

        user = self._user()
        if user is None or user.role != CANDIDATE:
            return {"ok": False, "code": "forbidden", "error": "仅考生本人可以加入"}
        attempt = ops.own_attempt((data or {}).get("attempt_id"), user)  # a refusal is answered by the ack handler
        join_room(ops.attempt_room(attempt.id))
        return {"ok": True}

    def on_heartbeat(self, data):
        """A candidate's exam page is still open: {attempt_id, token, tab} (every ~20 s while it holds the token).

        Keeps the attempt's ``last_seen_at`` fresh, so a start or a stale page from another tab can tell whether
        this one is live (``delivery.integrity``); a stale page is answered ``taken_over`` and stops."""
        from . import integrity
        from . import operations as ops

        user = self._user()
        if user is None or user.role != CANDIDATE:
            return {"ok": False, "code": "forbidden", "error": "仅考生本人可以加入"}
        data = data if isinstance(data, dict) else {}
        attempt = ops.own_attempt(data.get("attempt_id"), user)
        token = data.get("token") if isinstance(data.get("token"), str) else None
        return integrity.heartbeat(attempt, token=token, tab=data.get("tab"))

