"""Load benchmark: many candidates against a real server process, through the JSON API by operationId.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/load.py steady --clients 1000 --duration 60
    .venv/bin/python bench/load.py start-storm --clients 1000 --window 60
    .venv/bin/python bench/load.py login-storm --clients 250 --window 60
    .venv/bin/python bench/load.py submit-storm --clients 500
    .venv/bin/python bench/load.py steady --clients 5000 --database-url postgresql://postgres@127.0.0.1/bench \\
        --redis-url redis://127.0.0.1:6379/0 --server "gunicorn …"        # any production command, {port} filled in

Each run builds a fresh data set in the database (tables dropped first: use a database you can throw away), starts
the server command as a child process (default: ``certify serve``), measures the server's CPU per request of a
no-database call (``serverTime``, the *floor*) and then runs the scenario with an asyncio client (aiohttp), one
cookie jar per candidate, like browsers in an exam room:

- ``login-storm``: every candidate logs in (candidateLogin) and starts (startAttempt) at a random moment of the window.
- ``start-storm``: candidates are logged in beforehand; all start + getAttempt within the window.
- ``steady``: all candidates logged in and started; each changes one real answer every ``--period`` seconds (random
  phase) for ``--duration`` seconds; ``--reconnect-share`` of them reload mid-run (getAttempt again, as a page reload).
- ``submit-storm``: a 2-minute paper; everyone starts, saves a few answers, and 90 % submit during the last 30 s; the
  rest are left to the server's sweeper. Reports whether every attempt was graded within 30 s of its deadline.

Every acknowledged save is kept in a ledger; afterwards the database is read back and ``lost_answers`` counts the
acknowledged saves that are not there (stored ``seq`` lower than the highest acknowledged ``seq`` for that position).
Output: one JSON object per run (``--json FILE`` appends them), with ``scenario, clients, duration_s, requests, errors,
p50_ms, p95_ms, p99_ms, rps, lost_answers, server_cpu_ms_per_request, floor_cpu_ms, ratio_to_floor`` and more; with
``--runs R`` the medians over the runs are printed too.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from common import add_bench_items

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PASSWORD = "Bench-pass-2024!"
N_ITEMS = 60


# ------------------------------------------------------------------------------------------------------- data set

def build_dataset(database_url: str, n_candidates: int, *, duration_minutes: int = 300,
                  hash_method: str = "scrypt") -> dict:
    """A round, a 60-item paper per candidate and an open session, written with bulk inserts (seconds, not minutes).

    ``hash_method``: the candidates' password hash. scrypt (a password the candidate chose, as after the first login)
    is what a login costs; the scenarios that do not measure logins log in with a light hash, so that preparing
    2,000 candidates takes seconds, not minutes of scrypt."""
    from sqlalchemy import insert, select, text
    from werkzeug.security import generate_password_hash

    from certify import create_app
    from certify.cli import upgrade_database
    from certify.clock import utcnow
    from certify.config import normalise_database_url
    from certify.extensions import db
    from certify.models import Candidate, User
    from certify.rounds import create_round
    from exam.delivery import payload
    from exam.models import ExamSession, Paper, PaperItem, SessionCandidate

    os.environ.setdefault("CERTIFY_INSTANCE", tempfile.mkdtemp(prefix="bench-instance-"))
    app = create_app({"SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url), "EXAM_SWEEPER_ENABLED": False})
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade_database()  # the server's own start-up runs the migrations too: the schema they make
        rnd = create_round("bench", "重庆", 2024)
        scheme = rnd.scheme_for("初级")
        versions = add_bench_items(N_ITEMS)
        now = utcnow()
        session = ExamSession(round_id=rnd.id, scheme_id=scheme.id, name="负载基准场次",
                              opens_at=now - timedelta(minutes=1), closes_at=now + timedelta(hours=6),
                              duration_minutes=duration_minutes, late_entry_minutes=600)
        db.session.add(session)
        db.session.flush()
        base_user = (db.session.scalar(select(db.func.max(User.id))) or 0) + 1
        base_cand = (db.session.scalar(select(db.func.max(Candidate.id))) or 0) + 1
        base_paper = (db.session.scalar(select(db.func.max(Paper.id))) or 0) + 1
        hashed = generate_password_hash(PASSWORD, method=hash_method)  # one hash for all: set-up speed
        users, cands, papers, items, assigns = [], [], [], [], []
        rng = random.Random(1)
        points = Decimal(100) / N_ITEMS
        shown = {v.id: payload.version_of(v) for v in versions}
        tickets = []
        for c in range(n_candidates):
            ticket = f"LOAD{c:06d}"
            tickets.append(ticket)
            uid, cid, pid = base_user + c, base_cand + c, base_paper + c
            users.append({"id": uid, "username": ticket, "role": "candidate", "display_name": f"考生{c}",
                          "password_hash": hashed, "must_change_password": False})
            cands.append({"id": cid, "round_id": rnd.id, "user_id": uid, "ticket": ticket,
                          "id_number": f"LID{c:015d}", "name": f"考生{c}", "work_unit": "基准单位", "level": "初级"})
            order = list(range(N_ITEMS))
            rng.shuffle(order)
            lines = [(pos, points, list(range(len(versions[idx].options))), versions[idx].id)
                     for pos, idx in enumerate(order, 1)]
            # what paper generation stores with each paper: the candidate's view, rendered once
            papers.append({"id": pid, "session_id": session.id, "candidate_id": cid, "seed": c,
                           "payload_json": payload.render(lines, shown)})
            items += [{"paper_id": pid, "position": pos, "item_version_id": vid, "points": pts, "option_order": order}
                      for pos, pts, order, vid in lines]
            assigns.append({"session_id": session.id, "candidate_id": cid, "paper_id": pid})
        for model, rows in ((User, users), (Candidate, cands), (Paper, papers), (PaperItem, items),
                            (SessionCandidate, assigns)):
            for i in range(0, len(rows), 5000):
                db.session.execute(insert(model), rows[i:i + 5000])
        db.session.commit()
        if db.engine.dialect.name == "postgresql":  # explicit ids: move the sequences past them
            with db.engine.begin() as conn:
                for table in ("users", "candidates", "exam_papers"):
                    conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                      f"(SELECT max(id) FROM {table}))"))
        result = {"session_id": session.id, "tickets": tickets}
        db.session.remove()
        db.engine.dispose()
    return result


def read_back(database_url: str) -> dict:
    """Stored answers and attempts, for the ledger check."""
    from sqlalchemy import create_engine, text

    from certify.config import normalise_database_url

    engine = create_engine(normalise_database_url(database_url))
    with engine.connect() as conn:
        answers = {(a, p): s for a, p, s in conn.execute(text("SELECT attempt_id, position, seq FROM exam_answers"))}
        attempts = {row[0]: row[1:] for row in conn.execute(text(
            "SELECT id, state, score, deadline_at, submitted_at FROM exam_attempts"))}
    engine.dispose()
    return {"answers": answers, "attempts": attempts}


# ------------------------------------------------------------------------------------------------------- server

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The server command as a child process group; CPU is read for the whole process tree."""

    def __init__(self, command: str, port: int, env: dict):
        import psutil

        self.port = port
        argv = shlex.split(command.format(port=port, python=sys.executable))
        self.log = tempfile.NamedTemporaryFile(prefix="bench-server-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.ps = psutil.Process(self.proc.pid)

    def cpu_seconds(self) -> float:
        import psutil

        total = 0.0
        try:
            procs = [self.ps, *self.ps.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        for p in procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def rss_mb(self) -> float:
        import psutil

        total = 0
        for p in [self.ps, *self.ps.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total / 2 ** 20

    def wait_ready(self, timeout: float = 60) -> None:
        import urllib.request

        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; log: {self.log.name}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/time", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"server not ready after {timeout} s; log: {self.log.name}")

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def store_cpu_seconds() -> float:
    """CPU of every PostgreSQL and Redis process on the machine (not children of the server): an upper bound of the
    database's share, since other users of the same PostgreSQL are counted too."""
    import psutil

    total = 0.0
    for p in psutil.process_iter(["name"]):
        if (p.info["name"] or "").startswith(("postgres", "redis-server")):
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
    return total


# ------------------------------------------------------------------------------------------------------- client

class Stats:
    def __init__(self):
        self.latency: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self.statuses: dict[int, int] = {}
        self.exceptions: dict[str, int] = {}  # client-side failures (no HTTP status) by exception class
        self.requests = 0

    def add(self, op: str, seconds: float, status: int | None):
        self.requests += 1
        self.latency.setdefault(op, []).append(seconds)
        if status is not None:
            self.statuses[status] = self.statuses.get(status, 0) + 1
        if status is None or status >= 400:
            self.errors[op] = self.errors.get(op, 0) + 1


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[max(0, min(len(values) - 1, round(p / 100 * (len(values) - 1))))]


class Examinee:
    """One candidate's browser: its own cookies, CSRF token, attempt token and save sequence."""

    def __init__(self, http, base: str, ticket: str, stats: Stats, retry_503: bool = True):
        self.http, self.base, self.ticket, self.stats, self.retry = http, base, ticket, stats, retry_503
        self.cookies: dict[str, str] = {}
        self.csrf = None
        self.attempt = None
        self.seq = 0
        self.acked: dict[int, int] = {}  # position -> highest acknowledged seq

    async def call(self, op: str, method: str, path: str, *, json_body=None, headers=None, record: bool = True):
        """One API call; 503 + Retry-After is retried with back-off as the exam page does (counted, not an error)."""
        hdrs = dict(headers or {})
        if self.csrf:
            hdrs["X-CSRFToken"] = self.csrf
        if self.attempt:
            hdrs["X-Attempt-Token"] = self.attempt["client_token"]
        delay = 0.5
        for _ in range(8):
            t0 = time.perf_counter()
            try:
                async with self.http.request(method, self.base + path, json=json_body, headers=hdrs,
                                             cookies=self.cookies) as resp:
                    body = await resp.json(content_type=None) if resp.content_type == "application/json" else None
                    self.cookies.update({k: m.value for k, m in resp.cookies.items()})
                    status = resp.status
                    retry_after = resp.headers.get("Retry-After")
            except Exception as exc:
                name = type(exc).__name__
                self.stats.exceptions[name] = self.stats.exceptions.get(name, 0) + 1
                if record:
                    self.stats.add(op, time.perf_counter() - t0, None)
                return None, None
            if status == 503 and self.retry:
                self.stats.statuses[503] = self.stats.statuses.get(503, 0) + 1
                await asyncio.sleep(min(float(retry_after or delay), 5) * (0.5 + random.random()))
                delay = min(delay * 2, 8)
                continue
            if record:
                self.stats.add(op, time.perf_counter() - t0, status)
            return status, body
        return 503, None

    async def login(self):
        status, body = await self.call("candidateLogin", "POST", "/api/login",
                                       json_body={"username": self.ticket, "password": PASSWORD})
        if status == 200:
            self.csrf = body.get("csrf_token")
        return status == 200

    async def start(self, session_id: int):
        status, body = await self.call("startAttempt", "POST", f"/api/exam/sessions/{session_id}/attempt")
        if status == 200:
            self.attempt = body
            self.seq = body.get("last_seq", 0)
            if not body.get("items"):
                await self.get_attempt()
        return status == 200

    async def get_attempt(self):
        status, body = await self.call("getAttempt", "GET", f"/api/exam/attempts/{self.attempt['attempt_id']}")
        if status == 200 and body.get("items"):
            token = self.attempt.get("client_token")
            self.attempt = {**body, "client_token": token}
        return status == 200

    async def save(self, rng: random.Random):
        item = rng.choice(self.attempt["items"])
        options = [o["id"] for o in item["options"]]
        choice = sorted(rng.sample(options, 2)) if item["type"] == "multiple" else [rng.choice(options)]
        self.seq += 1
        seq = self.seq
        status, _ = await self.call("saveAnswer", "PUT",
                                    f"/api/exam/attempts/{self.attempt['attempt_id']}/answers/{item['position']}",
                                    json_body={"response": choice, "seq": seq, "time_spent_ms": 1000})
        if status == 200:
            self.acked[item["position"]] = max(seq, self.acked.get(item["position"], 0))
        return status == 200

    async def submit(self):
        status, _ = await self.call("submitAttempt", "POST", f"/api/exam/attempts/{self.attempt['attempt_id']}/submit")
        return status == 200


# ------------------------------------------------------------------------------------------------------- scenarios

async def measure_floor(http, base: str, server: Server, n: int = 400) -> float:
    """Server CPU milliseconds per serverTime call (no database, no session): the request floor."""
    stats = Stats()
    c = Examinee(http, base, "floor", stats)
    for _ in range(20):
        await c.call("serverTime", "GET", "/api/time")
    cpu0 = server.cpu_seconds()
    sem = asyncio.Semaphore(8)

    async def one():
        async with sem:
            await c.call("serverTime", "GET", "/api/time")

    await asyncio.gather(*(one() for _ in range(n)))
    return (server.cpu_seconds() - cpu0) * 1000 / n


async def spread(coros, window: float):
    """Run each coroutine factory at a uniformly random moment in the window."""
    async def later(delay, factory):
        await asyncio.sleep(delay)
        return await factory()

    return await asyncio.gather(*(later(random.uniform(0, window), f) for f in coros))


async def run_scenario(args, data: dict, server: Server) -> dict:
    import aiohttp

    base = f"http://127.0.0.1:{server.port}"
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    connector = aiohttp.TCPConnector(limit=args.connections, force_close=False)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     cookie_jar=aiohttp.DummyCookieJar()) as http:
        floor = await measure_floor(http, base, server)
        prep = Stats()
        stats = Stats()
        session_id = data["session_id"]
        tickets = data["tickets"][: args.clients]
        cands = [Examinee(http, base, t, prep) for t in tickets]
        await _prepare(args, cands, session_id)
        for c in cands:
            c.stats = stats
        ready = [c for c in cands if args.scenario in ("login-storm", "start-storm") or c.attempt]
        cpu0, store0, t0 = server.cpu_seconds(), store_cpu_seconds(), time.perf_counter()
        rss_before = server.rss_mb()
        extra: dict = await SCENARIOS[args.scenario](args, ready, session_id) or {}
        elapsed = time.perf_counter() - t0
        cpu = server.cpu_seconds() - cpu0
        store_cpu = store_cpu_seconds() - store0
        rss_after = server.rss_mb()
        if args.scenario == "submit-storm":
            await _wait_graded(args, extra.pop("graded_wait_until"))

    back = read_back(args.database_url)
    lost, acked = _lost_answers(cands, back)
    if args.scenario == "submit-storm":
        extra.update(_submit_outcome(back))
    main_ops = {"login-storm": ["candidateLogin", "startAttempt"], "start-storm": ["startAttempt", "getAttempt"],
                "steady": ["saveAnswer"], "submit-storm": ["saveAnswer", "submitAttempt"]}[args.scenario]
    lat = [x for op in main_ops for x in stats.latency.get(op, [])]
    per_op = {op: {"n": len(v), "p50_ms": round(pct(v, 50) * 1000, 1), "p99_ms": round(pct(v, 99) * 1000, 1),
                   "errors": stats.errors.get(op, 0)} for op, v in stats.latency.items()}
    cpu_per_req = cpu * 1000 / max(1, stats.requests)
    return {
        "scenario": args.scenario, "clients": len(ready), "duration_s": round(elapsed, 1),
        "requests": stats.requests, "errors": sum(stats.errors.values()),
        "p50_ms": round(pct(lat, 50) * 1000, 1), "p95_ms": round(pct(lat, 95) * 1000, 1),
        "p99_ms": round(pct(lat, 99) * 1000, 1), "rps": round(stats.requests / elapsed, 1),
        "lost_answers": lost, "acknowledged_saves": acked,
        "server_cpu_ms_per_request": round(cpu_per_req, 2), "floor_cpu_ms": round(floor, 2),
        "ratio_to_floor": round(cpu_per_req / floor, 2) if floor else None,
        "store_cpu_ms_per_request": round(store_cpu * 1000 / max(1, stats.requests), 2),
        "cpu_s_per_candidate_hour": round(cpu / max(1, len(ready)) * 3600 / elapsed, 2),
        "server_rss_mb": round(rss_after, 1),
        "rss_mb_per_client": round((rss_after - rss_before) / max(1, len(ready)), 3),
        "retried_503": stats.statuses.get(503, 0), "statuses": stats.statuses, "exceptions": stats.exceptions,
        "per_op": per_op,
        "prep_errors": sum(prep.errors.values()), **extra,
    }


async def _prepare(args, cands: list, session_id) -> None:
    """Preparation (not measured): whatever the scenario assumes already happened."""
    sem = asyncio.Semaphore(args.connections)

    async def bounded(fn):
        async with sem:
            return await fn()

    if args.scenario in ("start-storm", "steady", "submit-storm"):
        await asyncio.gather(*(bounded(c.login) for c in cands))
    if args.scenario in ("steady", "submit-storm"):
        await asyncio.gather(*(bounded(lambda c=c: c.start(session_id)) for c in cands))


async def _login_storm(args, ready: list, session_id) -> None:
    async def login_start(c):
        if await c.login():
            await c.start(session_id)
    await spread([lambda c=c: login_start(c) for c in ready], args.window)


async def _start_storm(args, ready: list, session_id) -> None:
    async def start_get(c):
        if await c.start(session_id):
            await c.get_attempt()
    await spread([lambda c=c: start_get(c) for c in ready], args.window)


async def _steady(args, ready: list, session_id) -> None:
    stop_at = time.perf_counter() + args.duration
    reconnecting = set(random.sample(range(len(ready)), int(len(ready) * args.reconnect_share)))

    async def loop(i, c):
        rng = random.Random(i)
        await asyncio.sleep(rng.uniform(0, args.period))
        reloaded = False
        while time.perf_counter() < stop_at:
            await c.save(rng)
            if i in reconnecting and not reloaded and time.perf_counter() > stop_at - args.duration / 2:
                reloaded = True
                await c.get_attempt()
            await asyncio.sleep(max(0.0, min(args.period, stop_at - time.perf_counter())))  # no idle tail
    await asyncio.gather(*(loop(i, c) for i, c in enumerate(ready)))


def _deadline(c) -> float:
    return datetime.fromisoformat(c.attempt["deadline_at"].replace("Z", "+00:00")).timestamp()


async def _submit_storm(args, ready: list, session_id) -> dict:
    # deadlines: each attempt's own (2-minute paper); submit in the last 30 s before it
    async def life(i, c):
        rng = random.Random(i)
        for _ in range(3):
            await c.save(rng)
            await asyncio.sleep(rng.uniform(1, 5))
        if rng.random() < 0.9:
            await asyncio.sleep(max(0.0, _deadline(c) - 30 + rng.uniform(0, 29) - time.time()))
            await c.submit()
    await asyncio.gather(*(life(i, c) for i, c in enumerate(ready)))
    # wait for the sweeper to grade the rest (up to 60 s past the last deadline)
    return {"graded_wait_until": max(_deadline(c) for c in ready) + 60}


SCENARIOS = {"login-storm": _login_storm, "start-storm": _start_storm, "steady": _steady,
             "submit-storm": _submit_storm}


async def _wait_graded(args, until: float) -> None:
    while time.time() < until:
        back = read_back(args.database_url)
        if all(state != "in_progress" and score is not None for state, score, *_ in back["attempts"].values()):
            break
        await asyncio.sleep(2)


def _lost_answers(cands: list, back: dict) -> tuple[int, int]:
    """(acknowledged saves missing from the database, acknowledged saves)."""
    lost = 0
    acked = 0
    for c in cands:
        if not c.attempt:
            continue
        for position, seq in c.acked.items():
            acked += 1
            if back["answers"].get((c.attempt["attempt_id"], position), -1) < seq:
                lost += 1
    return lost, acked


def _submit_outcome(back: dict) -> dict:
    late = ungraded = 0
    for state, score, deadline, submitted in back["attempts"].values():
        if state == "in_progress" or score is None:
            ungraded += 1
        elif submitted is not None and deadline is not None and (submitted - deadline).total_seconds() > 30:
            late += 1
    return {"ungraded": ungraded, "graded_later_than_30s": late}


def one_run(args) -> dict:
    duration = 2 if args.scenario == "submit-storm" else 300
    t = time.perf_counter()
    hash_method = args.password_hash or ("scrypt" if args.scenario == "login-storm" else "pbkdf2:sha256:1000")
    data = build_dataset(args.database_url, args.clients, duration_minutes=duration, hash_method=hash_method)
    build_s = time.perf_counter() - t
    port = free_port()
    env = {**os.environ, "DATABASE_URL": args.database_url, "SECRET_KEY": "bench-secret-key-0123456789",
           "LOGIN_RATE_LIMIT": "1000000 per minute",
           "EXAM_SAVE_RATE_LIMIT": "1000000 per minute", "EXAM_EVENT_RATE_LIMIT": "1000000 per minute",
           "CERTIFY_INSTANCE": tempfile.mkdtemp(prefix="bench-srv-")}
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    else:
        env.pop("REDIS_URL", None)
    server = Server(args.server, port, env)
    try:
        server.wait_ready()
        result = asyncio.run(run_scenario(args, data, server))
    finally:
        server.stop()
    result["build_s"] = round(build_s, 1)
    result["server"] = args.server
    result["database"] = args.database_url.split("://")[0]
    result["password_hash"] = hash_method
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", choices=["login-storm", "start-storm", "steady", "submit-storm"])
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--duration", type=float, default=60, help="steady: seconds of saving")
    p.add_argument("--period", type=float, default=10, help="steady: seconds between one candidate's saves")
    p.add_argument("--window", type=float, default=60, help="storms: seconds over which arrivals spread")
    p.add_argument("--reconnect-share", type=float, default=0.1)
    p.add_argument("--connections", type=int, default=200, help="client connection pool size")
    p.add_argument("--timeout", type=float, default=60, help="client timeout per request, seconds")
    p.add_argument("--database-url", default=None)
    p.add_argument("--redis-url", default=None)
    p.add_argument("--server", default="{python} -m certify.cli serve --host 127.0.0.1 --port {port}")
    p.add_argument("--password-hash", default=None,
                   help="candidates' password hash (default: scrypt for login-storm, else pbkdf2:sha256:1000)")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--json", default=None, help="append one JSON line per run to this file")
    args = p.parse_args(argv)
    if not args.database_url:
        args.database_url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-load-')) / 'load.db'}"
    print(f"# {' '.join(sys.argv)}")
    print(f"# cores {os.cpu_count()}, load average before {os.getloadavg()}")
    results = []
    for _ in range(args.runs):
        result = one_run(args)
        result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
        results.append(result)
        print(json.dumps(result, ensure_ascii=False))
        if args.json:
            with open(args.json, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(result, ensure_ascii=False) + "\n")
    if len(results) > 1:
        keys = ["p50_ms", "p95_ms", "p99_ms", "rps", "errors", "lost_answers", "server_cpu_ms_per_request",
                "floor_cpu_ms", "ratio_to_floor"]
        print("# medians over", len(results), "runs:",
              json.dumps({k: statistics.median(r[k] for r in results if r[k] is not None) for k in keys}))
    return results


if __name__ == "__main__":
    main()
