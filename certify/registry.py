"""Extension points the areas fill in their ``init_app``: demo steps and exports for the CLI."""
from __future__ import annotations

from typing import Callable

# kind -> fn(round, path) writing the export (``certify export KIND --round CODE FILE``)
EXPORTS: dict[str, Callable] = {}
# (order, name, fn(context: dict) -> None); steps may print demo logins via context["print"]
DEMO_STEPS: list[tuple[int, str, Callable]] = []


def register_export(kind: str, fn: Callable) -> None:
    EXPORTS[kind] = fn


def register_demo_step(order: int, name: str, fn: Callable) -> None:
    if all(existing != name for _, existing, _ in DEMO_STEPS):
        DEMO_STEPS.append((order, name, fn))
        DEMO_STEPS.sort(key=lambda s: s[0])

# (order, name, fn(candidate) -> str | None): sections of the candidate's home page (exam sessions, defense
# slot, results…). Each area renders its own section (``render_template`` of its own partial) or returns None.
CANDIDATE_PANELS: list[tuple[int, str, Callable]] = []


def register_candidate_panel(order: int, name: str, fn: Callable) -> None:
    if all(existing != name for _, existing, _ in CANDIDATE_PANELS):
        CANDIDATE_PANELS.append((order, name, fn))
        CANDIDATE_PANELS.sort(key=lambda s: s[0])
