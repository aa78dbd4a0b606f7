"""Benchmark: the server time of one exam answer save, through the real Flask app.

    .venv/bin/python bench/exam_save.py [--saves 2000] [--runs 5] [--candidates 100] [--threads 8] [--database-url URL]

1. Sequential: median and p95 of PUT /api/exam/attempts/<id>/answers/<position> (test client, session cookie,
   CSRF off as for an API client holding the token) against a baseline in the same run (GET /api/time), on a
   SQLite file database in the app's own journal mode (read back and recorded: WAL) and, with --database-url or
   TEST_DATABASE_URL, on PostgreSQL. Also the SQL statements one save issues, and the save time with the
   per-process paper-shape cache cleared before every save. Repeated ``--runs`` times; the figures are the medians
   of the runs' medians.
2. Concurrency: a threaded Werkzeug server on 127.0.0.1 and N client threads (requests), each a candidate
   saving in a loop: throughput and latency percentiles as seen by the clients (once per target).
The database is created empty for the run (tables dropped first); use a database you can throw away.
Prints a ``BENCH_JSON`` line (bench/common.py) for ``bench/run_all.py``.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from common import add_bench_items, header, report

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PASSWORD = "bench-pass-123"


def pct(values, p):
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(p / 100 * (len(values) - 1))))
    return values[k]


def ms(values):
    return f"median {statistics.median(values) * 1000:.2f} ms · p95 {pct(values, 95) * 1000:.2f} ms"


def build(app, n_candidates: int, n_items: int = 60):
    from werkzeug.security import generate_password_hash

    from certify.clock import utcnow
    from certify.extensions import db
    from certify.models import Candidate, User
    from certify.rounds import create_round
    from exam.models import ExamSession, Paper, PaperItem, SessionCandidate

    with app.app_context():
        db.drop_all()
        db.create_all()
        rnd = create_round("bench", "重庆", 2024)
        scheme = rnd.scheme_for("初级")
        versions = add_bench_items(n_items)
        now = utcnow()
        session = ExamSession(round_id=rnd.id, scheme_id=scheme.id, name="基准场次",
                              opens_at=now - timedelta(minutes=1), closes_at=now + timedelta(hours=6),
                              duration_minutes=300, late_entry_minutes=600)
        db.session.add(session)
        db.session.flush()
        rng = random.Random(1)
        hashed = generate_password_hash(PASSWORD)  # one hash for every candidate: hashing dominates set-up
        tickets = []
        for c in range(n_candidates):
            ticket = f"BENCH{c:05d}"
            user = User(username=ticket, role="candidate", display_name=f"考生{c}", password_hash=hashed)
            cand = Candidate(round_id=rnd.id, user=user, ticket=ticket, id_number=f"BID{c:015d}", name=f"考生{c}",
                             work_unit="基准单位", level="初级")
            db.session.add(cand)
            db.session.flush()
            paper = Paper(session_id=session.id, candidate_id=cand.id, seed=c)
            db.session.add(paper)
            db.session.flush()
            order = list(range(n_items))
            rng.shuffle(order)
            for pos, idx in enumerate(order, 1):
                v = versions[idx]
                db.session.add(PaperItem(paper_id=paper.id, position=pos, item_version_id=v.id,
                                         points=Decimal(100) / n_items, option_order=list(range(len(v.options)))))
            db.session.add(SessionCandidate(session_id=session.id, candidate_id=cand.id, paper_id=paper.id))
            tickets.append(ticket)
        db.session.commit()
        return session.id, tickets


def make_app(url: str):
    from certify import create_app
    from certify.config import normalise_database_url

    os.environ.setdefault("CERTIFY_INSTANCE", tempfile.mkdtemp(prefix="bench-instance-"))
    return create_app({"TESTING": False, "SQLALCHEMY_DATABASE_URI": normalise_database_url(url),
                       "WTF_CSRF_ENABLED": False, "LOGIN_RATE_LIMIT": "100000 per minute",
                       "EXAM_SAVE_RATE_LIMIT": "1000000 per minute",  # hammers one attempt; the limiter's cost stays
                       "EXAM_SWEEPER_ENABLED": False})


def start_attempt(client, ticket, session_id):
    resp = client.post("/api/login", json={"username": ticket, "password": PASSWORD})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = client.post(f"/api/exam/sessions/{session_id}/attempt").get_json()
    return body


def sequential(app, session_id, tickets, saves: int, label: str, runs: int = 1) -> dict:
    from sqlalchemy import event

    from certify.extensions import db
    from exam.delivery import operations as ops

    rng = random.Random(2)
    sessions = []
    for ticket in tickets[: min(len(tickets), 50)]:
        client = app.test_client()
        body = start_attempt(client, ticket, session_id)
        sessions.append({"client": client, "id": body["attempt_id"], "token": body["client_token"], "seq": 0,
                         "items": body["items"]})

    def one_save(s):
        item = rng.choice(s["items"])
        s["seq"] += 1
        choice = [rng.choice(item["options"])["id"]]
        if item["type"] == "multiple":
            choice = sorted({o["id"] for o in rng.sample(item["options"], 2)})
        t0 = time.perf_counter()
        resp = s["client"].put(f"/api/exam/attempts/{s['id']}/answers/{item['position']}",
                               json={"response": choice, "seq": s["seq"], "time_spent_ms": 1200},
                               headers={"X-Attempt-Token": s["token"]})
        elapsed = time.perf_counter() - t0
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return elapsed

    for s in sessions[:5]:  # warm-up
        one_save(s)
    client = sessions[0]["client"]
    per_run = []
    for run in range(runs):
        baseline = []
        for _ in range(saves):
            t0 = time.perf_counter()
            client.get("/api/time")
            baseline.append(time.perf_counter() - t0)
        save_times = [one_save(rng.choice(sessions)) for _ in range(saves)]
        per_run.append((statistics.median(baseline), statistics.median(save_times)))
        print(f"  [{label}] run {run + 1}/{runs}: /api/time {per_run[-1][0] * 1000:.2f} ms, "
              f"save {per_run[-1][1] * 1000:.2f} ms", flush=True)

    # SQL statements of one save (after the paper shape is cached)
    statements = []
    with app.app_context():
        engine = db.engine
    listener = lambda conn, cursor, statement, *a: statements.append(statement.split()[0].upper())  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    one_save(sessions[1])
    event.remove(engine, "before_cursor_execute", listener)

    uncached = []
    for _ in range(min(saves, 500)):
        ops._SHAPES.clear()
        uncached.append(one_save(rng.choice(sessions)))

    print(f"\n[{label}] {saves} saves over {len(sessions)} attempts (test client, sequential)")
    print(f"  baseline GET /api/time          {ms(baseline)}")
    print(f"  saveAnswer                      {ms(save_times)}  → "
          f"{len(save_times) / sum(save_times):.0f} saves/s sequentially")
    print(f"  saveAnswer, shape cache cleared {ms(uncached)}  (n={len(uncached)})")
    overhead_ms = (statistics.median(save_times) - statistics.median(baseline)) * 1000
    print(f"  saveAnswer minus baseline       median {overhead_ms:.2f} ms")
    print(f"  SQL per save: {len(statements)} statements: {' · '.join(statements)}")
    time_ms = statistics.median(r[0] for r in per_run) * 1000
    save_ms = statistics.median(r[1] for r in per_run) * 1000
    print(f"  median of {runs} runs: /api/time {time_ms:.2f} ms, save {save_ms:.2f} ms, "
          f"ratio {save_ms / time_ms:.2f}")
    return {"time_ms": time_ms, "save_ms": save_ms, "save_to_time": save_ms / time_ms,
            "sql_per_save": len(statements)}


def concurrent(app, session_id, tickets, threads: int, seconds: float, label: str) -> float:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    import requests
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = [0.0]

    def worker(ticket):
        http = requests.Session()
        r = http.post(f"{base}/api/login", json={"username": ticket, "password": PASSWORD})
        r.raise_for_status()
        body = http.post(f"{base}/api/exam/sessions/{session_id}/attempt",
                         headers={"X-CSRFToken": r.json()["csrf_token"]}).json()
        rng = random.Random(ticket)
        headers = {"X-Attempt-Token": body["client_token"], "X-CSRFToken": r.json()["csrf_token"]}
        seq = body["last_seq"]
        mine = []
        while not stop_at[0]:
            time.sleep(0.01)
        while time.perf_counter() < stop_at[0]:
            item = rng.choice(body["items"])
            seq += 1
            t0 = time.perf_counter()
            resp = http.put(f"{base}/api/exam/attempts/{body['attempt_id']}/answers/{item['position']}",
                            json={"response": [item["options"][0]["id"]], "seq": seq}, headers=headers)
            mine.append(time.perf_counter() - t0)
            if resp.status_code != 200:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=worker, args=(t,)) for t in tickets[50:50 + threads]]
    for w in workers:
        w.start()
    time.sleep(2.0)  # logins and starts
    stop_at[0] = time.perf_counter() + seconds
    for w in workers:
        w.join()
    server.shutdown()
    print(f"\n[{label}] {threads} client threads for {seconds:.0f} s against a threaded Werkzeug server (CSRF on)")
    print(f"  {len(latencies)} saves, {len(latencies) / seconds:.0f} saves/s, errors {errors[0]}; "
          f"client-side {ms(latencies)}")
    return len(latencies) / seconds


def mode_of(app) -> dict:
    """What the run really used, read back from the database (a row never claims a mode it did not run in)."""
    from certify.extensions import db

    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            journal = db.session.execute(db.text("PRAGMA journal_mode")).scalar()
            sync = db.session.execute(db.text("PRAGMA synchronous")).scalar()
            db.session.remove()
            return {"database": "sqlite", "journal_mode": journal, "synchronous": int(sync)}
        version = db.session.execute(db.text("SHOW server_version")).scalar()
        db.session.remove()
        return {"database": "postgresql", "server_version": version.split()[0],
                "pool_pre_ping": bool(db.engine.pool._pre_ping)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--saves", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"))
    args = parser.parse_args()
    header()
    targets = [("sqlite", f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-')) / 'bench.db'}")]
    if args.database_url:
        targets.append(("postgresql", args.database_url))
    figures, modes = {}, {}
    for name, url in targets:
        app = make_app(url)
        modes[name] = mode_of(app)
        assert name == modes[name]["database"]
        if name == "sqlite":
            assert modes[name]["journal_mode"] == "wal", modes[name]  # the app's own set-up (certify/extensions.py)
        label = f"{name} ({', '.join(f'{k}={v}' for k, v in modes[name].items() if k != 'database')})"
        session_id, tickets = build(app, max(args.candidates, 50 + args.threads))
        seq = sequential(app, session_id, tickets, args.saves, label, runs=args.runs)
        app.config["WTF_CSRF_ENABLED"] = True
        rate = concurrent(app, session_id, tickets, args.threads, args.seconds, label)
        figures[f"{name}_time_ms"] = (round(seq["time_ms"], 3), "ms", "lower")
        figures[f"{name}_save_ms"] = (round(seq["save_ms"], 3), "ms", "lower")
        figures[f"{name}_save_to_time"] = (round(seq["save_to_time"], 2), "x", "lower")
        figures[f"{name}_saves_per_s_{args.threads}_threads"] = (round(rate, 1), "saves/s", "higher")
        with app.app_context():
            from certify.extensions import db

            db.session.remove()
            db.engine.dispose()
    report(figures, {k: ", ".join(f"{a}={b}" for a, b in v.items()) for k, v in modes.items()}, runs=args.runs)


if __name__ == "__main__":
    main()
