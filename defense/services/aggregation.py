"""Aggregating a panel's sheets into a defense score (DOMAIN.md). Pure: plain values in, a result out.

Rules:
- The score is the mean of the scoring panelists' totals. With 5 or more scoring panelists one highest and
  one lowest total are dropped first (one of each, even when several panelists tie on it).
- Recused panelists are excluded; at least ``min_scorers`` (default 3) must remain, otherwise no score.
- Spread flag: max − min of the scoring totals exceeds ``spread_threshold`` (default 20, per round).
  The flag names the panelists holding the highest and the lowest total.
- Leave-one-out outlier flag: a panelist whose total differs from the median of the OTHER panelists' totals by
  more than ``outlier_threshold`` (default 15, per round) is flagged, naming that panelist, their total and the
  others' median. Strictly greater than the threshold in both flags: a spread of exactly 20 is not flagged.
- Exact arithmetic: totals are Decimals; the mean is computed as a Fraction and returned both exactly
  (``exact``) and as a Decimal quantised half-up to 4 places (``score``). Totals are multiples of 0.5 and a
  panel of 3–5 averages at most 4 of them, so the exact mean is a multiple of 1/24 point: it is either exact
  in 4 places or at least 1/600 away from a 2-place rounding boundary, so the 4-place value rounds (half-up,
  2 places) exactly as the exact mean does.
"""
from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from certify.domain import half_up

DEFAULT_SPREAD_THRESHOLD = Decimal("20")
DEFAULT_OUTLIER_THRESHOLD = Decimal("15")
DEFAULT_MIN_SCORERS = 3
TRIM_FROM = 5  # with this many scoring panelists or more, drop one highest and one lowest


@dataclass(frozen=True)
class Flag:
    kind: str  # "spread" | "outlier"
    panelists: tuple  # the panelist keys whose score triggered the flag
    value: Decimal  # the spread (max − min), or the outlier's distance to the others' median
    threshold: Decimal
    detail: dict = field(default_factory=dict)

    def as_dict(self, names: Mapping | None = None) -> dict:
        names = names or {}
        def label(key):
            return names.get(key, str(key))
        if self.kind == "spread":
            message = (f"分差 {fmt(self.value)} 分超过阈值 {fmt(self.threshold)}：最高 {label(self.detail['high'])} "
                       f"{fmt(self.detail['high_total'])}，最低 {label(self.detail['low'])} "
                       f"{fmt(self.detail['low_total'])}")
        else:
            message = (f"{label(self.panelists[0])} 的总分 {fmt(self.detail['total'])} 与其他专家中位数 "
                       f"{fmt(self.detail['others_median'])} 相差 {fmt(self.value)} 分，超过阈值 {fmt(self.threshold)}")
        return {"kind": self.kind, "panelists": [str(p) for p in self.panelists], "value": str(self.value),
                "threshold": str(self.threshold), "message": message,
                "detail": {k: str(v) for k, v in self.detail.items()}}


@dataclass(frozen=True)
class Aggregate:
    score: Decimal | None  # quantised to 4 places, None when fewer than min_scorers remain
    exact: Fraction | None
    counted: tuple  # panelist keys whose totals went into the mean
    dropped_high: Hashable | None
    dropped_low: Hashable | None
    scoring: int  # number of non-recused totals
    flags: tuple[Flag, ...]
    error: str = ""

    @property
    def flagged(self) -> bool:
        return bool(self.flags)


