"""``certify backup`` / ``certify restore``: a demo round exported by every export kind, backed up, restored into
a fresh database, exported again — byte-identical CSV files; the upload staging folder comes back too; restoring
onto a database that holds data is refused without ``--force``. SQLite always; PostgreSQL too when
TEST_DATABASE_URL is set (into databases created and dropped by the test)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from certify.config import normalise_database_url

ROOT = Path(__file__).resolve().parents[2]

EXPORT_ALL = r"""
import json, sys
from pathlib import Path
from certify import create_app
from certify.extensions import db
from certify.models import Round
from certify.registry import exports

out = Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
app = create_app()
with app.app_context():
    codes = sorted(r.code for r in db.session.execute(db.select(Round)).scalars())
runner = app.test_cli_runner()
summary = {}
for code in codes:
    for kind in sorted(exports(app)):
        res = runner.invoke(args=["export", kind, "--round", code, str(out / f"{code}-{kind}.csv")])
        summary[f"{code}-{kind}"] = [res.exit_code, res.output.strip()]
(out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
"""

FILL_SCORES = r"""
from decimal import Decimal
from certify import create_app
from certify.extensions import db
from certify.models import Candidate, ComponentScore, Round
from certify.scores import record_component

app = create_app()
with app.app_context():
    rnd = db.session.execute(db.select(Round).filter_by(code="demo-cq")).scalar_one()
    for cand in db.session.execute(db.select(Candidate).filter_by(round_id=rnd.id).order_by(Candidate.id)).scalars():
        have = {s.component for s in db.session.execute(db.select(ComponentScore).filter_by(candidate_id=cand.id))
                .scalars() if s.status in ("scored", "absent")}
        for component in cand.scheme.components:
            if component not in have:
                record_component(cand, component, Decimal(55 + cand.id * 7 % 40), source="test")
    db.session.commit()
"""


def _certify(args, db_url, instance, *, script=None):
    env = {**os.environ, "DATABASE_URL": db_url, "CERTIFY_INSTANCE": str(instance), "EXAM_SWEEPER_ENABLED": "0",
           "CERTIFY_EMBEDDED_WORKER": "0", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", script, *args] if script else [sys.executable, "-m", "certify.cli", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)


def _ok(result):
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def _databases(tmp_path):
    """(source, target) URLs: SQLite files, or two new PostgreSQL databases beside TEST_DATABASE_URL's."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url or not url.startswith("postgres"):
        return f"sqlite:///{tmp_path / 'source.db'}", f"sqlite:///{tmp_path / 'restored.db'}", None
    base = make_url(normalise_database_url(url))
    names = [f"{base.database}_bk_{uuid.uuid4().hex[:6]}", f"{base.database}_restore_{uuid.uuid4().hex[:6]}"]
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    plain = base.set(drivername="postgresql")
    return (*(plain.set(database=n).render_as_string(hide_password=False) for n in names), drop)


def _csv_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.csv"))}


def test_backup_then_restore_into_a_fresh_database_gives_byte_identical_exports(tmp_path):
    source, target, drop = _databases(tmp_path)
    try:
        _run_round_trip(tmp_path, source, target, postgres=drop is not None)
    finally:
        if drop:
            drop()


def _run_round_trip(tmp_path, source, target, *, postgres):
    inst_a, inst_b = tmp_path / "instance-a", tmp_path / "instance-b"
    _ok(_certify(["demo"], source, inst_a))
    _ok(_certify([], source, inst_a, script=FILL_SCORES))  # every component scored, so results can be confirmed
    _ok(_certify(["results", "--round", "demo-cq", "--confirm"], source, inst_a))  # and publicity exports too
    staged = inst_a / "uploads" / "bank-token123.bin"
    staged.parent.mkdir(parents=True, exist_ok=True)
    staged.write_bytes("待确认的题库文件".encode())
    _ok(_certify([str(tmp_path / "before")], source, inst_a, script=EXPORT_ALL))
    before = _csv_files(tmp_path / "before")
    summary = json.loads((tmp_path / "before" / "summary.json").read_text(encoding="utf-8"))
    kinds = {key.split("-", 2)[-1] for key, (code, _out) in summary.items() if key.startswith("demo-cq") and code == 0}
    assert kinds == {"defense", "exam", "items", "publicity", "results", "schedule"}  # every kind, real data
    assert len(before) >= 6 and all(len(data) > 20 for data in before.values())

    archive = tmp_path / "backup.tar.gz"
    out = _ok(_certify(["backup", str(archive)], source, inst_a)).stdout
    assert "已备份到" in out and "上传文件 1 个" in out
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        manifest = json.loads(tar.extractfile("manifest.json").read())
    assert {"manifest.json", "uploads/bank-token123.bin"} <= names
    assert ("database.pgdump" if postgres else "database.sqlite3") in names
    assert manifest["revision"] and manifest["tables"]["candidates"] > 0

    if postgres:  # an empty PostgreSQL database after init-db; the SQLite target is a new file (before init-db)
        _ok(_certify(["init-db"], target, inst_b))
    result = _ok(_certify(["restore", str(archive)], target, inst_b))
    assert "已恢复" in result.stdout
    assert (inst_b / "uploads" / "bank-token123.bin").read_bytes() == staged.read_bytes()
    _ok(_certify([str(tmp_path / "after")], target, inst_b, script=EXPORT_ALL))
    assert _csv_files(tmp_path / "after") == before
    assert json.loads((tmp_path / "after" / "summary.json").read_text(encoding="utf-8")).keys() == summary.keys()

    refused = _certify(["restore", str(archive)], target, inst_b)
    assert refused.returncode == 1 and "已有数据" in refused.stderr and "--force" in refused.stderr
    _ok(_certify(["restore", "--force", str(archive)], target, inst_b))


def test_restore_refuses_files_that_are_not_backups_and_backups_of_unknown_schemas(app, ctx, tmp_path):
    from certify import backup

    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tar")
    with pytest.raises(backup.BackupError, match="不是本平台的备份文件"):
        backup.restore(junk)
    archive = tmp_path / "future.tar.gz"
    manifest = {"format": 1, "database": app.extensions["sqlalchemy"].engine.dialect.name, "revision": "9999",
                "tables": {}, "uploads": [], "created_at": "2030-01-01T00:00:00Z"}
    with tarfile.open(archive, "w:gz") as tar:
        backup._add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
    with pytest.raises(backup.BackupError, match="9999 不被本程序识别"):
        backup.restore(archive)
    other = dict(manifest, database="oracle", revision=None)
    with tarfile.open(archive, "w:gz") as tar:
        backup._add_bytes(tar, "manifest.json", json.dumps(other).encode())
    with pytest.raises(backup.BackupError, match="不能恢复到"):
        backup.restore(archive)


def test_postgres_backup_says_clearly_when_pg_dump_is_missing(app, ctx, monkeypatch):
    from certify import backup

    monkeypatch.setattr(backup.shutil, "which", lambda name: None)
    with pytest.raises(backup.BackupError, match="找不到 pg_dump"):
        backup._pg_command("pg_dump")


def test_sqlite_backup_while_writes_go_on_is_a_consistent_snapshot(app, ctx, tmp_path):
    """Every write below adds two audit rows in one transaction; a consistent copy never holds half of one."""
    import sqlite3
    import threading

    from certify import backup
    from certify.audit import audit
    from certify.extensions import db as _db

    if _db.engine.dialect.name != "sqlite":
        pytest.skip("the SQLite online backup API")
    stop = threading.Event()
    written = [0]

    def writer():
        with app.app_context():
            while not stop.is_set():
                audit("test.pair", target_type="pair", target_id="a")
                audit("test.pair", target_type="pair", target_id="b")
                _db.session.commit()
                written[0] += 1
            _db.session.remove()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while written[0] < 20:
            threading.Event().wait(0.01)
        manifest = backup.backup(tmp_path / "live.tar.gz")
    finally:
        stop.set()
        thread.join(30)
    assert manifest["database"] == "sqlite"
    with tarfile.open(tmp_path / "live.tar.gz") as tar:
        tar.extract("database.sqlite3", tmp_path)
    copy = sqlite3.connect(tmp_path / "database.sqlite3")
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        pairs = copy.execute("SELECT COUNT(*) FROM audit_entries WHERE action = 'test.pair'").fetchone()[0]
    finally:
        copy.close()
    assert pairs >= 40 and pairs % 2 == 0
