"""Grading policies (pure): single, true/false, multiple under both policies, errata, scaling."""
from decimal import Decimal

import pytest

from certify.domain import MC_ALL_OR_NOTHING, MC_PARTIAL_HALF
from exam.services.grading import (
    Erratum,
    GradedItem,
    InvalidResponse,
    grade_item,
    grade_paper,
    key_rule,
    normalise_response,
)

D = Decimal


def g(item_type, key, response, points="2", policy=MC_PARTIAL_HALF, errata=()):
    return grade_item(item_type, key_rule(key, errata), response, D(points), policy)


def test_single_choice_exact_key_full_points_else_zero():
    assert g("single", "B", "B") == D(2)
    assert g("single", "B", "C") == 0
    assert g("single", "B", "") == 0


def test_truefalse_is_graded_like_single():
    assert g("truefalse", "A", "A", "1") == D(1)
    assert g("truefalse", "A", "B", "1") == 0


def test_multiple_partial_half_exact_subset_superset_wrong_empty():
    assert g("multiple", "ACD", "ACD", "3") == D(3)
    assert g("multiple", "ACD", "AC", "3") == D("1.5")
    assert g("multiple", "ACD", "D", "3") == D("1.5")
    assert g("multiple", "ACD", "ABCD", "3") == 0  # superset: a wrong option
    assert g("multiple", "ACD", "AB", "3") == 0  # subset plus one wrong
    assert g("multiple", "ACD", "", "3") == 0  # empty is not a strict non-empty subset


def test_multiple_all_or_nothing_only_exact_key():
    assert g("multiple", "ACD", "ACD", "3", MC_ALL_OR_NOTHING) == D(3)
    assert g("multiple", "ACD", "AC", "3", MC_ALL_OR_NOTHING) == 0


def test_unsorted_response_is_the_same_answer():
    assert g("multiple", "ACD", "DCA", "3") == D(3)


def test_erratum_correct_replaces_the_key():
    errata = (Erratum("correct", ("C",)),)
    assert g("single", "B", "C", errata=errata) == D(2)
    assert g("single", "B", "B", errata=errata) == 0


def test_erratum_accept_adds_keys_and_partial_credit_follows_any_key():
    errata = (Erratum("accept", ("AB",)),)
    assert g("multiple", "AC", "AB", "4", errata=errata) == D(4)
    assert g("multiple", "AC", "AC", "4", errata=errata) == D(4)
    assert g("multiple", "AC", "B", "4", errata=errata) == D(2)  # strict subset of the accepted AB
    assert g("multiple", "AC", "BC", "4", errata=errata) == 0


def test_erratum_void_gives_everyone_the_points_even_unanswered():
    errata = (Erratum("void"),)
    assert g("single", "B", "", errata=errata) == D(2)
    assert g("single", "B", "C", errata=errata) == D(2)


def test_correct_after_void_restores_grading_with_the_new_key():
    errata = (Erratum("void"), Erratum("correct", ("D",)))
    assert g("single", "B", "D", errata=errata) == D(2)
    assert g("single", "B", "B", errata=errata) == 0


def test_paper_score_is_exact_out_of_100():
    items = [GradedItem(1, "single", "A", D("33.33")), GradedItem(2, "multiple", "BC", D("33.33")),
             GradedItem(3, "truefalse", "B", D("33.34"))]
    result = grade_paper(items, {1: "A", 2: "B"})
    assert result.total == D(100)
    assert result.score == D("33.33") + D("16.665")
    assert result.points == {1: D("33.33"), 2: D("16.665"), 3: D(0)}


def test_paper_not_totalling_100_is_scaled():
    items = [GradedItem(1, "single", "A", D(1)), GradedItem(2, "single", "A", D(2))]
    assert grade_paper(items, {1: "A"}).score == D("33.3333")
    assert grade_paper(items, {1: "A", 2: "A"}).score == D(100)


def test_normalise_response_validates_letters():
    assert normalise_response("multiple", ["c", "A"], 4) == "AC"
    assert normalise_response("single", [], 4) == ""
    with pytest.raises(InvalidResponse, match="选项“E”不存在"):
        normalise_response("single", ["E"], 4)
    with pytest.raises(InvalidResponse, match="只能选择一个"):
        normalise_response("single", ["A", "B"], 4)
    with pytest.raises(InvalidResponse, match="重复"):
        normalise_response("multiple", ["A", "A"], 4)
    with pytest.raises(InvalidResponse):
        normalise_response("truefalse", ["C"], 2)
