"""The pure item-analysis service against scipy, hand-computed values and degenerate inputs (no app)."""
import math

import numpy as np
import pytest
from scipy import stats

from exam.services.item_analysis import (
    FACILITY_HIGH,
    FACILITY_LOW,
    LOW_EFFICIENCY,
    MISKEY,
    NEGATIVE_DISCRIMINATION,
    analyse,
    facility_loop_discrimination,
    lord_csem,
    random_guess_score,
)


def dichotomous(n=400, m=20, seed=7):
    """A 0/1 response matrix from a Rasch-like model (abilities × difficulties)."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=n)
    b = np.linspace(-1.5, 1.5, m)
    p = 1 / (1 + np.exp(-(theta[:, None] - b)))
    return (rng.random((n, m)) < p).astype(float)


def polytomous(n=300, m=12, seed=3):
    """Marks in {0, 1, 2} (a multiple choice worth 2 with half credit), correlated with ability."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=n)
    p = 1 / (1 + np.exp(-(theta[:, None] - rng.normal(size=m))))
    return (rng.random((n, m)) < p).astype(float) + (rng.random((n, m)) < p).astype(float)


def all_finite(obj):
    """No NaN or infinity anywhere in the result's numbers."""
    for value in vars(obj).values():
        if isinstance(value, float):
            assert math.isfinite(value)


def test_facility_sd_and_discrimination_match_scipy():
    X = dichotomous()
    a = analyse(X, np.ones(X.shape[1]))
    total = X.sum(axis=1)
    for j, it in enumerate(a.items):
        assert it.facility == pytest.approx(X[:, j].mean())
        assert it.sd == pytest.approx(X[:, j].std(ddof=1))
        r, _ = stats.pearsonr(X[:, j], total - X[:, j])
        assert it.discrimination == pytest.approx(r, abs=1e-10)
        assert it.facility_se == pytest.approx(X[:, j].std(ddof=1) / math.sqrt(len(X)))
    # the loop baseline used by the benchmark agrees
    assert np.allclose(facility_loop_discrimination(X), [it.discrimination for it in a.items])


def test_polytomous_items_scale_by_max_mark():
    X = polytomous()
    a = analyse(X, np.full(X.shape[1], 2.0))
    total = X.sum(axis=1)
    for j, it in enumerate(a.items):
        assert it.facility == pytest.approx(X[:, j].mean() / 2)
        assert it.sd == pytest.approx(X[:, j].std(ddof=1) / 2)
        assert it.discrimination == pytest.approx(stats.pearsonr(X[:, j], total - X[:, j])[0], abs=1e-10)
    pct = 100 * total / (2 * X.shape[1])
    assert np.allclose(a.totals, pct)


def test_discriminative_efficiency_is_cov_over_sorted_cov():
    X = polytomous(n=120, m=8, seed=11)
    a = analyse(X, np.full(8, 2.0))
    total = X.sum(axis=1)
    for j, it in enumerate(a.items):
        x, rest = X[:, j], total - X[:, j]
        cov = np.cov(x, rest, ddof=1)[0, 1]
        cov_max = np.cov(np.sort(x), np.sort(rest), ddof=1)[0, 1]
        assert it.discriminative_efficiency == pytest.approx(cov / cov_max)
        assert it.discriminative_efficiency <= 1 + 1e-12


def test_discriminative_efficiency_with_marks_off_the_half_point_grid():
    """Marks like ⅓ points take the float sort (whole and half points take the integer radix sort)."""
    X = polytomous(n=90, m=5, seed=13) / 3
    a = analyse(X, np.full(5, 2 / 3))
    total = X.sum(axis=1)
    for j, it in enumerate(a.items):
        x, rest = X[:, j], total - X[:, j]
        cov_max = np.cov(np.sort(x), np.sort(rest), ddof=1)[0, 1]
        assert it.discriminative_efficiency == pytest.approx(np.cov(x, rest, ddof=1)[0, 1] / cov_max)


