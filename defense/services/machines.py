"""The state machines of live defense scoring: one transition table per machine (pure: no Flask, no database).

A case (one candidate's defense)::

    waiting ──check_in──▶ checked_in ──call / start_phase──▶ in_progress ──end──▶ scoring ⇄ flagged
       │  ▲                   │                                (start_phase, stop_phase)   (flag / unflag, confirm)
       │  └──── reopen ───┐   │                                                        │
       └──absent──▶ absent ◀──┘                                    scoring / flagged ──finalise──▶ finalised
                                                                   finalised ──reopen──▶ scoring

``carry_over`` (a late candidate goes to the end of the queue) keeps the state and sets the case's
``carried_over`` mark: a carried-over case is a waiting or checked-in case, not a state of its own.
``absent`` and ``finalised`` are the locked states (``states.LOCKED_CASE_STATES``); only the secretariat's
``reopen`` leaves them.

A score sheet::

    draft ──save_draft──▶ draft     draft / reopened ──submit──▶ submitted ──reopen──▶ reopened
    draft / reopened ──recuse──▶ recused

``next_state(machine, state, action)`` answers the target state or raises ``TransitionRefused``; the database side
(``defense.scoring.operations.transition``) checks with it, then stamps and audits.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .states import CASE_STATE_LABELS, SHEET_STATUS_LABELS, CaseState, SheetStatus


@dataclass(frozen=True)
class Transition:
    """An action allowed from ``sources``; ``to`` is the target (``None``: the state stays), or per source."""

    sources: frozenset
    to: str | None | dict = None
    verb: str = ""  # the refusal names it: 考生当前状态为「…」，不能{verb}
    audit: str | None = None  # the audit action ("defense.…"); None: not audited by the transition
    system: bool = False  # taken by the rules (flags), never requested by a user

    def target(self, state: str) -> str:
        if isinstance(self.to, dict):
            return self.to[state]
        return state if self.to is None else self.to


@dataclass(frozen=True)
class Machine:
    name: str
    transitions: dict[str, Transition]
    labels: dict = field(default_factory=dict)
    noun: str = "状态"


class TransitionRefused(Exception):
    def __init__(self, machine: Machine, state: str, action: str):
        self.machine, self.state, self.action = machine, state, action
        known = machine.transitions.get(action)
        label = machine.labels.get(state, state)
        if known is None:
            message = f"未知的操作 {action}"
        elif machine.name == "case":
            message = f"考生当前状态为「{label}」，不能{known.verb}"
        else:
            message = f"评分表状态为「{label}」，不能{known.verb}"
        super().__init__(message)
        self.message = message


W, C, P, S, F, X, A = (CaseState.WAITING, CaseState.CHECKED_IN, CaseState.IN_PROGRESS, CaseState.SCORING,
                       CaseState.FLAGGED, CaseState.FINALISED, CaseState.ABSENT)

CASE = Machine("case", {
    "check_in": Transition(frozenset({W}), C, "签到", "defense.check_in"),
    "absent": Transition(frozenset({W, C}), A, "记为缺考", "defense.absent"),
    "carry_over": Transition(frozenset({W, C}), None, "顺延", "defense.carry_over"),
    "call": Transition(frozenset({C}), P, "叫号", "defense.call"),
    "start_phase": Transition(frozenset({C, P}), P, "开始计时", "defense.timer_start"),
    "stop_phase": Transition(frozenset({P}), None, "停止计时", "defense.timer_stop"),
    "end": Transition(frozenset({P}), S, "结束答辩", "defense.end"),
    "flag": Transition(frozenset({S}), F, "标记分差", None, system=True),
    "unflag": Transition(frozenset({F}), S, "撤销分差标记", None, system=True),
    "confirm": Transition(frozenset({F}), S, "确认分差", "defense.flags_confirm"),
    "finalise": Transition(frozenset({S, F}), X, "确定成绩", "defense.finalise"),
    "reopen": Transition(frozenset({X, A}), {X: S, A: W}, "重新开放", "defense.reopen"),
}, CASE_STATE_LABELS)

D, U, R, Q = SheetStatus.DRAFT, SheetStatus.SUBMITTED, SheetStatus.REOPENED, SheetStatus.RECUSED

SHEET = Machine("sheet", {
    "save_draft": Transition(frozenset({D, R}), None, "修改"),
    "submit": Transition(frozenset({D, R}), U, "提交", "defense.sheet_submit"),
    "recuse": Transition(frozenset({D, R}), Q, "回避", "defense.recuse"),
    "reopen": Transition(frozenset({U}), R, "退回重评", "defense.sheet_reopen"),
}, SHEET_STATUS_LABELS)


def allowed(machine: Machine, state: str, action: str) -> bool:
    t = machine.transitions.get(action)
    return t is not None and state in t.sources


def next_state(machine: Machine, state: str, action: str) -> str:
    """The state after ``action`` from ``state``; ``TransitionRefused`` when the table has no such edge."""
    if not allowed(machine, state, action):
        raise TransitionRefused(machine, state, action)
    return machine.transitions[action].target(state)


def actions_from(machine: Machine, state: str, *, system: bool = False) -> list[str]:
    """The actions a user (or, with ``system``, the rules) may take from ``state``."""
    return [a for a, t in machine.transitions.items() if state in t.sources and (system or not t.system)]
