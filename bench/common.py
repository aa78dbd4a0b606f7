"""What every benchmark prints: the exact command, the machine, and its figures as one machine-readable line.

A benchmark calls ``header()`` first and ``report(figures, modes)`` last. ``report`` prints ``BENCH_JSON {...}``:
``figures`` maps a name to ``(value, unit, better)`` with ``better`` "lower" or "higher"; ``modes`` records what the
run asserted about its set-up (journal mode, pool size, worker class) so a row never claims a mode it did not run in.
``bench/run_all.py`` collects these lines, compares them with ``bench/baseline.json`` and writes BENCHMARKS.md's table.
"""
from __future__ import annotations

import json
import os
import shlex
import statistics
import sys
import time
from collections.abc import Callable

_STARTED = {"load_before": None, "t0": None}


def header() -> None:
    _STARTED["load_before"] = [round(x, 2) for x in os.getloadavg()]
    _STARTED["t0"] = time.time()
    print(f"# command: {' '.join(shlex.quote(a) for a in [sys.executable.rsplit('/', 1)[-1], *sys.argv])}")
    print(f"# machine: {os.cpu_count()} cores, load average before {_STARTED['load_before']}")


def medians(fn: Callable[[], dict], runs: int) -> dict:
    """Run ``fn`` (returning {name: number}) ``runs`` times; the median of each figure."""
    results = [fn() for _ in range(runs)]
    return {k: statistics.median(r[k] for r in results) for k in results[0]}


def report(figures: dict[str, tuple[float, str, str]], modes: dict | None = None, runs: int | None = None) -> dict:
    body = {
        "script": sys.argv[0].rsplit("/", 1)[-1],
        "command": " ".join(shlex.quote(a) for a in sys.argv),
        "cores": os.cpu_count(),
        "load_before": _STARTED["load_before"],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "runs": runs,
        "modes": modes or {},
        "figures": {k: {"value": v[0], "unit": v[1], "better": v[2]} for k, v in figures.items()},
    }
    print(f"# machine: load average after {body['load_after']}")
    print("BENCH_JSON " + json.dumps(body, ensure_ascii=False))
    return body


def add_bench_items(n_items: int) -> list:
    """``n_items`` bank items cycling single / multiple / true-false (inside an app context), their versions
    returned in order: the paper every exam benchmark builds its candidates' papers from."""
    from certify.extensions import db
    from question_bank.models import Item, ItemVersion

    versions = []
    for n in range(n_items):
        kind = ("single", "multiple", "truefalse")[n % 3]
        item = Item(code=f"B{n:05d}", stem_key=f"b{n:06d}")
        db.session.add(item)
        db.session.flush()
        options = ["正确", "错误"] if kind == "truefalse" else [f"选项{c}" for c in "ABCD"]
        v = ItemVersion(item_id=item.id, type=kind, stem=f"基准题 {n}", options=options,
                        answer={"single": "B", "multiple": "AC", "truefalse": "A"}[kind], category="科学素养",
                        difficulty=3, level="通用")
        db.session.add(v)
        db.session.flush()
        item.current_version_id = v.id
        versions.append(v)
    return versions
