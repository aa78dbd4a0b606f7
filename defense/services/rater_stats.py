"""Panel quality statistics (pure numpy): rater severity, intra-class correlation and Kendall's W.

Input everywhere: ``ratings`` = {candidate: {panelist: total}} (totals as numbers or Decimals; a panelist who
recused or did not score a candidate is simply absent from that candidate's dict).

- Severity of a panelist: the mean, over the candidates they scored that at least one other panelist also
  scored, of (their total − the mean of the other panelists' totals on that candidate). Negative = stricter
  than their colleagues, positive = more lenient. None when they share no candidate with anyone.
- ICC for a fixed panel (the same raters score every candidate and are the only raters of interest), two-way
  ANOVA on the complete candidates × panelists matrix (candidates with a missing rating are left out):
  ICC(3,1) and ICC(3,k) — two-way mixed, consistency (Shrout & Fleiss 1979 case 3; McGraw & Wong 1996
  ICC(C,1), ICC(C,k)) — and ICC(2,1), two-way absolute agreement (McGraw & Wong ICC(A,1)), which also
  penalises systematic differences in severity between panelists.
- Kendall's W (coefficient of concordance) of the panelists' rankings of the candidates, with the correction
  for tied ranks: W = 12·S / (m²(n³ − n) − m·Σ T), T = Σ (t³ − t) over each panelist's groups of ties.

Degenerate inputs (fewer than 2 candidates or panelists, no variance at all) give ``value=None`` with a reason
in ``note`` — never NaN, never an exception.
"""
from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Stat:
    value: float | None
    note: str = ""
    n: int = 0  # candidates used
    k: int = 0  # panelists used


def _matrix(ratings: Mapping[Hashable, Mapping[Hashable, object]]):
    """Complete-case matrix: rows = candidates rated by every panelist seen, columns = panelists."""
    raters: list = []
    for per in ratings.values():
        for r in per:
            if r not in raters:
                raters.append(r)
    rows, targets = [], []
    for target, per in ratings.items():
        if all(r in per and per[r] is not None for r in raters):
            rows.append([float(per[r]) for r in raters])
            targets.append(target)
    if not rows or not raters:
        return np.zeros((0, len(raters))), targets, raters
    return np.asarray(rows, dtype=float), targets, raters


def severity(ratings: Mapping[Hashable, Mapping[Hashable, object]]) -> dict[Hashable, float | None]:
    out: dict = {}
    raters = []
    for per in ratings.values():
        for r in per:
            if r not in raters:
                raters.append(r)
    for r in raters:
        diffs = []
        for per in ratings.values():
            if r not in per or per[r] is None:
                continue
            others = [float(v) for q, v in per.items() if q != r and v is not None]
            if others:
                diffs.append(float(per[r]) - float(np.mean(others)))
        out[r] = float(np.mean(diffs)) if diffs else None
    return out


def _anova(x: np.ndarray):
    n, k = x.shape
    grand = x.mean()
    ss_rows = k * float(((x.mean(axis=1) - grand) ** 2).sum())
    ss_cols = n * float(((x.mean(axis=0) - grand) ** 2).sum())
    ss_total = float(((x - grand) ** 2).sum())
    ss_err = max(ss_total - ss_rows - ss_cols, 0.0)
    msr = ss_rows / (n - 1)
    msc = ss_cols / (k - 1)
    mse = ss_err / ((n - 1) * (k - 1))
    return msr, msc, mse


_EPS = 1e-12


def icc(ratings: Mapping[Hashable, Mapping[Hashable, object]]) -> dict[str, Stat]:
    """{"icc3_1", "icc3_k", "icc2_1"} for the complete-case matrix."""
    x, targets, raters = _matrix(ratings)
    n, k = x.shape if x.size else (len(targets), len(raters))
    if n < 2 or k < 2:
        note = f"数据不足：需要至少 2 名考生、2 位专家完整评分（现为 {n} 名考生、{k} 位专家）"
        return {key: Stat(None, note, n, k) for key in ("icc3_1", "icc3_k", "icc2_1")}
    msr, msc, mse = _anova(x)
    out = {}
    denom31 = msr + (k - 1) * mse
    denom21 = msr + (k - 1) * mse + k * (msc - mse) / n
    if abs(denom31) < _EPS:
        note = "所有评分完全相同，无差异可计算信度"
        out["icc3_1"] = Stat(None, note, n, k)
    else:
        out["icc3_1"] = Stat((msr - mse) / denom31, "", n, k)
    if abs(msr) < _EPS:
        out["icc3_k"] = Stat(None, "考生之间没有差异，无法计算信度", n, k)
    else:
        out["icc3_k"] = Stat((msr - mse) / msr, "", n, k)
    if abs(denom21) < _EPS:
        out["icc2_1"] = Stat(None, "所有评分完全相同，无差异可计算信度", n, k)
    else:
        out["icc2_1"] = Stat((msr - mse) / denom21, "", n, k)
    return out


def average_ranks(values) -> np.ndarray:
    """Ranks 1..n, ties get the mean of the ranks they span (like scipy.stats.rankdata 'average')."""
    a = np.asarray(values, dtype=float)
    order = np.argsort(a, kind="mergesort")
    ranks = np.empty(len(a), dtype=float)
    sorted_a = a[order]
    i = 0
    while i < len(a):
        j = i
        while j + 1 < len(a) and sorted_a[j + 1] == sorted_a[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def kendalls_w(ratings: Mapping[Hashable, Mapping[Hashable, object]]) -> Stat:
    x, targets, raters = _matrix(ratings)
    n, m = (x.shape if x.size else (len(targets), len(raters)))
    if n < 2 or m < 2:
        return Stat(None, f"数据不足：需要至少 2 名考生、2 位专家完整评分（现为 {n} 名考生、{m} 位专家）", n, m)
    ranks = np.column_stack([average_ranks(x[:, j]) for j in range(m)])  # n × m
    rank_sums = ranks.sum(axis=1)
    s = float(((rank_sums - rank_sums.mean()) ** 2).sum())
    ties = 0.0
    for j in range(m):
        _, counts = np.unique(x[:, j], return_counts=True)
        ties += float((counts ** 3 - counts).sum())
    denom = m ** 2 * (n ** 3 - n) - m * ties
    if denom <= _EPS:
        return Stat(None, "每位专家对所有考生给分都相同，无法计算一致性", n, m)
    return Stat(12 * s / denom, "", n, m)
