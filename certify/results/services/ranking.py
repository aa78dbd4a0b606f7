"""Ranking and certification by ratio within one round · level.

- Competition ranking on the exact total: 1, 2, 2, 4.
- Quota = round-half-up(ratio × number of eligible candidates).
- Everyone whose rank is within the quota is certified: that is exactly the first ``quota`` candidates plus
  everyone tied with the last of them (a tie shares the rank of its first member).
- An optional minimum total: nobody below it is certified.
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from certify.domain import half_up


@dataclass(frozen=True)
class Placed:
    key: Hashable
    total: Decimal
    rank: int
    certified: bool


@dataclass
class Outcome:
    eligible: int
    quota: int
    certified: int
    cut_line: Decimal | None  # total of the last certified candidate
    placed: list[Placed] = field(default_factory=list)  # in rank order (ties by input order)

    def by_key(self) -> dict:
        return {p.key: p for p in self.placed}


def quota_for(ratio: Decimal, eligible: int) -> int:
    return int(half_up(Decimal(ratio) * eligible, 0))


def rank_and_certify(totals: Sequence[tuple[Hashable, Decimal]], ratio: Decimal,
                     min_total: Decimal | None = None) -> Outcome:
    """``totals``: (key, exact total) of the eligible candidates only."""
    ordered = sorted(totals, key=lambda kv: -Decimal(kv[1]))  # stable: input order breaks display ties
    quota = quota_for(ratio, len(ordered))
    placed: list[Placed] = []
    rank = 0
    previous = None
    for position, (key, total) in enumerate(ordered, start=1):
        total = Decimal(total)
        if previous is None or total != previous:
            rank = position
            previous = total
        certified = rank <= quota and (min_total is None or total >= Decimal(min_total))
        placed.append(Placed(key, total, rank, certified))
    certified = [p for p in placed if p.certified]
    return Outcome(eligible=len(ordered), quota=quota, certified=len(certified),
                   cut_line=certified[-1].total if certified else None, placed=placed)
