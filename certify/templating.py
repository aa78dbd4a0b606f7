"""Jinja filters and globals shared by every template."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from flask import current_app

from .clock import to_local
from .domain import COMPONENT_LABELS, ROLE_LABELS, mask_id_number


def half_up(value, places: int = 2) -> str:
    """Round half-up for display ('' for None)."""
    if value is None or value == "":
        return ""
    q = Decimal(1).scaleb(-places)
    return str(Decimal(str(value)).quantize(q, rounding=ROUND_HALF_UP))


def localtime(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    return to_local(value, current_app.config["DISPLAY_TIMEZONE"]).strftime(fmt)


def register_template_helpers(app) -> None:
    app.jinja_env.filters["score"] = half_up
    app.jinja_env.filters["localtime"] = localtime
    app.jinja_env.filters["mask_id"] = mask_id_number
    app.jinja_env.globals["ROLE_LABELS"] = ROLE_LABELS
    app.jinja_env.globals["COMPONENT_LABELS"] = COMPONENT_LABELS
    app.jinja_env.globals["NAV"] = NAV


# Navigation entries per role, filled by areas: role -> [(label, endpoint)]
NAV: dict[str, list[tuple[str, str]]] = {}


def add_nav(roles, label: str, endpoint: str) -> None:
    for role in roles:
        entries = NAV.setdefault(role, [])
        if (label, endpoint) not in entries:
            entries.append((label, endpoint))
