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

With ``--cli KIND`` it times instead the real command as a whole process on a fresh database (SQLite file, or the
given PostgreSQL database emptied; ``certify init-db`` and ``certify create-round`` first, untimed), the way
``bench/roster_import.py`` times ``certify import-roster``. Above the importer's job threshold (500 rows by default)
the command runs the web page's background job in the foreground; the path taken (``job`` or ``inline``) is read
from the command's output and reported as a mode:

  bank       ``certify import-bank`` of the generated .xlsx (``--items`` rows)
  records    ``certify import-records`` of a work-record file (证件号 · 业绩成果得分) for a roster of ``--items``
             candidates (imported first with ``certify import-roster``, untimed)
  panelists  ``certify import-panelists`` of ``--items`` panelists in panels of five, each with a chair

    .venv/bin/python bench/bank_import.py --cli bank --items 5000 --runs 3 [--database-url postgresql://…/bench]
    .venv/bin/python bench/bank_import.py --cli records --items 5000 --runs 3
    .venv/bin/python bench/bank_import.py --cli panelists --items 1000 --runs 3
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


# ------------------------------------------------------------------------------------------------ --cli KIND

def generate_records(roster_csv: Path, path: Path) -> None:
    """A work-record file for every candidate of the roster: a score, every 50th 缺考."""
    import csv

    with roster_csv.open(encoding="utf-8-sig", newline="") as fh:
        ids = [r[0] for r in list(csv.reader(fh))[1:]]
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        w = csv.writer(fh)
        w.writerow(["证件号", "业绩成果得分"])
        for i, number in enumerate(ids):
            w.writerow([number, "缺考" if i % 50 == 49 else f"{60 + i % 40}.{i % 4 * 25:02d}"])


def generate_panelists(path: Path, n: int) -> None:
    """``n`` panelists in panels of five (the first of each the chair), distinct phones."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("评审专家")
    ws.append(["姓名", "工作单位", "专业领域", "手机", "答辩组", "组长"])
    for i in range(n):
        ws.append([f"专家{i + 1}", f"第{i % 300 + 1}单位", "科学教育", f"139{i + 1:08d}", f"第{i // 5 + 1}答辩组",
                   "是" if i % 5 == 0 else "否"])
    wb.save(path)


def cli_run(kind: str, n: int, database_url: str | None) -> dict:
    import roster_import as rc

    tmp = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-"))
    url = database_url or f"sqlite:///{tmp / 'bench.db'}"
    if database_url:
        rc.empty_postgres(database_url)
    env = {**os.environ, "DATABASE_URL": url, "CERTIFY_INSTANCE": str(tmp), "SECRET_KEY": "bench-secret"}
    rc.cli(["init-db"], env)
    base = rc.cli(["create-round", "--code", "bench", "--region", "重庆", "--year", "2025"], env)
    if kind == "bank":
        path = tmp / "bank.xlsx"
        generate(path, n)
        command = ["import-bank", str(path)]
    elif kind == "records":
        roster, path = tmp / "roster.csv", tmp / "records.csv"
        rc.generate(roster, n)
        rc.cli(["import-roster", "--round", "bench", str(roster)], env)
        generate_records(roster, path)
        command = ["import-records", "--round", "bench", str(path)]
    else:
        path = tmp / "panelists.xlsx"
        generate_panelists(path, n)
        command = ["import-panelists", "--round", "bench", str(path)]
    out: list[str] = []
    wall, cpu, rss = rc.cli(command, env, out)
    return {"wall": wall, "cpu": cpu, "rss": rss, "baseline_wall": base[0],
            "path": "job" if "任务 #" in out[0] and "已完成" in out[0] else "inline"}


def main_cli(kind: str, n: int, runs_wanted: int, database_url: str | None) -> None:
    header()
    runs = [cli_run(kind, n, database_url) for _ in range(runs_wanted)]
    paths = {r.pop("path") for r in runs}
    if len(paths) != 1:
        raise SystemExit(f"the runs took different paths: {sorted(paths)}")
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    db = "postgresql" if database_url else "sqlite"
    command = {"bank": "import-bank", "records": "import-records", "panelists": "import-panelists"}[kind]
    walls = ", ".join(f"{r['wall']:.2f}" for r in runs)
    print(f"runs (wall s): {walls}; "
          f"peak RSS (MiB): {', '.join(str(round(r['rss'])) for r in runs)}")
    print(f"{command} of {n} rows on {db} ({next(iter(paths))} path): median wall {med['wall']:.2f} s, "
          f"CPU {med['cpu']:.2f} s, peak RSS {med['rss']:.0f} MiB; {n / med['wall']:.0f} rows/s; baseline "
          f"(create-round process) {med['baseline_wall']:.2f} s")
    report({f"{command} {n} rows ({db})": (round(med["wall"], 2), "s", "lower"),
            "CPU of the import process": (round(med["cpu"], 2), "s", "lower"),
            "peak RSS": (round(med["rss"], 0), "MiB", "lower"),
            "baseline: a bare certify command": (round(med["baseline_wall"], 2), "s", "lower")},
           {"database": db, "rows": n, "path": paths.pop()}, runs=runs_wanted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cli", choices=("bank", "records", "panelists"), default=None,
                        help="time the real command of this importer instead (see above)")
    parser.add_argument("--database-url", default=None, help="with --cli: a PostgreSQL database to empty and use")
    parser.add_argument("--child", nargs=4, metavar=("MODE", "XLSX", "DB", "TRACE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, xlsx, db_path, trace = args.child
        print(json.dumps(one(mode, Path(xlsx), Path(db_path), trace == "1")))
        return
    if args.cli:
        main_cli(args.cli, args.items, args.runs, args.database_url)
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
