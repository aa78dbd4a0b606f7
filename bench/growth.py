"""How the cost grows: bench/load.py's steady scenario at growing sizes until it breaks, and saves against a large
answers table; one JSON file and one plot (SVG or PNG, by matplotlib) with the knee marked.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/growth.py --sizes 500,1000,2000,5000 --duration 60 \\
        --database-url postgresql://postgres@127.0.0.1/bench --redis-url redis://127.0.0.1:6379/0
    .venv/bin/python bench/growth.py --sizes 500 --stored-answers 100000,1000000 --database-url …

For each size (``--sizes``, then doubling past the last one while nothing broke, up to ``--max-clients``): one steady
run (every candidate logged in, started, holding its exam page's /exam socket unless ``--no-sockets``, one real
answer change per ``--period`` s, ``--reconnect-share`` reloading mid-run), recording p99 of the saves, server
CPU-seconds per candidate-hour, server memory per connected candidate, errors and lost answers. A size *breaks* when
errors exceed ``--error-limit`` of the requests, p99 exceeds ``--p99-limit-ms``, a socket could not be held, or an
acknowledged answer is missing; the sizes stop there.

``--stored-answers N,M``: then one steady run at the first size for each N answers already in the table (earlier
attempts, written with COPY on PostgreSQL), the save latency against that table.

The *knee* marked on the plot is the first size whose p99 is more than ``--knee-factor`` times the p99 of the
smallest size (below it the cost per candidate is flat; past it requests queue); the breaking size is marked too.
Every run drops and rebuilds the database's tables: use a database you can throw away.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import load  # noqa: E402  (bench/load.py, next to this file)


def steady_args(opts, clients: int, stored: int = 0) -> argparse.Namespace:
    argv = ["steady", "--clients", str(clients), "--duration", str(opts.duration), "--period", str(opts.period),
            "--reconnect-share", str(opts.reconnect_share), "--connections", str(opts.connections),
            "--timeout", str(opts.timeout), "--server", opts.server, "--stored-answers", str(stored)]
    if opts.database_url:
        argv += ["--database-url", opts.database_url]
    if opts.redis_url:
        argv += ["--redis-url", opts.redis_url]
    if not opts.no_sockets:
        argv.append("--hold-sockets")
    return load.parser().parse_args(argv)


def broken(result: dict, opts) -> str:
    """Why this run counts as broken ("" when it held)."""
    reasons = []
    if result["errors"] + result["prep_errors"] > opts.error_limit * max(1, result["requests"]):
        reasons.append(f"errors {result['errors']} + {result['prep_errors']} in preparation")
    if result["p99_ms"] != result["p99_ms"] or result["p99_ms"] > opts.p99_limit_ms:  # NaN: no save answered
        reasons.append(f"p99 {result['p99_ms']} ms > {opts.p99_limit_ms:g} ms")
    if result.get("sockets_held") is not None and result["sockets_held"] < result["clients"]:
        reasons.append(f"{result['clients'] - result['sockets_held']} sockets not held")
    if result["lost_answers"]:
        reasons.append(f"{result['lost_answers']} acknowledged answers lost")
    return "; ".join(reasons)


def summary(result: dict, opts, series: str) -> dict:
    return {"series": series, "clients": result["clients"], "stored_answers": result.get("stored_answers", 0),
            "p50_ms": result["p50_ms"], "p99_ms": result["p99_ms"], "rps": result["rps"],
            "errors": result["errors"], "requests": result["requests"], "lost_answers": result["lost_answers"],
            "cpu_s_per_candidate_hour": result["cpu_s_per_candidate_hour"],
            "rss_mb_per_connected_candidate": result["rss_mb_per_connected_candidate"],
            "server_rss_mb": result["server_rss_mb"], "sockets_held": result.get("sockets_held"),
            "broken": broken(result, opts), "loadavg_after": [round(x, 2) for x in os.getloadavg()]}


def sizes_to_run(opts):
    """The listed sizes, then doubling past the last one (the caller stops at the first broken size)."""
    sizes = [int(x) for x in opts.sizes.split(",") if x.strip()]
    yield from sizes
    n = sizes[-1] * 2
    while n <= opts.max_clients:
        yield n
        n *= 2


def knee(rows: list[dict], factor: float) -> dict | None:
    """The first size whose p99 exceeds ``factor`` × the smallest size's p99, else the first broken size."""
    held = [r for r in rows if r["p99_ms"] == r["p99_ms"]]
    if not held:
        return None
    base = held[0]["p99_ms"]
    return next((r for r in held[1:] if r["p99_ms"] > factor * base or r["broken"]), None)