def test_effective_weight_moodle_definition_and_intended_weight():
    X = polytomous(n=200, m=6, seed=5)
    a = analyse(X, np.full(6, 2.0))
    total = X.sum(axis=1)
    covs = np.array([np.cov(X[:, j], total, ddof=1)[0, 1] for j in range(6)])
    assert (covs > 0).all()
    expected = np.sqrt(covs) / np.sqrt(covs).sum()
    assert [it.effective_weight for it in a.items] == pytest.approx(list(expected))
    assert sum(it.effective_weight for it in a.items) == pytest.approx(1.0)
    assert all(it.intended_weight == pytest.approx(1 / 6) for it in a.items)


def test_test_statistics_match_scipy_and_numpy():
    X = polytomous(n=250, m=10, seed=9)
    a = analyse(X, np.full(10, 2.0))
    pct = 100 * X.sum(axis=1) / 20
    t = a.test
    assert t.mean == pytest.approx(pct.mean())
    assert t.median == pytest.approx(np.median(pct))
    assert t.sd == pytest.approx(pct.std(ddof=1))
    assert t.skewness == pytest.approx(stats.skew(pct, bias=False))
    assert t.kurtosis == pytest.approx(stats.kurtosis(pct, bias=False))  # excess, k4 / k2²
    k = 10
    alpha = k / (k - 1) * (1 - X.var(axis=0, ddof=1).sum() / X.sum(axis=1).var(ddof=1))
    assert t.alpha == pytest.approx(alpha)
    assert t.error_ratio == pytest.approx(math.sqrt(1 - alpha))
    assert t.sem == pytest.approx(math.sqrt(1 - alpha) * pct.std(ddof=1))
    assert sum(c for _, _, c in t.histogram) == len(pct)


def test_kr20_equals_alpha_for_dichotomous_items():
    X = dichotomous(n=500, m=25)
    a = analyse(X, np.ones(25))
    p = X.mean(axis=0)
    total = X.sum(axis=1)
    kr20 = 25 / 24 * (1 - (p * (1 - p)).sum() / total.var(ddof=0))
    assert a.test.alpha == pytest.approx(kr20)
    assert a.test.alpha_parts == 25


