"""Benchmark: schedule a 300-candidate, 12-panel round (≈60 work units, panelists from some of them, a few
declared conflicts). Prints the median wall time of the full scheduler (Hall check + CP-SAT + slots) over a few
runs, and the ratio against a greedy baseline (most-constrained first, least-loaded eligible panel) in the same
run, plus the quality of both (load spread, unit concentration). Target: under 10 s.

    .venv/bin/python bench/scheduling.py [--runs 5] [--workers 2] [--app]

With --app it also times the whole operation through the app on a fresh SQLite database (read the round,
solve, write 300 assignments): ``defense.schedule.operations.run_schedule``.
"""
from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

from common import header, report

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from defense.services.scheduling import (  # noqa: E402
    DaySpec,
    SCandidate,
    SPanel,
    SPanelist,
    build_slots,
    conflict_reason,
    greedy_assign,
    schedule,
)

UNIT_KINDS = ["中学", "小学", "青少年宫", "科技馆", "青少年科技教育中心", "实验学校"]
DISTRICTS = ["渝中区", "江北区", "沙坪坝区", "九龙坡区", "南岸区", "北碚区", "渝北区", "巴南区", "万州区", "涪陵区"]


def make_round(seed: int = 7):
    rng = random.Random(seed)
    units = [f"重庆市{DISTRICTS[i % len(DISTRICTS)]}第{i // len(DISTRICTS) + 1}{UNIT_KINDS[i % len(UNIT_KINDS)]}"
             for i in range(60)]
    # Realistic skew: a few large units send many candidates.
    weights = [1 / (i + 1) ** 0.8 for i in range(60)]
    candidates = [SCandidate(j + 1, f"考生{j + 1}", rng.choices(units, weights)[0], f"2026{j + 1:05d}")
                  for j in range(300)]
    pid = 0
    panels = []
    expert_units = ["重庆师范大学", "西南大学", "重庆大学", "重庆市科协", "重庆市教科院"]
    for i in range(12):
        members = []
        for _ in range(rng.choice([3, 4, 5])):
            pid += 1
            # about a third of panelists work in a unit that also sends candidates
            unit = rng.choice(units[:30]) if rng.random() < 0.35 else rng.choice(expert_units)
            members.append(SPanelist(pid, f"专家{pid}", unit))
        panels.append(SPanel(i + 1, f"第{i + 1}组", tuple(members)))
    # a few declared conflicts: panelist × candidate and panelist × unit
    for _ in range(6):
        pi = rng.randrange(12)
        mi = rng.randrange(len(panels[pi].members))
        m = panels[pi].members[mi]
        if rng.random() < 0.5:
            m = SPanelist(m.id, m.name, m.work_unit, m.conflict_candidates | {rng.randrange(1, 301)}, m.conflict_units)
        else:
            m = SPanelist(m.id, m.name, m.work_unit, m.conflict_candidates,
                          m.conflict_units | {"".join(rng.choice(units).split()).lower()})
        panels[pi] = SPanel(panels[pi].id, panels[pi].name,
                            panels[pi].members[:mi] + (m,) + panels[pi].members[mi + 1:])
    slots = build_slots([DaySpec(date(2026, 12, 1)), DaySpec(date(2026, 12, 2))])
    return candidates, panels, slots


def quality(candidates, panels, assignment: dict[int, int]) -> dict:
    loads = Counter(assignment.values())
    unit_of = {c.id: c.work_unit for c in candidates}
    per = Counter((unit_of[c], p) for c, p in assignment.items())
    size = Counter(unit_of.values())
    excess = sum(max(0, k - math.ceil(size[u] / len(panels))) for (u, _), k in per.items())
    by_id = {p.id: p for p in panels}
    cands = {c.id: c for c in candidates}
    violations = sum(1 for c, p in assignment.items() if any(conflict_reason(m, cands[c]) for m in by_id[p].members))
    return {"load_spread": max(loads.values()) - min(loads.get(p.id, 0) for p in panels),
            "unit_excess": excess, "violations": violations}


