"""Totals per scheme: Total = Σ weight/100 × component over the components the scheme has (exact Decimal).

Status of a candidate's total:
- ``scored``: every required component has a score; the total is exact.
- ``absent`` (缺考): absent (status ``absent``) from at least one required component; not eligible.
- ``missing``: no absence, but at least one required component has no score yet. This blocks confirming the
  level's results (the secretariat must import or record it, or mark the candidate absent at the source).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

SCORED = "scored"
ABSENT = "absent"
MISSING = "missing"

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class ComponentValue:
    status: str  # "scored" or "absent"
    score: Decimal | None


@dataclass
class Total:
    status: str
    total: Decimal | None
    missing: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)

    @property
    def eligible(self) -> bool:
        return self.status == SCORED


def compute_total(weights: Mapping[str, Decimal], components: Mapping[str, ComponentValue | None]) -> Total:
    """``weights``: component -> percentage (those > 0 are required, summing to 100)."""
    missing, absent = [], []
    total = Decimal(0)
    for component, weight in weights.items():
        weight = Decimal(weight)
        if weight <= 0:
            continue
        value = components.get(component)
        if value is not None and value.status == ABSENT:
            absent.append(component)
        elif value is None or value.score is None:
            missing.append(component)
        else:
            total += weight * Decimal(value.score) / HUNDRED
    if absent:
        return Total(ABSENT, None, missing, absent)
    if missing:
        return Total(MISSING, None, missing, absent)
    return Total(SCORED, total, missing, absent)


