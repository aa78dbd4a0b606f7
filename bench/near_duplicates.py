"""Benchmark: near-duplicate stems of a 5,000-row import against a 5,000-item bank (the import preview's check).

Run: .venv/bin/python bench/near_duplicates.py [--new 5000 --bank 5000 --runs 5]

Stems are made of two-character words drawn from a Zipf-like vocabulary (common words like 下列 and 正确 are
frequent, as in a real bank), 12–30 words each; a tenth of the new stems are copies of bank stems with one or two
characters changed (the near duplicates to find). Times ``question_bank.services.similarity.near_duplicates`` (the
prefix-filtered join) and, in the same run, the all-pairs baseline on a 500 × 5,000 slice (scaled to the full
size), and checks that the two agree on that slice. Prints medians and the ratio.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

from common import header, report

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from question_bank.services.similarity import (  # noqa: E402
    NEAR_DUPLICATE_THRESHOLD,
    bigrams,
    dice,
    near_duplicates,
)

CHARS = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]


def make_stems(n_new: int, n_bank: int, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    vocabulary = ["".join(rng.choice(CHARS) for _ in range(2)) for _ in range(4000)]
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]

    def stem() -> str:
        return "".join(rng.choices(vocabulary, weights, k=rng.randint(12, 30))) + "（　）。"

    bank = [stem() for _ in range(n_bank)]
    new = []
    for k in range(n_new):
        if k % 10 == 0:
            text = list(rng.choice(bank))
            for _ in range(rng.randint(1, 2)):
                text[rng.randrange(len(text) - 4)] = rng.choice(CHARS)
            new.append("".join(text))
        else:
            new.append(stem())
    return new, bank


def all_pairs(new: list[str], bank: list[str]) -> set[tuple[int, int]]:
    a_sets, b_sets = [bigrams(s) for s in new], [bigrams(s) for s in bank]
    return {(i, j) for i, a in enumerate(a_sets) for j, b in enumerate(b_sets)
            if dice(a, b) >= NEAR_DUPLICATE_THRESHOLD and new[i] != bank[j]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--new", type=int, default=5000)
    parser.add_argument("--bank", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--slice", type=int, default=500, help="rows of the all-pairs baseline")
    args = parser.parse_args()
    header()
    new, bank = make_stems(args.new, args.bank)
    times, found = [], 0
    for _ in range(args.runs):
        t0 = time.perf_counter()
        matches = near_duplicates(new, bank)
        times.append(time.perf_counter() - t0)
        found = len({m.query for m in matches})
    joined = statistics.median(times)
    print(f"near_duplicates {args.new} × {args.bank}: median {joined:.3f} s over {args.runs} runs "
          f"(min {min(times):.3f}, max {max(times):.3f}); {found} new stems flagged "
          f"(planted: {len(range(0, args.new, 10))})")
    part = new[:args.slice]
    t0 = time.perf_counter()
    expected = all_pairs(part, bank)
    brute = (time.perf_counter() - t0) * args.new / args.slice
    got = {(m.query, m.other) for m in near_duplicates(part, bank)}
    assert got == expected, "the prefix-filtered join must equal the all-pairs result"
    print(f"all pairs (scaled from {args.slice} × {args.bank}): {brute:.1f} s; join is {brute / joined:.0f}× faster; "
          f"the two agree on the slice ({len(expected)} pairs)")
    report({"near_duplicates_5000x5000_s": (round(joined, 3), "s", "lower"),
            "all_pairs_scaled_s": (round(brute, 1), "s", "lower")}, runs=args.runs)


if __name__ == "__main__":
    main()
