"""Classical item analysis of an objective exam (pure numpy: no Flask, no database).

Definitions follow Moodle's quiz statistics (mod/quiz/report/statistics, question/classes/statistics):

- facility            mean mark / max mark, over the candidates who saw the item;
- SD                  sample SD (n − 1) of the item's marks, as a fraction of the max mark;
- discrimination      Pearson correlation of the item's mark with the *rest of the test* (total − item);
- discriminative eff. cov(item, rest) / cov_max, where cov_max pairs the item's marks and the rest marks
                      each sorted ascending (the largest covariance those same marks could reach);
- effective weight    √cov(item, total) / Σ √cov(item′, total) over items with a non-negative covariance
                      (None for a negative covariance);
- test statistics     mean, median, SD (n − 1), skewness k3/k2^1.5 and excess kurtosis k4/k2² from the
                      k-statistics (n > 2, n > 3), Cronbach's alpha (= KR-20 for 0/1 items), error ratio
                      √(1 − alpha) and standard error of measurement = error ratio × SD.

Added beyond Moodle: the upper–lower 27 % index, each option's choice frequency overall and in the upper
and lower groups, omit rate, median time per item, the conditional SEM at a cut score (Lord's binomial
error model), the stability of facility across groups of per-candidate forms, and flags (facility < 0.3
or > 0.9, negative discrimination, discriminative efficiency < 15 %, a distractor that the upper group
prefers to the key: a likely miskey).

Per-candidate papers leave cells missing: ``seen[i, j]`` says whether candidate i had item j. Every item
statistic is computed over the candidates who saw the item; the test's total is the candidate's own total.
A statistic that cannot be defined on the data (one candidate, zero variance…) is ``None`` with a reason
in ``notes``: never NaN.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

# Flags (keys; labels for display live with the pages)
FACILITY_LOW, FACILITY_HIGH = "facility_low", "facility_high"
NEGATIVE_DISCRIMINATION, LOW_EFFICIENCY, MISKEY = "negative_discrimination", "low_efficiency", "miskey"
FLAG_KEYS = (FACILITY_LOW, FACILITY_HIGH, NEGATIVE_DISCRIMINATION, LOW_EFFICIENCY, MISKEY)

FACILITY_MIN, FACILITY_MAX, EFFICIENCY_MIN = 0.3, 0.9, 0.15
GROUP_FRACTION = 0.27
MAX_FORM_GROUPS = 5
LETTERS = "ABCDEFGH"

_EPS = 1e-12


@dataclass
class ItemStats:
    index: int
    n: int  # candidates who saw the item
    max_mark: float
    mean_mark: float | None = None
    facility: float | None = None
    sd: float | None = None  # fraction of the max mark
    facility_se: float | None = None  # standard error of the facility
    discrimination: float | None = None  # correlation with the rest of the test, −1 … 1
    discriminative_efficiency: float | None = None  # 0 … 1 (can be negative)
    effective_weight: float | None = None  # share of the total's spread, 0 … 1
    intended_weight: float | None = None  # max mark / mean max total
    random_guess: float | None = None  # expected fraction of the max mark from guessing
    upper_facility: float | None = None
    lower_facility: float | None = None
    upper_lower: float | None = None  # upper facility − lower facility
    omit_rate: float | None = None
    median_time_ms: float | None = None
    form_sd: float | None = None  # SD of the facility across groups of forms
    form_stability: float | None = None  # form_sd / the SD that sampling alone would give
    option_freq: list[float] = field(default_factory=list)  # per written option, among those who saw it
    option_upper: list[float | None] = field(default_factory=list)
    option_lower: list[float | None] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)  # statistic -> why it is None


@dataclass
class TestStats:
    n: int
    items: int
    mean: float | None = None  # percent of the candidate's max total
    median: float | None = None
    sd: float | None = None
    minimum: float | None = None
    maximum: float | None = None
    skewness: float | None = None
    kurtosis: float | None = None  # excess
    alpha: float | None = None
    alpha_parts: int | None = None  # items (or slots) the alpha was computed over
    error_ratio: float | None = None
    sem: float | None = None  # percent points
    cut_score: float | None = None
    sem_at_cut: float | None = None  # Lord's binomial conditional SEM at the cut, percent points
    near_cut: int | None = None  # candidates within ±1 SEM of the cut
    upper_n: int = 0
    lower_n: int = 0
    forms: int = 0
    histogram: list[tuple[float, float, int]] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)


@dataclass
class CategoryStats:
    category: str
    items: int
    facility: float | None
    upper_facility: float | None
    lower_facility: float | None
    mean_rate: float | None  # mean of the candidates' own score rates in the category


@dataclass
class Analysis:
    test: TestStats
    items: list[ItemStats]
    categories: list[CategoryStats]
    totals: np.ndarray  # percent per candidate
    upper: np.ndarray  # indexes of the upper group
    lower: np.ndarray


def _f(value) -> float | None:
    """A finite float, or None."""
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def random_guess_score(item_type: str, n_options: int, key: str, mc_policy: str = "partial_half") -> float | None:
    """Expected fraction of the max mark for a blind guess.

    Single choice: 1 / options (Moodle's definition for one correct answer); true/false: 1/2; multiple
    choice (which Moodle leaves empty): the mean score of a uniformly drawn non-empty set of options under
    the round's policy (exact key = 1, strict non-empty subset of the key = ½ under partial_half, else 0).
    """
    if n_options < 2:
        return None
    if item_type in ("single", "truefalse"):
        return 1.0 / n_options
    key_set = {LETTERS.index(c) for c in key if c in LETTERS}
    if not key_set:
        return None
    total = 0.0
    count = 0
    for size in range(1, n_options + 1):
        for combo in itertools.combinations(range(n_options), size):
            chosen = set(combo)
            count += 1
            if chosen == key_set:
                total += 1.0
            elif mc_policy == "partial_half" and chosen < key_set:
                total += 0.5
    return total / count


def lord_csem(cut_percent: float, items: float) -> float | None:
    """Lord's binomial conditional SEM at a cut (percent of max), for a test of ``items`` items."""
    if items is None or items < 2 or cut_percent is None:
        return None
    p = min(max(cut_percent / 100.0, 0.0), 1.0)
    return 100.0 * float(np.sqrt(p * (1 - p) / (items - 1)))


def _groups(totals: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    n = len(totals)
    if n < 2:
        return np.array([], dtype=int), np.array([], dtype=int)
    g = max(1, int(np.floor(fraction * n + 0.5)))
    g = min(g, n // 2)
    order = np.argsort(-totals, kind="stable")
    return order[:g], order[n - g:]


def _group_facility(X: np.ndarray, S: np.ndarray, maxm: np.ndarray, rows: np.ndarray):
    if len(rows) == 0:
        return np.full(X.shape[1], np.nan), np.zeros(X.shape[1])
    seen = S[rows].sum(axis=0)
    got = X[rows].sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        fac = np.where(seen > 0, got / (seen * maxm), np.nan)
    return fac, seen


def analyse(marks, max_marks, *, seen=None, choices=None, keys=None, n_options=None, times=None, forms=None,
            slots=None, guess=None, categories=None, cut_score: float | None = None,
            group_fraction: float = GROUP_FRACTION, histogram_step: float = 10.0) -> Analysis:
    """Analyse a candidates × items matrix.

    marks      (n, m) marks in [0, max]; cells not seen are ignored (may be NaN)
    max_marks  (m,) max mark of each item (> 0)
    seen       (n, m) bool, which items each candidate had (default: the non-NaN cells)
    choices    (n, m, K) bool, options chosen (written order, K ≤ 8)
    keys       (m, K) bool, the key options
    n_options  (m,) number of options of each item
    times      (n, m) time spent per item (ms)
    forms      (n,) a label of each candidate's form (the set of items on their paper)
    slots      (n, k) column index of the item each candidate had in slot s (-1: none): Moodle's
               per-slot view of randomly drawn papers, used for alpha when papers differ
    guess      (m,) random-guess score per item (fraction); categories (m,) category label per item
    cut_score  percent; the conditional SEM is given there
    """
    X, maxm, S = _checked_matrix(marks, max_marks, seen)
    n, m = X.shape
    complete = bool(S.all())

    # ---------------------------------------------------------------- totals
    raw = X.sum(axis=1)
    max_total = np.einsum("ij,j->i", S.astype(float), maxm)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.where(max_total > 0, 100.0 * raw / max_total, 0.0)
    upper, lower = _groups(pct, group_fraction)

    test = TestStats(n=n, items=m, upper_n=len(upper), lower_n=len(lower))
    test.forms = int(len(np.unique(np.asarray(forms)))) if forms is not None and n else (1 if n else 0)
    _test_statistics(test, pct, X, S, raw, slots, complete, cut_score, histogram_step)

    mo = _item_moments(X, S, maxm, raw, max_total)
    fac_upper, seen_upper = _group_facility(X, S, maxm, upper)
    fac_lower, seen_lower = _group_facility(X, S, maxm, lower)
    ctx = _ItemContext(
        n=n, maxm=maxm, mo=mo, fac_upper=fac_upper, fac_lower=fac_lower, seen_upper=seen_upper,
        seen_lower=seen_lower, upper_n=len(upper),
        mean_max_total=float(max_total.mean()) if n else 0.0, guess=guess,
        med_time=(None if times is None
                  else _column_medians(np.asarray(times, dtype=float), S, mo.nj, complete)),
        key_arr=None if keys is None else np.asarray(keys, dtype=bool),
        nopt=None if n_options is None else np.asarray(n_options, dtype=int),
        K=None if choices is None else np.asarray(choices).shape[2],
        forms_given=forms is not None)
    if choices is not None:
        ctx.opt_freq, ctx.opt_up, ctx.opt_lo, ctx.omit = _option_rates(choices, S, mo.nj, upper, lower,
                                                                        seen_upper, seen_lower)
    ctx.form_sd, ctx.form_expected = _form_stability(X, S, maxm, forms, mo.var_x, mo.nj)

    items = [_item_stats(j, ctx) for j in range(m)]
    cats = _categories(categories, X, S, maxm, upper, lower) if categories is not None else []
    return Analysis(test=test, items=items, categories=cats, totals=pct, upper=upper, lower=lower)


def _checked_matrix(marks, max_marks, seen) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(marks with unseen cells 0, max marks, seen) after checking shapes and ranges."""
    X = np.asarray(marks, dtype=float)
    if X.ndim != 2:
        raise ValueError("marks must be a 2-D matrix (candidates × items)")
    n, m = X.shape
    maxm = np.asarray(max_marks, dtype=float).reshape(-1)
    if maxm.shape != (m,):
        raise ValueError("max_marks must have one entry per item")
    if np.any(maxm <= 0):
        raise ValueError("every max mark must be positive")
    S = ~np.isnan(X) if seen is None else np.asarray(seen, dtype=bool)
    if S.shape != (n, m):
        raise ValueError("seen must have the shape of marks")
    X = np.where(S, X, 0.0)
    if np.isnan(X).any():
        raise ValueError("a seen cell has no mark")
    if np.any(X < -_EPS) or np.any(X > maxm + 1e-9):
        raise ValueError("marks must lie between 0 and the item's max mark")
    return X, maxm, S


@dataclass
class _Moments:
    """Per-item moments over the candidates who saw each item (x: item mark, r: rest of the total)."""
    nj: np.ndarray
    mean_x: np.ndarray
    var_x: np.ndarray
    var_r: np.ndarray
    cov_xr: np.ndarray
    cov_xt: np.ndarray
    cov_max: np.ndarray
    tol_x: np.ndarray
    tol_r: float
    sqrt_cov: np.ndarray
    ew_den: float


def _item_moments(X: np.ndarray, S: np.ndarray, maxm: np.ndarray, raw: np.ndarray,
                  max_total: np.ndarray) -> _Moments:
    # (Products are einsum, not BLAS: BLAS threads stall on a busy 2-core server; einsum runs in one thread.)
    # Sums over the candidates who saw each item, as matrix–vector products (X is 0 where unseen), so no
    # candidates × items temporaries are built: Σx, Σx², Σt, Σt², Σxt give every mean, variance and covariance
    # of x (item), t (total) and r = t − x (rest).
    n = X.shape[0]
    Sf = S.astype(float)
    nj = S.sum(axis=0).astype(float)
    nj_safe = np.maximum(nj, 1.0)
    dof = np.maximum(nj - 1.0, 1.0)
    sx = X.sum(axis=0)
    sxx = np.einsum("ij,ij->j", X, X)
    st = np.einsum("ij,i->j", Sf, raw)
    stt = np.einsum("ij,i->j", Sf, raw * raw)
    sxt = np.einsum("ij,i->j", X, raw)
    sr, srr, sxr = st - sx, stt - 2 * sxt + sxx, sxt - sxx
    mean_x, mean_r = sx / nj_safe, sr / nj_safe
    var_x = np.maximum(sxx - nj * mean_x ** 2, 0.0) / dof
    var_r = np.maximum(srr - nj * mean_r ** 2, 0.0) / dof
    cov_xr = (sxr - nj * mean_x * mean_r) / dof
    cov_xt = (sxt - sx * st / nj_safe) / dof

    # covariance the same marks could reach: both sorted ascending, unseen cells pushed to the end
    Xs = _sorted_columns(X, S)
    Rs = _sorted_columns(raw[:, None] - X, S)
    valid = np.arange(n)[:, None] < nj[None, :]
    Xs[~valid] = 0.0
    Rs[~valid] = 0.0
    cov_max = (np.einsum("ij,ij->j", Xs, Rs) - nj * mean_x * mean_r) / dof

    sqrt_cov = np.sqrt(np.where(cov_xt >= 0, cov_xt, 0.0))
    return _Moments(nj=nj, mean_x=mean_x, var_x=var_x, var_r=var_r, cov_xr=cov_xr, cov_xt=cov_xt,
                    cov_max=cov_max, tol_x=_EPS * maxm ** 2,
                    tol_r=_EPS * np.maximum(max_total.max() if n else 1.0, 1.0) ** 2,
                    sqrt_cov=sqrt_cov, ew_den=sqrt_cov[(nj > 1) & (cov_xt >= 0)].sum())


def _option_rates(choices, S: np.ndarray, nj: np.ndarray, upper: np.ndarray, lower: np.ndarray,
                  seen_upper: np.ndarray, seen_lower: np.ndarray):
    """(option frequency, in the upper group, in the lower group, omit rate) per item."""
    n, m = S.shape
    C = np.asarray(choices, dtype=bool)
    if C.shape[:2] != (n, m):
        raise ValueError("choices must be (candidates × items × options)")
    nj_safe = np.maximum(nj, 1.0)
    CS = C & S[:, :, None]
    opt_freq = CS.sum(axis=0) / nj_safe[:, None]
    opt_up = CS[upper].sum(axis=0) / np.maximum(seen_upper, 1)[:, None] if len(upper) else None
    opt_lo = CS[lower].sum(axis=0) / np.maximum(seen_lower, 1)[:, None] if len(lower) else None
    omit = (S & ~C.any(axis=2)).sum(axis=0) / nj_safe
    return opt_freq, opt_up, opt_lo, omit


@dataclass
class _ItemContext:
    """What every item's statistics are read from (arrays indexed by item)."""
    n: int
    maxm: np.ndarray
    mo: _Moments
    fac_upper: np.ndarray
    fac_lower: np.ndarray
    seen_upper: np.ndarray
    seen_lower: np.ndarray
    upper_n: int
    mean_max_total: float
    guess: object
    med_time: np.ndarray | None
    key_arr: np.ndarray | None
    nopt: np.ndarray | None
    K: int | None
    forms_given: bool
    opt_freq: np.ndarray | None = None
    opt_up: np.ndarray | None = None
    opt_lo: np.ndarray | None = None
    omit: np.ndarray | None = None
    form_sd: np.ndarray | None = None
    form_expected: np.ndarray | None = None


def _item_stats(j: int, c: _ItemContext) -> ItemStats:
    nj = c.mo.nj
    it = ItemStats(index=j, n=int(nj[j]), max_mark=float(c.maxm[j]))
    if c.mean_max_total > 0:
        it.intended_weight = _f(c.maxm[j] / c.mean_max_total)
    if c.guess is not None:
        it.random_guess = _f(c.guess[j])
    if nj[j] == 0:
        for key in ("facility", "discrimination", "discriminative_efficiency", "sd"):
            it.notes[key] = "无人作答此题"
        return it
    it.mean_mark = _f(c.mo.mean_x[j])
    it.facility = _f(c.mo.mean_x[j] / c.maxm[j])
    if c.omit is not None:
        it.omit_rate = _f(c.omit[j])
    if c.med_time is not None:
        it.median_time_ms = _f(c.med_time[j])
    if nj[j] < 2:
        for key in ("sd", "discrimination", "discriminative_efficiency", "effective_weight"):
            it.notes[key] = "作答人数不足 2 人"
    else:
        _spread_stats(it, j, c.mo, c.maxm)
    _group_stats(it, j, c)
    _form_stats(it, j, c)
    _option_stats(it, j, c)
    _flag(it, c.key_arr[j] if c.key_arr is not None else None, c.seen_upper[j] if c.upper_n else 0)
    return it


def _spread_stats(it: ItemStats, j: int, mo: _Moments, maxm: np.ndarray) -> None:
    """SD, discrimination, discriminative efficiency and effective weight of an item seen by 2 or more."""
    notes = it.notes
    it.sd = _f(np.sqrt(mo.var_x[j]) / maxm[j])
    it.facility_se = _f(np.sqrt(mo.var_x[j] / mo.nj[j]) / maxm[j])
    if mo.var_x[j] <= mo.tol_x[j]:
        notes["discrimination"] = "所有人此题得分相同"
        notes["discriminative_efficiency"] = "所有人此题得分相同"
    elif mo.var_r[j] <= mo.tol_r:
        notes["discrimination"] = "其余题目总分无差异"
        notes["discriminative_efficiency"] = "其余题目总分无差异"
    else:
        it.discrimination = _f(mo.cov_xr[j] / np.sqrt(mo.var_x[j] * mo.var_r[j]))
        if mo.cov_max[j] > _EPS:
            it.discriminative_efficiency = _f(mo.cov_xr[j] / mo.cov_max[j])
        else:
            notes["discriminative_efficiency"] = "最大可能协方差为 0"
    if mo.cov_xt[j] < 0:
        notes["effective_weight"] = "与总分协方差为负"
    elif mo.ew_den > _EPS:
        it.effective_weight = _f(mo.sqrt_cov[j] / mo.ew_den)
    else:
        notes["effective_weight"] = "总分无差异"


def _group_stats(it: ItemStats, j: int, c: _ItemContext) -> None:
    up, lo = _f(c.fac_upper[j]), _f(c.fac_lower[j])
    it.upper_facility, it.lower_facility = up, lo
    if up is not None and lo is not None:
        it.upper_lower = up - lo
    else:
        it.notes["upper_lower"] = "高分组或低分组无人作答此题" if c.n >= 2 else "考生不足 2 人"


def _form_stats(it: ItemStats, j: int, c: _ItemContext) -> None:
    if c.form_sd is None:
        it.notes["form_sd"] = "只有一种试卷" if c.forms_given else "未提供试卷信息"
        return
    it.form_sd = _f(c.form_sd[j])
    if it.form_sd is not None and c.form_expected[j] > _EPS:
        it.form_stability = _f(c.form_sd[j] / c.form_expected[j])
    elif it.form_sd is None:
        it.notes["form_sd"] = "作答此题的试卷组不足 2 组"


def _option_stats(it: ItemStats, j: int, c: _ItemContext) -> None:
    if c.opt_freq is None:
        return
    k_here = int(c.nopt[j]) if c.nopt is not None else c.K
    it.option_freq = [float(v) for v in c.opt_freq[j, :k_here]]
    it.option_upper = ([float(v) if c.seen_upper[j] else None for v in c.opt_up[j, :k_here]]
                       if c.opt_up is not None else [])
    it.option_lower = ([float(v) if c.seen_lower[j] else None for v in c.opt_lo[j, :k_here]]
                       if c.opt_lo is not None else [])


def _sorted_columns(values: np.ndarray, S: np.ndarray) -> np.ndarray:
    """Each column sorted ascending with the unseen cells last.

    Marks are nearly always whole or half points: then the values are sorted as small integers with numpy's
    radix sort (linear time), else as floats."""
    if values.size:
        doubled = values * 2
        top = np.abs(doubled).max()
        if top < 32000 and np.array_equal(doubled, np.round(doubled)):
            keyed = np.where(S, doubled, 32700).astype(np.int16)
            return np.sort(keyed, axis=0, kind="stable").astype(float) / 2
    return np.sort(np.where(S, values, np.inf), axis=0)


def _column_medians(values: np.ndarray, S: np.ndarray, nj: np.ndarray, complete: bool) -> np.ndarray:
    """Median of each column over the seen cells (NaN for a column nobody saw)."""
    n, m = values.shape
    if n == 0:
        return np.full(m, np.nan)
    if complete:
        return np.median(values, axis=0)
    ordered = np.sort(np.where(S, values, np.inf), axis=0)
    k = nj.astype(int)
    lo = np.take_along_axis(ordered, np.maximum((k - 1) // 2, 0)[None, :], axis=0)[0]
    hi = np.take_along_axis(ordered, np.maximum(k // 2, 0)[None, :], axis=0)[0]
    with np.errstate(invalid="ignore"):
        return np.where(k > 0, (lo + hi) / 2, np.nan)


def _flag(it: ItemStats, key_row, upper_seen) -> None:
    if it.facility is not None:
        if it.facility < FACILITY_MIN:
            it.flags.append(FACILITY_LOW)
        elif it.facility > FACILITY_MAX:
            it.flags.append(FACILITY_HIGH)
    if it.discrimination is not None and it.discrimination < 0:
        it.flags.append(NEGATIVE_DISCRIMINATION)
    if it.discriminative_efficiency is not None and it.discriminative_efficiency < EFFICIENCY_MIN:
        it.flags.append(LOW_EFFICIENCY)
    if key_row is not None and upper_seen and it.option_upper:
        k = len(it.option_upper)
        key_idx = [i for i in range(k) if key_row[i]]
        distractors = [i for i in range(k) if not key_row[i]]
        if key_idx and distractors:
            weakest_key = min(it.option_upper[i] for i in key_idx)
            best_distractor = max(it.option_upper[i] for i in distractors)
            if best_distractor > weakest_key:
                it.flags.append(MISKEY)


def _test_statistics(test: TestStats, pct, X, S, raw, slots, complete, cut_score, step) -> None:
    n = test.n
    notes = test.notes
    if n == 0:
        notes["mean"] = "没有已交卷的考生"
        return
    test.mean = _f(pct.mean())
    test.median = _f(np.median(pct))
    test.minimum, test.maximum = _f(pct.min()), _f(pct.max())
    edges = np.arange(0.0, 100.0 + step, step)
    counts, _ = np.histogram(np.clip(pct, 0, 100), bins=edges)
    test.histogram = [(float(edges[i]), float(edges[i + 1]), int(counts[i])) for i in range(len(counts))]
    if n < 2:
        for key in ("sd", "skewness", "kurtosis", "alpha"):
            notes[key] = "考生不足 2 人"
        return
    d = pct - pct.mean()
    m2, m3, m4 = (d ** 2).mean(), (d ** 3).mean(), (d ** 4).mean()
    k2 = n * m2 / (n - 1)
    test.sd = _f(np.sqrt(k2))
    if k2 <= _EPS:
        for key in ("skewness", "kurtosis", "alpha"):
            notes[key] = "所有考生总分相同"
    else:
        if n > 2:
            k3 = n * n * m3 / ((n - 1) * (n - 2))
            test.skewness = _f(k3 / k2 ** 1.5)
        else:
            notes["skewness"] = "考生不足 3 人"
        if n > 3:
            k4 = n * n * ((n + 1) * m4 - 3 * (n - 1) * m2 * m2) / ((n - 1) * (n - 2) * (n - 3))
            test.kurtosis = _f(k4 / (k2 * k2))
        else:
            notes["kurtosis"] = "考生不足 4 人"
        _alpha(test, X, S, raw, slots, complete)
    if test.alpha is not None:
        test.error_ratio = _f(np.sqrt(max(1.0 - test.alpha, 0.0)))
        test.sem = _f(test.error_ratio * test.sd)
    if cut_score is not None:
        test.cut_score = float(cut_score)
        items_per = float(S.sum(axis=1).mean())
        test.sem_at_cut = lord_csem(float(cut_score), items_per)
        if test.sem_at_cut is None:
            notes["sem_at_cut"] = "题目不足 2 道"
        if test.sem is not None:
            test.near_cut = int((np.abs(pct - cut_score) <= test.sem).sum())


def _alpha(test: TestStats, X, S, raw, slots, complete) -> None:
    n, m = X.shape
    if slots is not None:
        sl = np.asarray(slots, dtype=int)
        rows = np.arange(n)[:, None]
        parts = np.where(sl >= 0, X[rows, np.maximum(sl, 0)], 0.0)
    elif complete:
        parts = X
    else:
        counts = S.sum(axis=1)
        if counts.min() != counts.max():
            test.notes["alpha"] = "各考生题量不同，且未提供题位信息"
            return
        parts = X[S].reshape(n, int(counts[0]))  # each candidate's items in column order
    k = parts.shape[1]
    if k < 2:
        test.notes["alpha"] = "题目不足 2 道"
        return
    var_total = raw.var(ddof=1)
    if var_total <= _EPS:
        test.notes["alpha"] = "所有考生总分相同"
        return
    sum_var = parts.var(axis=0, ddof=1).sum()
    test.alpha = _f(k / (k - 1) * (1 - sum_var / var_total))
    test.alpha_parts = k


def _form_stability(X, S, maxm, forms, var_x, nj):
    """Facility per group of forms (forms dealt round-robin into up to 5 groups) and its spread."""
    if forms is None:
        return None, None
    labels = np.asarray(forms)
    uniq, inverse = np.unique(labels, return_inverse=True)
    if len(uniq) < 2:
        return None, None
    G = min(MAX_FORM_GROUPS, len(uniq))
    group = inverse % G
    onehot = np.zeros((len(labels), G))
    onehot[np.arange(len(labels)), group] = 1.0
    seen_g = np.einsum("ig,ij->gj", onehot, S.astype(float))  # (G, m)
    got_g = np.einsum("ig,ij->gj", onehot, X)
    with np.errstate(invalid="ignore", divide="ignore"):
        fac_g = np.where(seen_g > 0, got_g / (seen_g * maxm), np.nan)
        groups_with = (seen_g > 0).sum(axis=0)
        mean_g = np.nansum(np.where(seen_g > 0, fac_g, 0.0), axis=0) / np.maximum(groups_with, 1)
        dev = np.where(seen_g > 0, fac_g - mean_g, 0.0)
        sd = np.sqrt((dev ** 2).sum(axis=0) / np.maximum(groups_with - 1, 1))
        # the SD that sampling alone would give: √(mean over groups of var/(n_g·max²))
        expected = np.sqrt(np.where(seen_g > 0, var_x / (np.maximum(seen_g, 1) * maxm ** 2), 0.0).sum(axis=0)
                           / np.maximum(groups_with, 1))
    sd = np.where(groups_with >= 2, sd, np.nan)
    return sd, expected


def _categories(categories, X, S, maxm, upper, lower) -> list[CategoryStats]:
    labels = list(categories)
    order = sorted(set(labels), key=labels.index)
    onehot = np.zeros((len(labels), len(order)))
    onehot[np.arange(len(labels)), [order.index(c) for c in labels]] = 1.0
    got = np.einsum("ij,jc->ic", X, onehot)  # (n, categories)
    poss = np.einsum("ij,jc->ic", S.astype(float), onehot * maxm[:, None])

    def pooled(rows, c):
        if len(rows) == 0:
            return None
        den = poss[rows, c].sum()
        return _f(got[rows, c].sum() / den) if den > 0 else None

    everyone = np.arange(X.shape[0])
    out = []
    for c, cat in enumerate(order):
        has = poss[:, c] > 0
        mean_rate = _f((got[has, c] / poss[has, c]).mean()) if has.any() else None
        out.append(CategoryStats(cat, int(onehot[:, c].sum()), pooled(everyone, c), pooled(upper, c),
                                 pooled(lower, c), mean_rate))
    return out


def facility_loop_discrimination(marks: np.ndarray) -> np.ndarray:
    """Baseline for the benchmark: the discrimination index item by item in a Python loop (complete data)."""
    X = np.asarray(marks, dtype=float)
    total = X.sum(axis=1)
    out = np.empty(X.shape[1])
    for j in range(X.shape[1]):
        x = X[:, j].tolist()
        r = (total - X[:, j]).tolist()
        n = len(x)
        mx, mr = sum(x) / n, sum(r) / n
        sxx = sum((a - mx) ** 2 for a in x)
        srr = sum((b - mr) ** 2 for b in r)
        sxr = sum((a - mx) * (b - mr) for a, b in zip(x, r))
        out[j] = sxr / (sxx * srr) ** 0.5 if sxx * srr > 0 else np.nan
    return out
