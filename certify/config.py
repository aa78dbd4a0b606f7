"""Configuration from environment variables, with defaults that need nothing installed.

DATABASE_URL  default: SQLite file ``certify.db`` in the instance folder
SECRET_KEY    default: generated once and kept in ``instance/secret_key``
REDIS_URL     optional: Socket.IO message queue and rate-limit storage for multi-process runs
CERTIFY_INSTANCE  optional: where the instance folder lives
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path


def _secret_key(instance_path: Path) -> str:
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    key = secrets.token_hex(32)
    key_file.write_text(key)
    try:
        key_file.chmod(0o600)
    except OSError:  # pragma: no cover - filesystems without chmod
        pass
    return key


def normalise_database_url(url: str) -> str:
    """Accept the common ``postgres://`` / ``postgresql://`` forms and use psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def load_config(instance_path: Path) -> dict:
    instance_path.mkdir(parents=True, exist_ok=True)
    db_url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance_path / 'certify.db'}"
    redis_url = os.environ.get("REDIS_URL") or None
    return {
        "SECRET_KEY": _secret_key(instance_path),
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(db_url),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": redis_url,
        "MAX_CONTENT_LENGTH": 32 * 1024 * 1024,
        "WTF_CSRF_TIME_LIMIT": None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        # rate limiting (login throttling); storage follows REDIS_URL when set
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "10 per minute"),
        # exam timing defaults (DOMAIN.md); seconds unless noted
        "EXAM_SAVE_GRACE_SECONDS": int(os.environ.get("EXAM_SAVE_GRACE_SECONDS", "5")),
        "EXAM_SWEEP_INTERVAL_SECONDS": int(os.environ.get("EXAM_SWEEP_INTERVAL_SECONDS", "5")),
        "EXAM_SWEEPER_ENABLED": os.environ.get("EXAM_SWEEPER_ENABLED", "1") == "1",
        "DISPLAY_TIMEZONE": os.environ.get("DISPLAY_TIMEZONE", "Asia/Shanghai"),
    }
