"""Pure tests of the defense aggregate (DOMAIN.md): hand-computed cases, recusal, flags, exactness."""
from decimal import Decimal as D
from fractions import Fraction

import pytest

from defense.services.aggregation import aggregate, flags_for, validate_points


def test_three_panelists_mean_without_flags():
    agg = aggregate({"a": D("80"), "b": D("85"), "c": D("90")})
    assert agg.score == D("85.0000") and agg.exact == Fraction(85)
    assert agg.counted == ("a", "b", "c") and agg.dropped_high is None and agg.dropped_low is None
    assert agg.flags == ()


def test_three_panelists_repeating_mean_is_exact_and_flags_name_the_scores():
    agg = aggregate({"a": D("70"), "b": D("85"), "c": D("91.5")})
    assert agg.exact == Fraction(493, 6)  # 246.5 / 3
    assert agg.score == D("82.1667")
    kinds = [(f.kind, f.panelists) for f in agg.flags]
    assert ("spread", ("c", "a")) in kinds  # 91.5 − 70 = 21.5 > 20
    spread = next(f for f in agg.flags if f.kind == "spread")
    assert spread.value == D("21.5") and spread.detail["high_total"] == D("91.5")
    # leave-one-out: a vs median(85, 91.5) = 88.25 → 18.25 > 15; c vs median(70, 85) = 77.5 → 14 (not flagged)
    outliers = [f for f in agg.flags if f.kind == "outlier"]
    assert [(f.panelists, f.value) for f in outliers] == [(("a",), D("18.25"))]
    assert "88.25" in outliers[0].as_dict({"a": "专家甲"})["message"]
    assert "专家甲" in outliers[0].as_dict({"a": "专家甲"})["message"]


def test_four_panelists_plain_mean():
    agg = aggregate({1: D("80"), 2: D("82"), 3: D("84"), 4: D("86.5")})
    assert agg.score == D("83.1250") and agg.exact == Fraction(665, 8)
    assert agg.dropped_high is None and len(agg.counted) == 4


def test_five_panelists_drop_one_highest_and_one_lowest():
    agg = aggregate({1: D("60"), 2: D("80"), 3: D("82"), 4: D("84"), 5: D("99")})
    assert agg.dropped_high == 5 and agg.dropped_low == 1
    assert agg.counted == (2, 3, 4) and agg.score == D("82.0000")
    kinds = sorted((f.kind, f.panelists) for f in agg.flags)
    # spread 39; 60 vs median(80,82,84,99)=83 → 23; 99 vs median(60,80,82,84)=81 → 18
    assert kinds == [("outlier", (1,)), ("outlier", (5,)), ("spread", (5, 1))]


def test_six_panelists_drop_one_of_each_then_mean():
    agg = aggregate({i: D(v) for i, v in enumerate(["70", "75", "80", "85", "90", "95"])})
    assert (agg.dropped_high, agg.dropped_low) == (5, 0)
    assert agg.score == D("82.5000")
    assert [f.kind for f in agg.flags] == ["spread"]  # 25 > 20; each is within 15 of the others' median


def test_five_equal_totals_drop_two_different_panelists():
    agg = aggregate({i: D("80") for i in range(5)})
    assert agg.dropped_high != agg.dropped_low and agg.score == D("80.0000") and len(agg.counted) == 3


def test_recused_panelist_is_excluded_and_the_others_are_averaged():
    agg = aggregate({"a": D("70"), "b": D("80"), "c": D("90"), "d": D("100")}, recused={"d"})
    assert agg.scoring == 3 and agg.score == D("80.0000") and "d" not in agg.counted
    # five members, one recused: four scoring, no trimming
    agg = aggregate({1: D("60"), 2: D("70"), 3: D("80"), 4: D("90"), 5: None})
    assert agg.scoring == 4 and agg.dropped_high is None and agg.score == D("75.0000")


def test_fewer_than_three_scoring_gives_no_score():
    agg = aggregate({"a": D("70"), "b": D("80"), "c": D("90")}, recused={"c"})
    assert agg.score is None and agg.exact is None and "不足 3 人" in agg.error


def test_spread_exactly_at_threshold_is_not_flagged_and_threshold_is_configurable():
    totals = {"a": D("70"), "b": D("80"), "c": D("90")}
    assert flags_for(totals) == ()
    flags = flags_for(totals, spread_threshold=D("15"), outlier_threshold=D("100"))
    assert [(f.kind, f.value) for f in flags] == [("spread", D("20"))]
    flags = flags_for(totals, spread_threshold=D("100"), outlier_threshold=D("10"))
    # a vs median(80, 90) = 85 → 15 > 10; c likewise; b vs 80 → 0
    assert sorted(f.panelists for f in flags) == [("a",), ("c",)]


def test_two_totals_do_not_get_leave_one_out_flags():
    assert [f.kind for f in flags_for({"a": D("50"), "b": D("90")})] == ["spread"]


@pytest.mark.parametrize("raw,expected", [("12.5", D("12.5")), ("30", D("30")), (" 0 ", D("0")), (17, D("17")),
                                          ("29.50", D("29.5")), (12.5, D("12.5"))])
def test_valid_points(raw, expected):
    assert validate_points(raw, D("30")) == expected
    assert str(validate_points(raw, D("30"))) == str(expected)


@pytest.mark.parametrize("raw,fragment", [("12.3", "0.5 的整数倍"), ("31", "0 到 30"), ("-1", "0 到 30"),
                                           ("abc", "不是有效的数字"), ("", "请填写"), ("NaN", "不是有效的数字"),
                                           ("Infinity", "不是有效的数字"), (None, "请填写")])
def test_invalid_points(raw, fragment):
    with pytest.raises(ValueError) as err:
        validate_points(raw, D("30"))
    assert fragment in str(err.value)