def fmt(value) -> str:
    """Half-up to 2 places, trailing zeros trimmed (for messages)."""
    text = format(half_up(value), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _median(values: list[Decimal]) -> Decimal:
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    if n % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2  # exact: half of a sum of decimals


def flags_for(totals: Mapping[Hashable, Decimal], *, spread_threshold=DEFAULT_SPREAD_THRESHOLD,
              outlier_threshold=DEFAULT_OUTLIER_THRESHOLD) -> tuple[Flag, ...]:
    """The spread and leave-one-out flags over the scoring totals (key order is kept for ties)."""
    items = [(k, Decimal(v)) for k, v in totals.items()]
    spread_threshold, outlier_threshold = Decimal(spread_threshold), Decimal(outlier_threshold)
    flags: list[Flag] = []
    if len(items) >= 2:
        high_key, high = max(items, key=lambda kv: kv[1])
        low_key, low = min(items, key=lambda kv: kv[1])
        spread = high - low
        if spread > spread_threshold:
            flags.append(Flag("spread", (high_key, low_key), spread, spread_threshold,
                              {"high": high_key, "high_total": high, "low": low_key, "low_total": low}))
    if len(items) >= 3:  # with two totals "the others" is one score: the spread flag already covers it
        for i, (key, total) in enumerate(items):
            others = [v for j, (_, v) in enumerate(items) if j != i]
            med = _median(others)
            distance = abs(total - med)
            if distance > outlier_threshold:
                flags.append(Flag("outlier", (key,), distance, outlier_threshold,
                                  {"total": total, "others_median": med}))
    return tuple(flags)


def aggregate(totals: Mapping[Hashable, Decimal | None], *, recused=(), min_scorers: int = DEFAULT_MIN_SCORERS,
              spread_threshold=DEFAULT_SPREAD_THRESHOLD,
              outlier_threshold=DEFAULT_OUTLIER_THRESHOLD) -> Aggregate:
    """Aggregate the panel's totals. ``totals`` maps panelist key → total; keys in ``recused`` are excluded
    (a total of None counts as recused too)."""
    recused = set(recused)
    scoring = {k: Decimal(v) for k, v in totals.items() if k not in recused and v is not None}
    for key, value in scoring.items():
        if value < 0:
            raise ValueError(f"negative total for {key}: {value}")
    flags = flags_for(scoring, spread_threshold=spread_threshold, outlier_threshold=outlier_threshold)
    if len(scoring) < min_scorers:
        return Aggregate(None, None, (), None, None, len(scoring), flags,
                         error=f"参与评分的专家不足 {min_scorers} 人（现有 {len(scoring)} 人）")
    items = list(scoring.items())
    dropped_high = dropped_low = None
    if len(items) >= TRIM_FROM:
        dropped_high = max(items, key=lambda kv: kv[1])[0]
        # the lowest among the rest (when all tie, a different panelist than the dropped highest)
        dropped_low = min((kv for kv in items if kv[0] != dropped_high), key=lambda kv: kv[1])[0]
        items = [kv for kv in items if kv[0] not in (dropped_high, dropped_low)]
    exact = sum((Fraction(v) for _, v in items), Fraction(0)) / len(items)
    score = half_up(Decimal(exact.numerator) / Decimal(exact.denominator), 4)
    return Aggregate(score, exact, tuple(k for k, _ in items), dropped_high, dropped_low, len(scoring), flags)


def validate_points(value, max_points: Decimal, step: Decimal = Decimal("0.5")) -> Decimal:
    """Parse one criterion's points: a number within 0..max in steps of ``step``. Raises ValueError (Chinese)."""
    if isinstance(value, float):
        value = repr(value)
    text = str(value).strip() if value is not None else ""
    if text == "":
        raise ValueError("请填写分数")
    try:
        points = Decimal(text)
    except Exception:
        raise ValueError(f"「{text}」不是有效的数字") from None
    if not points.is_finite():
        raise ValueError(f"「{text}」不是有效的数字")
    if points < 0 or points > Decimal(max_points):
        raise ValueError(f"分数须在 0 到 {fmt(max_points)} 之间（现为 {text}）")
    if points % Decimal(step) != 0:
        raise ValueError(f"分数须为 {fmt(step)} 的整数倍（现为 {text}）")
    text = format(points, "f")
    return Decimal(text.rstrip("0").rstrip(".") if "." in text else text)
