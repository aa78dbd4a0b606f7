"""Pure: the percent rule for ratios and weights, the distribution chart's geometry and text summary."""
from __future__ import annotations

from decimal import Decimal

import pytest

from certify.results.services.distribution import distribution_chart, x_of
from certify.results.services.formatting import ratio_percent, weight_percent

D = Decimal


@pytest.mark.parametrize("ratio, text", [(D("0.6"), "60%"), (D("0.8000"), "80%"), (D("1"), "100%"),
                                         (D("0.3333"), "33.33%"), (D("0.12345"), "12.35%"), (D("0.0001"), "0.01%"),
                                         (None, "—")])
def test_ratio_percent(ratio, text):
    assert ratio_percent(ratio) == text


@pytest.mark.parametrize("weight, text", [(D("40.00"), "40%"), (D("33.33"), "33.33%"), (D("0"), "0%"),
                                          (D("12.5"), "12.5%"), (100, "100%"), (None, "—")])
def test_weight_percent(weight, text):
    assert weight_percent(weight) == text


def test_chart_counts_bands_exactly_and_places_the_cut_line():
    totals = [D("100"), D("90"), D("89.99999999"), D("80"), D("79.995"), D("0")]
    chart = distribution_chart(totals, D("80"), D("60"), absent=2)
    counts = {b.label: b.count for b in chart.bars}
    assert counts["90–100 分"] == 2 and counts["80–90 分"] == 2 and counts["70–80 分"] == 1
    assert counts["0–10 分"] == 1 and sum(counts.values()) == 6 and len(chart.bars) == 10
    tallest = max(chart.bars, key=lambda b: b.h)
    assert tallest.y == pytest.approx(chart.top) and all(b.y + b.h == pytest.approx(chart.base) for b in chart.bars)
    assert chart.cut.x == pytest.approx(x_of(80)) and chart.cut.text == "分数线 80.00"
    assert chart.minimum.text == "最低总分 60.00" and chart.minimum.x < chart.cut.x
    # exact: (89.99999999 + 80) / 2 = 84.999999995 -> 85.00; 79.995 is below the cut (not rounded up to 80)
    assert "有效考生 6 人，总分最低 0.00、最高 100.00、中位数 85.00" in chart.summary
    assert "达到分数线 4 人、低于分数线 2 人" in chart.summary and "低于最低总分 1 人" in chart.summary
    assert "缺考 2 人不计入" in chart.summary and "10–20 分" not in chart.summary


def test_chart_without_totals_or_cut():
    chart = distribution_chart([], None)
    assert chart.cut is None and chart.minimum is None and all(b.h == 0 for b in chart.bars)
    assert chart.summary == "暂无有效总分。"
    with pytest.raises(ValueError):
        distribution_chart([D(1)], None, step=7)
