"""Grading an exam paper. Pure: plain values in, exact Decimals out (no Flask, no database).

A response is the set of chosen letters in the item's *written* order ("A" = options[0]), sorted, "" when the
candidate left the item unanswered. Keys are written the same way.

Policies (certify.domain): single choice and true/false earn the item's points for the exact key, else 0.
Multiple choice under MC_PARTIAL_HALF earns the points for an exact key, half of them for a strict non-empty
subset of a key, and 0 as soon as any chosen option is wrong; MC_ALL_OR_NOTHING earns points for an exact key
only.

Key errata (applied in the order they were entered): ``correct`` replaces the accepted keys, ``accept`` adds
keys to them, ``void`` gives every candidate the item's points (answered or not).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from certify.domain import MC_ALL_OR_NOTHING, MC_PARTIAL_HALF, MC_POLICIES

SINGLE, MULTIPLE, TRUEFALSE = "single", "multiple", "truefalse"
LETTERS = "ABCDEFGH"
HUNDRED = Decimal(100)
SCORE_PLACES = Decimal("0.0001")  # Attempt.score is Numeric(7, 4)


class InvalidResponse(ValueError):
    """A response that cannot be an answer to the item (wrong letter, two letters for a single choice…)."""


def normalise_response(item_type: str, letters: Iterable[str] | str, option_count: int) -> str:
    """Validate chosen letters against the item and return them sorted and joined ("" = cleared).

    Raises InvalidResponse with a Chinese message naming what is wrong.
    """
    if isinstance(letters, str):
        letters = list(letters)
    chosen = []
    for letter in letters:
        if not isinstance(letter, str) or len(letter) != 1 or letter.upper() not in LETTERS[:option_count]:
            raise InvalidResponse(f"选项“{letter}”不存在（本题共 {option_count} 个选项）")
        chosen.append(letter.upper())
    if len(set(chosen)) != len(chosen):
        raise InvalidResponse("同一选项不能重复选择")
    if item_type in (SINGLE, TRUEFALSE) and len(chosen) > 1:
        raise InvalidResponse("单选题和判断题只能选择一个选项")
    return "".join(sorted(chosen))


@dataclass(frozen=True)
class Erratum:
    kind: str  # correct | accept | void
    accepted: tuple[str, ...] = ()


@dataclass(frozen=True)
class KeyRule:
    """The keys an item accepts after errata, or void."""

    keys: frozenset[str]
    void: bool = False


def key_rule(key: str, errata: Sequence[Erratum] = ()) -> KeyRule:
    keys = {"".join(sorted(key))}
    void = False
    for erratum in errata:
        accepted = {"".join(sorted(a)) for a in erratum.accepted if a}
        if erratum.kind == "correct":
            keys = accepted or keys
            void = False
        elif erratum.kind == "accept":
            keys |= accepted
        elif erratum.kind == "void":
            void = True
        else:
            raise ValueError(f"unknown erratum kind {erratum.kind!r}")
    return KeyRule(frozenset(keys), void)


def grade_item(item_type: str, rule: KeyRule, response: str, points: Decimal,
               policy: str = MC_PARTIAL_HALF) -> Decimal:
    """Points earned by one response (exact Decimal)."""
    points = Decimal(points)
    if rule.void:
        return points
    if policy not in MC_POLICIES:
        raise ValueError(f"unknown multiple-choice policy {policy!r}")
    response = "".join(sorted(response or ""))
    if not response:
        return Decimal(0)
    if response in rule.keys:
        return points
    if item_type == MULTIPLE and policy == MC_PARTIAL_HALF:
        chosen = set(response)
        if any(chosen < set(key) for key in rule.keys):
            return points / 2
    return Decimal(0)


@dataclass(frozen=True)
class GradedItem:
    position: int
    item_type: str
    key: str
    points: Decimal
    errata: tuple[Erratum, ...] = ()


@dataclass
class PaperGrade:
    score: Decimal  # out of 100
    earned: Decimal
    total: Decimal
    points: dict[int, Decimal] = field(default_factory=dict)  # position -> points earned


def scale_to_hundred(earned: Decimal, total: Decimal) -> Decimal:
    """The score out of 100: exact when the paper totals 100 points (as blueprints do), else to 4 places."""
    if total == HUNDRED:
        return earned
    if total <= 0:
        return Decimal(0)
    return (earned * HUNDRED / total).quantize(SCORE_PLACES, rounding=ROUND_HALF_UP)


def grade_paper(items: Sequence[GradedItem], responses: Mapping[int, str],
                policy: str = MC_PARTIAL_HALF) -> PaperGrade:
    """Grade every item of a paper; a position with no saved response counts as unanswered."""
    earned = Decimal(0)
    total = Decimal(0)
    per_position: dict[int, Decimal] = {}
    for item in items:
        got = grade_item(item.item_type, key_rule(item.key, item.errata), responses.get(item.position, ""),
                         item.points, policy)
        per_position[item.position] = got
        earned += got
        total += Decimal(item.points)
    return PaperGrade(score=scale_to_hundred(earned, total), earned=earned, total=total, points=per_position)


__all__ = ["Erratum", "GradedItem", "InvalidResponse", "KeyRule", "MC_ALL_OR_NOTHING", "MC_PARTIAL_HALF",
           "PaperGrade", "grade_item", "grade_paper", "key_rule", "normalise_response", "scale_to_hundred"]
