"""``certify backup FILE`` and ``certify restore FILE [--force]``: one archive holding the whole instance.

The archive is a gzip'd tar with
- ``manifest.json``: format, database kind, Alembic revision of the schema, row count per table, upload files;
- the database: ``database.sqlite3`` (SQLite's online backup API: a consistent copy while the app is serving,
  WAL and all) or ``database.pgdump`` (``pg_dump -Fc``, itself one consistent snapshot);
- ``uploads/…``: the instance's upload staging folder (bank files waiting for confirmation).

Restore goes into a fresh database — a new SQLite file, or an empty PostgreSQL database, before or after
``certify init-db`` — and is refused onto a database that holds data unless ``--force``. A backup of an older
schema is restored, then migrated to this code's schema; a backup of a schema this code does not know is
refused. The archive is written to a temporary name and renamed, so a failed backup never leaves half a file
under the requested name.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from pathlib import Path

from flask import current_app
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from .clock import iso_utc, utcnow
from .extensions import db

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database.sqlite3"
PG_MEMBER = "database.pgdump"
UPLOADS = "uploads"


class BackupError(Exception):
    """A backup or restore that cannot be done, with a message for the operator."""


def _dialect() -> str:
    return db.engine.dialect.name


def _uploads_dir() -> Path:
    return Path(current_app.instance_path) / UPLOADS


def _revision() -> str | None:
    with db.engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _table_counts() -> dict[str, int]:
    with db.engine.connect() as conn:
        names = [n for n in inspect(conn).get_table_names() if n != "alembic_version"]
        return {n: conn.execute(text(f'SELECT COUNT(*) FROM "{n}"')).scalar() for n in sorted(names)}


def has_data() -> bool:
    return any(_table_counts().values())


def _pg_command(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise BackupError(f"找不到 {tool}：PostgreSQL 的备份与恢复需要 PostgreSQL 客户端工具（{tool}）在 PATH 中，"
                          "例如 Debian/Ubuntu 安装 postgresql-client")
    return path


def _pg_target() -> tuple[str, dict]:
    """A libpq connection string for pg_dump/pg_restore, the password passed in the environment (not argv)."""
    url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    libpq = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return libpq, env


def _run(args: list[str], env: dict) -> None:
    proc = subprocess.run(args, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BackupError(f"{Path(args[0]).name} 失败：{(proc.stderr or proc.stdout).strip()[-2000:]}")


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(utcnow().timestamp())
    tar.addfile(info, io.BytesIO(data))


def backup(path: str | os.PathLike) -> dict:
    """Write the archive; returns its manifest. Safe while the app is serving."""
    path = Path(path)
    dialect = _dialect()
    if dialect not in ("sqlite", "postgresql"):
        raise BackupError(f"不支持的数据库类型：{dialect}")
    with tempfile.TemporaryDirectory(prefix="certify-backup-") as tmp:
        dump = Path(tmp) / (SQLITE_MEMBER if dialect == "sqlite" else PG_MEMBER)
        if dialect == "sqlite":
            db.session.remove()
            raw = db.engine.raw_connection()
            try:
                target = sqlite3.connect(dump)
                try:
                    raw.driver_connection.backup(target)
                finally:
                    target.close()
            finally:
                raw.close()
        else:
            libpq, env = _pg_target()
            _run([_pg_command("pg_dump"), "-Fc", "--no-owner", "--no-privileges", "-f", str(dump), "-d", libpq],
                 env)
        uploads = _uploads_dir()
        files = sorted(p for p in uploads.rglob("*") if p.is_file()) if uploads.is_dir() else []
        manifest = {"format": FORMAT, "created_at": iso_utc(utcnow()), "database": dialect,
                    "revision": _revision(), "tables": _table_counts(),
                    "uploads": [p.relative_to(uploads).as_posix() for p in files]}
        partial = path.with_name(path.name + ".partial")
        path.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(partial, "w:gz") as tar:
            _add_bytes(tar, MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8"))
            tar.add(dump, arcname=dump.name)
            for p in files:
                tar.add(p, arcname=f"{UPLOADS}/{p.relative_to(uploads).as_posix()}")
        os.replace(partial, path)
    return manifest


def read_manifest(path: str | os.PathLike) -> dict:
    try:
        with tarfile.open(path, "r:*") as tar:
            member = tar.extractfile(MANIFEST)
            if member is None:
                raise KeyError(MANIFEST)
            manifest = json.loads(member.read().decode("utf-8"))
    except (tarfile.TarError, KeyError, ValueError, OSError) as err:
        raise BackupError(f"不是本平台的备份文件：{path}（{err}）") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"备份文件格式 {manifest.get('format')} 不受支持（本程序支持 {FORMAT}）")
    return manifest


def _check_revision(revision: str | None) -> None:
    if revision is None:
        return
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    script = ScriptDirectory(current_app.extensions["migrate"].directory)
    try:
        known = script.get_revision(revision)
    except CommandError:
        known = None
    if known is None:
        raise BackupError(f"备份的数据库结构版本 {revision} 不被本程序识别（备份来自更新的版本？请先升级程序）")


def _safe_members(tar: tarfile.TarFile, prefix: str) -> list[tarfile.TarInfo]:
    out = []
    for m in tar.getmembers():
        if not m.name.startswith(prefix + "/"):
            continue
        parts = Path(m.name).parts
        if m.name.startswith("/") or ".." in parts or not (m.isfile() or m.isdir()):
            raise BackupError(f"备份文件含有不安全的路径：{m.name}")
        out.append(m)
    return out


def _drop_all_pg_tables() -> None:
    from .services.audit_chain import PG_DROP_FUNCTION

    with db.engine.begin() as conn:
        for name in inspect(conn).get_table_names():
            conn.execute(text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))
        conn.execute(text(PG_DROP_FUNCTION))  # the audit trail's append-only trigger function comes with the dump


def restore(path: str | os.PathLike, *, force: bool = False) -> dict:
    """Restore an archive into this app's database and instance folder; returns its manifest."""
    manifest = read_manifest(path)
    dialect = _dialect()
    if manifest.get("database") != dialect:
        raise BackupError(f"备份来自 {manifest.get('database')} 数据库，不能恢复到 {dialect} 数据库")
    _check_revision(manifest.get("revision"))
    db.session.remove()
    if has_data() and not force:
        raise BackupError("目标数据库中已有数据，恢复会覆盖全部数据；确认覆盖请加 --force")
    with tempfile.TemporaryDirectory(prefix="certify-restore-") as tmp, tarfile.open(path, "r:*") as tar:
        member = SQLITE_MEMBER if dialect == "sqlite" else PG_MEMBER
        try:
            info = tar.getmember(member)
        except KeyError:
            raise BackupError(f"备份文件缺少数据库文件 {member}") from None
        dump = Path(tmp) / member
        with tar.extractfile(info) as src, open(dump, "wb") as dst:
            shutil.copyfileobj(src, dst)
        db.session.remove()
        if dialect == "sqlite":
            db.engine.dispose()
            source = sqlite3.connect(dump)
            raw = db.engine.raw_connection()
            try:
                source.backup(raw.driver_connection)
            finally:
                raw.close()
                source.close()
            db.engine.dispose()
        else:
            libpq, env = _pg_target()
            restore_tool = _pg_command("pg_restore")
            db.engine.dispose()
            _drop_all_pg_tables()
            _run([restore_tool, "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error",
                  "-d", libpq, str(dump)], env)
            db.engine.dispose()
        uploads = _uploads_dir()
        for m in _safe_members(tar, UPLOADS):
            target = uploads / Path(m.name).relative_to(UPLOADS)
            if m.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(m) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
    if manifest.get("revision") is not None:
        from .cli import upgrade_database

        upgrade_database()  # an older backup is brought to this code's schema
    return manifest


