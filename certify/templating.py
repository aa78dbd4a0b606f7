"""Jinja filters and globals shared by every template."""
from __future__ import annotations

from .clock import to_local
from .domain import COMPONENT_LABELS, ROLE_LABELS, can_see_full_ids, mask_id_number
from .domain import half_up as _half_up


def score_text(value, places: int = 2) -> str:
    """The ``score`` filter: half-up for display ('' for None)."""
    if value is None or value == "":
        return ""
    return str(_half_up(value, places))


def localtime(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    return to_local(value).strftime(fmt)


def id_for_viewer(id_number: str | None) -> str:
    """The ``id_for_viewer`` filter: the whole ID number for the secretariat, masked for everyone else."""
    from flask_login import current_user

    return (id_number or "") if can_see_full_ids(current_user) else mask_id_number(id_number)


def register_template_helpers(app) -> None:
    app.jinja_env.filters["score"] = score_text
    app.jinja_env.filters["localtime"] = localtime
    app.jinja_env.filters["mask_id"] = mask_id_number
    app.jinja_env.filters["id_for_viewer"] = id_for_viewer
    app.jinja_env.globals["ROLE_LABELS"] = ROLE_LABELS
    app.jinja_env.globals["COMPONENT_LABELS"] = COMPONENT_LABELS
