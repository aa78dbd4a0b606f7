"""Where the CPU of the exam minute's hot paths goes: pyinstrument over many saves and many starts, in-process.

    .venv/bin/pip install -e '.[bench]' pyinstrument
    .venv/bin/python bench/profile_load.py [--candidates 300] [--saves 2000] [--database-url URL] [--redis-url URL]
        [--html DIR]

Builds bench/load.py's data set (tables dropped first: use a database you can throw away), creates the app with the
settings the load server runs with, logs every candidate in through the Flask test client (not profiled), then
profiles ``--candidates`` starts (startAttempt, the first one of each candidate) and ``--saves`` answer saves
(saveAnswer) and prints both call trees (``--html DIR`` also writes them as HTML). The test client skips the WSGI
server and the socket, so the figures are the app's share of a request only; the request log and the rate limiter
(Redis with ``--redis-url``) run as in production.

``--measure N`` replaces the profiled starts with a measurement without any profiler: the candidates in ``N`` equal
groups, each timed on its own (process CPU and SQL statements per startAttempt, then per getAttempt of each fresh
attempt), each group printed and the medians last; ``--saves 0`` then skips the saves.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from load import PASSWORD, build_dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--candidates", type=int, default=300)
    p.add_argument("--saves", type=int, default=2000)
    p.add_argument("--database-url", default=None)
    p.add_argument("--redis-url", default=None)
    p.add_argument("--cpu", action="store_true",
                   help="also profile the saves with cProfile on the process CPU clock (waits on the database and "
                        "Redis excluded; cProfile's own overhead inflated); the top functions by cumulative CPU")
    p.add_argument("--show-all", action="store_true", help="print library frames too")
    p.add_argument("--html", default=None, help="write start.html and save.html into this directory")
    p.add_argument("--measure", type=int, default=0, metavar="N",
                   help="no profile of the starts: CPU and SQL statements per start and per getAttempt, in N groups")
    args = p.parse_args(argv)
    url = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-prof-')) / 'p.db'}"
    print(f"# {' '.join(sys.argv)}")
    print(f"# cores {os.cpu_count()}, load average before {os.getloadavg()}")
    data = build_dataset(url, args.candidates)
    os.environ.update({"DATABASE_URL": url, "SECRET_KEY": "bench-secret-key-0123456789",
                       "LOGIN_RATE_LIMIT": "1000000 per minute", "EXAM_SAVE_RATE_LIMIT": "1000000 per minute",
                       "EXAM_EVENT_RATE_LIMIT": "1000000 per minute", "EXAM_SWEEPER_ENABLED": "0"})
    if args.redis_url:
        os.environ["REDIS_URL"] = args.redis_url
    from pyinstrument import Profiler

    from certify import create_app

    app = create_app()
    clients = []
    for ticket in data["tickets"]:
        c = app.test_client()
        r = c.post("/api/login", json={"username": ticket, "password": PASSWORD})
        assert r.status_code == 200, r.get_data(as_text=True)
        clients.append((c, r.get_json()["csrf_token"]))

    if args.measure:
        started = measure_starts(app, clients, data["session_id"], args.measure)
    else:
        started = profile_starts(clients, data["session_id"], args)
    if not args.saves:
        return
    n = len(started)

    for k, (c, csrf, attempt) in enumerate(started):
        if not attempt.get("items"):  # the start may leave the paper to getAttempt (not profiled)
            body = c.get(f"/api/exam/attempts/{attempt['attempt_id']}").get_json()
            started[k] = (c, csrf, {**body, "client_token": attempt["client_token"]})
    rng = random.Random(1)
    seqs = [0] * n

    def save(k: int):
        """One real answer change of candidate k % n (its next seq), through the API."""
        i = k % n
        c, csrf, attempt = started[i]
        item = rng.choice(attempt["items"])
        options = [o["id"] for o in item["options"]]
        choice = sorted(rng.sample(options, 2)) if item["type"] == "multiple" else [rng.choice(options)]
        seqs[i] += 1
        return c.put(f"/api/exam/attempts/{attempt['attempt_id']}/answers/{item['position']}",
                     json={"response": choice, "seq": seqs[i], "time_spent_ms": 1000},
                     headers={"X-CSRFToken": csrf, "X-Attempt-Token": attempt["client_token"]})

    prof = Profiler(interval=0.0005)
    t0, cpu0 = time.perf_counter(), time.process_time()
    prof.start()
    for k in range(args.saves):
        r = save(k)
        assert r.status_code == 200, r.get_data(as_text=True)
    prof.stop()
    print(f"\n## {args.saves} saves: {(time.perf_counter() - t0) * 1000 / args.saves:.2f} ms wall, "
          f"{(time.process_time() - cpu0) * 1000 / args.saves:.2f} ms CPU each (this process)")
    print(prof.output_text(unicode=True, color=False, show_all=args.show_all))
    if args.html:
        Path(args.html, "save.html").write_text(prof.output_html())
    if args.cpu:
        cprof = cProfile.Profile(time.process_time)
        cprof.enable()
        for k in range(args.saves):
            save(k)
        cprof.disable()
        out = io.StringIO()
        pstats.Stats(cprof, stream=out).sort_stats("cumulative").print_stats(60)
        print(f"\n## {args.saves} saves, cProfile on process CPU time\n" + out.getvalue())


def profile_starts(clients, session_id: int, args) -> list:
    from pyinstrument import Profiler

    started = []
    prof = Profiler(interval=0.0005)
    t0, cpu0 = time.perf_counter(), time.process_time()
    prof.start()
    for c, csrf in clients:
        r = c.post(f"/api/exam/sessions/{session_id}/attempt", headers={"X-CSRFToken": csrf})
        assert r.status_code == 200, r.get_data(as_text=True)
        started.append((c, csrf, r.get_json()))
    prof.stop()
    n = len(clients)
    print(f"\n## {n} starts: {(time.perf_counter() - t0) * 1000 / n:.2f} ms wall, "
          f"{(time.process_time() - cpu0) * 1000 / n:.2f} ms CPU each (this process)")
    print(prof.output_text(unicode=True, color=False, show_all=args.show_all))
    if args.html:
        Path(args.html).mkdir(parents=True, exist_ok=True)
        Path(args.html, "start.html").write_text(prof.output_html())
    return started


def measure_starts(app, clients, session_id: int, groups: int) -> list:
    """startAttempt for every candidate, then getAttempt for every fresh attempt (the start storm's two calls), in
    ``groups`` equal groups timed separately; no profiler. Prints ms CPU, ms wall and SQL statements per call."""
    from sqlalchemy import event

    from certify.extensions import db

    with app.app_context():
        engine = db.engine
    statements = [0]

    def count(*_args):
        statements[0] += 1

    event.listen(engine, "before_cursor_execute", count)
    size = max(1, len(clients) // groups)
    chunks = [clients[i * size:(i + 1) * size] for i in range(groups)]
    started, figures = [], {"start": [], "getAttempt": []}

    def timed(name: str, calls) -> list:
        out = []
        for k, calls_of_group in enumerate(calls):
            statements[0] = 0
            t0, cpu0 = time.perf_counter(), time.process_time()
            results = [call() for call in calls_of_group]
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
            n = len(calls_of_group)
            figures[name].append((cpu * 1000 / n, wall * 1000 / n, statements[0] / n))
            print(f"{name} group {k + 1}: {n} calls, {cpu * 1000 / n:.2f} ms CPU, {wall * 1000 / n:.2f} ms wall, "
                  f"{statements[0] / n:.1f} SQL statements each")
            out.append(results)
        return out

    def start(c, csrf):
        def call():
            r = c.post(f"/api/exam/sessions/{session_id}/attempt", headers={"X-CSRFToken": csrf})
            assert r.status_code == 200, r.get_data(as_text=True)
            return c, csrf, r.get_json()
        return call

    def get(c, csrf, attempt):
        def call():
            r = c.get(f"/api/exam/attempts/{attempt['attempt_id']}",
                      headers={"X-Attempt-Token": attempt["client_token"]})
            assert r.status_code == 200, r.get_data(as_text=True)
            assert r.get_json()["items"], "getAttempt returned no paper"
        return call

    for results in timed("start", [[start(c, csrf) for c, csrf in chunk] for chunk in chunks]):
        started += results
    timed("getAttempt", [[get(*s) for s in started[i * size:(i + 1) * size]] for i in range(groups)])
    event.remove(engine, "before_cursor_execute", count)
    for name, rows in figures.items():
        print(f"## {name}: median of {len(rows)} groups of {size}: "
              f"{statistics.median(r[0] for r in rows):.2f} ms CPU, {statistics.median(r[1] for r in rows):.2f} ms "
              f"wall, {statistics.median(r[2] for r in rows):.1f} SQL statements per call")
    return started  # the candidates left over by the grouping never started


if __name__ == "__main__":
    main()