def test_hand_computed_small_matrix():
    # 4 candidates × 3 items, 0/1
    X = np.array([[1, 1, 1], [1, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=float)
    a = analyse(X, np.ones(3))
    assert [it.facility for it in a.items] == pytest.approx([0.75, 0.5, 0.25])
    # item 1: x = 1,1,1,0; rest = 2,1,0,0 → r = cov / (sd_x sd_r)
    x, rest = np.array([1, 1, 1, 0.0]), np.array([2, 1, 0, 0.0])
    r = ((x - x.mean()) * (rest - rest.mean())).sum() / math.sqrt(((x - x.mean()) ** 2).sum() * ((rest - rest.mean()) ** 2).sum())
    assert a.items[0].discrimination == pytest.approx(r)
    # totals 100, 66.67, 33.33, 0 → upper/lower 27 % of 4 = 1 candidate each
    assert a.test.upper_n == a.test.lower_n == 1
    assert a.items[0].upper_facility == 1.0 and a.items[0].lower_facility == 0.0
    assert a.items[0].upper_lower == 1.0
    # alpha for this perfect Guttman pattern: 3/2 (1 − Σ p q·n/(n−1) / var)
    var_items = X.var(axis=0, ddof=1).sum()
    assert a.test.alpha == pytest.approx(1.5 * (1 - var_items / X.sum(axis=1).var(ddof=1)))


def test_upper_lower_groups_are_27_percent():
    X = dichotomous(n=100, m=10)
    a = analyse(X, np.ones(10))
    assert len(a.upper) == len(a.lower) == 27
    pct = a.totals
    assert pct[a.upper].min() >= pct[a.lower].max()
    for j, it in enumerate(a.items):
        assert it.upper_facility == pytest.approx(X[a.upper, j].mean())
        assert it.lower_facility == pytest.approx(X[a.lower, j].mean())


def option_data(n=200, seed=1, miskey_item=None):
    """Single-choice items with 4 options: key A; strong candidates pick the key (or C for the miskey item)."""
    rng = np.random.default_rng(seed)
    m = 5
    theta = np.sort(rng.normal(size=n))
    choice = np.empty((n, m), dtype=int)
    for j in range(m):
        good = 2 if j == miskey_item else 0
        p = 1 / (1 + np.exp(-2 * theta))
        right = rng.random(n) < p
        choice[:, j] = np.where(right, good, rng.choice([1, 3] + ([0] if good else [2]), size=n))
    choice[:5, 0] = -1  # five omit item 1
    C = np.zeros((n, m, 4), dtype=bool)
    rows, cols = np.nonzero(choice >= 0)
    C[rows, cols, choice[rows, cols]] = True
    marks = (choice == 0).astype(float)
    keys = np.zeros((m, 4), dtype=bool)
    keys[:, 0] = True
    return marks, C, keys


def test_option_frequencies_omit_rate_and_miskey_flag():
    marks, C, keys = option_data(miskey_item=3)
    a = analyse(marks, np.ones(5), choices=C, keys=keys, n_options=np.full(5, 4))
    for j, it in enumerate(a.items):
        assert it.option_freq == pytest.approx(list(C[:, j].mean(axis=0)))
        assert it.option_upper == pytest.approx(list(C[a.upper, j].mean(axis=0)))
        assert it.option_lower == pytest.approx(list(C[a.lower, j].mean(axis=0)))
    assert a.items[0].omit_rate == pytest.approx(5 / 200)
    assert a.items[1].omit_rate == 0
    assert MISKEY in a.items[3].flags  # the upper group prefers C to the key A
    assert NEGATIVE_DISCRIMINATION in a.items[3].flags
    assert all(MISKEY not in it.flags for k, it in enumerate(a.items) if k != 3)


def test_flags_for_facility_and_efficiency():
    rng = np.random.default_rng(2)
    n = 300
    theta = rng.normal(size=n)
    good = (rng.random((n, 6)) < 1 / (1 + np.exp(-(theta[:, None])))).astype(float)
    easy = (rng.random(n) < 0.97).astype(float)  # facility > 0.9
    hard = (rng.random(n) < 0.1).astype(float)  # < 0.3 and unrelated to ability: low efficiency
    X = np.column_stack([good, easy, hard])
    a = analyse(X, np.ones(8))
    assert FACILITY_HIGH in a.items[6].flags
    assert FACILITY_LOW in a.items[7].flags
    assert LOW_EFFICIENCY in a.items[7].flags
    assert all(not it.flags for it in a.items[:6])


def test_item_everyone_got_right_gives_none_with_reason():
    X = dichotomous(n=50, m=5)
    X[:, 2] = 1
    a = analyse(X, np.ones(5))
    it = a.items[2]
    assert it.facility == 1.0 and it.sd == 0.0
    assert it.discrimination is None and "得分相同" in it.notes["discrimination"]
    assert it.discriminative_efficiency is None
    assert FACILITY_HIGH in it.flags
    all_finite(it)
    assert a.test.alpha is not None


def test_candidate_with_zero_score_is_counted():
    X = dichotomous(n=40, m=6)
    X[0] = 0
    a = analyse(X, np.ones(6))
    assert a.totals[0] == 0
    assert a.test.minimum == 0
    assert a.items[0].facility == pytest.approx(X[:, 0].mean())


def test_one_candidate_gives_defined_results():
    a = analyse(np.array([[1.0, 0.0, 1.0]]), np.ones(3), choices=np.zeros((1, 3, 4), bool),
                keys=np.eye(3, 4, dtype=bool), times=np.array([[1000, 2000, 3000]]), forms=[0], cut_score=60)
    assert a.test.n == 1 and a.test.mean == pytest.approx(200 / 3)
    assert a.test.sd is None and a.test.alpha is None and a.test.skewness is None
    assert "不足" in a.test.notes["sd"]
    assert a.items[0].facility == 1.0
    assert a.items[0].discrimination is None and a.items[0].upper_lower is None
    assert a.items[1].median_time_ms == 2000
    for it in a.items:
        all_finite(it)
    all_finite(a.test)


def test_zero_variance_everywhere():
    X = np.ones((10, 4))
    a = analyse(X, np.ones(4), cut_score=60)
    assert a.test.sd == 0.0
    assert a.test.alpha is None and "相同" in a.test.notes["alpha"]
    assert a.test.skewness is None and a.test.kurtosis is None and a.test.sem is None
    assert all(it.discrimination is None and it.effective_weight is None for it in a.items)
    for it in a.items:
        all_finite(it)
    all_finite(a.test)


def test_no_candidates():
    a = analyse(np.zeros((0, 3)), np.ones(3))
    assert a.test.n == 0 and a.test.mean is None
    assert all(it.n == 0 and it.facility is None for it in a.items)


def test_negative_discrimination_and_negative_effective_weight():
    X = dichotomous(n=200, m=8)
    X[:, 0] = 1 - X[:, 1]  # the reverse of another item: strong candidates miss it
    a = analyse(X, np.ones(8))
    assert a.items[0].discrimination < 0
    assert NEGATIVE_DISCRIMINATION in a.items[0].flags
    assert a.items[0].effective_weight is None and "负" in a.items[0].notes["effective_weight"]


def per_candidate_forms(n=600, pool=30, per_form=10, seed=4):
    """Each candidate draws 10 of 30 items (three strata of 10, one per ... ) → missing cells."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=n)
    b = rng.normal(size=pool)
    full = (rng.random((n, pool)) < 1 / (1 + np.exp(-(theta[:, None] - b)))).astype(float)
    seen = np.zeros((n, pool), dtype=bool)
    slots = np.zeros((n, per_form), dtype=int)
    for i in range(n):
        # stratum s (items 10s … 10s+9) gives slots from a draw of per_form // 3 (+1) items
        cols = np.concatenate([rng.choice(np.arange(s * 10, s * 10 + 10), size=k, replace=False)
                               for s, k in zip(range(3), (4, 3, 3))])
        seen[i, cols] = True
        slots[i] = cols
    marks = np.where(seen, full, np.nan)
    forms = np.array([hash(tuple(sorted(np.nonzero(seen[i])[0]))) for i in range(n)])
    return marks, seen, slots, forms


def test_missing_cells_use_only_candidates_who_saw_the_item():
    marks, seen, slots, forms = per_candidate_forms()
    a = analyse(marks, np.ones(30), seen=seen, slots=slots, forms=forms)
    X0 = np.nan_to_num(marks)
    total = X0.sum(axis=1)
    for j, it in enumerate(a.items):
        rows = seen[:, j]
        assert it.n == rows.sum()
        assert it.facility == pytest.approx(X0[rows, j].mean())
        r = stats.pearsonr(X0[rows, j], total[rows] - X0[rows, j])[0]
        assert it.discrimination == pytest.approx(r, abs=1e-10)
        cov = np.cov(X0[rows, j], total[rows] - X0[rows, j], ddof=1)[0, 1]
        cov_max = np.cov(np.sort(X0[rows, j]), np.sort(total[rows] - X0[rows, j]), ddof=1)[0, 1]
        assert it.discriminative_efficiency == pytest.approx(cov / cov_max)
        all_finite(it)
    # alpha over slots (Moodle's view of random questions)
    parts = X0[np.arange(len(X0))[:, None], slots]
    k = parts.shape[1]
    assert a.test.alpha == pytest.approx(k / (k - 1) * (1 - parts.var(axis=0, ddof=1).sum() / total.var(ddof=1)))
    assert a.test.forms == len(set(forms.tolist()))


def test_missing_cells_as_nan_without_seen_and_without_slots():
    marks, seen, _, forms = per_candidate_forms(n=200)
    a = analyse(marks, np.ones(30), forms=forms)  # seen inferred from NaN; same count per candidate
    assert a.test.alpha is not None and a.test.alpha_parts == 10
    assert [it.n for it in a.items] == list(seen.sum(axis=0))
    uneven = marks.copy()
    uneven[0, np.nonzero(seen[0])[0][0]] = np.nan
    b = analyse(uneven, np.ones(30))
    assert b.test.alpha is None and "题量不同" in b.test.notes["alpha"]


def test_facility_stability_across_forms():
    marks, seen, slots, forms = per_candidate_forms(n=1000)
    a = analyse(marks, np.ones(30), seen=seen, forms=forms)
    X0 = np.nan_to_num(marks)
    uniq, inverse = np.unique(forms, return_inverse=True)
    group = inverse % 5
    j = 4
    facs = [X0[(group == g) & seen[:, j], j].mean() for g in range(5)]
    assert a.items[j].form_sd == pytest.approx(np.std(facs, ddof=1))
    # random forms: the spread is about what sampling gives
    ratios = [it.form_stability for it in a.items if it.form_stability is not None]
    assert 0.3 < np.median(ratios) < 2.0
    one_form = analyse(X0, np.ones(30), forms=np.zeros(len(X0)))
    assert one_form.items[0].form_sd is None and "一种" in one_form.items[0].notes["form_sd"]


def test_median_time_ignores_unseen_cells():
    marks, seen, _, _ = per_candidate_forms(n=100)
    times = np.where(seen, 5000, 999999)
    times[seen[:, 0], 0] = np.arange(seen[:, 0].sum()) * 1000
    a = analyse(marks, np.ones(30), seen=seen, times=times)
    assert a.items[1].median_time_ms == 5000
    assert a.items[0].median_time_ms == pytest.approx(np.median(np.arange(seen[:, 0].sum()) * 1000))


def test_categories_pool_marks():
    X = dichotomous(n=100, m=4)
    a = analyse(X, np.ones(4), categories=["科学素养", "活动组织", "科学素养", "活动组织"])
    assert [c.category for c in a.categories] == ["科学素养", "活动组织"]
    assert a.categories[0].facility == pytest.approx(X[:, [0, 2]].mean())
    assert a.categories[1].upper_facility == pytest.approx(X[np.ix_(a.upper, [1, 3])].mean())


def test_random_guess_scores():
    assert random_guess_score("single", 4, "B") == 0.25
    assert random_guess_score("truefalse", 2, "A") == 0.5
    # 3 options, key AB: 7 non-empty sets; AB → 1, A or B → ½ each
    assert random_guess_score("multiple", 3, "AB") == pytest.approx(2 / 7)
    assert random_guess_score("multiple", 3, "AB", "all_or_nothing") == pytest.approx(1 / 7)
    a = analyse(dichotomous(n=20, m=2), np.ones(2), guess=[0.25, 0.5])
    assert [it.random_guess for it in a.items] == [0.25, 0.5]


def test_sem_at_cut_score():
    assert lord_csem(50, 101) == pytest.approx(100 * math.sqrt(0.25 / 100))
    assert lord_csem(100, 50) == 0
    X = dichotomous(n=300, m=20)
    a = analyse(X, np.ones(20), cut_score=60)
    assert a.test.cut_score == 60
    assert a.test.sem_at_cut == pytest.approx(100 * math.sqrt(0.6 * 0.4 / 19))
    assert a.test.near_cut == int((np.abs(a.totals - 60) <= a.test.sem).sum())


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        analyse(np.ones((3, 2)), np.ones(3))
    with pytest.raises(ValueError):
        analyse(np.full((3, 2), 2.0), np.ones(2))
    with pytest.raises(ValueError):
        analyse(np.ones((3, 2)), np.zeros(2))
