"""Pure results logic against independent computation (no app)."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certify.domain import half_up
from certify.results.services.publicity import publicity_end
from certify.results.services.ranking import quota_for, rank_and_certify
from certify.results.services.totals import ABSENT, MISSING, SCORED, ComponentValue, compute_total

CQ_MID = {"exam": D("20"), "defense": D("40"), "record": D("40")}
CQ_JUN = {"exam": D("50"), "defense": D("0"), "record": D("50")}
JL_JUN = {"exam": D("0"), "defense": D("0"), "record": D("100")}


def sc(x):
    return ComponentValue("scored", D(x))


def test_total_is_exact_weighted_sum():
    t = compute_total(CQ_MID, {"exam": sc("88.125"), "defense": sc("90"), "record": sc("70.5")})
    # 0.2*88.125 = 17.625 ; 0.4*90 = 36 ; 0.4*70.5 = 28.2  -> 81.825 exactly
    assert t.status == SCORED and t.total == D("81.825")
    assert half_up(t.total) == D("81.83")  # half-up, not banker's (which would give 81.82)


@pytest.mark.parametrize("exam, expected_exact, expected_display", [
    ("88.125", D("17.625"), D("17.63")),   # 20% of exam alone: .xx5 rounds up
    ("88.025", D("17.605"), D("17.61")),
    ("0.025", D("0.005"), D("0.01")),
    ("88.1", D("17.62"), D("17.62")),
])
def test_half_up_at_xx5_boundaries(exam, expected_exact, expected_display):
    weights = {"exam": D("20"), "defense": D("0"), "record": D("80")}
    t = compute_total(weights, {"exam": sc(exam), "record": sc("0")})
    assert t.total == expected_exact
    assert half_up(t.total) == expected_display


def test_jilin_total_is_the_work_record_alone():
    t = compute_total(JL_JUN, {"record": sc("77.25"), "exam": sc("10")})
    assert t.total == D("77.25")


def test_component_the_scheme_lacks_is_ignored_and_not_required():
    t = compute_total(CQ_JUN, {"exam": sc("60"), "record": sc("80")})
    assert t.status == SCORED and t.total == D("70")


def test_absent_from_a_required_component_is_absent_even_if_another_is_missing():
    t = compute_total(CQ_MID, {"exam": ComponentValue("absent", None), "record": sc("80")})
    assert t.status == ABSENT and t.total is None and t.absent == ["exam"] and t.missing == ["defense"]


def test_missing_without_absence_is_missing():
    t = compute_total(CQ_MID, {"exam": sc("80"), "record": sc("80")})
    assert t.status == MISSING and t.missing == ["defense"]


def test_absence_from_a_component_the_scheme_lacks_does_not_matter():
    t = compute_total(CQ_JUN, {"exam": sc("60"), "record": sc("80"), "defense": ComponentValue("absent", None)})
    assert t.status == SCORED


@pytest.mark.parametrize("ratio, n, quota", [
    ("0.5", 5, 3),   # 2.5 -> 3 (half-up, banker's would give 2)
    ("0.5", 3, 2),   # 1.5 -> 2
    ("0.7", 5, 4),   # 3.5 -> 4
    ("0.3", 5, 2),   # 1.5 -> 2
    ("0.8", 7, 6),   # 5.6 -> 6
    ("0.8", 0, 0),
    ("1", 4, 4),
    ("0.1", 4, 0),   # 0.4 -> 0
])
def test_quota_rounds_half_up(ratio, n, quota):
    assert quota_for(D(ratio), n) == quota


def test_competition_ranking_and_ties_at_the_cut_line_are_all_certified():
    totals = [("a", D("90")), ("b", D("85")), ("c", D("85")), ("d", D("80")), ("e", D("70"))]
    out = rank_and_certify(totals, D("0.4"), None)  # quota round(2.0) = 2: b and c tie at #2
    got = {p.key: (p.rank, p.certified) for p in out.placed}
    assert got == {"a": (1, True), "b": (2, True), "c": (2, True), "d": (4, False), "e": (5, False)}
    assert out.quota == 2 and out.certified == 3 and out.cut_line == D("85")


def test_tie_decided_on_the_exact_total_not_the_displayed_one():
    totals = [("a", D("85.004")), ("b", D("85.001")), ("c", D("80"))]  # both show 85.00
    out = rank_and_certify(totals, D("0.34"), None)  # quota round(1.02) = 1
    got = {p.key: (p.rank, p.certified) for p in out.placed}
    assert got == {"a": (1, True), "b": (2, False), "c": (3, False)}


def test_minimum_total_certifies_nobody_below_it():
    totals = [("a", D("90")), ("b", D("59.99")), ("c", D("59.99")), ("d", D("50"))]
    out = rank_and_certify(totals, D("1"), D("60"))
    assert [p.certified for p in out.placed] == [True, False, False, False]
    assert out.cut_line == D("90") and out.certified == 1


def test_no_eligible_candidates():
    out = rank_and_certify([], D("0.8"), None)
    assert out.eligible == 0 and out.quota == 0 and out.cut_line is None and out.placed == []


# --- property test against a brute-force re-implementation written differently -----------------------

def brute_force(totals, ratio, min_total):
    """Rank = 1 + how many strictly better; quota with Fractions; certified = some member of the first
    `quota` in a sorted list has the same total, and not below min_total."""
    values = [t for _, t in totals]
    n = len(values)
    exact = Fraction(str(ratio)) * n
    quota = int(exact) + (1 if exact - int(exact) >= Fraction(1, 2) else 0)
    top = sorted(values, reverse=True)[:quota]
    out = {}
    for key, t in totals:
        rank = 1 + sum(1 for v in values if v > t)
        cert = any(v == t for v in top) and (min_total is None or t >= min_total)
        out[key] = (rank, cert)
    return quota, out


score = st.decimals(min_value=0, max_value=100, places=2)
ratios = st.decimals(min_value=D("0.01"), max_value=1, places=2)


@settings(max_examples=300, deadline=None)
@given(scores=st.lists(st.sampled_from([D("60"), D("70.5"), D("80"), D("88.13"), D("90")]) | score, max_size=25),
       ratio=ratios, min_total=st.none() | st.sampled_from([D("60"), D("75"), D("88.13")]))
def test_ranking_matches_brute_force(scores, ratio, min_total):
    totals = [(i, s) for i, s in enumerate(scores)]
    out = rank_and_certify(totals, ratio, min_total)
    quota, expected = brute_force(totals, ratio, min_total)
    assert out.quota == quota
    assert {p.key: (p.rank, p.certified) for p in out.placed} == expected
    certified = [p.total for p in out.placed if p.certified]
    assert out.cut_line == (min(certified) if certified else None)


@settings(max_examples=200, deadline=None)
@given(weights=st.sampled_from([CQ_MID, CQ_JUN, JL_JUN]), exam=score, defense=score, record=score)
def test_total_matches_fraction_arithmetic(weights, exam, defense, record):
    t = compute_total(weights, {"exam": sc(exam), "defense": sc(defense), "record": sc(record)})
    expected = sum(Fraction(str(weights[c])) / 100 * Fraction(str(v))
                   for c, v in (("exam", exam), ("defense", defense), ("record", record)))
    assert Fraction(str(t.total)) == expected


@pytest.mark.parametrize("start, days, end", [
    (date(2024, 7, 1), 5, date(2024, 7, 5)),    # Monday -> Friday
    (date(2024, 7, 3), 5, date(2024, 7, 9)),    # Wednesday -> next Tuesday (weekend skipped)
    (date(2024, 7, 6), 5, date(2024, 7, 12)),   # Saturday start -> begins Monday
    (date(2024, 7, 5), 1, date(2024, 7, 5)),
    (date(2024, 7, 5), 7, date(2024, 7, 15)),
])
def test_publicity_end_skips_weekends(start, days, end):
    assert publicity_end(start, days) == end


@pytest.mark.parametrize("start, days, end", [
    # National Day 2024: 1–7 October off, Sunday 29 Sep and Saturday 12 Oct are make-up working days (调休)
    (date(2024, 9, 27), 5, date(2024, 10, 9)),   # Fri 27, Sun 29, Mon 30, Tue 8, Wed 9
    (date(2024, 9, 30), 5, date(2024, 10, 11)),  # Mon 30, Tue 8 … Fri 11
    (date(2024, 10, 8), 5, date(2024, 10, 12)),  # Tue 8 … Sat 12 (a make-up working Saturday)
    # Spring Festival 2025: 28 Jan – 4 Feb off; Sunday 26 Jan and Saturday 8 Feb are working days
    (date(2025, 1, 24), 3, date(2025, 1, 27)),   # Fri 24, Sun 26, Mon 27
    (date(2025, 1, 28), 1, date(2025, 2, 5)),    # a start inside the holiday begins after it
])
def test_publicity_end_follows_statutory_holidays_and_make_up_days(start, days, end):
    from certify.results.services.publicity import is_working_day

    assert publicity_end(start, days) == end
    # independent check: count the working days in the period one by one
    assert sum(is_working_day(start + timedelta(n)) for n in range((end - start).days + 1)) == days


def test_secretariat_overrides_win_and_unknown_years_are_reported():
    from certify.results.services.publicity import unknown_years

    assert publicity_end(date(2024, 7, 1), 5, {date(2024, 7, 3): False}) == date(2024, 7, 8)
    assert publicity_end(date(2024, 7, 6), 1, {date(2024, 7, 6): True}) == date(2024, 7, 6)
    far = date(2099, 3, 2)  # a Monday in a year no calendar publishes yet: Monday–Friday, reported
    assert publicity_end(far, 5) == date(2099, 3, 6)
    assert unknown_years(far, date(2099, 3, 6)) == [2099]
    assert unknown_years(date(2024, 7, 1), date(2024, 7, 5)) == []
