"""The result set's state machine: the table (pure), and the operations driven at random against the database
(Hypothesis ``RuleBasedStateMachine``): every move the table allows happens, is stamped and audited once; every
other move is refused and, rolled back as the unit of work does, leaves nothing behind."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from certify.extensions import db
from certify.models import AuditEntry, Candidate, ComponentScore
from certify.results import operations as ops
from certify.results.models import PublicityPeriod, ResultEntry, ResultSet
from certify.results.services.states import (
    TRANSITIONS,
    ResultSetAction,
    ResultSetState,
    TransitionRefused,
    allowed_actions,
    next_state,
)
from certify.scores import record_component

DRAFT, CONFIRMED = ResultSetState.DRAFT, ResultSetState.CONFIRMED
CONFIRM, REOPEN = ResultSetAction.CONFIRM, ResultSetAction.REOPEN


# ------------------------------------------------------------------ the table (pure)

def test_the_table_allows_exactly_confirm_from_draft_and_reopen_from_confirmed():
    assert TRANSITIONS == {(DRAFT, CONFIRM): CONFIRMED, (CONFIRMED, REOPEN): DRAFT}
    assert next_state(None, "confirm") == CONFIRMED  # no result set yet counts as draft
    assert next_state("confirmed", "reopen", "复核") == DRAFT
    with pytest.raises(TransitionRefused) as info:
        next_state("confirmed", "confirm")
    assert not info.value.missing_reason
    with pytest.raises(TransitionRefused):
        next_state("draft", "reopen", "复核")
    with pytest.raises(TransitionRefused) as info:
        next_state("confirmed", "reopen", "   ")
    assert info.value.missing_reason
    assert allowed_actions(None) == [CONFIRM] and allowed_actions("confirmed") == [REOPEN]
    with pytest.raises(ValueError):
        next_state("published", "confirm")


def test_transition_refuses_moves_outside_the_table_with_the_page_texts(ctx, make_round, scored):
    rnd = make_round("2024-cq", "重庆")
    scored(rnd, "初级", exam=80, record=80)
    with pytest.raises(ops.ResultsError, match="成绩尚未确认，无需重新开放") as info:
        ops.reopen(rnd, "初级", "复核")
    assert (info.value.code, info.value.status) == ("not_confirmed", 409)
    rs = ops.confirm(rnd, "初级")
    assert rs.state == CONFIRMED and rs.confirmed_at is not None
    with pytest.raises(ops.ResultsError, match="成绩已确认；如需重新计算"):
        ops.transition(rs, CONFIRM)
    with pytest.raises(ops.ResultsError, match="重新开放须填写理由"):
        ops.transition(rs, REOPEN, reason=" ")
    ops.transition(rs, REOPEN, reason="复核")
    assert rs.state == DRAFT and rs.confirmed_at is None and rs.confirmed_by_id is None
    entry = db.session.execute(db.select(AuditEntry).filter_by(action="results.reopen")).scalar_one()
    assert entry.reason == "复核" and entry.detail["level"] == "初级"


# ------------------------------------------------------------------ the machine against the database

LEVELS = ("初级", "中级")
WORKING_DAYS = 5


def _count(model, **where) -> int:
    return db.session.execute(db.select(db.func.count()).select_from(model).filter_by(**where)).scalar()


class ResultSetMachine(RuleBasedStateMachine):
    """Model: each level's state, whether the round is published, whether a 中级 component is missing."""

    rnd = None  # set by the test: a Chongqing round with 初级 and 中级 candidates

    def __init__(self):
        super().__init__()
        db.session.rollback()
        for model in (ResultEntry, ResultSet, PublicityPeriod):
            db.session.execute(db.delete(model))
        # the audit trail is append-only (a trigger on PostgreSQL refuses DELETE): a fresh trail is a TRUNCATE there
        db.session.execute(db.text("TRUNCATE audit_entries") if db.engine.dialect.name == "postgresql"
                           else db.delete(AuditEntry))
        self.lacking = db.session.execute(db.select(Candidate).filter_by(round_id=self.rnd.id, level="中级")
                                          .order_by(Candidate.id)).scalars().first()
        record_component(self.lacking, "record", Decimal(75), source="test")
        db.session.commit()
        self.state = {level: DRAFT for level in LEVELS}
        self.published = False
        self.missing = False
        self.audits = {"results.confirm": 0, "results.reopen": 0, "results.publish": 0, "results.unpublish": 0}

    def _attempt(self, fn, allowed: bool) -> bool:
        """Run an operation as a request would: commit on success, roll back on refusal."""
        if allowed:
            fn()
            db.session.commit()
            return True
        with pytest.raises(ops.ResultsError):
            fn()
        db.session.rollback()
        return False

    @rule(level=st.sampled_from(LEVELS))
    def confirm(self, level):
        allowed = self.state[level] == DRAFT and not (level == "中级" and self.missing)
        if self._attempt(lambda: ops.confirm(self.rnd, level), allowed):
            self.state[level] = CONFIRMED
            self.audits["results.confirm"] += 1

    @rule(level=st.sampled_from(LEVELS), reason=st.sampled_from(["", "   ", "复核后重新计算"]))
    def reopen(self, level, reason):
        allowed = self.state[level] == CONFIRMED and bool(reason.strip())
        if self._attempt(lambda: ops.reopen(self.rnd, level, reason), allowed):
            self.state[level] = DRAFT
            self.audits["results.reopen"] += 1
            if self.published:
                self.audits["results.unpublish"] += 1
            self.published = False

    @rule()
    def publish(self):
        allowed = all(s == CONFIRMED for s in self.state.values())
        if self._attempt(lambda: ops.publish(self.rnd, date(2024, 7, 1), WORKING_DAYS), allowed):
            self.published = True
            self.audits["results.publish"] += 1

    @rule()
    def confirm_every_level_then_publish(self):
        """The usual path in one step, so that published rounds (and reopening them) are explored often."""
        for level in LEVELS:
            if self.state[level] == DRAFT:
                self.confirm(level)
        self.publish()

    @rule()
    def toggle_missing_component(self):
        """A component score appears or disappears (frozen levels do not change; a draft one cannot confirm)."""
        if self.missing:
            record_component(self.lacking, "record", Decimal(75), source="test")
        else:
            db.session.execute(db.delete(ComponentScore).filter_by(candidate_id=self.lacking.id,
                                                                    component="record"))
        db.session.commit()
        self.missing = not self.missing

    @invariant()
    def database_matches_the_model(self):
        for level in LEVELS:
            rs = ops.result_set_for(self.rnd, level)
            state = ResultSetState(rs.state) if rs is not None else DRAFT
            assert state == self.state[level], level
            entries = 0 if rs is None else _count(ResultEntry, result_set_id=rs.id)
            if state == CONFIRMED:
                assert entries == _count(Candidate, round_id=self.rnd.id, level=level)
                assert rs.confirmed_at is not None
            else:
                assert entries == 0 and (rs is None or rs.confirmed_at is None)
        period = ops.publication_for(self.rnd)
        assert (period is not None) == self.published
        if period is not None:
            assert all(s == CONFIRMED for s in self.state.values())

    @invariant()
    def every_move_is_audited_once_and_refusals_never(self):
        for action, n in self.audits.items():
            assert _count(AuditEntry, action=action) == n, action


def test_result_set_state_machine(ctx, make_round, make_candidate):
    rnd = make_round("2024-cq", "重庆")
    for level, exam, defense, record in (("初级", 80, None, 70), ("初级", 60, None, 90), ("中级", 70, 80, None),
                                         ("中级", 90, 60, 80)):
        cand = make_candidate(rnd, level)
        for component, value in (("exam", exam), ("defense", defense), ("record", record)):
            if value is not None:
                record_component(cand, component, Decimal(value), source="test")
    db.session.commit()
    ResultSetMachine.rnd = rnd
    run_state_machine_as_test(ResultSetMachine, settings=settings(
        max_examples=30, stateful_step_count=15, deadline=None, derandomize=True,
        suppress_health_check=[HealthCheck.too_slow]))
