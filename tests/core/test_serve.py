"""`certify serve` (and so `certify demo --serve`, which scripts/demo.sh runs) really serves HTTP, on gunicorn
(never Werkzeug's development server), with Socket.IO's websocket transport and the origin check."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("serve")
    port = _free_port()
    env = {**os.environ, "CERTIFY_INSTANCE": str(tmp_path / "instance"), "EXAM_SWEEPER_ENABLED": "0",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}"}
    for key in ("REDIS_URL", "SECRET_KEY", "CERTIFY_ENV"):
        env.pop(key, None)
    log = open(tmp_path / "serve.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "certify.cli", "serve", "--port", str(port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        body = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{base}/login", timeout=2) as resp:
                    body = resp.read().decode("utf-8")
                    break
            except OSError:
                time.sleep(0.3)
        log.seek(0)
        assert proc.poll() is None, f"serve exited: {log.read()}"
        yield {"base": base, "login_page": body, "log": log, "port": port}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def test_serve_command_answers_http(served):
    assert served["login_page"] is not None and "登录" in served["login_page"]


def test_serve_runs_a_production_server_not_the_development_one(served):
    with urllib.request.urlopen(f"{served['base']}/healthz", timeout=5) as resp:
        assert resp.status == 200 and resp.headers["Server"].startswith("gunicorn")
    served["log"].seek(0)
    output = served["log"].read().lower()
    assert "development server" not in output and "werkzeug" not in output


def test_serve_speaks_socketio_over_websocket_and_refuses_foreign_origins(served):
    import websocket

    url = f"ws://127.0.0.1:{served['port']}/socket.io/?EIO=4&transport=websocket"
    ws = websocket.create_connection(url, timeout=10, origin=served["base"])
    try:
        assert ws.recv().startswith("0{")  # engine.io open packet over a real websocket
        ws.send("40/exam,")  # the exam namespace admits logged-in users only: refused, but answered live
        assert ws.recv().startswith("44/exam,")
    finally:
        ws.close()
    with pytest.raises(websocket.WebSocketBadStatusException):
        websocket.create_connection(url, timeout=10, origin="http://evil.example")
