"""What each member of a panel sees of the live room, built from one snapshot of the panel (pure: no Flask, no db).

The loader (``defense/live.py``) reads the panel, its members, the rubric, the cases, their candidates and sheets
in a bounded number of queries into the frozen records below; ``room_view(snapshot, panelist_id)`` then builds one
member's view without touching the database, so pushing the room to every member costs the same few queries
whatever the size of the panel and its queue.

Who sees what (unchanged): a panelist sees the cases, the timer and their own sheet, never another panelist's
scores nor who has submitted; the chair also sees every member's sheet status, the others' totals once their own
sheet is in (or they have none), and the aggregate and flags once every sheet is in.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from certify.clock import iso_utc

from .aggregation import aggregate, fmt
from .states import (
    CASE_STATE_LABELS,
    DONE_SHEET_STATUSES,
    LOCKED_CASE_STATES,
    SHEET_STATUS_LABELS,
    CaseState,
    SheetStatus,
)


@dataclass(frozen=True)
class Criterion:
    id: int | None
    name: str
    max_points: Decimal
    descriptors: str


@dataclass(frozen=True)
class RubricSnap:
    criteria: tuple[Criterion, ...]
    phases: tuple[dict, ...]
    spread_threshold: Decimal
    outlier_threshold: Decimal
    min_scorers: int

    @property
    def max_total(self) -> Decimal:
        return sum((Decimal(c.max_points) for c in self.criteria), Decimal(0))


@dataclass(frozen=True)
class MemberSnap:
    panelist_id: int
    name: str
    user_id: int | None
    is_chair: bool


@dataclass(frozen=True)
class SheetSnap:
    id: int
    panelist_id: int
    status: str
    scores: dict
    total: Decimal | None
    version: int
    revision: int
    submitted_at: datetime | None
    recuse_reason: str
    reopen_reason: str
    reopened_count: int


@dataclass(frozen=True)
class CaseSnap:
    id: int
    state: str
    queue_order: int
    carried_over: bool
    version: int
    candidate_name: str
    candidate_ticket: str
    candidate_work_unit: str
    phase_index: int | None
    phase_started_at: datetime | None
    timer_log: tuple
    score: Decimal | None
    flags: tuple
    flags_resolved_at: datetime | None
    chair_comment: str
    sheets: tuple[SheetSnap, ...]


@dataclass(frozen=True)
class PanelSnapshot:
    id: int
    name: str
    room: str
    meeting_link: str
    members: tuple[MemberSnap, ...]
    rubric: RubricSnap
    cases: tuple[CaseSnap, ...]  # queue order
    now: datetime

    def member(self, panelist_id: int) -> MemberSnap | None:
        return next((m for m in self.members if m.panelist_id == panelist_id), None)


SCORE_STEP = Decimal("0.5")  # points are entered in steps of 0.5 (documented in docs and on the sheet)


def sheet_view(sheet: SheetSnap) -> dict:
    return {"id": sheet.id, "status": sheet.status, "status_label": SHEET_STATUS_LABELS[sheet.status],
            "scores": dict(sheet.scores or {}), "total": None if sheet.total is None else fmt(sheet.total),
            "version": sheet.version, "revision": sheet.revision, "submitted_at": iso_utc(sheet.submitted_at),
            "recuse_reason": sheet.recuse_reason, "reopen_reason": sheet.reopen_reason}


def rubric_view(rubric: RubricSnap, step: Decimal = SCORE_STEP) -> dict:
    return {"criteria": [{"id": c.id, "name": c.name, "max": fmt(c.max_points), "descriptors": c.descriptors}
                         for c in rubric.criteria],
            "step": fmt(step), "max_total": fmt(rubric.max_total), "phases": list(rubric.phases or []),
            "spread_threshold": fmt(rubric.spread_threshold), "outlier_threshold": fmt(rubric.outlier_threshold),
            "min_scorers": rubric.min_scorers}


def member_sheets(case: CaseSnap, member_ids) -> list[SheetSnap]:
    """Sheets of the panel's current members (a sheet of someone who left the panel no longer counts)."""
    return [s for s in case.sheets if s.panelist_id in member_ids]


