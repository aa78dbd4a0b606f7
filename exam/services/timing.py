"""Exam timing: the server is the clock. Pure functions over naive UTC datetimes.

Deadline = start + duration + the candidate's extra time, never past the session's close.
Late entry closes ``late_entry_minutes`` after the session opens (and never after it closes).
Time runs while a candidate is disconnected: nothing here depends on the client.
"""
from __future__ import annotations

import math
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
