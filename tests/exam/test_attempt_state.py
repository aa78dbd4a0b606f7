"""The attempt state machine: the pure transition table (Hypothesis RuleBasedStateMachine) and every
(state, action) pair applied to a stored attempt through operations.transition."""
from datetime import timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import select

from certify.clock import utcnow
from certify.extensions import db
from certify.models import AuditEntry
from exam.delivery import operations as ops
from exam.services.attempt_state import (
    CLOSED,
    STORED,
    TRANSITIONS,
    Action,
    AttemptState,
    IllegalTransition,
    allowed,
    next_state,
)

S, A = AttemptState, Action


class AttemptMachine(RuleBasedStateMachine):
    """A model attempt driven by random actions: only the table moves it, and its history stays consistent."""

    @initialize()
    def fresh(self):
        self.state = S.NOT_STARTED
        self.closes = 0
        self.reopens = 0

    @rule(action=st.sampled_from(list(Action)))
    def act(self, action):
        if allowed(self.state, action):
            new = next_state(self.state, action)
            assert new == TRANSITIONS[(self.state, action)]
            if new in CLOSED:
                assert self.state == S.IN_PROGRESS
                self.closes += 1
            if action == A.REOPEN:
                assert self.state in CLOSED
                self.reopens += 1
            self.state = new
        else:
            before = self.state
            with pytest.raises(IllegalTransition) as err:
                next_state(self.state, action)
            assert err.value.code and err.value.message
            assert self.state == before

    @invariant()
    def consistent(self):
        # Terminal: absent only from never started; every reopen follows a close; at most one close more than reopens.
        if self.state == S.ABSENT:
            assert self.closes == 0
        assert self.reopens <= self.closes <= self.reopens + 1
        assert (self.state in CLOSED) == (self.closes == self.reopens + 1)


TestAttemptMachine = AttemptMachine.TestCase
TestAttemptMachine.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)


def test_the_table_only_moves_stored_attempts_between_stored_states():
    for (state, _action), new in TRANSITIONS.items():
        if state in STORED:
            assert new in STORED
        if new in CLOSED:
            assert state == S.IN_PROGRESS
    assert not any(allowed(S.ABSENT, a) for a in Action)
    assert not any(allowed(c, a) for c in CLOSED for a in Action if a != A.REOPEN)


ACTIONS = [A.SUBMIT, A.AUTO_CLOSE, A.FORCE_SUBMIT, A.REOPEN]


@pytest.mark.parametrize("state", list(STORED))
def test_every_pair_on_a_stored_attempt(make_user, make_exam_session, state):
    """Each (state, action) on a real attempt: the table's move with its stamps and audit, or a 409 that changes
    nothing."""
    secretary = make_user("secretariat")
    session = make_exam_session(candidates=len(ACTIONS))
    for cand, action in zip(session.candidates_made, ACTIONS):
        attempt, _ = ops.start_attempt(session, cand)
        db.session.commit()
        if state in CLOSED:
            ops.transition(ops.locked(attempt), {S.SUBMITTED: A.SUBMIT, S.AUTO_SUBMITTED: A.AUTO_CLOSE,
                                                 S.FORCE_SUBMITTED: A.FORCE_SUBMIT}[state], actor=secretary,
                           reason="准备")
            db.session.commit()
        audits = db.session.scalar(select(db.func.count(AuditEntry.id)))
        deadline = utcnow() + timedelta(minutes=20)
        if allowed(state, action):
            new = ops.transition(ops.locked(attempt), action, actor=secretary, reason="测试", deadline_at=deadline)
            db.session.commit()
            assert attempt.state == new == TRANSITIONS[(state, action)]
            if new in CLOSED:
                assert attempt.submitted_at is not None and attempt.score is not None and attempt.graded_at
            else:
                assert attempt.deadline_at == deadline and attempt.score is None and attempt.submitted_at is None
            assert db.session.scalar(select(db.func.count(AuditEntry.id))) > audits
        else:
            with pytest.raises(ops.ExamError) as err:
                ops.transition(ops.locked(attempt), action, actor=secretary, reason="测试", deadline_at=deadline)
            db.session.rollback()
            assert err.value.status == 409
            db.session.refresh(attempt)
            assert attempt.state == state
            assert db.session.scalar(select(db.func.count(AuditEntry.id))) == audits
