"""Notices of the defense (``certify.notices``): when the schedule is published, each candidate gets their slot
and place (room or meeting link) and each panelist their panel's times and place; a candidate moved after
publication gets the new slot. Created in the caller's transaction."""
from __future__ import annotations

from collections import defaultdict

from certify.clock import to_local
from certify.extensions import db
from certify.models import Round
from certify.notices import operations as notices
from certify.notices.services import texts
from certify.notices.services.delivery import DEFENSE

from ..models import DefenseAssignment, Panel


def _fmt(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return to_local(value).strftime(fmt)


def announce_assignment(a: DefenseAssignment, *, changed: bool = False):
    cand, panel = a.candidate, a.panel
    title, body = texts.defense_notice(_fmt(a.start_at), _fmt(a.end_at, "%H:%M"), panel.name, panel.room or "",
                                       panel.meeting_link or "")
    if changed:
        title = "答辩安排变更"
    return notices.notify([cand.user_id], DEFENSE, title, body, round_id=a.round_id)


def announce_schedule(rnd: Round, assignments: list[DefenseAssignment]) -> None:
    by_panel: dict[int, list[DefenseAssignment]] = defaultdict(list)
    for a in assignments:
        announce_assignment(a)
        by_panel[a.panel_id].append(a)
    for panel_id, rows in sorted(by_panel.items()):
        panel = db.session.get(Panel, panel_id)
        rows.sort(key=lambda a: a.start_at)
        title, body = texts.panelist_notice(panel.name, _fmt(rows[0].start_at), _fmt(rows[-1].end_at), len(rows),
                                            panel.room or "", panel.meeting_link or "")
        members = [m.panelist for m in panel.members if m.panelist.user_id is not None]
        notices.notify([p.user_id for p in members], DEFENSE, title, body, round_id=rnd.id,
                       mobiles={p.user_id: p.phone or "" for p in members})


def slip_rows(candidate) -> list[tuple[str, str]]:
    """The admission slip's defense lines (a level with a defense): the slot and place once published."""
    scheme = candidate.scheme
    if scheme is None or not scheme.has_defense:
        return []
    from .operations import candidate_assignment, is_published

    a = candidate_assignment(candidate)
    if a is None or not is_published(candidate.round):
        return [("答辩安排", "尚未发布，以平台通知为准")]
    panel = a.panel
    place = "；".join(x for x in (panel.room, f"线上会议：{panel.meeting_link}" if panel.meeting_link else "") if x)
    return [("答辩时间", f"{_fmt(a.start_at)} 至 {_fmt(a.end_at, '%H:%M')}（北京时间，{panel.name}）"),
            ("答辩地点", place or "以平台通知为准")]
