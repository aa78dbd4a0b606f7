"""Helpers of the fault tests (fixtures in conftest.py). Fault injection: the platform served the way it is
deployed (``certify serve`` / gunicorn in a subprocess), real clients over HTTP,
and faults done to it from outside: SIGKILL of the whole server, the database made unreachable through a TCP proxy
we stop and restart, a SQLite write lock held by another process, our own redis-server killed.

Nothing here touches the machine's PostgreSQL or Redis: the PostgreSQL outage is a proxy of ours going away, and
the Redis is a private ``redis-server`` on a free port.

Figures (faults injected, saves acknowledged / found / lost, responses by status) are collected in ``FIGURES`` and
printed at the end of the run (``faults:`` line of the terminal summary); RELIABILITY.md quotes them.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
DEMO_PASSWORD = "demo12345"
FIGURES: Counter = Counter()
_SCRUBBED = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "CERTIFY_ENV", "SOCKETIO_CHANNEL", "SOCKETIO_ALLOWED_ORIGINS",
             "CERTIFY_SECURE_COOKIES", "CERTIFY_HSTS", "LOGIN_THROTTLE_STORAGE_URL", "BIND", "FLASK_APP")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(tmp: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env.update({"PYTHONPATH": str(ROOT), "CERTIFY_INSTANCE": str(tmp / "instance"), "WEB_THREADS": "32",
                "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
                # the load clients save far faster than a person; the write limits have their own tests
                "EXAM_SAVE_RATE_LIMIT": "1000000 per minute", "EXAM_FLAG_RATE_LIMIT": "1000000 per minute",
                "EXAM_EVENT_RATE_LIMIT": "1000000 per minute"})
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_cli(args: list[str], env: dict, cwd: Path, timeout: float = 180) -> str:
    proc = subprocess.run([sys.executable, "-m", "certify.cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc.stdout


class Server:
    """The web server in its own process group (so SIGKILL takes the gunicorn master and its worker at once)."""

    def __init__(self, argv: list[str], env: dict, cwd: Path, port: int):
        self.argv, self.env, self.cwd, self.port = argv, env, cwd, port
        self.base = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None
        self.log_path = cwd / f"server-{port}.log"
        self.starts = 0

    def start(self, timeout: float = 90) -> None:
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"server exited: {self.log()[-3000:]}"
            try:
                requests.get(f"{self.base}/api/time", timeout=2)
                return
            except requests.RequestException:
                time.sleep(0.2)
        raise AssertionError(f"server did not answer within {timeout} s: {self.log()[-3000:]}")

    def sigkill(self) -> None:
        """SIGKILL every process of the server at once: no shutdown code runs, nothing is flushed by the app."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        FIGURES["faults injected"] += 1
        FIGURES["SIGKILLs"] += 1

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def serve_command(port: int) -> list[str]:
    return [sys.executable, "-m", "certify.cli", "serve", "--port", str(port)]


def gunicorn_command(port: int) -> list[str]:
    """The production command of DEPLOYMENT.md (BIND chooses the port)."""
    return [sys.executable, "-m", "gunicorn", "-c", "python:certify.gunicorn_conf", "certify.wsgi:app",
            "--bind", f"127.0.0.1:{port}"]


@pytest.fixture
def start_server(tmp_path):
    servers: list[Server] = []

    def start(argv_for_port, env: dict) -> Server:
        port = free_port()
        server = Server(argv_for_port(port), env, tmp_path, port)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


# ------------------------------------------------------------------------------------------ the demo database

@pytest.fixture(scope="session")
def demo_sqlite(tmp_path_factory) -> Path:
    """A SQLite database made by ``certify demo`` (migrations, 14 candidates of demo-cq in two open exam sessions),
    built once; tests copy it."""
    tmp = tmp_path_factory.mktemp("faults-demo")
    db_path = tmp / "demo.db"
    run_cli(["demo"], base_env(tmp, DATABASE_URL=f"sqlite:///{db_path}", EXAM_SWEEPER_ENABLED="0"), tmp)
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db_path


