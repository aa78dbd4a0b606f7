"""The one entry rule (pure): may this candidate enter, and what is their status — read by the candidate pages,
the JSON API and the live monitor alike."""
from datetime import datetime, timedelta

import pytest

from exam.services import timing

OPENS = datetime(2024, 6, 1, 9, 0)
CLOSES = OPENS + timedelta(hours=3)


def status(now, *, state=None, deadline=None, has_paper=True, grace=5):
    return timing.entry_status(now, opens_at=OPENS, closes_at=CLOSES, late_entry_minutes=30, has_paper=has_paper,
                               attempt_state=state, deadline_at=deadline, grace_seconds=grace)


@pytest.mark.parametrize("minutes, has_paper, expected, action, group, monitor", [
    (-10, True, "not_started", None, "upcoming", "not_started"),
    (0, True, "can_enter", "enter", "open", "not_started"),
    (30, True, "can_enter", "enter", "open", "not_started"),
    (31, True, "absent", None, "finished", "absent"),
    (10, False, "no_paper", None, "open", "not_started"),
    (40, False, "no_paper", None, "finished", "absent"),
    (200, True, "absent", None, "finished", "absent"),
])
def test_without_an_attempt(minutes, has_paper, expected, action, group, monitor):
    entry = status(OPENS + timedelta(minutes=minutes), has_paper=has_paper)
    assert (entry.status, entry.action, entry.group, entry.monitor_status) == (expected, action, group, monitor)
    assert entry.can_enter == (action == "enter")
    assert entry.late_end == OPENS + timedelta(minutes=30)


def test_refusals_name_the_reason_a_first_start_is_refused():
    assert status(OPENS - timedelta(minutes=1)).refusal[0] == "not_open"
    assert status(OPENS + timedelta(minutes=31)).refusal[0] == "late_entry_closed"
    assert status(CLOSES).refusal[0] == "session_closed"
    assert status(OPENS + timedelta(minutes=5), has_paper=False).refusal == ("no_paper", "您的试卷尚未生成，请联系考务人员")
    assert status(OPENS + timedelta(minutes=5)).refusal is None


def test_an_attempt_in_progress_continues_until_its_deadline_plus_grace():
    deadline = OPENS + timedelta(minutes=70)
    during = status(OPENS + timedelta(minutes=50), state="in_progress", deadline=deadline)
    assert (during.status, during.action, during.group, during.can_enter) == ("in_progress", "continue", "open", True)
    assert during.label == "作答中" and during.monitor_status == "in_progress"
    in_grace = status(deadline + timedelta(seconds=5), state="in_progress", deadline=deadline)
    assert in_grace.status == "in_progress"
    # Past deadline + grace it is shown closed (auto-submitted) before the sweep has graded it: a page never writes.
    over = status(deadline + timedelta(seconds=6), state="in_progress", deadline=deadline)
    assert (over.status, over.action, over.group, over.can_enter) == ("auto_submitted", "result", "finished", False)
    assert over.monitor_status == "auto_submitted"


@pytest.mark.parametrize("state", ["submitted", "auto_submitted", "force_submitted"])
def test_a_closed_attempt_shows_its_result(state):
    entry = status(OPENS + timedelta(minutes=10), state=state, deadline=OPENS + timedelta(minutes=70))
    assert (entry.status, entry.action, entry.group, entry.monitor_status) == (state, "result", "finished", state)
    assert not entry.can_enter


def test_shown_state_leaves_closed_states_alone():
    late = OPENS + timedelta(hours=5)
    assert timing.shown_state(late, "submitted", OPENS, 5) == "submitted"
    assert timing.shown_state(late, "in_progress", OPENS, 5) == "auto_submitted"
    assert timing.shown_state(OPENS, "in_progress", OPENS, 0) == "in_progress"
