"""The running app's display time zone, read from its config (needs Flask, so it lives outside certify.clock)."""
from __future__ import annotations

from flask import current_app, has_app_context

from . import clock


def app_display_timezone() -> str | None:
    """The app's DISPLAY_TIMEZONE inside an app context; None (clock's default) outside one."""
    return current_app.config.get("DISPLAY_TIMEZONE", clock.DEFAULT_TIMEZONE) if has_app_context() else None


def install() -> None:
    clock.set_display_zone_source(app_display_timezone)
