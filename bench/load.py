"""Load benchmark: many candidates against a real server process, through the JSON API by operationId.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/load.py steady --clients 1000 --duration 60
    .venv/bin/python bench/load.py start-storm --clients 1000 --window 60
    .venv/bin/python bench/load.py login-storm --clients 250 --window 60
    .venv/bin/python bench/load.py submit-storm --clients 500
    .venv/bin/python bench/load.py panels --panels 40 --panelists 5 --duration 60 --redis-url redis://127.0.0.1:6379/0
    .venv/bin/python bench/load.py steady --clients 1000 --hold-sockets --stored-answers 1000000 --database-url …
    .venv/bin/python bench/load.py steady --clients 5000 --database-url postgresql://postgres@127.0.0.1/bench \\
        --redis-url redis://127.0.0.1:6379/0 --server "gunicorn …"        # any production command, {port} filled in

Each run builds a fresh data set in the database (tables dropped first: use a database you can throw away), starts
the server command as a child process (default: ``certify serve``), measures the server's CPU per request of a
no-database call (``serverTime``, the *floor*) and then runs the scenario with an asyncio client (aiohttp), one
cookie jar per candidate, like browsers in an exam room (saves go with the attempt pass, ``X-Attempt-Pass``, as the
exam page sends them; ``--cookie-saves`` sends them with the cookie and the CSRF header, the page's fallback):

- ``login-storm``: every candidate logs in (candidateLogin) and starts (startAttempt) at a random moment of the window.
- ``start-storm``: candidates are logged in beforehand; all start + getAttempt within the window.
- ``steady``: all candidates logged in and started; each changes one real answer every ``--period`` seconds (random
  phase) for ``--duration`` seconds; ``--reconnect-share`` of them reload mid-run (getAttempt again, as a page reload).
- ``submit-storm``: a 2-minute paper; everyone starts, saves a few answers, and 90 % submit during the last 30 s; the
  rest are left to the server's sweeper. Reports whether every attempt was graded within 30 s of its deadline.
- ``panels``: the oral defense's live rooms on **two** server processes sharing Redis (``--redis-url`` required):
  ``--panels`` panels of a chair and ``--panelists`` panelists, ``--cases`` candidates each open for scoring; every
  member logs in through the login page and holds a /defense socket, chairs on one process and their panelists on the
  other (alternating per panel). Each panelist scores the cases in turn (a draft, then the submitted sheet: one sheet
  per ``--period`` s). p50/p95/p99 are the fan-out: from sending the submit to the chair's client receiving a
  ``state`` that shows the sheet submitted; ``lost_answers`` counts acknowledged sheets not stored as submitted with
  those points; a submit the chair has not seen ``--fanout-timeout`` s after the run counts as an error.

``--hold-sockets`` (steady): each candidate's page also holds its /exam socket (joined to the attempt, a heartbeat
every 20 s; the reconnecting share closes and reopens it), so ``rss_mb_per_connected_candidate`` is what a connected
candidate costs. ``--stored-answers N``: N answers of earlier attempts are in the table before the run (COPY on
PostgreSQL). ``bench/growth.py`` runs steady at growing sizes and plots the cost curve.

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
HEARTBEAT_S = 20  # static/js/exam: the exam page's Socket.IO heartbeat period


# ------------------------------------------------------------------------------------------------------- data set

def fresh_app(database_url: str):
    """The app on ``database_url`` with every table dropped and the migrations run again (inside its context)."""
    from sqlalchemy import text

    from certify import create_app
    from certify.cli import upgrade_database
    from certify.config import normalise_database_url
    from certify.extensions import db

    os.environ.setdefault("CERTIFY_INSTANCE", tempfile.mkdtemp(prefix="bench-instance-"))
    app = create_app({"SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url), "EXAM_SWEEPER_ENABLED": False})
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade_database()  # the server's own start-up runs the migrations too: the schema they make
    return app


def move_sequences(tables) -> None:
    """PostgreSQL: rows were written with explicit ids; move each table's id sequence past them."""
    from sqlalchemy import text

    from certify.extensions import db

    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            for table in tables:
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT coalesce(max(id), 1) FROM {table}))"))


def build_dataset(database_url: str, n_candidates: int, *, duration_minutes: int = 300,
                  hash_method: str = "scrypt", stored_answers: int = 0) -> dict:
    """A round, a 60-item paper per candidate and an open session, written with bulk inserts (seconds, not minutes).

    ``hash_method``: the candidates' password hash. scrypt (a password the candidate chose, as after the first login)
    is what a login costs; the scenarios that do not measure logins log in with a light hash, so that preparing
    2,000 candidates takes seconds, not minutes of scrypt. ``stored_answers``: rows already in the answers table
    before the run (``prefill_answers``), to measure saves against a large table."""
    from sqlalchemy import insert, select
    from werkzeug.security import generate_password_hash

    from certify.clock import utcnow
    from certify.extensions import db
    from certify.models import Candidate, User
    from certify.rounds import create_round
    from exam.delivery import payload
    from exam.models import ExamSession, Paper, PaperItem, SessionCandidate

    app = fresh_app(database_url)
    with app.app_context():
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
        filled = prefill_answers(stored_answers, rnd.id, scheme.id, base_paper, base_cand + n_candidates) \
            if stored_answers else {}
        move_sequences(("users", "candidates", "exam_papers", "exam_attempts"))
        result = {"session_id": session.id, "tickets": tickets, **filled}
        db.session.remove()
        db.engine.dispose()
    return result


