"""The live panel room's data path: one snapshot of a panel, and the pushes of every member's own view.

``load_snapshot(panel_id)`` reads the panel, its members and their panelists, the round's rubric and criteria, the
cases with their candidates and sheets in a fixed number of queries (eager loading) into the pure records of
``defense.services.views``; the views of every member are then built from it without another query.

Operations call ``queue_panel_push(panel_id)`` whenever they change something a room screen shows; the push runs
once per panel after the transaction commits (``certify.realtime.queue_callback``), however many changes queued it,
and is dropped when the transaction rolls back.
"""
from __future__ import annotations

from sqlalchemy.orm import joinedload, selectinload

from certify import realtime
from certify.clock import utcnow
from certify.extensions import db, socketio

from ..models import Panel, PanelMember
from ..services import views
from .models import DefenseCase, Rubric, ScoreSheet

NAMESPACE = "/defense"


def user_room(panel_id: int, user_id: int) -> str:
    return f"panel-{panel_id}-user-{user_id}"


# ------------------------------------------------------------------ ORM rows → snapshot records

def snap_sheet(s: ScoreSheet) -> views.SheetSnap:
    return views.SheetSnap(s.id, s.panelist_id, s.status, dict(s.scores or {}), s.total, s.version, s.revision,
                           s.submitted_at, s.recuse_reason or "", s.reopen_reason or "", s.reopened_count or 0)


def snap_rubric(r: Rubric) -> views.RubricSnap:
    return views.RubricSnap(tuple(views.Criterion(c.id, c.name, c.max_points, c.descriptors or "")
                                  for c in r.criteria),
                            tuple(r.phases or ()), r.spread_threshold, r.outlier_threshold, r.min_scorers)


def snap_case(c: DefenseCase) -> views.CaseSnap:
    cand = c.candidate
    return views.CaseSnap(c.id, c.state, c.queue_order, bool(c.carried_over), c.version, cand.name, cand.ticket,
                          cand.work_unit, c.phase_index, c.phase_started_at, tuple(c.timer_log or ()), c.score,
                          tuple(c.flags or ()), c.flags_resolved_at, c.chair_comment or "",
                          tuple(snap_sheet(s) for s in c.sheets))


def load_snapshot(panel_id: int) -> views.PanelSnapshot | None:
    """The panel as the room shows it, in 7 queries whatever its size (None when the panel is gone)."""
    from .operations import rubric_for_read

    panel = db.session.execute(db.select(Panel).where(Panel.id == panel_id).options(
        selectinload(Panel.members).selectinload(PanelMember.panelist))).scalar_one_or_none()
    if panel is None:
        return None
    rubric = db.session.execute(db.select(Rubric).filter_by(round_id=panel.round_id)
                                .options(selectinload(Rubric.criteria))).scalar_one_or_none()
    rubric = rubric or rubric_for_read(panel.round_id)
    cases = db.session.execute(db.select(DefenseCase).filter_by(panel_id=panel_id)
                               .order_by(DefenseCase.queue_order, DefenseCase.id)
                               .options(joinedload(DefenseCase.candidate), selectinload(DefenseCase.sheets))
                               ).scalars().all()
    members = tuple(views.MemberSnap(m.panelist_id, m.panelist.name, m.panelist.user_id, m.is_chair)
                    for m in sorted(panel.members, key=lambda m: m.id))
    return views.PanelSnapshot(panel.id, panel.name, panel.room or "", panel.meeting_link or "", members,
                               snap_rubric(rubric), tuple(snap_case(c) for c in cases), utcnow())


# ------------------------------------------------------------------ pushes

def queue_panel_push(panel_id: int | None) -> None:
    """Push the panel's fresh state to its members once this transaction commits."""
    if panel_id is not None:
        realtime.queue_callback(("panel", panel_id), lambda: push_panel(panel_id))


def push_panel(panel_id: int) -> None:
    """Emit each member of the panel their own view of it (committed state; one snapshot, read only)."""
    snap = load_snapshot(panel_id)
    if snap is None:
        return
    for member in snap.members:
        if member.user_id is not None:
            socketio.emit("state", views.room_view(snap, member.panelist_id),
                          to=user_room(panel_id, member.user_id), namespace=NAMESPACE)
