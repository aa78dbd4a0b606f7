"""The defense's sections of the staff home page (``/home``): panels live today (secretariat, supervisors) and a
panelist's next slot (published schedules only, as on their own timetable page)."""
from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import url_for

from certify.clock import from_local, to_local, utcnow
from certify.domain import PANELIST, SECRETARIAT, SUPERVISOR
from certify.extensions import db
from certify.models import Round
from certify.staff_home import staff_panel

from ..models import DefenseAssignment, Panel
from ..scoring import operations as ops
from ..scoring.models import DefenseCase
from ..services.states import CaseState
from . import operations as sched_ops

LIVE_STATES = (CaseState.CHECKED_IN.value, CaseState.IN_PROGRESS.value, CaseState.SCORING.value,
               CaseState.FLAGGED.value)


def _today() -> tuple[datetime, datetime]:
    start = from_local(datetime.combine(to_local(utcnow()).date(), time()))
    return start, start + timedelta(days=1)


def panels_live(user) -> str | None:
    """Panels with a slot today or a case under way: their hours today, cases in the room, cases done."""
    if user.role not in (SECRETARIAT, SUPERVISOR):
        return None
    start, end = _today()
    today = {pid: (first, last, n) for pid, first, last, n in db.session.execute(
        db.select(DefenseAssignment.panel_id, db.func.min(DefenseAssignment.start_at),
                  db.func.max(DefenseAssignment.end_at), db.func.count())
        .where(DefenseAssignment.start_at >= start, DefenseAssignment.start_at < end)
        .group_by(DefenseAssignment.panel_id)).all()}
    live = dict(db.session.execute(
        db.select(DefenseCase.panel_id, db.func.count()).where(DefenseCase.state.in_(LIVE_STATES))
        .group_by(DefenseCase.panel_id)).all())
    ids = sorted(set(today) | set(live))
    panels = db.session.execute(db.select(Panel, Round.code).join(Round, Round.id == Panel.round_id)
                                .where(Panel.id.in_(ids)).order_by(Round.code, Panel.name)).all() if ids else []
    rows = []
    for panel, code in panels:
        parts = []
        if panel.id in today:
            first, last, n = today[panel.id]
            parts.append(f"今日 {to_local(first):%H:%M}–{to_local(last):%H:%M}，{n} 名考生")
        parts.append(f"进行中 {live.get(panel.id, 0)} 名")
        rows.append((f"{panel.name}（{code}）", url_for("defense_room.cases", round=code), " · ".join(parts)))
    return staff_panel("panels-live", "今日答辩组", rows, empty="今天没有答辩，也没有进行中的答辩组。")


def next_slot(user) -> str | None:
    """A panelist's panels and the next slot of each (published schedules only)."""
    if user.role != PANELIST:
        return None
    now = utcnow()
    rows = []
    for panel in ops.panels_of(user):
        rnd = db.session.get(Round, panel.round_id)
        if not sched_ops.is_published(rnd):
            rows.append((f"{panel.name}（{rnd.code}）", None, "答辩安排尚未发布"))
            continue
        upcoming = db.session.execute(
            db.select(DefenseAssignment).where(DefenseAssignment.panel_id == panel.id, DefenseAssignment.end_at > now)
            .order_by(DefenseAssignment.start_at)).scalars().all()
        if not upcoming:
            rows.append((f"{panel.name}（{rnd.code}）", None, "没有待进行的答辩时段"))
            continue
        first = upcoming[0]
        rows.append((f"{panel.name}（{rnd.code}）：下一时段 {to_local(first.start_at):%m-%d %H:%M}–"
                     f"{to_local(first.end_at):%H:%M}", url_for("defense_room.room", panel_id=panel.id),
                     f"之后还有 {len(upcoming) - 1} 个时段"))
    return staff_panel("next-slot", "我的答辩组", rows, empty="您目前不在任何答辩组中。",
                       more_url=url_for("defense_room.my_schedule"), more_label="我的答辩安排")
