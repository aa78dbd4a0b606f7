"""Pure tests of the panel quality statistics against published and scipy-computed values."""
import numpy as np
import pytest
from scipy import stats

from defense.services.rater_stats import average_ranks, icc, kendalls_w, severity

# Shrout & Fleiss (1979), Table 2: 6 targets × 4 judges.
SF = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]


def as_ratings(matrix):
    return {f"c{i}": {f"p{j}": v for j, v in enumerate(row)} for i, row in enumerate(matrix)}


def test_icc_matches_shrout_fleiss_published_values():
    out = icc(as_ratings(SF))
    assert round(out["icc3_1"].value, 2) == 0.71
    assert round(out["icc3_k"].value, 2) == 0.91
    assert round(out["icc2_1"].value, 2) == 0.29
    assert out["icc3_1"].n == 6 and out["icc3_1"].k == 4


def test_icc_matches_a_direct_anova_computation():
    rng = np.random.default_rng(7)
    x = rng.integers(50, 100, size=(9, 3)).astype(float)
    n, k = x.shape
    grand = x.mean()
    msr = k * ((x.mean(1) - grand) ** 2).sum() / (n - 1)
    msc = n * ((x.mean(0) - grand) ** 2).sum() / (k - 1)
    sse = ((x - x.mean(1, keepdims=True) - x.mean(0, keepdims=True) + grand) ** 2).sum()
    mse = sse / ((n - 1) * (k - 1))
    out = icc(as_ratings(x.tolist()))
    assert out["icc3_1"].value == pytest.approx((msr - mse) / (msr + (k - 1) * mse))
    assert out["icc3_k"].value == pytest.approx((msr - mse) / msr)
    assert out["icc2_1"].value == pytest.approx((msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n))


def test_icc_leaves_out_incomplete_candidates():
    ratings = as_ratings(SF)
    ratings["extra"] = {"p0": 50, "p1": 60}  # p2 and p3 recused on this one
    assert icc(ratings)["icc3_1"].value == pytest.approx(icc(as_ratings(SF))["icc3_1"].value)


@pytest.mark.parametrize("ratings", [{}, {"c0": {"p0": 80}}, {"c0": {"p0": 80, "p1": 70}},
                                     as_ratings([[80], [70], [60]]),
                                     as_ratings([[80, 80, 80], [80, 80, 80]])])
def test_degenerate_inputs_give_none_with_a_reason(ratings):
    for stat in list(icc(ratings).values()) + [kendalls_w(ratings)]:
        assert stat.value is None and stat.note


def test_identical_raters_give_perfect_consistency():
    out = icc(as_ratings([[70, 70, 70], [80, 80, 80], [90, 90, 90]]))
    assert out["icc3_1"].value == pytest.approx(1.0) and out["icc2_1"].value == pytest.approx(1.0)
    assert kendalls_w(as_ratings([[70, 70, 70], [80, 80, 80], [90, 90, 90]])).value == pytest.approx(1.0)


def test_constant_offset_is_consistent_but_not_in_absolute_agreement():
    out = icc(as_ratings([[70, 80], [80, 90], [90, 100]]))
    assert out["icc3_1"].value == pytest.approx(1.0)
    assert out["icc2_1"].value < 1.0


def _w_via_friedman(matrix):
    x = np.asarray(matrix, dtype=float)  # n candidates × m raters
    n, m = x.shape
    chi2, _ = stats.friedmanchisquare(*[x[i, :] for i in range(n)])  # treatments = candidates, blocks = raters
    return chi2 / (m * (n - 1))


def test_kendalls_w_with_ties_matches_friedman():
    matrix = [[80, 75, 90], [85, 75, 88], [70, 60, 70], [90, 95, 92], [85, 80, 70]]
    assert kendalls_w(as_ratings(matrix)).value == pytest.approx(_w_via_friedman(matrix))
    assert kendalls_w(as_ratings(SF)).value == pytest.approx(_w_via_friedman(SF))


def test_kendalls_w_hand_computed_without_ties():
    # 3 raters, 3 candidates; rank sums 3, 6, 9 → S = 18, W = 12·18 / (9·24) = 1
    assert kendalls_w(as_ratings([[1, 1, 1], [2, 2, 2], [3, 3, 3]])).value == pytest.approx(1.0)
    # perfectly opposed pair: rank sums all equal → W = 0
    assert kendalls_w(as_ratings([[1, 3], [2, 2], [3, 1]])).value == pytest.approx(0.0)


def test_average_ranks_match_scipy():
    values = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]
    assert average_ranks(values).tolist() == stats.rankdata(values).tolist()


def test_severity_is_own_minus_others_mean_on_shared_candidates():
    ratings = {"c1": {"a": 80, "b": 90, "c": 70},  # a: 80 − 80 = 0; b: 90 − 75 = 15; c: 70 − 85 = −15
               "c2": {"a": 60, "b": 70},          # a: −10; b: +10
               "c3": {"c": 50}}                   # nobody else: ignored
    sev = severity(ratings)
    assert sev["a"] == pytest.approx(-5.0) and sev["b"] == pytest.approx(12.5) and sev["c"] == pytest.approx(-15.0)
    assert severity({"c1": {"a": 80}}) == {"a": None}