def bench_app(candidates, panels, runs: int) -> list[float]:
    """The same round through the app: ops.run_schedule (load, solve, save the draft) on SQLite."""
    import os
    import tempfile

    os.environ.setdefault("CERTIFY_INSTANCE", tempfile.mkdtemp())
    from certify import create_app
    from certify.extensions import db
    from certify.models import Candidate, User
    from certify.rounds import create_round
    from defense.models import Conflict, Panel, Panelist, PanelMember
    from defense.schedule import operations as ops

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tempfile.mkdtemp()}/bench.db",
                      "EXAM_SWEEPER_ENABLED": False})
    with app.app_context():
        db.create_all()
        rnd = create_round("bench-cq", "重庆", 2026)
        ids = {}
        for c in candidates:
            row = Candidate(round_id=rnd.id, ticket=c.ticket, id_number=f"ID{c.id:016d}", name=c.name,
                            work_unit=c.work_unit, level="中级")
            db.session.add(row)
            db.session.flush()
            ids[c.id] = row.id
        for sp in panels:
            panel = Panel(round_id=rnd.id, name=sp.name, room="301")
            db.session.add(panel)
            for k, m in enumerate(sp.members):
                user = User(username=f"bench-{m.id}", role="panelist", password_hash="-")
                db.session.add(user)
                db.session.flush()
                p = Panelist(round_id=rnd.id, user_id=user.id, name=m.name, work_unit=m.work_unit,
                             import_key=f"k{m.id}")
                db.session.add(p)
                db.session.flush()
                panel.members.append(PanelMember(panelist_id=p.id, is_chair=k == 0))
                for cid in m.conflict_candidates:
                    db.session.add(Conflict(panelist_id=p.id, candidate_id=ids[cid], work_unit=""))
                for unit in m.conflict_units:
                    db.session.add(Conflict(panelist_id=p.id, work_unit=unit))
        ops.set_days(rnd, [date(2026, 12, 1), date(2026, 12, 2)], start="08:30", end="17:30", slot_minutes=20,
                     breaks="12:00-13:30")
        db.session.commit()
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            result = ops.run_schedule(rnd)
            db.session.commit()
            times.append(time.perf_counter() - t)
            assert result.ok, result.reasons
        return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--time-limit", type=float, default=8.0)
    parser.add_argument("--app", action="store_true", help="also time ops.run_schedule through the app (SQLite)")
    args = parser.parse_args()
    header()
    candidates, panels, slots = make_round()
    print(f"round: {len(candidates)} candidates, {len(panels)} panels "
          f"({sum(len(p.members) for p in panels)} panelists), {len({c.work_unit for c in candidates})} units, "
          f"{len(slots)} slots per panel")
    times, base_times = [], []
    result = None
    greedy = None
    for _ in range(args.runs):
        t = time.perf_counter()
        greedy = greedy_assign(candidates, panels, len(slots))
        base_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        result = schedule(candidates, panels, slots, time_limit=args.time_limit, workers=args.workers)
        times.append(time.perf_counter() - t)
        assert result.ok, result.reasons
    med, base = statistics.median(times), statistics.median(base_times)
    sched_assign = {pl.candidate_id: pl.panel_id for pl in result.placements}
    print(f"scheduler (CP-SAT, {args.workers} workers): median {med:.3f} s over {args.runs} runs "
          f"(min {min(times):.3f}, max {max(times):.3f}); solver status {result.status}")
    print(f"greedy baseline: median {base * 1000:.2f} ms; ratio scheduler/greedy = {med / base:.0f}x")
    print(f"quality scheduler: {quality(candidates, panels, sched_assign)}")
    if greedy is not None:
        print(f"quality greedy:    {quality(candidates, panels, greedy)}")
    if args.app:
        app_times = bench_app(candidates, panels, args.runs)
        print(f"through the app (load + solve + save 300 assignments, SQLite): median "
              f"{statistics.median(app_times):.3f} s (min {min(app_times):.3f}, max {max(app_times):.3f})")
        med = max(med, statistics.median(app_times))
    print("PASS" if med < 10 else "FAIL", "(target: under 10 s)")
    figures = {"CP-SAT schedule, 300 candidates × 12 panels": (round(statistics.median(times), 3), "s", "lower"),
               "greedy baseline": (round(base * 1000, 2), "ms", "lower")}
    if args.app:
        figures["through the app on SQLite"] = (round(statistics.median(app_times), 3), "s", "lower")
    report(figures, {"workers": args.workers, "status": result.status}, runs=args.runs)


if __name__ == "__main__":
    main()
