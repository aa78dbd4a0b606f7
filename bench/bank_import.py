"""Benchmark: importing a 5,000-item question bank from .xlsx.

Generates a 5,000-item .xlsx (single / multiple / true-false, four categories), then times, each in a fresh
child process so that peak RSS belongs to that run alone:

  parse    read_table + row validation (+ in-file duplicate detection) — the baseline
  import   parse + plan against the bank + apply (items, versions, audit) + commit into a fresh SQLite file
  reimport the same file again into the bank it just filled (everything unchanged, nothing written)

For each it reports the median wall time, process CPU time (steadier on a busy machine) and ru_maxrss of the child
over the timed runs, the tracemalloc peak
(Python allocations) of one extra run made under tracemalloc (which slows Python down, so it is not timed), and
the ratio of import to the parse baseline measured in the same run.

    .venv/bin/python bench/bank_import.py [--items 5000] [--runs 3]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from common import header, report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CATEGORIES = ("科学素养", "科学教育理论", "活动组织", "安全规范")
LEVELS = ("通用", "初级", "中级")
HEADER = ["编号", "题型", "题干", "选项A", "选项B", "选项C", "选项D", "选项E", "选项F", "选项G", "选项H",
          "答案", "分类", "难度", "适用级别", "解析"]


def generate(path: Path, n: int) -> None:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("题库")
    ws.append(HEADER)
    for i in range(n):
        kind = i % 5
        category, level, difficulty = CATEGORIES[i % 4], LEVELS[i % 3], 1 + i % 5
        stem = f"第 {i + 1} 题：关于{category}的一个问题，编号尾数 {i % 97}，请选择正确的一项（　）。"
        if kind == 4:
            row = ["", "判断", stem, "", "", "", "", "", "", "", "", "对" if i % 2 else "错"]
        elif kind == 3:
            row = ["", "多选", stem, *(f"选项内容{c}{i}" for c in "甲乙丙丁戊"), "", "", "", "ACE"]
        else:
            row = ["", "单选", stem, *(f"选项内容{c}{i}" for c in "甲乙丙丁"), "", "", "", "", "ABCD"[i % 4]]
        ws.append(row + [category, difficulty, level, f"第 {i + 1} 题的解析。"])
    wb.save(path)


def one(mode: str, xlsx: Path, db_path: Path, trace: bool) -> dict:
    os.environ["CERTIFY_INSTANCE"] = str(db_path.parent)
    from certify import create_app
    from certify.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}", "TESTING": True})
    data = xlsx.read_bytes()
    with app.app_context():
        if mode != "reimport":
            db.create_all()
        from certify.tabular import read_table
        from question_bank import operations as ops
        from question_bank.services.parsing import COLUMNS, parse_rows

        if trace:
            tracemalloc.start()
        t0, c0 = time.perf_counter(), time.process_time()
        if mode == "parse":
            table = read_table(data, xlsx.name, COLUMNS)
            parsed = parse_rows(table.rows, table.file, table.sheet)
            assert not parsed.errors and len(parsed.rows)
            counts = {"rows": len(parsed.rows)}
        else:
            plan = ops.plan_file(data, xlsx.name)
            assert plan.ok, plan.errors[:3]
            ops.apply_plan(plan)
            db.session.commit()
            counts = plan.summary()
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        peak = 0
        if trace:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
    maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"mode": mode, "seconds": elapsed, "cpu_seconds": cpu, "tracemalloc_peak_mb": peak / 2**20,
            "maxrss_mb": maxrss_kb / 1024, "counts": counts}


def run_child(mode: str, xlsx: Path, db_path: Path, trace: bool = False) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(xlsx), str(db_path), str(int(trace))],
                         check=True,
                         capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", nargs=4, metavar=("MODE", "XLSX", "DB", "TRACE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, xlsx, db_path, trace = args.child
        print(json.dumps(one(mode, Path(xlsx), Path(db_path), trace == "1")))
        return

    header()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        xlsx = tmp / "bank.xlsx"
        generate(xlsx, args.items)
        print(f"{args.items} items, .xlsx of {xlsx.stat().st_size / 2**20:.2f} MiB; {args.runs} runs each, "
              f"each run in a fresh process (Python {sys.version.split()[0]}, SQLite)")
        modes = ("parse", "import", "reimport")
        results: dict[str, list[dict]] = {m: [] for m in modes}
        traced: dict[str, dict] = {}
        for r in range(args.runs + 1):  # the last round runs under tracemalloc (slower; only its peak is used)
            trace = r == args.runs
            target = traced if trace else None
            db_path = tmp / f"run{r}" / "bank.db"
            db_path.parent.mkdir()
            for m in modes:
                res = run_child(m, xlsx, db_path if m != "parse" else tmp / f"parse{r}.db", trace)
                if target is None:
                    results[m].append(res)
                else:
                    target[m] = res
        med = {m: {k: statistics.median(x[k] for x in rs) for k in ("seconds", "cpu_seconds", "maxrss_mb")}
               for m, rs in results.items()}
        for m in modes:
            med[m]["tracemalloc_peak_mb"] = traced[m]["tracemalloc_peak_mb"]
        print(f"{'phase':<10}{'wall s':>8}{'CPU s':>8}{'items/s':>9}{'ru_maxrss MiB':>15}{'tracemalloc peak MiB':>22}"
              "   (medians; items/s from wall time)")
        for m, v in med.items():
            print(f"{m:<10}{v['seconds']:>8.2f}{v['cpu_seconds']:>8.2f}{args.items / v['seconds']:>9.0f}"
                  f"{v['maxrss_mb']:>15.1f}{v['tracemalloc_peak_mb']:>22.1f}")
        print(f"import / parse time ratio: wall {med['import']['seconds'] / med['parse']['seconds']:.2f}, "
              f"CPU {med['import']['cpu_seconds'] / med['parse']['cpu_seconds']:.2f}; "
              f"reimport / parse: wall {med['reimport']['seconds'] / med['parse']['seconds']:.2f}, "
              f"CPU {med['reimport']['cpu_seconds'] / med['parse']['cpu_seconds']:.2f}; "
              f"import / parse tracemalloc peak: "
              f"{med['import']['tracemalloc_peak_mb'] / med['parse']['tracemalloc_peak_mb']:.2f}")
        print("counts:", results["import"][0]["counts"], "| reimport:", results["reimport"][0]["counts"])
        report({f"import {args.items} items (.xlsx → SQLite)": (round(med["import"]["seconds"], 2), "s", "lower"),
                "re-import, nothing changed": (round(med["reimport"]["seconds"], 2), "s", "lower"),
                "parse only (baseline)": (round(med["parse"]["seconds"], 2), "s", "lower"),
                "import peak RSS": (round(med["import"]["maxrss_mb"], 1), "MiB", "lower")},
               {"database": "sqlite"}, runs=args.runs)


if __name__ == "__main__":
    main()
