"""Near-duplicate stems: two stems whose normalised texts are alike though not equal. Pure.

Similarity is the Sørensen–Dice coefficient of the sets of character bigrams of the normalised stems
(``normalise.normalise_stem``: NFKC, CJK punctuation, no whitespace, case-folded): 2·|A∩B| / (|A|+|B|), from 0 to 1.
Character bigrams suit Chinese, which has no spaces between words; one character changed in a 30-character stem
gives about 0.93, two about 0.86. A stem of one character is its own single token. Exact duplicates (the same
normalised text) are reported elsewhere (``stem_key``) and are left out here.

Fast for a whole file against a whole bank (5,000 × 5,000: see ``tests/question_bank/test_similarity.py`` and the
figure in ``BENCHMARKS.md``): a set-similarity join with prefix filtering. Dice ≥ d is Jaccard ≥ t = d / (2 − d);
two sets with Jaccard ≥ t share at least ⌈t·|A|⌉ tokens, so, with every set's tokens ordered rarest first, each
pair above the threshold shares a token among the first |A| − ⌈t·|A|⌉ + 1 of A and the first |B| − ⌈t·|B|⌉ + 1
of B. Only pairs sharing such a prefix token and passing the size filter (t·|A| ≤ |B| ≤ |A| / t) are scored. The
arithmetic is exact (fractions), so the result equals scoring every pair.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import ceil, floor

from .normalise import normalise_stem

NEAR_DUPLICATE_THRESHOLD = Fraction(85, 100)
# Pairs a search may score before it stops: a file of stems that are nearly all alike (e.g. "第 1 题", "第 2 题", …)
# has ~n²/2 genuine near-duplicate pairs, and scoring them all took a 5,000-row bank preview ~90 s. 300,000
# scorings take ~2–5 s on the loaded 2-core machine (17 µs each at load 5); a realistic 5,000 × 5,000 check stays
# below it (bench/near_duplicates.py).
MAX_SCORED_PAIRS = 300_000


class SearchTruncated(Exception):
    """The search stopped after ``MAX_SCORED_PAIRS`` scorings; ``matches`` holds what it found until then (sorted as
    a complete result would be, for the queries it reached)."""

    def __init__(self, matches: list, scored: int):
        super().__init__(f"near-duplicate search stopped after {scored} scored pairs")
        self.matches, self.scored = matches, scored


def bigrams(stem: str) -> frozenset[str]:
    """The token set of a stem (normalised here)."""
    return _bigrams(normalise_stem(stem))


def _bigrams(text: str) -> frozenset[str]:
    if len(text) < 2:
        return frozenset({text}) if text else frozenset()
    return frozenset(text[i:i + 2] for i in range(len(text) - 1))


def dice(a: frozenset[str], b: frozenset[str]) -> Fraction:
    if not a and not b:
        return Fraction(0)
    return Fraction(2 * len(a & b), len(a) + len(b))


@dataclass(frozen=True)
class Match:
    query: int  # index in the queries
    other: int  # index in the corpus
    similarity: Fraction

    @property
    def percent(self) -> int:
        return floor(self.similarity * 100)


def _ceil(x: Fraction) -> int:
    return ceil(x)


def _prefix_index(sets: Sequence[frozenset[str]], prefix) -> dict[str, list[int]]:
    """token -> the indexes of the sets that have it in their prefix."""
    index: dict[str, list[int]] = {}
    for j, s in enumerate(sets):
        if s:
            for tok in prefix(s):
                index.setdefault(tok, []).append(j)
    return index


def near_duplicates(queries: Sequence[str], corpus: Sequence[str], threshold=NEAR_DUPLICATE_THRESHOLD, *,
                    same_list: bool = False, max_scored: int | None = MAX_SCORED_PAIRS) -> list[Match]:
    """Every (query, corpus item) pair whose stems are near duplicates: similarity ≥ ``threshold`` (0 < t ≤ 1)
    and normalised texts not equal. ``same_list``: queries and corpus are the same list; each pair is reported
    once, as (later index, earlier index). Sorted by query, then similarity (highest first), then corpus index.
    Raises ``SearchTruncated`` (with the matches so far) once more than ``max_scored`` candidate pairs were scored
    (None: no bound)."""
    d = Fraction(str(threshold)) if not isinstance(threshold, Fraction) else threshold
    if not (0 < d <= 1):
        raise ValueError("threshold must be in (0, 1]")
    t = d / (2 - d)  # the Jaccard threshold equivalent to Dice ≥ d
    q_texts = [normalise_stem(s) for s in queries]
    q_sets = [_bigrams(s) for s in q_texts]
    if same_list:
        c_texts, c_sets = q_texts, q_sets
    else:
        c_texts = [normalise_stem(s) for s in corpus]
        c_sets = [_bigrams(s) for s in c_texts]
    frequency = Counter(tok for sets in ((q_sets,) if same_list else (q_sets, c_sets)) for s in sets for tok in s)
    tn, td = t.numerator, t.denominator  # integer arithmetic in the loops: exact, and faster than fractions
    dn, dd = d.numerator, d.denominator
    prefix_len: dict[int, int] = {}
    rank = {tok: r for r, tok in enumerate(sorted(frequency, key=lambda tok: (frequency[tok], tok)))}  # rarest first

    def prefix(s: frozenset[str]) -> list[str]:
        n = len(s)
        if n not in prefix_len:
            prefix_len[n] = n - _ceil(t * n) + 1
        return sorted(s, key=rank.__getitem__)[:prefix_len[n]]

    index = _prefix_index(c_sets, prefix)

    matches: list[Match] = []
    scored = 0
    for i, a in enumerate(q_sets):
        if not a:
            continue
        n = len(a)
        seen: set[int] = set()
        found = []
        for tok in prefix(a):
            for j in index.get(tok, ()):
                if j in seen or (same_list and j >= i):
                    continue
                seen.add(j)
                b = c_sets[j]
                m = len(b)
                # size filter t·n ≤ m ≤ n / t, then Dice ≥ d: 2·|a∩b|·dd ≥ dn·(n + m)
                if m * td < tn * n or m * tn > n * td or q_texts[i] == c_texts[j]:
                    continue
                scored += 1
                if max_scored is not None and scored > max_scored:
                    found.sort(key=lambda x: (-x.similarity, x.other))
                    raise SearchTruncated(matches + found, scored - 1)
                common = len(a & b)
                if 2 * common * dd >= dn * (n + m):
                    found.append(Match(i, j, Fraction(2 * common, n + m)))
        found.sort(key=lambda x: (-x.similarity, x.other))
        matches.extend(found)
    return matches