def plot(path: Path, growth: list[dict], stored: list[dict], knee_row: dict | None, opts) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    what = [("p99_ms", "save p99 (ms)"), ("cpu_s_per_candidate_hour", "server CPU-s per candidate-hour"),
            ("rss_mb_per_connected_candidate", "server MB per connected candidate")] if growth else []
    panels = len(what) + bool(stored)
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.8), constrained_layout=True, squeeze=False)
    axes = list(axes[0])
    xs = [r["clients"] for r in growth]
    for ax, (key, label) in zip(axes, what):
        ax.plot(xs, [r[key] for r in growth], marker="o", color="#1f5fa8")
        for r in growth:
            if r["broken"]:
                ax.plot([r["clients"]], [r[key]], marker="x", markersize=11, color="#c0392b")
        if key == "p99_ms":
            ax.axhline(opts.p99_limit_ms, color="#888", linestyle=":", linewidth=1)
        if knee_row is not None:
            ax.axvline(knee_row["clients"], color="#c0392b", linestyle="--", linewidth=1)
            ax.annotate(f"knee: {knee_row['clients']}", xy=(knee_row["clients"], ax.get_ylim()[1]),
                        xytext=(-4, -12), textcoords="offset points", color="#c0392b", fontsize=8, ha="right")
        ax.set_ylim(bottom=0)
        ax.set_xscale("log")
        ax.set_xticks(xs, [str(x) for x in xs], rotation=45, fontsize=8)
        ax.minorticks_off()
        ax.set_xlabel(f"candidates (steady, one answer change per {opts.period:g} s)", fontsize=8)
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
    if stored:
        ax = axes[-1]
        at = range(len(stored))
        ax.plot(at, [r["p99_ms"] for r in stored], marker="s", color="#2e8b57", label="p99")
        ax.plot(at, [r["p50_ms"] for r in stored], marker=".", color="#2e8b57", linestyle="--", label="p50")
        ax.set_xticks(list(at), [f"{r['stored_answers']:,}" for r in stored], fontsize=8)
        ax.set_ylim(bottom=0)
        ax.set_xlabel(f"answers already stored ({stored[0]['clients']} candidates saving)", fontsize=8)
        ax.set_title("save latency (ms) vs table size", fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(f"bench/growth.py — {opts.backend}, {os.cpu_count()} cores; red x: broken "
                 f"(errors > {opts.error_limit:g}, p99 > {opts.p99_limit_ms:g} ms, sockets refused or answers lost)",
                 fontsize=9)
    fig.savefig(path)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="500,1000,2000,5000")
    p.add_argument("--max-clients", type=int, default=20000, help="doubling past --sizes stops here")
    p.add_argument("--duration", type=float, default=60)
    p.add_argument("--period", type=float, default=10)
    p.add_argument("--reconnect-share", type=float, default=0.1)
    p.add_argument("--connections", type=int, default=200)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--no-sockets", action="store_true", help="candidates hold no /exam socket (HTTP only)")
    p.add_argument("--p99-limit-ms", type=float, default=1000)
    p.add_argument("--error-limit", type=float, default=0.001, help="share of requests that may fail")
    p.add_argument("--knee-factor", type=float, default=2.0)
    p.add_argument("--stored-answers", default="", help="comma-separated table sizes, e.g. 100000,1000000")
    p.add_argument("--skip-growth", action="store_true", help="only the --stored-answers series")
    p.add_argument("--database-url", default=None)
    p.add_argument("--redis-url", default=None)
    p.add_argument("--server", default="{python} -m certify.cli serve --host 127.0.0.1 --port {port}")
    p.add_argument("--out", default="growth.json", help="the JSON file written (every run, then the summary)")
    p.add_argument("--plot", default="growth.svg", help="the plot written (.svg or .png)")
    opts = p.parse_args(argv)
    load.exit_on_sigterm()
    if not opts.database_url:
        opts.database_url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-growth-')) / 'growth.db'}"
    opts.backend = opts.database_url.split("://")[0].split("+")[0]
    command = " ".join(shlex.quote(a) for a in [sys.executable.rsplit("/", 1)[-1], *sys.argv])
    print(f"# {command}")
    print(f"# cores {os.cpu_count()}, load average before {os.getloadavg()}")
    runs, growth, stored = [], [], []
    if not opts.skip_growth:
        for clients in sizes_to_run(opts):
            result = load.one_run(steady_args(opts, clients))
            runs.append(result)
            row = summary(result, opts, "growth")
            growth.append(row)
            print(json.dumps(row, ensure_ascii=False), flush=True)
            if row["broken"]:
                break
    first = int(opts.sizes.split(",")[0])
    for n in [0, *(int(x) for x in opts.stored_answers.split(",") if x.strip())] if opts.stored_answers else []:
        if n == 0 and growth and growth[0]["clients"] == first:
            stored.append({**growth[0], "series": "stored"})  # the empty table: the first growth run
            continue
        result = load.one_run(steady_args(opts, first, stored=n))
        runs.append(result)
        row = summary(result, opts, "stored")
        stored.append(row)
        print(json.dumps(row, ensure_ascii=False), flush=True)
    knee_row = knee(growth, opts.knee_factor)
    body = {"command": command, "cores": os.cpu_count(), "backend": opts.backend,
            "limits": {"p99_ms": opts.p99_limit_ms, "error_share": opts.error_limit, "knee_factor": opts.knee_factor},
            "growth": growth, "stored": stored, "knee_clients": knee_row["clients"] if knee_row else None,
            "broke_at": next((r["clients"] for r in growth if r["broken"]), None), "runs": runs,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    Path(opts.out).write_text(json.dumps(body, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    if growth or stored:
        plot(Path(opts.plot), growth, stored, knee_row, opts)
    print(f"# knee at {body['knee_clients']} candidates, broke at {body['broke_at']}; wrote {opts.out} and "
          f"{opts.plot}")
    return body


if __name__ == "__main__":
    main()
