"""The server is the clock. Every timestamp is naive UTC (SQLite keeps no zone); shown in local time."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    """Current time as naive UTC. Patched in tests with time-machine (it patches datetime.now)."""
    return datetime.now(UTC).replace(tzinfo=None)


DEFAULT_TIMEZONE = "Asia/Shanghai"

# Where the display zone comes from: a function returning a zone name, or None for the default. This module is pure
# (the services use it); the app plugs in a reader of its DISPLAY_TIMEZONE setting (certify.display_zone).
def _default_zone() -> str | None:
    return None


_zone_source: Callable[[], str | None] = _default_zone


def set_display_zone_source(source: Callable[[], str | None]) -> None:
    """Install where ``display_timezone()`` reads the zone (the app does it once, at start)."""
    global _zone_source
    _zone_source = source


def display_timezone() -> str:
    """The zone times are shown and typed in: the installed source's answer (the app's DISPLAY_TIMEZONE inside an
    app context), else the default."""
    return _zone_source() or DEFAULT_TIMEZONE


def to_local(value: datetime | None, tz: str | None = None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC).astimezone(ZoneInfo(tz or display_timezone()))


def from_local(value: datetime, tz: str | None = None) -> datetime:
    """A naive local datetime (as typed in a form) to naive UTC."""
    return value.replace(tzinfo=ZoneInfo(tz or display_timezone())).astimezone(UTC).replace(tzinfo=None)


def iso_utc(value: datetime | None) -> str | None:
    return None if value is None else value.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
