"""Benchmark: paper generation for a 5,000-candidate session as the worker runs it (job ``exam.papers``).

    .venv/bin/python bench/paper_job.py --candidates 5000 --runs 3 [--database-url postgresql://…/bench]

Set-up once per database (SQLite file in a temporary directory, or the given PostgreSQL database emptied): a
generated bank of 2,000 items, 5,000 candidates, the demo blueprint, and the session created with its candidates
assigned and its papers queued, as the "new session" POST does (timed once: the request's work). Then
each run queues the job and runs it through the queue exactly as ``certify worker`` / ``certify exam-papers`` do
(``queue.run_in_foreground``: claim, draw, 1,000 papers per committed chunk with progress, audit, finish) — wall
and CPU of this process (on PostgreSQL the server's CPU is not counted). Baseline in the same run: the pure
balanced assembly of the same papers (no database), the floor of any generation.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from common import header, report
from paper_generation import STRATA, generated_bank, seed_round
from roster_import import empty_postgres

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def setup(database_url: str | None, candidates: int, items: int):
    tmp = tempfile.mkdtemp(prefix="bench-paper-job-")
    os.environ["CERTIFY_INSTANCE"] = tmp
    if database_url:
        empty_postgres(database_url)

    from certify import create_app
    from certify.clock import utcnow
    from certify.config import normalise_database_url
    from certify.extensions import db
    from certify.jobs.queue import request_cancel
    from exam.authoring.paper_job import papers_now_or_queued
    from exam.authoring.sessions import create_session

    url = normalise_database_url(database_url) if database_url else f"sqlite:///{tmp}/bench.db"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "EXAM_SWEEPER_ENABLED": False})
    bank = generated_bank(items)
    with app.app_context():
        db.create_all()
        rnd, scheme, bp = seed_round(bank, candidates)
        db.session.commit()
        # What the "new session" POST runs for a session this size: create it and queue its papers (committed).
        hook, queued = papers_now_or_queued()
        start = time.perf_counter()
        session = create_session(rnd, scheme, name="基准场次", blueprint_id=bp.id, opens_at=utcnow(),
                                 closes_at=utcnow() + timedelta(hours=3), duration_minutes=60, late_entry_minutes=30,
                                 instructions="", assign_all=True, event_warning_threshold=None, seed=7, papers=hook)
        db.session.commit()
        post_s = time.perf_counter() - start
        assert len(queued) == 1, "the session's papers were not queued"
        request_cancel(queued[0])  # the runs below queue their own
        db.session.commit()
        return app, session.id, db.engine.dialect.name, post_s


def one_job(app, session_id: int) -> dict:
    from certify import uow
    from certify.extensions import db
    from certify.jobs import queue
    from certify.jobs.models import SUCCEEDED, Job
    from exam.authoring.paper_job import enqueue_papers
    from exam.models import ExamSession

    with app.app_context():
        job = enqueue_papers(db.session.get(ExamSession, session_id), reason="基准")
        uow.commit()
        reports = []
        start, start_cpu = time.perf_counter(), time.process_time()
        state = queue.run_in_foreground(job, echo=lambda j: reports.append(j.done))
        wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        job = db.session.get(Job, job.id)
        db.session.refresh(job)
        if state != SUCCEEDED:
            raise SystemExit(f"job {job.id} ended {state}: {job.message}")
        papers = job.result["papers"]
        db.session.remove()
    return {"wall": wall, "cpu": cpu, "papers": papers, "reports": len(reports)}


def baseline(session_candidates: int, items: int) -> dict:
    from exam.services.assembly import BankItem, assemble_session

    bank = generated_bank(items)
    pool = [BankItem(i + 1, b["type"], b["category"], b["difficulty"], b["level"], b["n_options"], b["facility"],
                     b["facility_n"]) for i, b in enumerate(bank)]
    start, start_cpu = time.perf_counter(), time.process_time()
    assemble_session(STRATA, pool, "初级", "per_candidate", 7, range(1, session_candidates + 1))
    return {"wall": time.perf_counter() - start, "cpu": time.process_time() - start_cpu}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--candidates", type=int, default=5000)
    p.add_argument("--items", type=int, default=2000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--database-url", default=None, help="a PostgreSQL database to empty and use (default: SQLite)")
    args = p.parse_args()
    header()
    app, session_id, dialect, post_s = setup(args.database_url, args.candidates, args.items)
    runs = [one_job(app, session_id) for _ in range(args.runs)]
    floors = [baseline(args.candidates, args.items) for _ in range(args.runs)]
    med = {k: statistics.median(r[k] for r in runs) for k in ("wall", "cpu")}
    base = {k: statistics.median(r[k] for r in floors) for k in ("wall", "cpu")}
    assert dialect == ("postgresql" if args.database_url else "sqlite"), dialect
    walls = ", ".join(f"{r['wall']:.2f}" for r in runs)
    print(f"paper job, {runs[0]['papers']} papers on {dialect} ({runs[0]['reports']} progress reports): median wall "
          f"{med['wall']:.2f} s, CPU {med['cpu']:.2f} s (runs: {walls} s)")
    print(f"baseline, pure balanced assembly of the same papers: median wall {base['wall']:.2f} s, CPU "
          f"{base['cpu']:.2f} s → the job is {med['wall'] / base['wall']:.2f}× wall, {med['cpu'] / base['cpu']:.2f}× "
          f"CPU of drawing alone")
    print(f"creating the session and queueing its papers (what the POST runs): {post_s:.2f} s (one run)")
    report({f"paper job, {args.candidates} papers ({dialect})": (round(med["wall"], 2), "s", "lower"),
            "CPU of the job process": (round(med["cpu"], 2), "s", "lower"),
            "baseline: pure balanced assembly": (round(base["wall"], 2), "s", "lower"),
            "create session + queue the job (the POST's work)": (round(post_s, 2), "s", "lower")},
           {"database": dialect, "candidates": args.candidates, "path": "queue.run_in_foreground"}, runs=args.runs)


if __name__ == "__main__":
    main()
