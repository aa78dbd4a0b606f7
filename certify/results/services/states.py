"""The life of a level's result set, as data: its states, the actions on it and the transition table. Pure.

A level has no result set until it is first confirmed; that counts as ``draft``. ``confirm`` freezes the live
computation (entries, quota, cut line); ``reopen`` (with a reason) unfreezes it. Publication belongs to the
round (every level with candidates confirmed), and reopening a level withdraws it.
"""
from __future__ import annotations

from enum import StrEnum


class ResultSetState(StrEnum):
    DRAFT = "draft"          # computed live from the component scores (never confirmed, or reopened)
    CONFIRMED = "confirmed"  # frozen: later component changes do not alter it


class ResultSetAction(StrEnum):
    CONFIRM = "confirm"
    REOPEN = "reopen"


TRANSITIONS: dict[tuple[ResultSetState, ResultSetAction], ResultSetState] = {
    (ResultSetState.DRAFT, ResultSetAction.CONFIRM): ResultSetState.CONFIRMED,
    (ResultSetState.CONFIRMED, ResultSetAction.REOPEN): ResultSetState.DRAFT,
}
REASON_REQUIRED = frozenset({ResultSetAction.REOPEN})


class TransitionRefused(ValueError):
    """``action`` is not allowed from ``state`` (or lacks its reason); ``missing_reason`` tells which."""

    def __init__(self, state: ResultSetState, action: ResultSetAction, *, missing_reason: bool = False):
        self.state, self.action, self.missing_reason = state, action, missing_reason
        super().__init__(f"{action} needs a reason" if missing_reason else f"cannot {action} from {state}")


def next_state(state: str | None, action: str, reason: str = "") -> ResultSetState:
    """The state ``action`` leads to from ``state`` (None: no result set yet, i.e. draft), or TransitionRefused."""
    current = ResultSetState(state or ResultSetState.DRAFT)
    act = ResultSetAction(action)
    if act in REASON_REQUIRED and not (reason or "").strip():
        raise TransitionRefused(current, act, missing_reason=True)
    try:
        return TRANSITIONS[(current, act)]
    except KeyError:
        raise TransitionRefused(current, act) from None


def allowed_actions(state: str | None) -> list[ResultSetAction]:
    current = ResultSetState(state or ResultSetState.DRAFT)
    return [act for (st, act) in TRANSITIONS if st == current]
