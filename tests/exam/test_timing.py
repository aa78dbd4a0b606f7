"""Exam timing (pure): deadline with extra time capped at the close, late entry, grace, remaining time."""
from datetime import datetime, timedelta

import pytest

from exam.services.timing import (
    EntryRefused,
    check_entry,
    deadline_for,
    late_entry_ends,
    remaining_seconds,
    save_allowed,
    session_phase,
)

OPENS = datetime(2024, 6, 1, 1, 0)
CLOSES = datetime(2024, 6, 1, 4, 0)


def test_deadline_is_start_plus_duration_plus_extra():
    assert deadline_for(OPENS, 90, 15, CLOSES) == OPENS + timedelta(minutes=105)


def test_deadline_never_passes_the_close():
    start = CLOSES - timedelta(minutes=30)
    assert deadline_for(start, 90, 0, CLOSES) == CLOSES
    assert deadline_for(OPENS, 170, 30, CLOSES) == CLOSES


def test_late_entry_closes_after_the_configured_minutes():
    check_entry(OPENS + timedelta(minutes=30), OPENS, CLOSES, 30)
    with pytest.raises(EntryRefused) as err:
        check_entry(OPENS + timedelta(minutes=30, seconds=1), OPENS, CLOSES, 30)
    assert err.value.code == "late_entry_closed"
    assert late_entry_ends(OPENS, 600, CLOSES) == CLOSES


def test_entry_before_open_and_after_close_is_refused():
    with pytest.raises(EntryRefused) as err:
        check_entry(OPENS - timedelta(seconds=1), OPENS, CLOSES, 30)
    assert err.value.code == "not_open"
    with pytest.raises(EntryRefused) as err:
        check_entry(CLOSES, OPENS, CLOSES, 600)
    assert err.value.code == "session_closed"


def test_remaining_seconds_rounds_up_and_stops_at_zero():
    deadline = OPENS + timedelta(minutes=1)
    assert remaining_seconds(OPENS, deadline) == 60
    assert remaining_seconds(OPENS + timedelta(milliseconds=500), deadline) == 60
    assert remaining_seconds(deadline + timedelta(seconds=5), deadline) == 0


def test_saves_allowed_within_grace_only():
    assert save_allowed(OPENS + timedelta(seconds=5), OPENS, 5)
    assert not save_allowed(OPENS + timedelta(seconds=5, milliseconds=1), OPENS, 5)


def test_session_phase():
    assert session_phase(OPENS - timedelta(seconds=1), OPENS, CLOSES) == "upcoming"
    assert session_phase(OPENS, OPENS, CLOSES) == "open"
    assert session_phase(CLOSES, OPENS, CLOSES) == "closed"
