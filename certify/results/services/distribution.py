"""The distribution of a level's totals as the geometry of a server-side SVG histogram, with the cut line (and
the minimum total) drawn across it and a text summary for screen readers and print. Pure: no Flask, no db.

The template draws what this returns (the approach of the exam analysis page): bars per score band of
``step`` points over 0–100 (the last band includes 100), counts above the bars, a vertical line at the cut.
Totals stay exact Decimals for counting; only the drawing coordinates are floats.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

WIDTH, HEIGHT, PAD, TOP, BOTTOM = 520.0, 220.0, 28.0, 18.0, 22.0


@dataclass(frozen=True)
class Bar:
    lo: int
    hi: int
    count: int
    x: float
    y: float
    w: float
    h: float

    @property
    def label(self) -> str:
        return f"{self.lo}–{self.hi} 分"


@dataclass(frozen=True)
class Marker:
    value: Decimal
    x: float
    text: str


@dataclass
class Chart:
    bars: list[Bar]
    cut: Marker | None
    minimum: Marker | None
    summary: str
    count: int
    w: float = WIDTH
    h: float = HEIGHT
    pad: float = PAD
    top: float = TOP
    base: float = HEIGHT - BOTTOM
    end_x: float = WIDTH - PAD
    ticks: list[tuple[float, int]] = field(default_factory=list)


def _two(value: Decimal) -> str:
    return str(Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _median(values: Sequence[Decimal]) -> Decimal:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def x_of(value, *, width: float = WIDTH, pad: float = PAD) -> float:
    """The horizontal position of a score 0–100 (clamped) on the chart."""
    v = min(max(float(value), 0.0), 100.0)
    return pad + v / 100.0 * (width - 2 * pad)


def distribution_chart(totals: Sequence[Decimal], cut_line: Decimal | None = None,
                       min_total: Decimal | None = None, *, absent: int = 0, step: int = 10) -> Chart:
    if step <= 0 or 100 % step:
        raise ValueError("step must divide 100")
    values = [Decimal(t) for t in totals]
    bands = 100 // step
    counts = [0] * bands
    for v in values:
        counts[min(max(int(v // step), 0), bands - 1)] += 1
    plot_h = HEIGHT - BOTTOM - TOP
    band_w = (WIDTH - 2 * PAD) / bands
    peak = max(counts) if values else 0
    bars = []
    for i, n in enumerate(counts):
        h = plot_h * n / peak if peak else 0.0
        bars.append(Bar(i * step, (i + 1) * step, n, PAD + i * band_w + 1, HEIGHT - BOTTOM - h, band_w - 2, h))
    cut = None if cut_line is None else Marker(Decimal(cut_line), x_of(cut_line), f"分数线 {_two(cut_line)}")
    minimum = None if min_total is None else Marker(Decimal(min_total), x_of(min_total),
                                                    f"最低总分 {_two(min_total)}")
    ticks = [(x_of(v), v) for v in range(0, 101, step * 2)]
    return Chart(bars, cut, minimum, _summary(values, counts, step, cut_line, min_total, absent), len(values),
                 ticks=ticks)


def _summary(values: list[Decimal], counts: list[int], step: int, cut_line, min_total, absent: int) -> str:
    if not values:
        text = "暂无有效总分。"
    else:
        text = (f"有效考生 {len(values)} 人，总分最低 {_two(min(values))}、最高 {_two(max(values))}、"
                f"中位数 {_two(_median(values))}。")
        if cut_line is not None:
            at_or_above = sum(1 for v in values if v >= Decimal(cut_line))
            text += f"分数线 {_two(cut_line)}，达到分数线 {at_or_above} 人、低于分数线 {len(values) - at_or_above} 人。"
        if min_total is not None:
            below = sum(1 for v in values if v < Decimal(min_total))
            text += f"最低总分 {_two(min_total)}，低于最低总分 {below} 人。"
        text += "各分数段：" + "，".join(
            f"{i * step}–{(i + 1) * step} 分 {n} 人" for i, n in enumerate(counts) if n) + "。"
    if absent:
        text += f"缺考 {absent} 人不计入。"
    return text
