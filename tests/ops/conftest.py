"""Helpers for tests that need an app configured differently from the shared session app (production settings,
an unreachable database, a tiny pool): each runs in its own interpreter, since create_app binds process-wide
extensions (Socket.IO) that the session app uses."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def run_app(tmp_path):
    """Run ``code`` in a fresh interpreter with ``env`` added; the code prints one JSON line last, returned parsed.
    ``create_db=True``: a fresh SQLite database with the schema (DATABASE_URL) is prepared for it."""

    def run(code: str, env: dict | None = None, *, create_db: bool = False, expect_exit: int = 0):
        full_env = {k: v for k, v in os.environ.items()
                    if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "CERTIFY_ENV", "SOCKETIO_CHANNEL",
                                 "SOCKETIO_ALLOWED_ORIGINS", "CERTIFY_SECURE_COOKIES", "CERTIFY_HSTS")}
        full_env.update({"CERTIFY_INSTANCE": str(tmp_path / "instance"), "EXAM_SWEEPER_ENABLED": "0",
                         "PYTHONPATH": str(ROOT), "DATABASE_URL": f"sqlite:///{tmp_path / 'ops.db'}"})
        full_env.update(env or {})
        prelude = ""
        if create_db:
            prelude = textwrap.dedent("""
                from certify import create_app as _create
                from certify.extensions import db as _db
                _a = _create({"TESTING": True})
                with _a.app_context():
                    _db.create_all()
                """)
        proc = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], env=full_env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == expect_exit, proc.stderr[-3000:]
        if expect_exit:
            return proc.stderr
        lines = [line for line in proc.stdout.splitlines() if line.startswith(("{", "["))]
        assert lines, proc.stdout + proc.stderr[-3000:]
        return json.loads(lines[-1])

    return run
