"""The attempt state machine, pure: the states, the actions and one transition table.

``TRANSITIONS[(state, action)]`` is the new state; a pair not in the table is refused. ``NOT_STARTED`` and
``ABSENT`` are the states of an assignment without an attempt row (a candidate who never started): starting
creates the attempt in progress, the sweep records the never-started as absent once the session has closed.
``exam.delivery.lifecycle.transition`` applies the table to a stored attempt (checks, stamps, audits).
"""
from __future__ import annotations

from enum import StrEnum


class AttemptState(StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"
    AUTO_SUBMITTED = "auto_submitted"
    FORCE_SUBMITTED = "force_submitted"
    ABSENT = "absent"


class Action(StrEnum):
    START = "start"
    SUBMIT = "submit"            # the candidate hands in
    AUTO_CLOSE = "auto_close"    # the deadline passed (the sweep, or the first request after it)
    FORCE_SUBMIT = "force_submit"  # the secretariat closes it
    REOPEN = "reopen"            # the secretariat reopens a closed attempt
    MARK_ABSENT = "mark_absent"  # the session closed and the candidate never started


S, A = AttemptState, Action
CLOSED = frozenset({S.SUBMITTED, S.AUTO_SUBMITTED, S.FORCE_SUBMITTED})
STORED = (S.IN_PROGRESS, S.SUBMITTED, S.AUTO_SUBMITTED, S.FORCE_SUBMITTED)  # states an attempt row can hold

TRANSITIONS: dict[tuple[AttemptState, Action], AttemptState] = {
    (S.NOT_STARTED, A.START): S.IN_PROGRESS,
    (S.NOT_STARTED, A.MARK_ABSENT): S.ABSENT,
    (S.IN_PROGRESS, A.SUBMIT): S.SUBMITTED,
    (S.IN_PROGRESS, A.AUTO_CLOSE): S.AUTO_SUBMITTED,
    (S.IN_PROGRESS, A.FORCE_SUBMIT): S.FORCE_SUBMITTED,
    **{(closed, A.REOPEN): S.IN_PROGRESS for closed in CLOSED},
}

# Why a pair is refused, per action (code, message): what the person who asked is told.
REFUSALS: dict[Action, tuple[str, str]] = {
    A.START: ("attempt_closed", "您已交卷，不能再次作答"),
    A.SUBMIT: ("attempt_closed", "本场考试已交卷"),
    A.AUTO_CLOSE: ("attempt_closed", "本场考试已交卷"),
    A.FORCE_SUBMIT: ("attempt_closed", "该考生已交卷"),
    A.REOPEN: ("not_closed", "该考生仍在作答中，无需重新开放"),
    A.MARK_ABSENT: ("already_started", "该考生已开始作答，不能记为缺考"),
}


class IllegalTransition(Exception):
    def __init__(self, state: str, action: str):
        self.state, self.action = AttemptState(state), Action(action)
        self.code, self.message = REFUSALS[self.action]
        super().__init__(f"{self.action} is not allowed in state {self.state}")


def next_state(state: str, action: str) -> AttemptState:
    """The state after ``action``, or IllegalTransition."""
    new = TRANSITIONS.get((AttemptState(state), Action(action)))
    if new is None:
        raise IllegalTransition(state, action)
    return new


def allowed(state: str, action: str) -> bool:
    return (AttemptState(state), Action(action)) in TRANSITIONS
