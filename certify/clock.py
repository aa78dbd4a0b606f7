"""The server is the clock. Every timestamp is naive UTC (SQLite keeps no zone); shown in local time."""
from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    """Current time as naive UTC. Patched in tests with time-machine (it patches datetime.now)."""
    return datetime.now(UTC).replace(tzinfo=None)


DEFAULT_TIMEZONE = "Asia/Shanghai"


def display_timezone() -> str:
    """The zone times are shown and typed in: the app's DISPLAY_TIMEZONE inside an app context, else the default."""
    from flask import current_app, has_app_context  # lazily: this module stays usable without an app

    return current_app.config.get("DISPLAY_TIMEZONE", DEFAULT_TIMEZONE) if has_app_context() else DEFAULT_TIMEZONE


def to_local(value: datetime | None, tz: str | None = None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC).astimezone(ZoneInfo(tz or display_timezone()))


def from_local(value: datetime, tz: str | None = None) -> datetime:
    """A naive local datetime (as typed in a form) to naive UTC."""
    return value.replace(tzinfo=ZoneInfo(tz or display_timezone())).astimezone(UTC).replace(tzinfo=None)


def iso_utc(value: datetime | None) -> str | None:
    return None if value is None else value.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
