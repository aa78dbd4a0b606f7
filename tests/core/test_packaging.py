"""A plain `pip install .` (a wheel) gives a working app: templates, static files, migrations, demo bank."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                             "-w", str(out), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    wheel = next(out.glob("*.whl"))
    target = out / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(target)
    return target


def test_wheel_contains_the_non_python_files(wheel_dir):
    for rel in ("templates/base.html", "templates/core/login.html", "static/css/app.css",
                "certify/migrations/env.py", "certify/migrations/alembic.ini",
                "question_bank/data/demo_bank.csv"):
        assert (wheel_dir / rel).is_file(), f"{rel} missing from the wheel"
    assert list((wheel_dir / "certify/migrations/versions").glob("*.py")), "no migration versions in the wheel"


def test_installed_wheel_runs_the_app_outside_the_source_tree(wheel_dir, tmp_path):
    script = (
        "import certify, sys\n"
        "assert str(certify.__file__).startswith(sys.argv[1]), certify.__file__\n"
        "from certify import create_app\n"
        "from certify.cli import upgrade_database\n"
        "app = create_app({'EXAM_SWEEPER_ENABLED': False})\n"
        "with app.app_context():\n"
        "    upgrade_database()\n"
        "c = app.test_client()\n"
        "r = c.get('/login')\n"
        "assert r.status_code == 200 and '登录' in r.get_data(as_text=True), r.status_code\n"
        "assert c.get('/static/css/app.css').status_code == 200\n"
        "print('ok')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(wheel_dir), "CERTIFY_INSTANCE": str(tmp_path / "instance"),
           "EXAM_SWEEPER_ENABLED": "0"}
    env.pop("DATABASE_URL", None)
    result = subprocess.run([sys.executable, "-c", script, str(wheel_dir)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")
