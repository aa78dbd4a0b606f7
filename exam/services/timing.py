"""Exam timing: the server is the clock. Pure functions over naive UTC datetimes.

Deadline = start + duration + the candidate's extra time, never past the session's close.
Late entry closes ``late_entry_minutes`` after the session opens (and never after it closes).
Time runs while a candidate is disconnected: nothing here depends on the client.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

UPCOMING, OPEN, CLOSED = "upcoming", "open", "closed"


class EntryRefused(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def deadline_for(started_at: datetime, duration_minutes: int, extra_minutes: int, closes_at: datetime) -> datetime:
    return min(started_at + timedelta(minutes=duration_minutes + (extra_minutes or 0)), closes_at)


def late_entry_ends(opens_at: datetime, late_entry_minutes: int, closes_at: datetime) -> datetime:
    return min(opens_at + timedelta(minutes=late_entry_minutes or 0), closes_at)


def check_entry(now: datetime, opens_at: datetime, closes_at: datetime, late_entry_minutes: int) -> None:
    """Raise EntryRefused unless a first start is allowed at ``now``."""
    if now < opens_at:
        raise EntryRefused("not_open", "考试尚未开始，请在开考后进入")
    if now >= closes_at:
        raise EntryRefused("session_closed", "本场考试已结束")
    if now > late_entry_ends(opens_at, late_entry_minutes, closes_at):
        raise EntryRefused("late_entry_closed", f"开考 {late_entry_minutes} 分钟后不得入场，已无法开始作答")


def remaining_seconds(now: datetime, deadline_at: datetime) -> int:
    """Whole seconds left (rounded up while time remains; 0 once the deadline has passed)."""
    left = (deadline_at - now).total_seconds()
    return max(0, math.ceil(left))


def is_overdue(now: datetime, deadline_at: datetime) -> bool:
    return now >= deadline_at


def save_allowed(now: datetime, deadline_at: datetime, grace_seconds: int) -> bool:
    """Saves are accepted until the deadline plus a short network grace."""
    return now <= deadline_at + timedelta(seconds=grace_seconds)


def session_phase(now: datetime, opens_at: datetime, closes_at: datetime) -> str:
    if now < opens_at:
        return UPCOMING
    if now < closes_at:
        return OPEN
    return CLOSED


# ------------------------------------------------------------------------------------------- entry status
# The one rule for "may this candidate enter, and what is their status": the candidate's pages, the JSON API
# and the live monitor all read it. Attempt states are the strings of exam.services.attempt_state.

IN_PROGRESS, AUTO_SUBMITTED = "in_progress", "auto_submitted"
NOT_STARTED, CAN_ENTER, NO_PAPER, ABSENT = "not_started", "can_enter", "no_paper", "absent"
STATUS_LABELS = {NOT_STARTED: "未开始", CAN_ENTER: "可以进入", NO_PAPER: "试卷未生成", ABSENT: "缺考",
                 IN_PROGRESS: "作答中", "submitted": "已交卷", AUTO_SUBMITTED: "到时自动交卷",
                 "force_submitted": "强制交卷"}


def shown_state(now: datetime, state: str, deadline_at: datetime, grace_seconds: int) -> str:
    """An attempt's state as it stands now: in progress past its deadline (plus the save grace) is over, even
    before the sweep (or the next write) has closed and graded it. Pages show this; they never write."""
    if state == IN_PROGRESS and not save_allowed(now, deadline_at, grace_seconds):
        return AUTO_SUBMITTED
    return state


@dataclass(frozen=True)
class EntryStatus:
    phase: str                    # the session's: upcoming / open / closed
    late_end: datetime            # when late entry closes
    status: str                   # an attempt state (as shown) or not_started / can_enter / no_paper / absent
    action: str | None            # "continue" | "enter" | "result" | None
    group: str                    # "upcoming" | "open" | "finished" (the candidate's list)
    late_entry_over: bool         # the late-entry window has closed (a candidate who has not started cannot)
    refusal: tuple[str, str] | None = None  # (code, message) why a first start is refused now

    @property
    def label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def can_enter(self) -> bool:
        return self.phase == OPEN and self.action in ("continue", "enter")

    @property
    def monitor_status(self) -> str:
        """The live monitor's column: the attempt's state, else not started or absent."""
        if self.status not in (NOT_STARTED, CAN_ENTER, NO_PAPER, ABSENT):
            return self.status
        return ABSENT if self.late_entry_over else NOT_STARTED


def entry_status(now: datetime, *, opens_at: datetime, closes_at: datetime, late_entry_minutes: int,
                 has_paper: bool, attempt_state: str | None = None, deadline_at: datetime | None = None,
                 grace_seconds: int = 0) -> EntryStatus:
    """May this candidate enter the session now, and what is their status (no attempt: ``attempt_state`` None)."""
    phase = session_phase(now, opens_at, closes_at)
    late_end = late_entry_ends(opens_at, late_entry_minutes, closes_at)
    over = now > late_end
    if attempt_state is not None:
        state = shown_state(now, attempt_state, deadline_at, grace_seconds) if deadline_at else attempt_state
        if state == IN_PROGRESS:
            return EntryStatus(phase, late_end, state, "continue", "finished" if phase == CLOSED else
                               ("open" if phase == OPEN else "upcoming"), over)
        return EntryStatus(phase, late_end, state, "result", "finished", over)
    refusal = None
    try:
        check_entry(now, opens_at, closes_at, late_entry_minutes)
    except EntryRefused as err:
        refusal = (err.code, err.message)
    if refusal is None and not has_paper:
        refusal = ("no_paper", "您的试卷尚未生成，请联系考务人员")
    if phase == UPCOMING:
        return EntryStatus(phase, late_end, NOT_STARTED, None, "upcoming", over, refusal)
    if phase == OPEN and not over and has_paper:
        return EntryStatus(phase, late_end, CAN_ENTER, "enter", "open", over, refusal)
    if phase == OPEN and not has_paper:
        return EntryStatus(phase, late_end, NO_PAPER, None, "finished" if over else "open", over, refusal)
    return EntryStatus(phase, late_end, ABSENT, None, "finished", over, refusal)
