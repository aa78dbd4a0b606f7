"""Fixtures for the results tests: candidates with component scores."""
from __future__ import annotations

from decimal import Decimal

import pytest

from certify.extensions import db
from certify.scores import record_component


@pytest.fixture
def scored(make_candidate):
    """scored(rnd, level, exam=…, defense=…, record=…): a candidate with the given components.
    A value of "absent" records absence; None leaves the component missing."""

    def factory(rnd, level="初级", *, exam=None, defense=None, record=None, **kwargs):
        cand = make_candidate(rnd, level, **kwargs)
        for component, value in (("exam", exam), ("defense", defense), ("record", record)):
            if value == "absent":
                record_component(cand, component, None, status="absent", source="test")
            elif value is not None:
                record_component(cand, component, Decimal(str(value)), source="test")
        db.session.commit()
        return cand

    return factory
