"""Run every benchmark, compare with the recorded figures, and keep BENCHMARKS.md's summary table true.

    .venv/bin/python bench/run_all.py               run them all, print the table
    .venv/bin/python bench/run_all.py --check       ... and exit 1 if a figure is > 30 % worse than bench/baseline.json
    .venv/bin/python bench/run_all.py --update      ... and record the figures as the new baseline + BENCHMARKS.md table
    .venv/bin/python bench/run_all.py --only item_analysis,scheduling

Each benchmark is run as its own process with a fixed command (medians of >= 5 runs inside each script) and prints a
``BENCH_JSON`` line (bench/common.py): the command, the machine's cores and load average before and after, the modes it
asserted, and its figures. "Worse" means larger for lower-is-better figures (times) and smaller for higher-is-better
ones (throughput). The machine is shared and noisy: a flagged figure is re-run once before it counts as a regression.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "bench" / "baseline.json"
DOC = ROOT / "BENCHMARKS.md"
START, END = "<!-- bench:summary:start -->", "<!-- bench:summary:end -->"
TOLERANCE = 0.30

PY = sys.executable
BENCHES = {
    "item_analysis": [PY, "bench/item_analysis.py", "--runs", "9"],
    "scheduling": [PY, "bench/scheduling.py", "--runs", "5"],
    "bank_import": [PY, "bench/bank_import.py", "--items", "5000", "--runs", "5"],
    "paper_generation": [PY, "bench/paper_generation.py", "--runs", "5"],
    "exam_save": [PY, "bench/exam_save.py", "--saves", "2000", "--runs", "5"],
    "roster_import": [PY, "bench/roster_import.py", "--rows", "5000", "--runs", "5"],
    "paper_job": [PY, "bench/paper_job.py", "--candidates", "5000", "--runs", "5"],
}


def run(name: str) -> dict | None:
    argv = BENCHES[name]
    if not (ROOT / argv[1]).exists():
        print(f"[{name}] skipped: {argv[1]} does not exist")
        return None
    print(f"[{name}] {' '.join(argv[1:])}", flush=True)
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_JSON ")]
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-4000:])
        raise SystemExit(f"[{name}] failed (exit {proc.returncode})")
    if not lines:
        print(proc.stdout[-3000:])
        print(f"[{name}] printed no BENCH_JSON line: its figures are above, not checked against the baseline")
        return None
    return json.loads(lines[-1][len("BENCH_JSON "):])


def worse(figure: dict, recorded: dict) -> float:
    """How much worse than recorded (0.25 = 25 % worse; negative = better)."""
    old, new = recorded["value"], figure["value"]
    if not old:
        return 0.0
    return (new - old) / old if figure["better"] == "lower" else (old - new) / old


def table(results: dict[str, dict]) -> str:
    rows = ["| benchmark | figure | median | unit | modes | command | load before → after |",
            "|---|---|---|---|---|---|---|"]
    for name, body in results.items():
        modes = ", ".join(f"{k}={v}" for k, v in body["modes"].items()) or "—"
        for i, (fig, f) in enumerate(body["figures"].items()):
            value = f"{f['value']:.3g}" if isinstance(f["value"], float) else str(f["value"])
            cmd = f"`{body['command']}`" if i == 0 else ""
            load = f"{body['load_before'][0]} → {body['load_after'][0]}" if i == 0 else ""
            rows.append(f"| {name if i == 0 else ''} | {fig} | {value} | {f['unit']} | {modes if i == 0 else ''} "
                        f"| {cmd} | {load} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true")
    p.add_argument("--update", action="store_true")
    p.add_argument("--only", default="")
    args = p.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(BENCHES)
    baseline = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    results = {}
    for name in names:
        body = run(name)
        if body is not None:
            results[name] = body
    regressions = []
    reruns: dict[str, dict | None] = {}
    for name, body in results.items():
        for fig, f in body["figures"].items():
            recorded = baseline.get(name, {}).get("figures", {}).get(fig)
            if recorded is None:
                continue
            if worse(f, recorded) > TOLERANCE:
                if name not in reruns:  # noisy machine: one re-run of the benchmark before calling it a regression
                    reruns[name] = run(name)
                again = reruns[name]
                g = again["figures"].get(fig, f) if again else f
                if worse(g, recorded) > TOLERANCE:
                    regressions.append(f"{name}.{fig}: {g['value']} {g['unit']} vs recorded {recorded['value']} "
                                       f"({worse(g, recorded):+.0%})")
    print()
    print(table(results))
    if args.update:
        baseline.update(results)
        BASELINE.write_text(json.dumps(baseline, ensure_ascii=False, indent=1) + "\n")
        text = DOC.read_text()
        if START in text and END in text:
            head, rest = text.split(START, 1)
            _, tail = rest.split(END, 1)
            DOC.write_text(f"{head}{START}\n{table(baseline)}\n{END}{tail}")
    if regressions:
        print("\nmore than 30 % worse than recorded:\n  " + "\n  ".join(regressions))
        return 1 if args.check else 0
    print("\nno figure more than 30 % worse than recorded" if baseline else "\n(no baseline recorded yet)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
