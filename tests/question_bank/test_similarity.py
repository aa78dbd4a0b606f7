"""Near-duplicate stems (pure): the prefix-filtered join equals scoring every pair (an independent oracle), and the
import plan warns on a new row close to an existing item or an earlier row, naming it. Speed: bench/near_duplicates.py."""
from __future__ import annotations

import unicodedata
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from question_bank.services.parsing import ItemData
from question_bank.services.planning import Existing, plan_import
from question_bank.services.similarity import near_duplicates


def oracle_tokens(stem: str) -> set[str]:
    """Written independently of the service: NFKC, drop whitespace, case-fold, CJK punctuation as in normalise."""
    from question_bank.services.normalise import _CJK_PUNCT

    text = "".join(ch for ch in unicodedata.normalize("NFKC", stem).translate(_CJK_PUNCT) if not ch.isspace())
    text = text.casefold()
    if len(text) == 1:
        return {text}
    return {text[k:k + 2] for k in range(len(text) - 1)}


def oracle(queries, corpus, threshold, same_list=False) -> set[tuple[int, int, Fraction]]:
    out = set()
    for i, q in enumerate(queries):
        for j, c in enumerate(corpus):
            if same_list and j >= i:
                continue
            a, b = oracle_tokens(q), oracle_tokens(c)
            if not a or not b:
                continue
            sim = Fraction(2 * len(a & b), len(a) + len(b))
            if sim >= threshold and _norm(q) != _norm(c):  # the same normalised text is an exact duplicate
                out.add((i, j, sim))
    return out


def _norm(s: str) -> str:
    from question_bank.services.normalise import normalise_stem

    return normalise_stem(s)


# a small alphabet (with a full-width letter, a space and CJK punctuation) so that near duplicates are common
stems = st.text(alphabet="太阳系行星木地ＡA a，。", min_size=0, max_size=12)
thresholds = st.sampled_from([Fraction(1, 2), Fraction(7, 10), Fraction(85, 100), Fraction(9, 10), Fraction(1)])


@settings(max_examples=300, deadline=None)
@given(st.lists(stems, max_size=12), st.lists(stems, max_size=12), thresholds)
def test_the_join_finds_exactly_the_pairs_scoring_every_pair_finds(queries, corpus, threshold):
    got = {(m.query, m.other, m.similarity) for m in near_duplicates(queries, corpus, threshold)}
    assert got == oracle(queries, corpus, threshold)


@settings(max_examples=200, deadline=None)
@given(st.lists(stems, max_size=14), thresholds)
def test_within_one_list_each_pair_once_later_row_first(rows, threshold):
    got = {(m.query, m.other, m.similarity) for m in near_duplicates(rows, rows, threshold, same_list=True)}
    assert got == oracle(rows, rows, threshold, same_list=True)


def test_one_character_changed_is_a_near_duplicate_and_the_same_text_is_not():
    bank = ["下列哪一种行为符合青少年科技活动的安全规范？", "太阳系中体积最大的行星是（　）。"]
    new = ["下列哪一种行为不符合青少年科技活动的安全规范？", "太阳系中体积最大的行星是( )."]
    matches = near_duplicates(new, bank)
    assert [(m.query, m.other) for m in matches] == [(0, 0)] and 85 <= matches[0].percent < 100
    with pytest.raises(ValueError):
        near_duplicates(new, bank, 0)


def _item(stem: str) -> ItemData:
    return ItemData(code="", type="single", stem=stem, options=("甲", "乙"), answer="A", category="科学素养",
                    difficulty=2, level="通用", explanation="")


class _Parsed:
    def __init__(self, stems):
        from question_bank.services.parsing import ParsedRow

        self.rows = [ParsedRow(n + 2, _item(s)) for n, s in enumerate(stems)]
        self.errors, self.warnings = [], []


def test_the_plan_warns_naming_the_existing_item_or_the_earlier_row():
    existing = [Existing(1, "Q000001", "active", _item("下列哪一种行为符合青少年科技活动的安全规范？")),
                Existing(2, "Q000002", "active", _item("木星是太阳系中体积最大的行星吗？"))]
    plan = plan_import(_Parsed(["下列哪一种行为不符合青少年科技活动的安全规范？",
                                "组织科技夜观活动时首先要考虑的是什么？",
                                "组织科技夜观活动时首先应考虑的是什么？",
                                "木星是太阳系中体积最大的行星吗？"]), existing, "题库.xlsx", "题库")
    near = [(w.row, w.message) for w in plan.warnings if "相似" in w.message]
    assert len(near) == 2 and plan.ok and len(plan.added) == 3 and len(plan.unchanged) == 1
    assert near[0][0] == 2 and "已有题目 Q000001" in near[0][1] and "符合青少年科技活动" in near[0][1]
    assert near[1][0] == 4 and "与第 3 行相似" in near[1][1]
    assert all(w.column == "题干" and w.file == "题库.xlsx" for w in plan.warnings)
    strict = plan_import(_Parsed(["下列哪一种行为不符合青少年科技活动的安全规范？"]), existing, near_threshold=Fraction(1))
    assert not strict.warnings


def test_the_search_is_bounded_for_a_file_of_nearly_identical_stems():
    """~n²/2 genuine pairs: the search stops after max_scored scorings and hands back what it found, every one of
    them a pair the unbounded search also finds."""
    from question_bank.services.similarity import SearchTruncated

    stems = [f"下列关于青少年科技教育活动组织的说法正确的是第{n}题" for n in range(400)]
    full = near_duplicates(stems, stems, same_list=True, max_scored=None)
    assert len(full) > 50_000
    with pytest.raises(SearchTruncated) as err:
        near_duplicates(stems, stems, same_list=True, max_scored=10_000)
    assert err.value.scored == 10_000
    partial = {(m.query, m.other, m.similarity) for m in err.value.matches}
    assert partial and partial <= {(m.query, m.other, m.similarity) for m in full}
