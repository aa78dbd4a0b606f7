"""The schema is made by Alembic migrations, on SQLite and on PostgreSQL alike, and matches the models."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from certify.config import normalise_database_url
from certify.extensions import db


@pytest.fixture
def empty_database_url(database_url, tmp_path):
    """A brand-new empty database of the same kind as the suite's."""
    url = make_url(normalise_database_url(database_url))
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    name = f"certify_mig_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _certify(args, database_url, tmp_path):
    env = {**os.environ, "DATABASE_URL": database_url, "CERTIFY_INSTANCE": str(tmp_path / "instance"),
           "EXAM_SWEEPER_ENABLED": "0"}
    return subprocess.run([sys.executable, "-m", "certify.cli", *args], env=env, capture_output=True,
                          text=True, timeout=300)


def test_migrations_build_the_whole_schema_from_an_empty_database(app, empty_database_url, tmp_path):
    result = _certify(["init-db"], empty_database_url, tmp_path)
    assert result.returncode == 0, result.stderr
    engine = create_engine(normalise_database_url(empty_database_url))
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), db.metadata)
            assert diff == [], f"models and migrations differ: {diff}"
            tables = set(inspect(conn).get_table_names())
        assert {"users", "rounds", "schemes", "candidates", "items", "item_versions"} <= tables
    finally:
        engine.dispose()
    # Running it again is a no-op.
    again = _certify(["init-db"], empty_database_url, tmp_path)
    assert again.returncode == 0, again.stderr


def test_migrations_downgrade_to_empty(app, empty_database_url, tmp_path):
    assert _certify(["init-db"], empty_database_url, tmp_path).returncode == 0
    result = _certify(["db", "downgrade", "base"], empty_database_url, tmp_path)
    assert result.returncode == 0, result.stderr
    engine = create_engine(normalise_database_url(empty_database_url))
    try:
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
