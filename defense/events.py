"""The live panel room: Socket.IO namespace ``/defense`` (authenticated panel members only).

Every member joins a personal room per panel (``panel-<panel>-user-<user>``); after each change the server
pushes to each member *their own* view of the panel (``room_state``), so nothing meant for the chair or for
one panelist ever travels to another. With ``REDIS_URL`` set Flask-SocketIO relays these emits through the
message queue, so members connected to different processes all get them. A reconnecting device re-joins and
receives the full state of its user (its drafts, submissions and — for the chair — the progress).

Handlers are thin: parse, check permission, call an operation, commit, notify. Every handler answers through
the Socket.IO acknowledgement: ``{"ok": true, …}`` or ``{"ok": false, "code": …, "error": "…"}``.
"""
from __future__ import annotations

from flask import current_app, g
from flask_login import current_user
from flask_socketio import Namespace, join_room

from certify.domain import PANELIST
from certify.extensions import db, socketio

from . import scoring_operations as ops
from .models import Panel, PanelMember, Panelist

NAMESPACE = "/defense"


def user_room(panel_id: int, user_id: int) -> str:
    return f"panel-{panel_id}-user-{user_id}"


def notify_panel(panel_id: int) -> None:
    """Push each member of the panel their own fresh state (call after commit)."""
    panel = db.session.get(Panel, panel_id)
    if panel is None:
        return
    for member in db.session.execute(db.select(PanelMember).filter_by(panel_id=panel_id)).scalars():
        panelist = db.session.get(Panelist, member.panelist_id)
        if panelist is None or panelist.user_id is None:
            continue
        state = ops.room_state(panel, member, ensure=False)
        socketio.emit("state", state, to=user_room(panel_id, panelist.user_id), namespace=NAMESPACE)
    if db.session.new:  # a default rubric created on first use
        db.session.commit()


def _fail(err: ops.ScoringError, **extra) -> dict:
    db.session.rollback()
    return {"ok": False, "code": err.code, "error": err.message, **extra}


def _panel(data) -> Panel:
    panel_id = (data or {}).get("panel_id")
    panel = db.session.get(Panel, int(panel_id)) if str(panel_id).isdigit() else None
    if panel is None:
        raise ops.ScoringError("找不到该答辩组", "not_found")
    return panel


CHAIR_ACTIONS = {
    "check_in": lambda case, data: ops.check_in(case),
    "absent": lambda case, data: ops.mark_absent(case),
    "carry_over": lambda case, data: ops.carry_over(case),
    "start_phase": lambda case, data: ops.start_phase(case, data.get("phase")),
    "stop_phase": lambda case, data: ops.stop_phase(case),
    "end": lambda case, data: ops.end_defense(case),
    "confirm": lambda case, data: ops.confirm_flags(case, data.get("comment", ""), current_user),
    "finalise": lambda case, data: ops.finalise(case, current_user),
}


class DefenseNamespace(Namespace):
    def _guard(self):
        # Flask-Login caches the user on ``g``; when an outer app context is active (tests, scripts) ``g`` outlives
        # the event, so every event loads the user of its own socket session afresh.
        g.pop("_login_user", None)
        if not current_user.is_authenticated or current_user.must_change_password or current_user.role != PANELIST:
            raise ops.Forbidden("请以评审专家账号登录")

    def _run(self, fn):
        try:
            self._guard()
            return fn()
        except ops.ScoringError as err:
            return _fail(err)
        except Exception:  # never a stack trace to the client
            db.session.rollback()
            current_app.logger.exception("defense socket handler failed")
            return {"ok": False, "code": "error", "error": "服务器处理失败，请重试"}

    def on_connect(self, auth=None):
        g.pop("_login_user", None)
        if not current_user.is_authenticated or current_user.must_change_password:
            return False  # refused: authenticated users only
        return True

    def on_join(self, data):
        """Join the panel's room for this user; answers with the full state (also on reconnect)."""
        def run():
            panel = _panel(data)
            member = ops.require_member(panel, current_user)
            state = ops.room_state(panel, member)
            db.session.commit()  # cases/sheets created on first use
            join_room(user_room(panel.id, current_user.id))
            return {"ok": True, "state": state}
        return self._run(run)

    def on_state(self, data):
        def run():
            panel = _panel(data)
            member = ops.require_member(panel, current_user)
            state = ops.room_state(panel, member)
            db.session.commit()
            return {"ok": True, "state": state}
        return self._run(run)

    def _own_sheet(self, data):
        sheet = ops.get_sheet((data or {}).get("sheet_id"))
        ops.require_own_sheet(sheet, current_user)
        return sheet

    def _sheet_action(self, data, action):
        def run():
            sheet = self._own_sheet(data)
            try:
                action(sheet)
            except ops.StaleSheet as err:
                db.session.rollback()
                fresh = ops.get_sheet(sheet.id)
                return {"ok": False, "code": err.code, "error": err.message, "sheet": ops.sheet_view(fresh)}
            db.session.commit()
            panel_id = sheet.case.panel_id
            view = ops.sheet_view(sheet)
            notify_panel(panel_id)
            return {"ok": True, "sheet": view}
        return self._run(run)

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

        def run():
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
            db.session.commit()
            notify_panel(panel.id)
            return {"ok": True}
        return self._run(run)


def init_events() -> None:
    socketio.on_namespace(DefenseNamespace(NAMESPACE))
