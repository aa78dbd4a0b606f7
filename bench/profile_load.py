"""Where the CPU of the exam minute's hot paths goes: pyinstrument over many saves and many starts, in-process.

    .venv/bin/pip install -e '.[bench]' pyinstrument
    .venv/bin/python bench/profile_load.py [--candidates 300] [--saves 2000] [--database-url URL] [--redis-url URL]
        [--html DIR]
    .venv/bin/python bench/profile_load.py --floor [--runs 5] [--saves 2000] [--hooks] ...

Builds bench/load.py's data set (tables dropped first: use a database you can throw away), creates the app with the
settings the load server runs with, logs every candidate in through the Flask test client (not profiled), then
profiles ``--candidates`` starts (startAttempt, the first one of each candidate) and ``--saves`` answer saves
(saveAnswer) and prints both call trees (``--html DIR`` also writes them as HTML). The test client skips the WSGI
server and the socket, so the figures are the app's share of a request only; the request log and the rate limiter
(Redis with ``--redis-url``) run as in production.

``--floor`` profiles nothing: it times ``--runs`` runs of ``--saves`` requests each of serverTime (the floor, with
the candidate's session cookie as a browser sends it), saveAnswer with the session cookie + CSRF header and
saveAnswer with the signed attempt pass (``X-Attempt-Pass``), and prints the median CPU per request of each and the
ratio save/floor. ``--hooks`` adds the CPU of each request hook (session open/save, before/after_request functions,
the view) per request kind.

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
    p.add_argument("--floor", action="store_true", help="CPU per request of the floor and the saves, no profiler")
    p.add_argument("--runs", type=int, default=5, help="--floor: runs of --saves requests of each kind")
    p.add_argument("--hooks", action="store_true", help="--floor: also the CPU of each request hook")
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
            started[k] = (c, csrf, {**attempt, **body})
    rng = random.Random(1)
    seqs = [0] * n

    def save(k: int, *, signed: bool = False):
        """One real answer change of candidate k % n (its next seq), through the API: with the session cookie and
        the CSRF header, or (``signed``) with the attempt pass and no cookie."""
        i = k % n
        c, csrf, attempt = started[i]
        item = rng.choice(attempt["items"])
        options = [o["id"] for o in item["options"]]
        choice = sorted(rng.sample(options, 2)) if item["type"] == "multiple" else [rng.choice(options)]
        seqs[i] += 1
        url = f"/api/exam/attempts/{attempt['attempt_id']}/answers/{item['position']}"
        body = {"response": choice, "seq": seqs[i], "time_spent_ms": 1000}
        if signed:
            return bare.put(url, json=body, headers={"X-Attempt-Pass": attempt["attempt_pass"],
                                                     "X-Attempt-Token": attempt["client_token"]})
        return c.put(url, json=body, headers={"X-CSRFToken": csrf, "X-Attempt-Token": attempt["client_token"]})

    bare = app.test_client()  # no cookie jar: the signed saves carry no session
    if args.floor:
        return floor(app, args, started, save)

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
        cprofile_saves(args.saves, save)


def cprofile_saves(saves: int, save) -> None:
    cprof = cProfile.Profile(time.process_time)
    cprof.enable()
    for k in range(saves):
        save(k)
    cprof.disable()
    out = io.StringIO()
    pstats.Stats(cprof, stream=out).sort_stats("cumulative").print_stats(60)
    print(f"\n## {saves} saves, cProfile on process CPU time\n" + out.getvalue())


def _hook_timer(app):
    """Wrap every request hook of ``app`` (and the session interface, and view dispatch) to add up its CPU time."""
    import functools
    from collections import defaultdict

    spent: dict[str, float] = defaultdict(float)

    def timed(name, fn):
        @functools.wraps(fn)
        def wrapper(*a, **kw):
            t = time.process_time()
            try:
                return fn(*a, **kw)
            finally:
                spent[name] += time.process_time() - t
        return wrapper

    def label(fn):
        fn = getattr(fn, "func", fn)
        return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}".replace(".<locals>", "")

    for funcs in (app.before_request_funcs, app.after_request_funcs):
        kind = "before" if funcs is app.before_request_funcs else "after"
        for key, fns in funcs.items():
            funcs[key] = [timed(f"{kind} {label(f)}", f) for f in fns]
    si = app.session_interface
    si.open_session = timed("session open", si.open_session)
    si.save_session = timed("session save", si.save_session)
    for endpoint, view in list(app.view_functions.items()):
        if endpoint.startswith("exam_api."):
            app.view_functions[endpoint] = timed(f"view {endpoint}", view)
    return spent


def _one_run(kinds: dict, n: int, spent) -> tuple[dict, dict]:
    """n requests of each kind, the kinds taking turns every 50 requests (a change of load on the machine hits all
    of them alike); the CPU seconds of each kind, and of each hook per kind when ``spent`` collects them."""
    block = 50
    spent_cpu = dict.fromkeys(kinds, 0.0)
    per_hook: dict[str, dict[str, float]] = {name: {} for name in kinds}
    for start in range(0, n, block):
        for name, run in kinds.items():
            if spent is not None:
                spent.clear()
            cpu0 = time.process_time()
            for k in range(start, min(start + block, n)):
                r = run(k)
                assert r.status_code == 200, r.get_data(as_text=True)
            spent_cpu[name] += time.process_time() - cpu0
            for h, v in (spent or {}).items():
                per_hook[name][h] = per_hook[name].get(h, 0.0) + v
    return spent_cpu, per_hook


def floor(app, args, started, save) -> None:
    """Median CPU per request of the floor (serverTime), a save with the cookie and a save with the pass."""
    import statistics

    c = started[0][0]
    kinds = {"floor /api/time": lambda k: c.get("/api/time"),
             "save (cookie + CSRF)": lambda k: save(k),
             "save (attempt pass)": lambda k: save(k, signed=True)}
    if "attempt_pass" not in started[0][2]:
        del kinds["save (attempt pass)"]
    spent = _hook_timer(app) if args.hooks else None
    for k in range(200):  # warm-up: compiled statements, paper shapes, connections
        for run in kinds.values():
            assert run(k).status_code == 200
    figures: dict[str, list[float]] = {name: [] for name in kinds}
    ratios: dict[str, list[float]] = {name: [] for name in kinds}
    hooks: dict[str, dict[str, float]] = {}
    for _ in range(args.runs):
        spent_cpu, per_hook = _one_run(kinds, args.saves, spent)
        for name in kinds:
            figures[name].append(spent_cpu[name] * 1000 / args.saves)
            ratios[name].append(spent_cpu[name] / spent_cpu["floor /api/time"])
            hooks[name] = {h: v * 1000 / args.saves for h, v in per_hook[name].items()}
    med = {name: statistics.median(v) for name, v in figures.items()}
    print(f"\n## CPU per request, median of {args.runs} runs of {args.saves} each (ms; runs in brackets; "
          f"ratio: median of the runs' ratios to the floor)")
    for name, value in med.items():
        runs = ", ".join(f"{v:.3f}" for v in figures[name])
        print(f"{name:24s} {value:7.3f}  x{statistics.median(ratios[name]):4.2f} of the floor   [{runs}]")
    if spent is not None:
        print("\n## CPU per request of each hook, last run (ms; hook timing itself adds a little)")
        for name, table in hooks.items():
            print(f"### {name}")
            for h, v in sorted(table.items(), key=lambda kv: -kv[1]):
                if v >= 0.005:
                    print(f"  {v:7.3f}  {h}")


def profile_starts(clients, session_id: int, args) -> list:
    from pyinstrument import Profiler

    if args.floor:  # --floor: the starts only prepare the saves
        started = []
        for c, csrf in clients:
            r = c.post(f"/api/exam/sessions/{session_id}/attempt", headers={"X-CSRFToken": csrf})
            assert r.status_code == 200, r.get_data(as_text=True)
            started.append((c, csrf, r.get_json()))
        return started
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
