"""What the core reads from the installed areas (``certify.area``): exports, demo steps, candidate panels, homes.

Each function answers for ``app`` (default: the current app).
"""
from __future__ import annotations

from collections.abc import Callable

from flask import current_app

from .area import EXTENSION, InstalledAreas, Step


def installed(app=None) -> InstalledAreas:
    app = app or current_app
    return app.extensions.setdefault(EXTENSION, InstalledAreas())


def exports(app=None) -> dict[str, Callable]:
    """kind -> fn(round, path) writing the export (``certify export KIND --round CODE FILE``)."""
    return installed(app).exports


def demo_steps(app=None) -> list[Step]:
    """(order, name, fn(context)) in order; steps may print demo logins via ``context["print"]``."""
    return installed(app).demo_steps


def candidate_panels(app=None) -> list[Step]:
    """(order, name, fn(candidate) -> html | None): the sections of the candidate's home page, in order."""
    return installed(app).candidate_panels


def slip_rows(candidate, app=None) -> list[tuple[str, str]]:
    """The lines other areas add to a candidate's admission slip (exam window and place, defense slot and place),
    in area order."""
    rows: list[tuple[str, str]] = []
    for _order, _name, fn in installed(app).slip_rows:
        rows.extend(fn(candidate) or ())
    return rows


def staff_panels(app=None) -> list[Step]:
    """(order, name, fn(user) -> html | None): the sections of the staff home page (secretariat, supervisor,
    panelist), in order; a section returns None for a role it does not serve."""
    return installed(app).staff_panels


def home_endpoint(role: str, app=None) -> str | None:
    """The endpoint a role's home page redirects to (None: the generic home page)."""
    return installed(app).home.get(role)
