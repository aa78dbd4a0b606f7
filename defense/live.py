"""Pushes of the live panel room: after a commit, each member of a changed panel gets their own view.

Operations call ``queue_panel_push(panel_id)`` whenever they change something a room screen shows; the push runs
once per panel after the transaction commits (``certify.realtime.queue_callback``), however many changes queued it,
and is dropped when the transaction rolls back.
"""
from __future__ import annotations

from certify import realtime
from certify.extensions import db, socketio

NAMESPACE = "/defense"


def user_room(panel_id: int, user_id: int) -> str:
    return f"panel-{panel_id}-user-{user_id}"


def queue_panel_push(panel_id: int | None) -> None:
    """Push the panel's fresh state to its members once this transaction commits."""
    if panel_id is not None:
        realtime.queue_callback(("panel", panel_id), lambda: push_panel(panel_id))


def push_panel(panel_id: int) -> None:
    """Emit each member of the panel their own view of it (committed state; read only)."""
    from . import scoring_operations as ops
    from .models import Panel, PanelMember, Panelist

    panel = db.session.get(Panel, panel_id)
    if panel is None:
        return
    for member in db.session.execute(db.select(PanelMember).filter_by(panel_id=panel_id)).scalars():
        panelist = db.session.get(Panelist, member.panelist_id)
        if panelist is None or panelist.user_id is None:
            continue
        state = ops.room_state(panel, member, ensure=False)
        socketio.emit("state", state, to=user_room(panel_id, panelist.user_id), namespace=NAMESPACE)
