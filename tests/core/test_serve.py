"""`certify serve` (and so `certify demo --serve`, which scripts/demo.sh runs) really serves HTTP."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_command_answers_http(tmp_path):
    port = _free_port()
    env = {**os.environ, "CERTIFY_INSTANCE": str(tmp_path / "instance"), "EXAM_SWEEPER_ENABLED": "0",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}"}
    proc = subprocess.Popen([sys.executable, "-m", "certify.cli", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        body = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as resp:
                    body = resp.read().decode("utf-8")
                    break
            except OSError:
                time.sleep(0.3)
        assert proc.poll() is None, f"serve exited: {proc.stdout.read()}"
        assert body is not None and "登录" in body
    finally:
        proc.terminate()
        proc.wait(timeout=10)