def prefill_answers(n_answers: int, round_id: int, scheme_id: int, paper_id: int, first_candidate_id: int) -> dict:
    """``n_answers`` stored answers of earlier, graded attempts (a past session of other candidates, 60 answers each)
    written before the run, so that saves meet an answers table (and its unique index) of that size: COPY on
    PostgreSQL, executemany on SQLite. Inside the app context. Returns what was written and how long it took."""
    from sqlalchemy import insert, select

    from certify.clock import utcnow
    from certify.extensions import db
    from certify.models import Candidate
    from exam.models import Attempt, ExamSession

    t0 = time.perf_counter()
    n_attempts = -(-n_answers // N_ITEMS)
    past = utcnow() - timedelta(days=30)
    filler = ExamSession(round_id=round_id, scheme_id=scheme_id, name="往期场次（基准填充）", opens_at=past,
                         closes_at=past + timedelta(hours=3), duration_minutes=120, late_entry_minutes=30)
    db.session.add(filler)
    db.session.flush()
    base_attempt = (db.session.scalar(select(db.func.max(Attempt.id))) or 0) + 1
    cands, attempts = [], []
    for i in range(n_attempts):
        cid = first_candidate_id + i
        cands.append({"id": cid, "round_id": round_id, "ticket": f"FILL{i:07d}", "id_number": f"FID{i:015d}",
                      "name": f"往期考生{i}", "work_unit": "基准单位", "level": "初级"})
        attempts.append({"id": base_attempt + i, "session_id": filler.id, "candidate_id": cid, "paper_id": paper_id,
                         "state": "submitted", "started_at": past, "deadline_at": past + timedelta(hours=2),
                         "submitted_at": past + timedelta(hours=1), "last_seq": N_ITEMS, "answered_count": N_ITEMS,
                         "score": Decimal(50), "graded_at": past + timedelta(hours=1), "client_token": ""})
    for model, rows in ((Candidate, cands), (Attempt, attempts)):
        for i in range(0, len(rows), 5000):
            db.session.execute(insert(model), rows[i:i + 5000])
    db.session.commit()
    saved_at = past  # naive UTC, as the app stores times

    def rows():
        left = n_answers
        for i in range(n_attempts):
            for position in range(1, min(N_ITEMS, left) + 1):
                yield (base_attempt + i, position, "AB"[position % 2], False, position, 1000, saved_at,
                       Decimal(position % 2))
            left -= N_ITEMS

    columns = "attempt_id, position, response, flagged, seq, time_spent_ms, saved_at, points"
    raw = db.engine.raw_connection()
    try:
        if db.engine.dialect.name == "postgresql":
            with raw.cursor() as cur, cur.copy(f"COPY exam_answers ({columns}) FROM STDIN") as copy:
                for row in rows():
                    copy.write_row(row)
            raw.commit()
            with raw.cursor() as cur:
                cur.execute("ANALYZE exam_answers")
            raw.commit()
        else:
            cur = raw.cursor()
            batch = []
            for row in rows():
                batch.append((*row[:6], row[6].isoformat(sep=" "), str(row[7])))
                if len(batch) == 50000:
                    cur.executemany(f"INSERT INTO exam_answers ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch)
                    batch = []
            if batch:
                cur.executemany(f"INSERT INTO exam_answers ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch)
            raw.commit()
    finally:
        raw.close()
    return {"stored_answers": n_answers, "prefill_s": round(time.perf_counter() - t0, 1)}


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
        self.refusals: dict[str, int] = {}  # socket acks {"ok": false}: event and code
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

    def __init__(self, http, base: str, ticket: str, stats: Stats, retry_503: bool = True, signed: bool = True):
        self.http, self.base, self.ticket, self.stats, self.retry = http, base, ticket, stats, retry_503
        self.signed = signed  # saves with the attempt pass (X-Attempt-Pass, no cookie, no CSRF), as the exam page
        self.cookies: dict[str, str] = {}
        self.csrf = None
        self.attempt = None
        self.seq = 0
        self.acked: dict[int, int] = {}  # position -> highest acknowledged seq

    async def call(self, op: str, method: str, path: str, *, json_body=None, headers=None, record: bool = True,
                   signed: bool = False):
        """One API call; 503 + Retry-After is retried with back-off as the exam page does (counted, not an error).
        ``signed``: with the attempt pass instead of the cookie and CSRF header, when the server gave one."""
        hdrs = dict(headers or {})
        use_pass = signed and self.attempt and self.attempt.get("attempt_pass")
        if use_pass:
            hdrs["X-Attempt-Pass"] = self.attempt["attempt_pass"]
        elif self.csrf:
            hdrs["X-CSRFToken"] = self.csrf
        if self.attempt:
            hdrs["X-Attempt-Token"] = self.attempt["client_token"]
        delay = 0.5
        for _ in range(8):
            t0 = time.perf_counter()
            try:
                async with self.http.request(method, self.base + path, json=json_body, headers=hdrs,
                                             cookies=None if use_pass else self.cookies) as resp:
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
            if use_pass and status == 401 and (body or {}).get("error", {}).get("code") == "invalid_pass":
                self.attempt = {**self.attempt, "attempt_pass": None}  # the page drops it and uses the cookie
                return await self.call(op, method, path, json_body=json_body, headers=headers, record=record)
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
            self.attempt = {**self.attempt, **body}  # getAttempt has no client_token: the start's is kept
        return status == 200

    async def save(self, rng: random.Random):
        item = rng.choice(self.attempt["items"])
        options = [o["id"] for o in item["options"]]
        choice = sorted(rng.sample(options, 2)) if item["type"] == "multiple" else [rng.choice(options)]
        self.seq += 1
        seq = self.seq
        status, _ = await self.call("saveAnswer", "PUT",
                                    f"/api/exam/attempts/{self.attempt['attempt_id']}/answers/{item['position']}",
                                    json_body={"response": choice, "seq": seq, "time_spent_ms": 1000},
                                    signed=self.signed)
        if status == 200:
            self.acked[item["position"]] = max(seq, self.acked.get(item["position"], 0))
        return status == 200

    async def submit(self):
        status, _ = await self.call("submitAttempt", "POST", f"/api/exam/attempts/{self.attempt['attempt_id']}/submit")
        return status == 200

    # the exam page's Socket.IO connection (``--hold-sockets``): /exam, joined to the attempt's room, heartbeats
    sio = None
    socket_timeout = 60.0

    async def connect_socket(self) -> bool:
        import socketio

        sio = socketio.AsyncClient(reconnection=False)
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        t0 = time.perf_counter()
        try:
            # bounded as a whole: a server with every thread held never answers the websocket upgrade
            await asyncio.wait_for(sio.connect(self.base, headers={"Cookie": cookie}, auth={"csrf_token": self.csrf},
                                               namespaces=["/exam"], transports=["websocket"],
                                               wait_timeout=self.socket_timeout), self.socket_timeout)
            ack = await sio.call("join_attempt", {"attempt_id": self.attempt["attempt_id"]}, namespace="/exam",
                                 timeout=self.socket_timeout)
        except Exception as exc:
            name = type(exc).__name__
            self.stats.exceptions[name] = self.stats.exceptions.get(name, 0) + 1
            self.stats.add("socketConnect", time.perf_counter() - t0, None)
            await _quiet_disconnect(sio)
            return False
        ok = isinstance(ack, dict) and ack.get("ok")
        self.stats.add("socketConnect", time.perf_counter() - t0, 200 if ok else 409)
        self.sio = sio
        return bool(ok)

    async def heartbeat(self) -> bool:
        t0 = time.perf_counter()
        try:
            ack = await self.sio.call("heartbeat", {"attempt_id": self.attempt["attempt_id"],
                                                    "token": self.attempt["client_token"]},
                                      namespace="/exam", timeout=self.socket_timeout)
        except Exception as exc:
            name = type(exc).__name__
            self.stats.exceptions[name] = self.stats.exceptions.get(name, 0) + 1
            self.stats.add("heartbeat", time.perf_counter() - t0, None)
            return False
        ok = isinstance(ack, dict) and ack.get("ok")
        self.stats.add("heartbeat", time.perf_counter() - t0, 200 if ok else 409)
        return bool(ok)

    async def close_socket(self) -> None:
        sio, self.sio = self.sio, None
        await _quiet_disconnect(sio)


async def _quiet_disconnect(sio) -> None:
    if sio is not None:
        try:
            await asyncio.wait_for(sio.disconnect(), 5)
        except Exception:  # noqa: BLE001 - already gone (or the server no longer answers): nothing to close
            pass


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


def client_connector(aiohttp, args):
    """The load generator's connection pool. Idle connections are dropped after 4 s, before gunicorn closes an idle
    keep-alive connection (``keepalive`` 5 s, certify/gunicorn_conf.py): aiohttp's default (15 s) reused connections
    the server was closing at that moment, and those requests failed without reaching the app (the first load runs'
    "client-side" start-storm errors). A browser retries such a request by itself; this client does not, so it keeps
    its idle time under the server's instead."""
    return aiohttp.TCPConnector(limit=args.connections, keepalive_timeout=4)


async def run_scenario(args, data: dict, server: Server) -> dict:
    import aiohttp

    base = f"http://127.0.0.1:{server.port}"
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    connector = client_connector(aiohttp, args)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     cookie_jar=aiohttp.DummyCookieJar()) as http:
        floor = await measure_floor(http, base, server)
        prep = Stats()
        stats = Stats()
        session_id = data["session_id"]
        tickets = data["tickets"][: args.clients]
        cands = [Examinee(http, base, t, prep, signed=not args.cookie_saves) for t in tickets]
        for c in cands:
            c.socket_timeout = args.timeout
        rss_idle = server.rss_mb()
        await _prepare(args, cands, session_id)
        rss_prepared = server.rss_mb()
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
        held = sum(1 for c in cands if c.sio is not None)
        await asyncio.gather(*(c.close_socket() for c in cands))
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
        "scenario": args.scenario, "saves_with": "cookie" if args.cookie_saves else "attempt pass",
        "clients": len(ready), "duration_s": round(elapsed, 1),
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
        # the server's memory grown by logging the candidates in, starting and (--hold-sockets) connecting them
        "server_rss_idle_mb": round(rss_idle, 1),
        "rss_mb_per_connected_candidate": round((max(rss_prepared, rss_after) - rss_idle)
                                                / max(1, held if args.hold_sockets else len(ready)), 3),
        "sockets_held": held if args.hold_sockets else None,
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
    if args.scenario == "steady" and args.hold_sockets:  # the exam pages open their sockets, 16 at a time
        gate = asyncio.Semaphore(16)

        async def connect(c):
            async with gate:
                await c.connect_socket()
        await asyncio.gather(*(connect(c) for c in cands if c.attempt))


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
                reloaded = True  # a page reload: the socket closes, the page reads the attempt, the socket reopens
                if c.sio is not None:
                    await c.close_socket()
                await c.get_attempt()
                if args.hold_sockets:
                    await c.connect_socket()
            await asyncio.sleep(max(0.0, min(args.period, stop_at - time.perf_counter())))  # no idle tail

    async def beats(i, c):  # the page's heartbeat every 20 s while its socket is open
        rng = random.Random(-i - 1)
        await asyncio.sleep(min(rng.uniform(0, HEARTBEAT_S), max(0.0, stop_at - time.perf_counter())))
        while time.perf_counter() < stop_at:
            if c.sio is not None:
                await c.heartbeat()
            await asyncio.sleep(max(0.0, min(HEARTBEAT_S, stop_at - time.perf_counter())))

    tasks = [loop(i, c) for i, c in enumerate(ready)]
    if args.hold_sockets:
        tasks += [beats(i, c) for i, c in enumerate(ready)]
    await asyncio.gather(*tasks)


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


# ------------------------------------------------------------------------------------------------------- panels

def build_panels(database_url: str, n_panels: int, n_panelists: int, n_cases: int,
                 hash_method: str = "pbkdf2:sha256:1000") -> dict:
    """A defense round: ``n_panels`` panels of a chair and ``n_panelists`` panelists (accounts written in bulk, one
    light password hash for all), ``n_cases`` scheduled candidates each, every case already defended and open for
    scoring (state ``scoring``, as after 签到 → 叫号 → 结束答辩) with a draft sheet per member: rows written in bulk,
    what ``ensure_cases`` and those three chair actions leave (less their audit entries), in seconds instead of the
    minutes 3 × 800 audited operations take. Returns each panel's chair and panelists (usernames)."""
    from sqlalchemy import insert, select
    from werkzeug.security import generate_password_hash

    from certify.clock import utcnow
    from certify.extensions import db
    from certify.models import Candidate, User
    from certify.rounds import create_round
    from defense.models import DefenseAssignment, Panel, Panelist, PanelMember
    from defense.scoring import operations as ops
    from defense.scoring.models import DefenseCase, ScoreSheet

    app = fresh_app(database_url)
    with app.app_context():
        rnd = create_round("bench", "重庆", 2024)
        ops.create_default_rubric(rnd.id)
        hashed = generate_password_hash(PASSWORD, method=hash_method)
        base_user = (db.session.scalar(select(db.func.max(User.id))) or 0) + 1
        size = n_panelists + 1
        users, experts, panels, members, cands, assigns, cases, sheets = [], [], [], [], [], [], [], []
        start = datetime(2024, 11, 2, 0, 30)
        now = utcnow()
        for p in range(n_panels):
            panels.append({"id": p + 1, "round_id": rnd.id, "name": f"第{p + 1}答辩组", "room": f"科技馆 {p + 101}"})
            for m in range(size):
                n = p * size + m
                username = f"zj{p:03d}c" if m == 0 else f"zj{p:03d}p{m}"
                users.append({"id": base_user + n, "username": username, "role": "panelist",
                              "display_name": f"专家{p}-{m}", "password_hash": hashed, "must_change_password": False})
                experts.append({"id": n + 1, "round_id": rnd.id, "user_id": base_user + n, "name": f"专家{p}-{m}",
                                "work_unit": f"专家单位{n}", "import_key": username})
                members.append({"panel_id": p + 1, "panelist_id": n + 1, "is_chair": m == 0})
            for k in range(n_cases):
                n = p * n_cases + k
                cands.append({"id": n + 1, "round_id": rnd.id, "ticket": f"DEF{n:06d}", "id_number": f"DID{n:015d}",
                              "name": f"考生{n}", "work_unit": f"考生单位{n}", "level": "中级"})
                assigns.append({"id": n + 1, "round_id": rnd.id, "candidate_id": n + 1, "panel_id": p + 1,
                                "start_at": start + timedelta(minutes=20 * k),
                                "end_at": start + timedelta(minutes=20 * (k + 1)), "queue_position": k + 1})
                cases.append({"id": n + 1, "round_id": rnd.id, "assignment_id": n + 1, "candidate_id": n + 1,
                              "panel_id": p + 1, "state": "scoring", "queue_order": k + 1, "checked_in_at": now,
                              "called_at": now, "ended_at": now, "timer_log": [], "flags": [], "version": 4})
                sheets += [{"case_id": n + 1, "candidate_id": n + 1, "panelist_id": p * size + m + 1, "scores": {},
                            "status": "draft"} for m in range(size)]
        for model, rows in ((User, users), (Panel, panels), (Panelist, experts), (PanelMember, members),
                            (Candidate, cands), (DefenseAssignment, assigns), (DefenseCase, cases),
                            (ScoreSheet, sheets)):
            for i in range(0, len(rows), 5000):
                db.session.execute(insert(model), rows[i:i + 5000])
        db.session.commit()
        move_sequences(("users", "panels", "panelists", "candidates", "defense_assignments", "defense_cases"))
        result = {"panels": [{"id": p + 1, "chair": f"zj{p:03d}c",
                              "panelists": [f"zj{p:03d}p{m}" for m in range(1, size)]} for p in range(n_panels)]}
        db.session.remove()
        db.engine.dispose()
    return result


class Member:
    """One panel member's browser: logged in through the login page, its Socket.IO connection to /defense joined
    to the panel, every ``state`` push it receives kept with its arrival time (the chair's are scanned for the
    sheets they show submitted)."""

    def __init__(self, http, base: str, username: str, panel_id: int, stats: Stats, timeout: float):
        self.http, self.base, self.username, self.panel_id = http, base, username, panel_id
        self.stats, self.timeout = stats, timeout
        self.cookies: dict[str, str] = {}
        self.csrf = None
        self.sio = None
        self.state = None
        self.on_state = None  # the chair's callback: (arrival time, state)

    async def _get(self, path: str) -> str:
        """GET, following redirects by hand (the cookies are this object's, not a jar's)."""
        for _ in range(5):
            async with self.http.get(self.base + path, cookies=self.cookies, allow_redirects=False) as resp:
                self.cookies.update({k: m.value for k, m in resp.cookies.items()})
                if resp.status in (301, 302, 303, 307, 308):
                    path = resp.headers["Location"].removeprefix(self.base)
                    continue
                return await resp.text()
        return ""

    async def login(self) -> bool:
        import re

        page = await self._get("/login")
        token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)
        t0 = time.perf_counter()
        async with self.http.post(self.base + "/login", cookies=self.cookies, allow_redirects=False,
                                  data={"username": self.username, "password": PASSWORD, "csrf_token": token}) as r:
            self.cookies.update({k: m.value for k, m in r.cookies.items()})
            self.stats.add("staffLogin", time.perf_counter() - t0, 200 if r.status == 302 else r.status)
            if r.status != 302:
                return False
        home = await self._get("/")  # a page of the session: its CSRF token is what the room's socket sends
        self.csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', home).group(1)
        return True

    async def connect(self) -> bool:
        import socketio

        sio = socketio.AsyncClient(reconnection=False)

        async def state(payload):
            arrived = time.perf_counter()
            if self.on_state is not None:
                self.on_state(arrived, payload)

        sio.on("state", state, namespace="/defense")
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        t0 = time.perf_counter()
        try:
            await asyncio.wait_for(sio.connect(self.base, headers={"Cookie": cookie}, auth={"csrf_token": self.csrf},
                                               namespaces=["/defense"], transports=["websocket"],
                                               wait_timeout=self.timeout), self.timeout)
        except Exception as exc:
            self.stats.exceptions[type(exc).__name__] = self.stats.exceptions.get(type(exc).__name__, 0) + 1
            self.stats.add("socketConnect", time.perf_counter() - t0, None)
            await _quiet_disconnect(sio)
            return False
        self.sio = sio
        ack = await self.call("join", {"panel_id": self.panel_id})
        if ack and ack.get("ok"):
            self.state = ack["state"]
            return True
        return False

    async def call(self, event: str, data: dict) -> dict | None:
        t0 = time.perf_counter()
        try:
            ack = await self.sio.call(event, data, namespace="/defense", timeout=self.timeout)
        except Exception as exc:
            self.stats.exceptions[type(exc).__name__] = self.stats.exceptions.get(type(exc).__name__, 0) + 1
            self.stats.add(event, time.perf_counter() - t0, None)
            return None
        ok = isinstance(ack, dict) and ack.get("ok")
        self.stats.add(event, time.perf_counter() - t0, 200 if ok else 409)
        if not ok:  # the refusal's code (stale, rate_limited, busy, …), to say what the errors were
            code = f"{event}:{ack.get('code') if isinstance(ack, dict) else 'no-ack'}"
            self.stats.refusals[code] = self.stats.refusals.get(code, 0) + 1
        return ack

    async def close(self) -> None:
        sio, self.sio = self.sio, None
        await _quiet_disconnect(sio)


def _scores(rubric: dict, rng: random.Random, complete: bool = True) -> dict:
    """Points for each criterion (60-95 % of its maximum, in steps of 0.5); a draft fills the first half."""
    criteria = rubric["criteria"]
    chosen = criteria if complete else criteria[: max(1, len(criteria) // 2)]
    out = {}
    for c in chosen:
        top = Decimal(str(c["max"]))
        out[str(c["id"])] = str((top * Decimal(rng.uniform(0.6, 0.95)) * 2).quantize(Decimal(1)) / 2)
    return out


async def _score_cases(args, i: int, m: Member, stop_at: float, sent: dict, acked: list) -> None:
    """One panelist through the panel's open cases: a draft, half a period later the submitted sheet (its send time
    in ``sent``, its acknowledgement in ``acked``), half a period later the next case."""
    rng = random.Random(i)
    cases = [c for c in m.state["cases"] if c["my_sheet"] and c["my_sheet"]["status"] == "draft"]
    await asyncio.sleep(rng.uniform(0, args.period))
    for case in cases:
        if time.perf_counter() >= stop_at:
            break
        sheet = case["my_sheet"]
        version = sheet["version"]
        ack = await m.call("save_draft", {"sheet_id": sheet["id"], "version": version,
                                          "scores": _scores(m.state["rubric"], rng, complete=False)})
        if ack and ack.get("ok"):
            version = ack["sheet"]["version"]
        await asyncio.sleep(min(args.period / 2, max(0.0, stop_at - time.perf_counter())))
        scores = _scores(m.state["rubric"], rng)
        key = (case["id"], m.state["me"]["panelist_id"])
        sent[key] = time.perf_counter()
        ack = await m.call("submit", {"sheet_id": sheet["id"], "scores": scores, "version": version})
        if ack and ack.get("ok"):
            acked.append({"sheet_id": sheet["id"], "scores": scores, "key": key})
        else:
            sent.pop(key, None)
        await asyncio.sleep(max(0.0, min(args.period / 2, stop_at - time.perf_counter())))


async def run_panels(args, data: dict, servers: list) -> dict:
    """Chairs on one process, their panelists on the other (alternating per panel, so every push crosses
    processes through Redis); each panelist scores the panel's cases in turn: a draft, then the sheet submitted,
    one sheet every ``--period`` seconds (random phase) for ``--duration`` seconds. Measured: from the submit's
    send to the chair's client receiving a ``state`` that shows that sheet submitted."""
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=args.timeout)
    connector = client_connector(aiohttp, args)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     cookie_jar=aiohttp.DummyCookieJar()) as http:
        bases = [f"http://127.0.0.1:{s.port}" for s in servers]
        floor = await measure_floor(http, bases[0], servers[0])
        prep, stats = Stats(), Stats()
        sent: dict[tuple[int, int], float] = {}  # (case id, panelist id) → when the submit was sent
        seen: dict[tuple[int, int], float] = {}  # … → when the chair first showed it submitted

        def chair_saw(arrived, state):
            for case in state["cases"]:
                for m in case.get("members", ()):
                    key = (case["id"], m["panelist_id"])
                    if m["status"] == "submitted" and key in sent and key not in seen:
                        seen[key] = arrived

        chairs, panelists = [], []
        for i, panel in enumerate(data["panels"]):
            chair = Member(http, bases[i % 2], panel["chair"], panel["id"], prep, args.timeout)
            chair.on_state = chair_saw
            chairs.append(chair)
            panelists += [Member(http, bases[(i + 1) % 2], u, panel["id"], prep, args.timeout)
                          for u in panel["panelists"]]
        everyone = chairs + panelists
        rss_idle = sum(s.rss_mb() for s in servers)
        gate = asyncio.Semaphore(16)

        async def arrive(m):
            async with gate:
                if await m.login():
                    await m.connect()
        await asyncio.gather(*(arrive(m) for m in everyone))
        rss_prepared = sum(s.rss_mb() for s in servers)
        for m in everyone:
            m.stats = stats
        ready = [m for m in panelists if m.state is not None]
        acked: list[dict] = []  # every submit the server acknowledged: sheet id and its scores
        cpu0 = sum(s.cpu_seconds() for s in servers)
        store0, t0 = store_cpu_seconds(), time.perf_counter()
        await asyncio.gather(*(_score_cases(args, i, m, t0 + args.duration, sent, acked)
                               for i, m in enumerate(ready)))
        elapsed = time.perf_counter() - t0
        cpu = sum(s.cpu_seconds() for s in servers) - cpu0
        store_cpu = store_cpu_seconds() - store0
        rss_after = sum(s.rss_mb() for s in servers)
        wait_until = time.perf_counter() + args.fanout_timeout  # the last pushes may still be on their way
        while time.perf_counter() < wait_until and any(a["key"] not in seen for a in acked):
            await asyncio.sleep(0.05)
        held = sum(1 for m in everyone if m.sio is not None)
        await asyncio.gather(*(m.close() for m in everyone))

    stored = read_sheets(args.database_url)

    def kept(a) -> bool:  # the sheet is submitted with exactly the acknowledged points
        status, scores = stored.get(a["sheet_id"], (None, None))
        return status == "submitted" and {k: Decimal(v) for k, v in (scores or {}).items()} == \
            {k: Decimal(v) for k, v in a["scores"].items()}

    lost = sum(1 for a in acked if not kept(a))
    fanout = [seen[a["key"]] - sent[a["key"]] for a in acked if a["key"] in seen]
    missed = sum(1 for a in acked if a["key"] not in seen)
    per_op = {op: {"n": len(v), "p50_ms": round(pct(v, 50) * 1000, 1), "p99_ms": round(pct(v, 99) * 1000, 1),
                   "errors": stats.errors.get(op, 0)} for op, v in stats.latency.items()}
    cpu_per_req = cpu * 1000 / max(1, stats.requests)
    return {
        "scenario": "panels", "clients": held, "panels": len(chairs), "panelists_per_panel": args.panelists,
        "duration_s": round(elapsed, 1), "requests": stats.requests,
        "errors": sum(stats.errors.values()) + missed, "fanout_missed": missed,
        "p50_ms": round(pct(fanout, 50) * 1000, 1), "p95_ms": round(pct(fanout, 95) * 1000, 1),
        "p99_ms": round(pct(fanout, 99) * 1000, 1), "max_ms": round(max(fanout, default=float("nan")) * 1000, 1),
        "rps": round(stats.requests / elapsed, 1), "sheets_submitted": len(acked),
        "lost_answers": lost, "acknowledged_saves": len(acked),
        "server_cpu_ms_per_request": round(cpu_per_req, 2), "floor_cpu_ms": round(floor, 2),
        "ratio_to_floor": round(cpu_per_req / floor, 2) if floor else None,
        "store_cpu_ms_per_request": round(store_cpu * 1000 / max(1, stats.requests), 2),
        "server_rss_mb": round(rss_after, 1),
        "rss_mb_per_connected_member": round((max(rss_prepared, rss_after) - rss_idle) / max(1, held), 3),
        "statuses": stats.statuses, "exceptions": stats.exceptions, "refusals": stats.refusals, "per_op": per_op,
        "prep_errors": sum(prep.errors.values()), "prep_exceptions": prep.exceptions,
        "members_not_joined": len(everyone) - sum(1 for m in everyone if m.state is not None),
    }


def read_sheets(database_url: str) -> dict:
    """sheet id → (status, scores) as stored."""
    from sqlalchemy import create_engine, text

    from certify.config import normalise_database_url

    engine = create_engine(normalise_database_url(database_url))
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, status, scores FROM defense_score_sheets")).all()
    engine.dispose()
    return {i: (status, json.loads(scores) if isinstance(scores, str) else scores) for i, status, scores in rows}


def panels_run(args) -> dict:
    if not args.redis_url:
        raise SystemExit("panels: two processes relay their pushes through Redis: pass --redis-url")
    t = time.perf_counter()
    data = build_panels(args.database_url, args.panels, args.panelists, args.cases)
    build_s = time.perf_counter() - t
    env = server_env(args)
    env["SOCKETIO_CHANNEL"] = f"bench-panels-{os.getpid()}-{int(time.time())}"  # both processes, this run only
    servers = [Server(args.server, free_port(), env) for _ in range(2)]
    try:
        for s in servers:
            s.wait_ready()
        result = asyncio.run(run_panels(args, data, servers))
    finally:
        for s in servers:
            s.stop()
    result.update({"build_s": round(build_s, 1), "server": args.server, "processes": 2,
                   "database": args.database_url.split("://")[0]})
    return result


def server_env(args) -> dict:
    env = {**os.environ, "DATABASE_URL": args.database_url, "SECRET_KEY": "bench-secret-key-0123456789",
           "LOGIN_RATE_LIMIT": "1000000 per minute",
           # the candidates' shared light hash stands in for one-time passwords without the forced change: the
           # preparation logins must not upgrade 2,000 of them to scrypt (certify.accounts.authenticate)
           "PASSWORD_REHASH_ON_LOGIN": "0",
           "EXAM_SAVE_RATE_LIMIT": "1000000 per minute", "EXAM_EVENT_RATE_LIMIT": "1000000 per minute",
           "SOCKET_EVENT_RATE_LIMIT": "1000000 per minute",
           "CERTIFY_INSTANCE": tempfile.mkdtemp(prefix="bench-srv-")}
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    else:
        env.pop("REDIS_URL", None)
    return env


def one_run(args) -> dict:
    duration = 2 if args.scenario == "submit-storm" else 300
    t = time.perf_counter()
    hash_method = args.password_hash or ("scrypt" if args.scenario == "login-storm" else "pbkdf2:sha256:1000")
    data = build_dataset(args.database_url, args.clients, duration_minutes=duration, hash_method=hash_method,
                         stored_answers=args.stored_answers)
    build_s = time.perf_counter() - t
    server = Server(args.server, free_port(), server_env(args))
    try:
        server.wait_ready()
        result = asyncio.run(run_scenario(args, data, server))
    finally:
        server.stop()
    result["build_s"] = round(build_s, 1)
    for key in ("stored_answers", "prefill_s"):
        if key in data:
            result[key] = data[key]
    result["server"] = args.server
    result["database"] = args.database_url.split("://")[0]
    result["password_hash"] = hash_method
    return result


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", choices=["login-storm", "start-storm", "steady", "submit-storm", "panels"])
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--duration", type=float, default=60, help="steady: seconds of saving")
    p.add_argument("--period", type=float, default=None,
                   help="steady: seconds between one candidate's saves (default 10); panels: between one panelist's "
                        "submitted sheets (default 30: 40 × the real pace of one per 20-minute slot, so that a "
                        "minute gives hundreds of samples)")
    p.add_argument("--window", type=float, default=60, help="storms: seconds over which arrivals spread")
    p.add_argument("--reconnect-share", type=float, default=0.1)
    p.add_argument("--connections", type=int, default=200, help="client connection pool size")
    p.add_argument("--timeout", type=float, default=60, help="client timeout per request, seconds")
    p.add_argument("--database-url", default=None)
    p.add_argument("--redis-url", default=None)
    p.add_argument("--server", default="{python} -m certify.cli serve --host 127.0.0.1 --port {port}")
    p.add_argument("--password-hash", default=None,
                   help="candidates' password hash (default: scrypt for login-storm, else pbkdf2:sha256:1000)")
    p.add_argument("--hold-sockets", action="store_true",
                   help="steady: every candidate's page holds its /exam socket (joined, heartbeat every 20 s)")
    p.add_argument("--stored-answers", type=int, default=0,
                   help="steady & co.: answers of earlier attempts written to the table before the run")
    p.add_argument("--panels", type=int, default=40, help="panels: number of panels")
    p.add_argument("--panelists", type=int, default=5, help="panels: panelists per panel (plus the chair)")
    p.add_argument("--cases", type=int, default=20, help="panels: candidates per panel, all open for scoring")
    p.add_argument("--fanout-timeout", type=float, default=10,
                   help="panels: seconds after which a submit the chair never saw counts as an error")
    p.add_argument("--cookie-saves", action="store_true",
                   help="save with the session cookie and CSRF header, not the attempt pass (the page's fallback)")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--json", default=None, help="append one JSON line per run to this file")
    return p


def exit_on_sigterm() -> None:
    """SIGTERM (``timeout``, a CI runner) unwinds like Ctrl+C, so the server processes are stopped, not orphaned."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def main(argv=None):
    exit_on_sigterm()
    args = parser().parse_args(argv)
    if args.period is None:
        args.period = 30 if args.scenario == "panels" else 10
    if not args.database_url:
        args.database_url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-load-')) / 'load.db'}"
    print(f"# {' '.join(sys.argv)}")
    print(f"# cores {os.cpu_count()}, load average before {os.getloadavg()}")
    results = []
    for _ in range(args.runs):
        result = panels_run(args) if args.scenario == "panels" else one_run(args)
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
