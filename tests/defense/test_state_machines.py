"""The state machines of live scoring, explored by Hypothesis.

- ``TableWalk`` walks the transition tables alone (pure): the locked states are left only by the secretariat's
  reopen, refusals name the state, every state is reachable from ``waiting``.
- ``CaseLifecycle`` drives the real operations on a real panel (3 panelists, 2 candidates) with random actions and
  checks after every step that the database agrees with the tables: an action the table forbids is refused and
  changes nothing; an allowed one that succeeds lands in the table's target state, with its audit entry; locked,
  flagged, the one running case and the defense component (scored / absent / none) stay consistent.
"""
from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from certify.accounts import create_user
from certify.domain import SECRETARIAT
from certify.extensions import db
from certify.models import AuditEntry, ComponentScore
from defense.scoring import operations as ops
from defense.services import machines
from defense.services.states import LOCKED_CASE_STATES, CaseState, SheetStatus
from tests.defense.conftest_scoring import build_panel

# ------------------------------------------------------------------ the tables alone


class TableWalk(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.case = CaseState.WAITING
        self.sheet = SheetStatus.DRAFT
        self.seen = {self.case}

    @rule(action=st.sampled_from(sorted(machines.CASE.transitions)))
    def case_action(self, action):
        before = self.case
        if machines.allowed(machines.CASE, before, action):
            self.case = machines.next_state(machines.CASE, before, action)
            if before in LOCKED_CASE_STATES and self.case != before:
                assert action == "reopen"  # only the secretariat leaves a locked state
            self.seen.add(self.case)
        else:
            with pytest.raises(machines.TransitionRefused) as info:
                machines.next_state(machines.CASE, before, action)
            assert machines.CASE.labels[before] in info.value.message

    @rule(action=st.sampled_from(sorted(machines.SHEET.transitions)))
    def sheet_action(self, action):
        if machines.allowed(machines.SHEET, self.sheet, action):
            self.sheet = machines.next_state(machines.SHEET, self.sheet, action)
        else:
            with pytest.raises(machines.TransitionRefused):
                machines.next_state(machines.SHEET, self.sheet, action)

    @invariant()
    def states_are_known(self):
        assert self.case in {s.value for s in CaseState} and self.sheet in {s.value for s in SheetStatus}
        assert self.sheet != SheetStatus.RECUSED or not machines.actions_from(machines.SHEET, self.sheet)


CASE_STATES_ALL = set(CaseState)
TestTableWalk = TableWalk.TestCase
TestTableWalk.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)


def test_every_case_state_is_reachable_from_waiting_and_absent_is_defined_once():
    reached, frontier = {CaseState.WAITING}, [CaseState.WAITING]
    while frontier:
        state = frontier.pop()
        for action in machines.actions_from(machines.CASE, state, system=True):
            target = machines.next_state(machines.CASE, state, action)
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == CASE_STATES_ALL
    into_absent = [a for a, t in machines.CASE.transitions.items()
                   if any(t.target(s) == CaseState.ABSENT for s in t.sources)]
    assert into_absent == ["absent"]


# ------------------------------------------------------------------ the operations against the tables

_counter = itertools.count(1)
CASE_STATES = {s.value for s in CaseState}
SHEET_STATUSES = {s.value for s in SheetStatus}
TOTALS = (Decimal("60"), Decimal("82"), Decimal("85"), Decimal("90"))  # 60 against 85/90 raises a flag


def _scores(criteria, total: Decimal) -> dict:
    a = min(total, Decimal(30))
    b = min(Decimal(30), total - a)
    return dict(zip(criteria, [str(a), str(b), str(total - a - b)]))


