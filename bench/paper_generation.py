"""Benchmark: paper generation for 5,000 candidates from a generated bank of ~2,000 items.

    .venv/bin/python bench/paper_generation.py [--candidates 5000] [--items 2000] [--repeat 3]

Times (medians of --repeat runs, same process):
  1. pure assembly, balanced (difficulty balancing + exposure spreading, exam/services/assembly.py);
  2. pure assembly, naive baseline (uniform draws, no balancing) — the ratio shows the cost of balancing;
  3. full generation into SQLite through ``exam.authoring.papers.generate_papers`` (assembly + bulk inserts of 5,000
     papers and 300,000 paper items + the assignment links), in a temporary database.
It also prints the spread of the papers' expected facility and the exposure spread within rows, balanced vs naive.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from common import header, report

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exam.services.assembly import BankItem, Stratum, assemble_session, naive_session, row_pools, session_stats  # noqa: E402

CATEGORIES = ("科学素养", "科学教育理论", "活动组织", "安全规范")
STRATA = [Stratum(1, "科学素养", "single", 1, 5, 10, Decimal(2)),
          Stratum(2, "科学教育理论", "single", 1, 5, 8, Decimal(2)),
          Stratum(3, "活动组织", "single", 1, 5, 7, Decimal(2)), Stratum(4, "安全规范", "single", 1, 5, 5, Decimal(2)),
          Stratum(5, "", "multiple", 1, 5, 10, Decimal(2)), Stratum(6, "", "truefalse", 1, 5, 20, Decimal(1))]


def generated_bank(n: int, seed: int = 2024) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        typ = rng.choices(("single", "multiple", "truefalse"), (0.55, 0.25, 0.20))[0]
        measured = rng.random() < 0.3
        out.append({"type": typ, "category": rng.choice(CATEGORIES), "difficulty": rng.choices(range(1, 6),
                    (0.15, 0.25, 0.3, 0.2, 0.1))[0], "level": rng.choice(("初级", "中级", "通用", "通用")),
                    "n_options": 2 if typ == "truefalse" else rng.choice((4, 4, 4, 5)),
                    "facility": round(rng.uniform(0.2, 0.95), 3) if measured else None,
                    "facility_n": rng.randint(30, 400) if measured else None})
    return out


CPU: dict[str, float] = {}  # label -> median CPU seconds of this process (robust to other load on the machine)


def median_time(fn, repeat: int, label: str = "") -> tuple[float, object]:
    """Median wall-clock seconds (and, under ``label`` in CPU, median CPU seconds of this process)."""
    times, cpu, result = [], [], None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    if label:
        CPU[label] = statistics.median(cpu)
    return statistics.median(times), result


def bench_pure(bank: list[dict], candidates: int, repeat: int) -> dict:
    items = [BankItem(i + 1, b["type"], b["category"], b["difficulty"], b["level"], b["n_options"], b["facility"],
                      b["facility_n"]) for i, b in enumerate(bank)]
    ids = range(1, candidates + 1)
    balanced_s, balanced = median_time(lambda: assemble_session(STRATA, items, "初级", "per_candidate", 7, ids), repeat,
                                       "balanced")
    naive_s, naive = median_time(lambda: naive_session(STRATA, items, "初级", 7, ids), repeat, "naive")
    pools = row_pools(STRATA, items, "初级")
    return {"balanced_s": balanced_s, "naive_s": naive_s, "balanced": session_stats(balanced.values(), pools),
            "naive": session_stats(naive.values(), pools)}


def seed_round(bank: list[dict], candidates: int):
    """A round with the generated bank, ``candidates`` junior candidates and the bench blueprint (inside an app
    context with the schema created); returns (round, scheme, blueprint). Shared with bench/paper_job.py."""
    from sqlalchemy import insert

    from certify.extensions import db
    from certify.models import Candidate
    from certify.rounds import create_round
    from exam.authoring.papers import save_blueprint
    from question_bank.models import Item, ItemVersion

    rnd = create_round("bench", "重庆", 2024)
    db.session.execute(insert(Item), [{"id": i + 1, "code": f"B{i + 1:06d}", "stem_key": f"k{i + 1}",
                                       "status": "active", "facility": b["facility"],
                                       "facility_n": b["facility_n"]} for i, b in enumerate(bank)])
    db.session.execute(insert(ItemVersion), [
        {"id": i + 1, "item_id": i + 1, "version": 1, "type": b["type"], "stem": f"题干 {i + 1}",
         "options": ["正确", "错误"] if b["type"] == "truefalse" else [f"选项{k}" for k in range(b["n_options"])],
         "answer": "A", "category": b["category"], "difficulty": b["difficulty"], "level": b["level"]}
        for i, b in enumerate(bank)])
    db.session.execute(Item.__table__.update().values(current_version_id=Item.__table__.c.id))
    db.session.execute(insert(Candidate), [
        {"round_id": rnd.id, "ticket": f"B{n:07d}", "id_number": f"50010{n:013d}", "name": f"考生{n}",
         "work_unit": "基准单位", "district": "渝中区", "level": "初级"} for n in range(1, candidates + 1)])
    scheme = rnd.scheme_for("初级")
    bp = save_blueprint(scheme, name="基准方案", mode="per_candidate",
                        rows=[{"category": s.category, "type": s.type, "difficulty_min": 1, "difficulty_max": 5,
                               "count": s.count, "points": s.points} for s in STRATA])
    return rnd, scheme, bp


def bench_database(bank: list[dict], candidates: int, repeat: int) -> dict:
    tmp = tempfile.mkdtemp(prefix="bench-papers-")
    os.environ["CERTIFY_INSTANCE"] = tmp

    from certify import create_app
    from certify.clock import utcnow
    from certify.extensions import db
    from exam.authoring.papers import generate_papers
    from exam.authoring.sessions import create_session

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.db", "EXAM_SWEEPER_ENABLED": False})
    with app.app_context():
        db.create_all()
        rnd, scheme, bp = seed_round(bank, candidates)
        start = time.perf_counter()
        session = create_session(rnd, scheme, name="基准场次", blueprint_id=bp.id, opens_at=utcnow(),
                                 closes_at=utcnow() + timedelta(hours=3), duration_minutes=60, late_entry_minutes=30,
                                 instructions="", assign_all=True, event_warning_threshold=None, seed=7)
        db.session.commit()
        first = time.perf_counter() - start
        regen_s, made = median_time(lambda: (generate_papers(session), db.session.commit())[0], repeat, "regenerate")
        rows = db.session.execute(db.text("SELECT COUNT(*) FROM exam_paper_items")).scalar()
    return {"create_s": first, "regenerate_s": regen_s, "papers": made, "paper_items": rows, "path": tmp}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=5000)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--repeat", "--runs", dest="repeat", type=int, default=3)
    args = parser.parse_args()
    header()
    bank = generated_bank(args.items)
    print(f"bank {args.items} items, blueprint 60 items / 100 points (demo blueprint), {args.candidates} candidates,"
          f" median of {args.repeat}")
    pure = bench_pure(bank, args.candidates, args.repeat)
    print(f"pure assembly, balanced   : {pure['balanced_s']:.2f} s wall, {CPU['balanced']:.2f} s CPU")
    print(f"pure assembly, naive      : {pure['naive_s']:.2f} s wall, {CPU['naive']:.2f} s CPU   (balanced / naive = "
          f"{pure['balanced_s'] / pure['naive_s']:.2f}× wall, {CPU['balanced'] / CPU['naive']:.2f}× CPU)")
    for label in ("balanced", "naive"):
        s = pure[label]
        print(f"  {label:<8} expected facility mean {s['facility_mean']:.3f}, sd {s['facility_sd']:.4f}, "
              f"range {s['facility_range']:.3f}; exposure within rows: cv {s['exposure_cv']:.3f}, "
              f"max−min {s['exposure_gap']}")
    db = bench_database(bank, args.candidates, args.repeat)
    print(f"full generation into SQLite (create session + {db['papers']} papers, {db['paper_items']} paper items): "
          f"{db['create_s']:.2f} s; regenerate median {db['regenerate_s']:.2f} s wall, {CPU['regenerate']:.2f} s CPU")
    print(f"  database share ≈ {max(CPU['regenerate'] - CPU['balanced'], 0):.2f} s CPU "
          f"(regenerate − pure balanced assembly; SQLite runs in-process, so its work is counted)")
    report({f"balanced assembly, {args.candidates} papers (pure)": (round(pure["balanced_s"], 2), "s", "lower"),
            "naive random draw (baseline)": (round(pure["naive_s"], 2), "s", "lower"),
            f"create session + {db['papers']} papers into SQLite": (round(db["create_s"], 2), "s", "lower"),
            "regenerate papers into SQLite": (round(db["regenerate_s"], 2), "s", "lower"),
            "SD of papers' expected facility": (round(pure["balanced"]["facility_sd"], 4), "", "lower")},
           {"database": "sqlite"}, runs=args.repeat)


if __name__ == "__main__":
    main()
