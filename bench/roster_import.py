"""Benchmark: importing a roster through the real command, ``certify import-roster``, on a fresh database.

    .venv/bin/python bench/roster_import.py --rows 5000 --runs 5 [--database-url postgresql://…/bench]
    .venv/bin/python bench/roster_import.py --rows 50000 --runs 5

Each run: a new database (SQLite file, or the given PostgreSQL database emptied), ``certify init-db``,
``certify create-round``, then ``certify import-roster`` of a generated valid roster (.csv, GB 11643 ID numbers with
correct check digits, both levels, 400 work units) — timed as a whole process (wall and the child's CPU), with its
peak memory (ru_maxrss). Baseline in the same run: ``certify create-round`` alone (process start-up + app factory).
Above ``ROSTER_JOB_MIN_ROWS`` (500) rows the command runs the web page's background job (``roster.import``) in the
foreground; the path taken (``job`` or ``inline``) is read from the command's output and reported as a mode.
"""
from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import header, report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def generate(path: Path, rows: int) -> None:
    from certify.services.roster_rules import id_check_digit

    rng = random.Random(7)
    seen = set()
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        w = csv.writer(fh)
        w.writerow(["证件号", "姓名", "工作单位", "区县", "认证级别", "手机"])
        n = 0
        while len(seen) < rows:
            n += 1
            # vary the birth date and the sequence part so every number is distinct and valid
            first17 = f"5001{n % 90 + 10:02d}{1960 + n % 40:04d}{1 + n % 12:02d}{1 + n % 28:02d}{(n // 4) % 1000:03d}"
            number = first17 + id_check_digit(first17)
            if number in seen:
                continue
            seen.add(number)
            w.writerow([number, f"考生{n}", f"第{rng.randint(1, 400)}中学", "渝中区", "初级" if n % 3 else "中级",
                        f"139{n:08d}"])


def cli(args: list[str], env: dict, output: list | None = None) -> tuple[float, float, float]:
    """(wall s, CPU s of the child, peak RSS MiB of the child) of one certify command (its stdout appended to
    ``output`` when given)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "certify.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"certify {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if output is not None:
        output.append(proc.stdout)
    return wall, cpu, after.ru_maxrss / 1024


def empty_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def one_run(csv_path: Path, database_url: str | None) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-roster-"))
    url = database_url or f"sqlite:///{tmp / 'roster.db'}"
    if database_url:
        empty_postgres(database_url)
    env = {**os.environ, "DATABASE_URL": url, "CERTIFY_INSTANCE": str(tmp), "SECRET_KEY": "bench-secret"}
    cli(["init-db"], env)
    base = cli(["create-round", "--code", "bench-a", "--region", "重庆", "--year", "2024"], env)
    cli(["create-round", "--code", "bench", "--region", "重庆", "--year", "2025"], env)
    out: list[str] = []
    wall, cpu, rss = cli(["import-roster", "--round", "bench", str(csv_path)], env, out)
    path = "job" if "名单已导入" in out[0] and "任务 #" in out[0] else "inline"
    return {"wall": wall, "cpu": cpu, "rss": rss, "baseline_wall": base[0], "path": path}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=5000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--database-url", default=None, help="a PostgreSQL database to empty and use (default: SQLite)")
    args = p.parse_args()
    header()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "roster.csv"
        generate(path, args.rows)
        runs = [one_run(path, args.database_url) for _ in range(args.runs)]
    paths = {r.pop("path") for r in runs}
    if len(paths) != 1:
        raise SystemExit(f"the runs took different paths: {sorted(paths)}")
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    db = "postgresql" if args.database_url else "sqlite"
    walls = ", ".join(f"{r['wall']:.2f}" for r in runs)
    print(f"runs (wall s): {walls}; peak RSS (MiB): {', '.join(str(round(r['rss'])) for r in runs)}")
    print(f"import-roster of {args.rows} rows on {db}: median wall {med['wall']:.2f} s, CPU {med['cpu']:.2f} s, "
          f"peak RSS {med['rss']:.0f} MiB; {args.rows / med['wall']:.0f} rows/s; baseline (create-round process) "
          f"{med['baseline_wall']:.2f} s → import is {med['wall'] / med['baseline_wall']:.1f}× a bare command")
    report({f"import-roster {args.rows} rows ({db})": (round(med["wall"], 2), "s", "lower"),
            "CPU of the import process": (round(med["cpu"], 2), "s", "lower"),
            "peak RSS": (round(med["rss"], 0), "MiB", "lower"),
            "baseline: a bare certify command": (round(med["baseline_wall"], 2), "s", "lower")},
           {"database": db, "rows": args.rows, "path": paths.pop()}, runs=args.runs)


if __name__ == "__main__":
    main()
