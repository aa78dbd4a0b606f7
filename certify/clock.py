"""The server is the clock. Every timestamp is naive UTC (SQLite keeps no zone); shown in local time."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    """Current time as naive UTC. Patched in tests with time-machine (it patches datetime.now)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def to_local(value: datetime | None, tz: str = "Asia/Shanghai") -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(tz))


def from_local(value: datetime, tz: str = "Asia/Shanghai") -> datetime:
    """A naive local datetime (as typed in a form) to naive UTC."""
    return value.replace(tzinfo=ZoneInfo(tz)).astimezone(timezone.utc).replace(tzinfo=None)


def iso_utc(value: datetime | None) -> str | None:
    return None if value is None else value.replace(tzinfo=timezone.utc).isoformat().replace("+00:00", "Z")