@pytest.fixture
def sqlite_copy(demo_sqlite, tmp_path) -> Path:
    target = tmp_path / "certify.db"
    shutil.copyfile(demo_sqlite, target)
    return target


def demo_tickets(conn) -> list[str]:
    """Tickets of the demo-cq candidates assigned to an exam session (any DB-API connection)."""
    cur = conn.cursor()
    cur.execute("SELECT c.ticket FROM candidates c JOIN rounds r ON r.id = c.round_id "
                "JOIN exam_session_candidates a ON a.candidate_id = c.id WHERE r.code = 'demo-cq' ORDER BY c.ticket")
    return [row[0] for row in cur.fetchall()]


# ------------------------------------------------------------------------------------------ a candidate client

class Candidate:
    """A candidate's browser-less client of the JSON API (session cookie + CSRF header + attempt token)."""

    def __init__(self, base: str, ticket: str):
        self.base, self.ticket = base, ticket
        self.http = requests.Session()
        self.csrf = None
        self.attempt: dict | None = None
        self.seq = 0

    def login(self, password: str = DEMO_PASSWORD, timeout: float = 10) -> requests.Response:
        resp = self.http.post(f"{self.base}/api/login", json={"username": self.ticket, "password": password},
                              timeout=timeout)
        count(resp)
        if resp.status_code == 200:
            self.csrf = resp.json()["csrf_token"]
        return resp

    def headers(self) -> dict:
        h = {"X-CSRFToken": self.csrf or ""}
        if self.attempt:
            h["X-Attempt-Token"] = self.attempt["client_token"]
        return h

    def start(self) -> dict:
        sessions = self.http.get(f"{self.base}/api/exam/sessions", timeout=30)
        count(sessions)
        assert sessions.status_code == 200, sessions.text[:500]
        session_id = sessions.json()["sessions"][0]["session_id"]
        resp = self.http.post(f"{self.base}/api/exam/sessions/{session_id}/attempt", headers=self.headers(),
                              timeout=30)
        count(resp)
        assert resp.status_code == 200, resp.text[:500]
        self.attempt = resp.json()
        self.seq = max(self.attempt["last_seq"], self.seq)
        return self.attempt

    def save(self, position: int, letters: list[str], seq: int, timeout: float = 30) -> requests.Response:
        resp = self.http.put(f"{self.base}/api/exam/attempts/{self.attempt['attempt_id']}/answers/{position}",
                             json={"response": letters, "seq": seq, "time_spent_ms": 500}, headers=self.headers(),
                             timeout=timeout)
        count(resp)
        return resp

    def item(self, index: int) -> dict:
        items = self.attempt["items"]
        return items[index % len(items)]


def count(resp: requests.Response) -> None:
    FIGURES[f"HTTP {resp.status_code}"] += 1
    FIGURES["requests answered"] += 1


# ------------------------------------------------------------------------------------------ private redis-server

class RedisServer:
    def __init__(self, port: int, workdir: Path):
        self.port, self.workdir, self.proc = port, workdir, None
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.skip("redis-server is not installed")
        self.proc = subprocess.Popen([exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--daemonize", "no", "--dir", str(self.workdir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except redis.RedisError:
                time.sleep(0.1)
        raise AssertionError("private redis-server did not start")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)
        FIGURES["faults injected"] += 1
        FIGURES["Redis outages"] += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def private_redis(tmp_path):
    server = RedisServer(free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


# ------------------------------------------------------------------------------------------ a TCP proxy

class TcpProxy:
    """A threaded TCP forwarder ``127.0.0.1:port -> upstream``. ``stop()`` closes the listener and cuts every
    connection (the database is gone for whoever uses the proxy); ``start()`` listens on the same port again."""

    def __init__(self, upstream: tuple[str, int], port: int | None = None):
        self.upstream, self.port = upstream, port or free_port()
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = self._conns, set()
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


# ------------------------------------------------------------------------------------------ the summary line

def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        parts = [f"{k}={v}" for k, v in sorted(FIGURES.items())]
        terminalreporter.write_line("faults: " + ", ".join(parts))