class CaseLifecycle(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        n = next(_counter)
        self.setup = build_panel(members=3, candidates=2, prefix=f"h{n}-", round_code=f"2024-h{n}",
                                 panel_name=f"组{n}")
        self.secretariat, _ = create_user(f"sec-h{n}", SECRETARIAT, password="x" * 12, generated=False)
        self.case_ids = [c.id for c in ops.ensure_cases(self.setup.panel)]
        self.criteria = [str(c.id) for c in ops.get_rubric(self.setup.round.id).criteria]
        db.session.commit()

    def teardown(self):
        db.session.rollback()

    # -- helpers

    def case(self, i):
        return db.session.get(ops.DefenseCase, self.case_ids[i])

    def sheet(self, i, m):
        return sorted(self.case(i).sheets, key=lambda s: s.panelist_id)[m]

    def _last_audit(self):
        return db.session.execute(db.select(db.func.max(AuditEntry.id))).scalar() or 0

    def attempt(self, obj_of, action, run, machine=machines.CASE):
        """Run one operation; check it against the table. ``obj_of()`` gives the case or sheet it changes."""
        obj = obj_of()
        state_of = (lambda o: o.state) if machine is machines.CASE else (lambda o: o.status)
        before, last = state_of(obj), self._last_audit()
        allowed = machines.allowed(machine, before, action)
        try:
            run()
        except ops.ScoringError:
            db.session.rollback()
            assert state_of(obj_of()) == before  # a refusal changes nothing
            return
        db.session.commit()
        assert allowed, f"{action} from {before} succeeded but the table forbids it"
        after = state_of(obj_of())
        expected = machines.next_state(machine, before, action)
        if machine is machines.CASE and expected in (CaseState.SCORING, CaseState.FLAGGED):
            assert after in (CaseState.SCORING, CaseState.FLAGGED)  # the flag rule settles between the two
        else:
            assert after == expected, (action, before, after)
        name = machine.transitions[action].audit
        if name:  # the transition is audited, with the states before and after when they differ
            entry = db.session.execute(db.select(AuditEntry).where(AuditEntry.id > last, AuditEntry.action == name)
                                       ).scalars().one()
            if after != before:
                assert entry.detail[f"{machine.name}_state"] == {"from": str(before), "to": str(expected)}

    # -- the chair

    @rule(i=st.integers(0, 1))
    def check_in(self, i):
        self.attempt(lambda: self.case(i), "check_in", lambda: ops.check_in(self.case(i)))

    @rule(i=st.integers(0, 1))
    def absent(self, i):
        self.attempt(lambda: self.case(i), "absent", lambda: ops.mark_absent(self.case(i)))

    @rule(i=st.integers(0, 1))
    def carry_over(self, i):
        self.attempt(lambda: self.case(i), "carry_over", lambda: ops.carry_over(self.case(i)))

    @rule()
    def call_next(self):
        nxt = next((i for i in sorted(range(2), key=lambda i: (self.case(i).queue_order, self.case_ids[i]))
                    if self.case(i).state == CaseState.CHECKED_IN), 0)
        self.attempt(lambda: self.case(nxt), "call", lambda: ops.call_next(self.setup.panel))

    @rule(i=st.integers(0, 1), phase=st.integers(0, 1))
    def start_phase(self, i, phase):
        self.attempt(lambda: self.case(i), "start_phase", lambda: ops.start_phase(self.case(i), phase))

    @rule(i=st.integers(0, 1))
    def stop_phase(self, i):
        self.attempt(lambda: self.case(i), "stop_phase", lambda: ops.stop_phase(self.case(i)))

    @rule(i=st.integers(0, 1))
    def end(self, i):
        self.attempt(lambda: self.case(i), "end", lambda: ops.end_defense(self.case(i)))

    @rule(i=st.integers(0, 1))
    def confirm(self, i):
        self.attempt(lambda: self.case(i), "confirm", lambda: ops.confirm_flags(self.case(i), "维持原评分"))

    @rule(i=st.integers(0, 1))
    def finalise(self, i):
        self.attempt(lambda: self.case(i), "finalise", lambda: ops.finalise(self.case(i)))

    @rule(i=st.integers(0, 1))
    def secretariat_reopen(self, i):
        self.attempt(lambda: self.case(i), "reopen",
                     lambda: ops.secretariat_reopen(self.case(i), "复核", self.secretariat))

    @rule(i=st.integers(0, 1), totals=st.lists(st.sampled_from(TOTALS), min_size=3, max_size=3))
    def advance(self, i, totals):
        """One step along the usual path (so that the walk reaches scoring, flags and finalisation)."""
        case = self.case(i)
        if case.state == CaseState.WAITING:
            self.check_in(i)
        elif case.state == CaseState.CHECKED_IN:
            self.call_next()
        elif case.state == CaseState.IN_PROGRESS:
            self.end(i)
        elif case.state == CaseState.FLAGGED:
            self.confirm(i)
        elif case.state == CaseState.SCORING:
            open_sheets = [m for m in range(3) if self.sheet(i, m).status in (SheetStatus.DRAFT, SheetStatus.REOPENED)]
            if open_sheets:
                for m in open_sheets:
                    self.submit(i, m, totals[m])
            else:
                self.finalise(i)
        else:
            self.secretariat_reopen(i)

    # -- the panelists' sheets

    @rule(i=st.integers(0, 1), m=st.integers(0, 2), total=st.sampled_from(TOTALS))
    def submit(self, i, m, total):
        self.attempt(lambda: self.sheet(i, m), "submit",
                     lambda: ops.submit_sheet(self.sheet(i, m), _scores(self.criteria, total),
                                              self.sheet(i, m).version), machines.SHEET)

    @rule(i=st.integers(0, 1), m=st.integers(0, 2))
    def recuse(self, i, m):
        self.attempt(lambda: self.sheet(i, m), "recuse", lambda: ops.recuse(self.sheet(i, m), "临时回避"),
                     machines.SHEET)

    @rule(i=st.integers(0, 1), m=st.integers(0, 2))
    def reopen_sheet(self, i, m):
        self.attempt(lambda: self.sheet(i, m), "reopen", lambda: ops.reopen_sheet(self.sheet(i, m), "请复核"),
                     machines.SHEET)

    # -- what must always hold

    @invariant()
    def consistent(self):
        if not hasattr(self, "case_ids"):
            return
        running = 0
        for i in range(len(self.case_ids)):
            case = self.case(i)
            assert case.state in CASE_STATES
            assert case.locked == (case.state in LOCKED_CASE_STATES)
            assert all(s.status in SHEET_STATUSES for s in case.sheets)
            running += case.state == CaseState.IN_PROGRESS
            if case.state == CaseState.FLAGGED:
                assert case.flags and case.flags_resolved_at is None
            component = db.session.execute(db.select(ComponentScore).filter_by(
                candidate_id=case.candidate_id, component="defense")).scalar_one_or_none()
            if case.state == CaseState.FINALISED:
                assert component is not None and component.status == "scored" and component.score == case.score
            elif case.state == CaseState.ABSENT:
                assert component is not None and component.status == "absent" and case.score is None
            else:
                assert component is None and case.score is None
        assert running <= 1
        REACHED.update(str(self.case(i).state) for i in range(len(self.case_ids)))


REACHED: set = set()


def test_operations_follow_the_case_and_sheet_tables(ctx):
    REACHED.clear()
    run_state_machine_as_test(CaseLifecycle, settings=settings(
        max_examples=15, stateful_step_count=40, deadline=None, derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
    assert REACHED == {s.value for s in CaseState}, REACHED  # the walk explored every state
