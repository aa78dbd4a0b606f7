"""A small production-shaped deployment for tests: a scratch PostgreSQL database, and web processes started with
the production command (``gunicorn -c python:certify.gunicorn_conf certify.wsgi:app``), each on its own port, all
sharing SECRET_KEY, DATABASE_URL, REDIS_URL and a per-run SOCKETIO_CHANNEL.

Used by tests/ops/test_two_processes.py; nothing here imports the app (the processes are separate interpreters).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "test-pass-123"  # tests.conftest.TEST_PASSWORD: every account the set-up makes
# DEPLOYMENT.md, "The web process" (gunicorn run by this interpreter, so the venv's gunicorn and this checkout)
PRODUCTION_COMMAND = [sys.executable, "-m", "gunicorn", "-c", "python:certify.gunicorn_conf", "certify.wsgi:app"]
# settings of the test runner's environment that must not leak into the deployment under test
_OWN = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "CERTIFY_ENV", "SOCKETIO_CHANNEL", "SOCKETIO_ALLOWED_ORIGINS",
        "CERTIFY_SECURE_COOKIES", "CERTIFY_HSTS", "CERTIFY_FORCE_HTTPS", "BIND", "TRUSTED_PROXIES",
        "CERTIFY_INSTANCE", "WEB_WORKER_CLASS", "GUNICORN_WORKERS")


def libpq_url(url: str) -> str:
    """A SQLAlchemy or libpq PostgreSQL URL as psycopg.connect takes it."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ScratchDatabase:
    """A PostgreSQL database of its own, created next to TEST_DATABASE_URL's and dropped afterwards: the shared
    test app may be using TEST_DATABASE_URL's own tables in the same run."""

    def __init__(self, base_url: str, suffix: str):
        from sqlalchemy.engine import make_url

        base = make_url(libpq_url(base_url))
        self.admin_url = base.render_as_string(hide_password=False)
        self.name = f"{base.database}_{suffix}"
        self.url = base.set(database=self.name).render_as_string(hide_password=False)

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql)

    def create(self) -> None:
        self.drop()
        self._admin(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def connect(self):
        import psycopg

        return psycopg.connect(self.url, autocommit=True, connect_timeout=5)


@dataclass
class WebProcess:
    name: str
    port: int
    proc: subprocess.Popen
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill_hard(self) -> None:
        """SIGKILL to gunicorn's master and its worker at once (the process group): a crash, no shutdown code runs."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Quick shutdown (SIGINT: gunicorn does not wait for held websockets), then SIGKILL if it lingers."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGINT)
                self.proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        if self.proc.poll() is None:
            self.kill_hard()
        else:  # the master is gone; make sure no orphaned worker of its group survives it
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@dataclass
class Deployment:
    """Shared settings of one deployment and its running web processes."""

    database: ScratchDatabase
    redis_url: str
    workdir: Path
    env: dict = field(default_factory=dict)
    processes: list[WebProcess] = field(default_factory=list)

    def __post_init__(self):
        env = {k: v for k, v in os.environ.items() if k not in _OWN}
        env.update({
            # the settings file of DEPLOYMENT.md ("Settings every process shares")
            "CERTIFY_ENV": "production",
            "SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": self.database.url,
            "REDIS_URL": self.redis_url,
            "SOCKETIO_CHANNEL": f"certify-test-{secrets.token_hex(6)}",  # pub/sub ignores the Redis db number
            "CERTIFY_INSTANCE": str(self.workdir / "instance"),
            "CERTIFY_SECURE_COOKIES": "0",  # plain HTTP on 127.0.0.1
            "CERTIFY_HSTS": "0",
            "EXAM_SWEEPER_ENABLED": "0",  # as in the certify-web@ unit: the sweeper belongs to certify worker
            # load and fault tests save far faster than a person; the write limits have their own tests
            "EXAM_SAVE_RATE_LIMIT": "1000000 per minute", "EXAM_FLAG_RATE_LIMIT": "1000000 per minute",
            "EXAM_EVENT_RATE_LIMIT": "1000000 per minute", "SOCKET_EVENT_RATE_LIMIT": "1000000 per minute",
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
        })
        self.env = env

    def run_python(self, code: str, timeout: float = 120) -> dict:
        """Run ``code`` in this deployment's environment; it prints one JSON object last, returned parsed."""
        out = subprocess.run([sys.executable, "-c", code], env=self.env, cwd=ROOT, capture_output=True, text=True,
                             timeout=timeout)
        assert out.returncode == 0, f"set-up failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
        return json.loads([line for line in out.stdout.splitlines() if line.startswith("{")][-1])

    def start_web(self, name: str) -> WebProcess:
        """One web process with the production command, on a port of its own, in its own process group."""
        port = free_port()
        log_path = self.workdir / f"web-{name}.log"
        # gunicorn (>= 24) opens a control socket at $XDG_RUNTIME_DIR/gunicorn.ctl, else ~/.gunicorn/gunicorn.ctl:
        # one path per user, which every master on the machine would take over in turn; keep ours apart
        runtime = self.workdir / f"run-{name}"
        runtime.mkdir(mode=0o700, exist_ok=True)
        env = {**self.env, "BIND": f"127.0.0.1:{port}", "XDG_RUNTIME_DIR": str(runtime)}
        log = open(log_path, "wb")  # a file, not a pipe: a full pipe would block the server's logging
        try:
            proc = subprocess.Popen(PRODUCTION_COMMAND, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()
        web = WebProcess(name, port, proc, log_path)
        self.processes.append(web)
        return web

    def wait_healthy(self, web: WebProcess, timeout: float = 45) -> None:
        """Until ``GET /healthz`` answers 200 with the database and Redis both "ok"."""
        import requests

        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if not web.alive():
                raise AssertionError(f"web process {web.name} exited ({web.proc.returncode}):\n{web.log_tail()}")
            try:
                resp = requests.get(f"{web.base}/healthz", timeout=2)
                last = (resp.status_code, resp.text[:200])
                if resp.status_code == 200 and resp.json() == {"database": "ok", "redis": "ok"}:
                    return
            except requests.RequestException as err:
                last = repr(err)
            time.sleep(0.1)
        raise AssertionError(f"web process {web.name} not healthy after {timeout} s (last: {last}):\n{web.log_tail()}")

    def stop_all(self) -> None:
        for web in self.processes:
            web.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {w.name} (port {w.port}) ---\n{w.log_tail()}" for w in self.processes)


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html) or re.search(
        r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def staff_login(base: str, username: str, password: str = PASSWORD):
    """A requests.Session logged in through the login page (as a browser does)."""
    import requests

    session = requests.Session()
    token = csrf_from(session.get(f"{base}/login", timeout=10).text)
    resp = session.post(f"{base}/login", data={"username": username, "password": password, "csrf_token": token},
                        allow_redirects=False, timeout=10)
    assert resp.status_code == 302, f"login of {username} on {base}: {resp.status_code} {resp.text[:300]}"
    return session


def cookie_header(session) -> str:
    return "; ".join(f"{k}={v}" for k, v in session.cookies.items())


def socket_auth(base: str, session) -> dict:
    """The Socket.IO ``auth`` payload a page of ``session`` sends at connect (its CSRF token). Fetch it before taking
    ``cookie_header``: the page may refresh the session cookie."""
    return {"csrf_token": csrf_from(session.get(f"{base}/", timeout=10).text)}
