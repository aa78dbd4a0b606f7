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
