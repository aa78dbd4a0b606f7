"""Benchmark: item analysis of 10,000 candidates × 100 items (target: under 1 s).

Run: .venv/bin/python bench/item_analysis.py [--candidates N --items M --runs R]

Times the full analysis (every statistic: item moments, discrimination, discriminative efficiency with its
sorts, upper/lower groups, option frequencies for 4 options, median times, forms stability, categories,
test statistics and alpha) on a complete matrix and on per-candidate forms (each candidate sees 70 of the 100
items: missing cells; and, for information, 100 of a 300-item pool), and, in the same run, two baselines for the
discrimination index alone: a per-item
Python loop, and numpy's corrcoef on the full matrix (items × rest-of-test). Prints medians and ratios.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from common import header, report

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exam.services.item_analysis import analyse, facility_loop_discrimination  # noqa: E402


def simulate(n: int, m: int, seed: int = 0, pool: int | None = None, per_paper: int | None = None):
    """n candidates; a pool of ``pool`` items (default m) of which each candidate sees ``per_paper``."""
    rng = np.random.default_rng(seed)
    width = pool or m
    per_paper = per_paper or m
    theta = rng.normal(size=n)
    b = rng.normal(size=width)
    right = rng.random((n, width)) < 1 / (1 + np.exp(-(theta[:, None] - b)))
    marks = right.astype(float)
    picked = np.where(right, 0, rng.integers(1, 4, size=(n, width)))
    choices = np.zeros((n, width, 4), dtype=bool)
    choices[np.arange(n)[:, None], np.arange(width)[None, :], picked] = True
    keys = np.zeros((width, 4), dtype=bool)
    keys[:, 0] = True
    times = rng.integers(5_000, 90_000, size=(n, width))
    if per_paper < width:
        # each candidate draws per_paper of the pool: argsort of random keys gives a random subset per row
        cols = np.argsort(rng.random((n, width)), axis=1)[:, :per_paper]
        seen = np.zeros((n, width), dtype=bool)
        seen[np.arange(n)[:, None], cols] = True
        forms = np.arange(n)  # every paper is different
    else:
        seen = np.ones((n, m), dtype=bool)
        forms = np.zeros(n, dtype=int)
    categories = [("科学素养", "科学教育理论", "活动组织", "安全规范")[j % 4] for j in range(width)]
    return dict(marks=marks, max_marks=np.ones(width), seen=seen, choices=choices, keys=keys,
                n_options=np.full(width, 4), times=times, forms=forms, categories=categories, cut_score=60.0)


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def corrcoef_baseline(marks: np.ndarray) -> np.ndarray:
    """numpy corrcoef of every item with its rest-of-test score, on the full stacked matrix."""
    total = marks.sum(axis=1)
    rest = total[:, None] - marks
    m = marks.shape[1]
    c = np.corrcoef(np.hstack([marks, rest]), rowvar=False)
    return c[np.arange(m), m + np.arange(m)]


def db_report(candidates: int, items: int, runs: int) -> None:
    """End to end on SQLite: load a session's attempts and answers, analyse, build the report rows."""
    import tempfile
    from datetime import datetime, timedelta
    from decimal import Decimal

    from sqlalchemy import insert

    tmp = tempfile.mkdtemp(prefix="bench-analysis-")
    os.environ.setdefault("CERTIFY_INSTANCE", tmp)
    from certify import create_app
    from certify.extensions import db
    from certify.models import Candidate
    from certify.rounds import create_round
    from exam.analysis import operations as analysis
    from exam.models import Answer, Attempt, ExamSession, Paper, PaperItem
    from question_bank.models import Item, ItemVersion

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.db", "EXAM_SWEEPER_ENABLED": False})
    sim = simulate(candidates, items, seed=3)
    with app.app_context():
        db.create_all()
        rnd = create_round("bench", "重庆", 2024)
        opens = datetime(2024, 6, 1, 1)
        session = ExamSession(round_id=rnd.id, scheme_id=rnd.scheme_for("初级").id, name="bench", opens_at=opens,
                              closes_at=opens + timedelta(hours=4), duration_minutes=90)
        db.session.add(session)
        db.session.flush()
        versions = []
        for j in range(items):
            item = Item(code=f"B{j:04d}", stem_key=f"B{j:04d}")
            db.session.add(item)
            db.session.flush()
            v = ItemVersion(item_id=item.id, type="single", stem=f"stem {j}", options=["a", "b", "c", "d"],
                            answer="A", category=sim["categories"][j], difficulty=3, level="通用")
            db.session.add(v)
            db.session.flush()
            versions.append(v.id)
        db.session.execute(insert(Candidate), [
            {"round_id": rnd.id, "ticket": f"B{i:06d}", "id_number": f"ID{i:016d}", "name": f"c{i}",
             "work_unit": "u", "level": "初级"} for i in range(candidates)])
        cand_ids = list(db.session.execute(db.select(Candidate.id).order_by(Candidate.id)).scalars())
        db.session.execute(insert(Paper), [{"session_id": session.id, "candidate_id": c, "seed": c} for c in cand_ids])
        paper_ids = list(db.session.execute(db.select(Paper.id).order_by(Paper.id)).scalars())
        db.session.execute(insert(PaperItem), [
            {"paper_id": p, "position": j + 1, "item_version_id": versions[j], "points": Decimal(1),
             "option_order": [0, 1, 2, 3]} for p in paper_ids for j in range(items)])
        db.session.execute(insert(Attempt), [
            {"session_id": session.id, "candidate_id": c, "paper_id": p, "state": "submitted", "started_at": opens,
             "deadline_at": opens + timedelta(minutes=90), "graded_at": opens + timedelta(minutes=90)}
            for c, p in zip(cand_ids, paper_ids)])
        attempt_ids = list(db.session.execute(db.select(Attempt.id).order_by(Attempt.id)).scalars())
        chosen = sim["choices"].argmax(axis=2)
        db.session.execute(insert(Answer), [
            {"attempt_id": a, "position": j + 1, "response": "ABCD"[chosen[i, j]],
             "points": Decimal(int(sim["marks"][i, j])), "time_spent_ms": int(sim["times"][i, j])}
            for i, a in enumerate(attempt_ids) for j in range(items)])
        db.session.commit()
        times = timed(lambda: analysis.session_report(db.session.get(ExamSession, session.id)), runs)
    print(f"session report from SQLite, {candidates:,} candidates × {items} items ({candidates * items:,} answers),"
          f" median of {runs}: {statistics.median(times):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--loop-runs", type=int, default=3)
    parser.add_argument("--db", type=int, metavar="N", default=0,
                        help="instead: time the whole session report from a SQLite database of N candidates")
    args = parser.parse_args()
    header()
    n, m = args.candidates, args.items
    if args.db:
        db_report(args.db, m, max(1, args.runs // 2))
        return

    full = simulate(n, m)
    forms = simulate(n, m, seed=1, per_paper=int(m * 0.7))
    big_pool = simulate(n, m, seed=2, pool=3 * m)
    t_full = timed(lambda: analyse(**full), args.runs)
    t_forms = timed(lambda: analyse(**forms), args.runs)
    t_pool = timed(lambda: analyse(**big_pool), max(3, args.runs // 2))
    t_disc = timed(lambda: analyse(full["marks"], full["max_marks"]), args.runs)
    t_loop = timed(lambda: facility_loop_discrimination(full["marks"]), args.loop_runs)
    t_corr = timed(lambda: corrcoef_baseline(full["marks"]), args.runs)

    # the three agree on the discrimination index
    ours = np.array([it.discrimination for it in analyse(full["marks"], full["max_marks"]).items])
    assert np.allclose(ours, facility_loop_discrimination(full["marks"]))
    assert np.allclose(ours, corrcoef_baseline(full["marks"]))

    med = statistics.median

    def line(label: str, times: list[float], extra: str = "") -> None:
        print(f"  {label:<42}{med(times) * 1000:8.1f} ms   (min {min(times) * 1000:7.1f}){extra}")

    print(f"item analysis, {n:,} candidates × {m} items, median of {args.runs} runs (loop: {args.loop_runs});"
          f" load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    line("full analysis, complete matrix", t_full)
    line("full analysis, per-candidate forms", t_forms, f"  each sees {int(m * .7)} of the {m} items")
    line(f"full analysis, {m} of a {3 * m}-item pool", t_pool, f"  {n:,} × {3 * m} cells: informative")
    line("item statistics only (no options/times)", t_disc)
    line("baseline: per-item Python loop (disc.)", t_loop)
    line("baseline: numpy corrcoef (disc.)", t_corr)
    print(f"  item statistics vs Python loop: {med(t_loop) / med(t_disc):6.1f}× faster;"
          f" full analysis vs Python loop: {med(t_loop) / med(t_full):.1f}× faster")
    print(f"  item statistics vs corrcoef:    {med(t_corr) / med(t_disc):6.1f}× faster"
          f" (and it computes efficiency, weights, groups, alpha…)")
    target = max(med(t_full), med(t_forms))
    print(f"  target < 1 s: {'met' if target < 1 else 'NOT met'} ({target:.3f} s, the slower of the two 10,000 × {m})")
    report({"full analysis, complete matrix": (round(med(t_full) * 1000, 1), "ms", "lower"),
            "full analysis, per-candidate forms": (round(med(t_forms) * 1000, 1), "ms", "lower"),
            "item statistics only": (round(med(t_disc) * 1000, 1), "ms", "lower"),
            "speed-up over a per-item Python loop": (round(med(t_loop) / med(t_disc), 1), "×", "higher")},
           {"candidates": n, "items": m}, runs=args.runs)


if __name__ == "__main__":
    main()