def case_aggregate(sheets: list[SheetSnap], rubric: RubricSnap):
    """(all sheets in?, Aggregate) of these sheets."""
    all_in = bool(sheets) and all(s.status in DONE_SHEET_STATUSES for s in sheets)
    totals = {s.panelist_id: (Decimal(s.total) if s.status == SheetStatus.SUBMITTED else None) for s in sheets}
    agg = aggregate(totals, recused={s.panelist_id for s in sheets if s.status == SheetStatus.RECUSED},
                    min_scorers=rubric.min_scorers, spread_threshold=Decimal(rubric.spread_threshold),
                    outlier_threshold=Decimal(rubric.outlier_threshold))
    return all_in, agg


def case_view(snap: PanelSnapshot, case: CaseSnap, member: MemberSnap) -> dict:
    """One case as one member may see it."""
    phases = snap.rubric.phases or ()
    running = case.phase_index is not None and case.phase_index < len(phases)
    view = {
        "id": case.id, "state": case.state, "state_label": CASE_STATE_LABELS.get(case.state, case.state),
        "locked": case.state in LOCKED_CASE_STATES,
        "queue_order": case.queue_order, "carried_over": case.carried_over, "version": case.version,
        "candidate": {"name": case.candidate_name, "ticket": case.candidate_ticket,
                      "work_unit": case.candidate_work_unit},
        "timer": {"phase_index": case.phase_index,
                  "phase_name": phases[case.phase_index]["name"] if running else None,
                  "phase_seconds": phases[case.phase_index]["seconds"] if running else None,
                  "started_at": iso_utc(case.phase_started_at), "log": list(case.timer_log or [])},
        "score": fmt(case.score) if case.state == CaseState.FINALISED and case.score is not None else None,
    }
    sheets = member_sheets(case, {m.panelist_id for m in snap.members})
    mine = next((s for s in sheets if s.panelist_id == member.panelist_id), None)
    view["my_sheet"] = sheet_view(mine) if mine else None
    if member.is_chair:
        own_done = mine is None or mine.status in DONE_SHEET_STATUSES
        names = {m.panelist_id: m.name for m in snap.members}
        members = []
        for s in sheets:
            entry = {"panelist_id": s.panelist_id, "name": names.get(s.panelist_id, ""), "status": s.status,
                     "status_label": SHEET_STATUS_LABELS[s.status], "sheet_id": s.id,
                     "submitted_at": iso_utc(s.submitted_at), "reopened_count": s.reopened_count}
            if own_done and s.status == SheetStatus.SUBMITTED:
                entry["total"] = fmt(s.total)
            members.append(entry)
        view["members"] = members
        all_in, agg = case_aggregate(sheets, snap.rubric)
        view["all_in"] = all_in
        if all_in and own_done:
            view["aggregate"] = {"score": None if agg.score is None else fmt(agg.score), "error": agg.error,
                                 "dropped_high": agg.dropped_high, "dropped_low": agg.dropped_low,
                                 "flags": list(case.flags or []),
                                 "resolved": case.flags_resolved_at is not None,
                                 "chair_comment": case.chair_comment}
    return view


def room_view(snap: PanelSnapshot, panelist_id: int) -> dict:
    """The whole panel as one member sees it (``KeyError`` when they are not a member)."""
    member = snap.member(panelist_id)
    if member is None:
        raise KeyError(panelist_id)
    running = next((c for c in snap.cases if c.state == CaseState.IN_PROGRESS), None)
    return {"panel": {"id": snap.id, "name": snap.name, "room": snap.room, "meeting_link": snap.meeting_link},
            "me": {"panelist_id": member.panelist_id, "is_chair": member.is_chair, "name": member.name},
            "rubric": rubric_view(snap.rubric), "server_now": iso_utc(snap.now),
            "current_case_id": running.id if running else None,
            "cases": [case_view(snap, c, member) for c in snap.cases]}