def register_cli(app) -> None:
    import click
    from flask.cli import with_appcontext

    @click.command("backup", help="备份：数据库（运行中也可，得到一致的快照）与上传暂存文件打包为一个文件。")
    @click.argument("path", type=click.Path(dir_okay=False))
    @with_appcontext
    def backup_command(path):
        from .cli import fail

        try:
            manifest = backup(path)
        except BackupError as err:
            fail(str(err))
        rows = sum(manifest["tables"].values())
        click.echo(f"已备份到 {path}：{manifest['database']} 数据库，结构版本 {manifest['revision'] or '—'}，"
                   f"{len(manifest['tables'])} 张表共 {rows} 行，上传文件 {len(manifest['uploads'])} 个")

    @click.command("restore", help="从 certify backup 生成的文件恢复到新的（空的）数据库；目标已有数据时须加 --force。")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    @click.option("--force", is_flag=True, help="覆盖目标数据库中的现有数据")
    @with_appcontext
    def restore_command(path, force):
        from .cli import fail

        try:
            manifest = restore(path, force=force)
        except BackupError as err:
            fail(str(err))
        rows = sum(manifest["tables"].values())
        click.echo(f"已恢复 {path}（备份于 {manifest['created_at']}）：{len(manifest['tables'])} 张表共 {rows} 行，"
                   f"上传文件 {len(manifest['uploads'])} 个")

    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
