"""Bank statistics: counts of items by category × type × difficulty × level. Pure."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .parsing import LEVELS, MULTIPLE, SINGLE, TRUEFALSE

TYPE_ORDER = (SINGLE, MULTIPLE, TRUEFALSE)
DIFFICULTIES = (1, 2, 3, 4, 5)


@dataclass
class StatRow:
    category: str
    type: str
    level: str
    by_difficulty: dict[int, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_difficulty.values())


@dataclass
class BankStatistics:
    rows: list[StatRow]
    by_type: dict[str, int]
    by_level: dict[str, int]
    by_category: dict[str, int]
    by_difficulty: dict[int, int]
    total: int


def bank_statistics(items) -> BankStatistics:
    """``items``: iterable of (category, type, difficulty, level), one per active item."""
    counts = Counter((c, t, d, lv) for c, t, d, lv in items)
    groups: dict[tuple[str, str, str], StatRow] = {}
    for (category, item_type, difficulty, level), n in counts.items():
        row = groups.setdefault((category, item_type, level), StatRow(category, item_type, level))
        row.by_difficulty[difficulty] = row.by_difficulty.get(difficulty, 0) + n
    type_rank = {t: i for i, t in enumerate(TYPE_ORDER)}
    level_rank = {lv: i for i, lv in enumerate(LEVELS)}
    rows = sorted(groups.values(), key=lambda r: (r.category, type_rank.get(r.type, 9), level_rank.get(r.level, 9)))

    def total_by(index):
        out: Counter = Counter()
        for key, n in counts.items():
            out[key[index]] += n
        return dict(out)

    by_type = total_by(1)
    by_level = total_by(3)
    return BankStatistics(
        rows=rows,
        by_type={t: by_type.get(t, 0) for t in TYPE_ORDER},
        by_level={lv: by_level.get(lv, 0) for lv in LEVELS},
        by_category=dict(sorted(total_by(0).items())),
        by_difficulty={d: total_by(2).get(d, 0) for d in DIFFICULTIES},
        total=sum(counts.values()),
    )
