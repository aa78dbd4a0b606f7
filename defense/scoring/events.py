"""The live panel room: Socket.IO namespace ``/defense`` (authenticated panel members only).

Every member joins a personal room per panel (``panel-<panel>-user-<user>``); after each change the server
pushes to each member *their own* view of the panel (``state``, see ``defense/live.py``), so nothing meant for the
chair or for one panelist ever travels to another. With ``REDIS_URL`` set Flask-SocketIO relays these emits
through the message queue, so members connected to different processes all get them. A reconnecting device
re-joins and receives the full state of its user (its drafts, submissions and — for the chair — the progress).

Handlers are thin: parse, check permission, call an operation. Each event runs in the unit of work
(``UnitOfWorkNamespace``: commit once, then the queued pushes; rollback on refusal) and answers through the
Socket.IO acknowledgement: ``{"ok": true, …}``, or for a refusal (a ``DomainError``) ``{"ok": false, "code",
"error", …}`` built by the app's socket error handler (a stale sheet also carries the server's ``sheet``).
"""
from __future__ import annotations

from flask import g
from flask_login import current_user
from flask_socketio import join_room

from certify.domain import PANELIST
from certify.errors import DomainError
from certify.extensions import db
from certify.uow import UnitOfWorkNamespace
from certify.web import CONFIRMATION_MESSAGE

from ..models import Panel
from . import operations as ops
from .live import (
    NAMESPACE,  # noqa: F401  (re-exported)
    push_panel,  # noqa: F401  (re-exported)
    queue_panel_push,  # noqa: F401  (re-exported)
    user_room,  # noqa: F401  (re-exported)
)


def notify_panel(panel_id: int) -> None:
    """Queue the panel push for after the commit (kept for callers of the old name)."""
    queue_panel_push(panel_id)


def _panel(data) -> Panel:
    panel_id = (data or {}).get("panel_id")
    panel = db.session.get(Panel, int(panel_id)) if str(panel_id).isdigit() else None
    if panel is None:
        raise ops.ScoringError("找不到该答辩组", "not_found", 404)
    return panel


CHAIR_ACTIONS = {
    "check_in": lambda case, data: ops.check_in(case),
    "absent": lambda case, data: ops.mark_absent(case),
    "carry_over": lambda case, data: ops.carry_over(case),
    "start_phase": lambda case, data: ops.start_phase(case, data.get("phase")),
    "stop_phase": lambda case, data: ops.stop_phase(case),
    "end": lambda case, data: ops.end_defense(case),
    "confirm": lambda case, data: ops.confirm_flags(case, data.get("comment", ""), current_user),
    "finalise": lambda case, data: ops.finalise(case, current_user, _confirmed_reason(data)),
}


def _confirmed_reason(data: dict) -> str:
    """确定成绩（锁定） is irreversible for the chair: the event carries the ticked box and a reason, as the
    confirmation page (``defense_room.finalise_page``) posts them; refused otherwise (nothing changes)."""
    reason = str(data.get("reason") or "").strip()
    if not data.get("acknowledge") or not reason:
        raise DomainError("confirmation_required", CONFIRMATION_MESSAGE, 400)
    return reason


class DefenseNamespace(UnitOfWorkNamespace):
    def _guard(self):
        # Flask-Login caches the user on ``g``; when an outer app context is active (tests, scripts) ``g`` outlives
        # the event, so every event loads the user of its own socket session afresh.
        g.pop("_login_user", None)
        if not current_user.is_authenticated or current_user.must_change_password or current_user.role != PANELIST:
            raise ops.Forbidden("请以评审专家账号登录")

    def on_connect(self, auth=None):
        g.pop("_login_user", None)
        if not current_user.is_authenticated or current_user.must_change_password:
            return False  # refused: authenticated users only
        return True

    def on_join(self, data):
        """Join the panel's room for this user; answers with the full state (also on reconnect). Opening the
        room creates the panel's cases and sheets on first use."""
        self._guard()
        panel = _panel(data)
        member = ops.require_member(panel, current_user)
        state = ops.room_state(panel, member)
        join_room(user_room(panel.id, current_user.id))
        return {"ok": True, "state": state}

    def on_state(self, data):
        self._guard()
        panel = _panel(data)
        member = ops.require_member(panel, current_user)
        return {"ok": True, "state": ops.room_state(panel, member)}

    def _sheet_action(self, data, action):
        self._guard()
        sheet = ops.get_sheet((data or {}).get("sheet_id"))
        ops.require_own_sheet(sheet, current_user)
        action(sheet)
        return {"ok": True, "sheet": ops.sheet_view(sheet)}

    def on_save_draft(self, data):
        data = data or {}
        return self._sheet_action(data, lambda s: ops.save_draft(s, data.get("scores") or {}, data.get("version")))

    def on_submit(self, data):
        data = data or {}
        return self._sheet_action(data, lambda s: ops.submit_sheet(s, data.get("scores") or {}, data.get("version")))

    def on_recuse(self, data):
        data = data or {}
        return self._sheet_action(data, lambda s: ops.recuse(s, data.get("reason", "")))

    def on_chair(self, data):
        """The chair's queue and scoring actions: {panel_id, action, case_id?, sheet_id?, …}."""
        data = data or {}
        self._guard()
        panel = _panel(data)
        ops.require_chair(panel, current_user)
        action = data.get("action")
        if action == "call_next":
            ops.call_next(panel)
        elif action == "reopen_sheet":
            sheet = ops.get_sheet(data.get("sheet_id"))
            if sheet.case.panel_id != panel.id:
                raise ops.Forbidden("该评分表不属于本答辩组")
            ops.reopen_sheet(sheet, data.get("reason", ""))
        elif action in CHAIR_ACTIONS:
            case = ops.get_case(data.get("case_id"))
            if case.panel_id != panel.id:
                raise ops.Forbidden("该考生不属于本答辩组")
            CHAIR_ACTIONS[action](case, data)
        else:
            raise ops.ScoringError(f"未知的操作 {action}", "invalid")
        return {"ok": True}
