"""Rendering one section of the staff home page (``/home``): areas call ``staff_panel`` from their
``staff_panels`` functions, so every section looks the same."""
from __future__ import annotations

from flask import render_template


def staff_panel(key: str, title: str, rows: list[tuple[str, str | None, str]], *, empty: str,
                more_url: str | None = None, more_label: str = "") -> str:
    return render_template("core/_staff_panel.html", key=key, title=title, rows=rows, empty=empty,
                           more_url=more_url, more_label=more_label)
