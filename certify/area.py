"""What an area brings to the app, declared once: ``Area``. The factory installs every area's declaration.

Each area package (``question_bank``, ``exam``, ``defense``, ``certify.results``, and the core itself in
``certify.core_area``) has a function ``area() -> Area`` naming its blueprints, Socket.IO namespaces, CLI
commands, exports (``certify export KIND``), demo steps (``certify demo``), navigation entries, candidate
home-page panels, staff home-page panels (``/home``: what is next for the secretariat, supervisors and panelists)
and the home page of the roles it serves. ``install_areas`` registers them on the app and keeps
the declarations in ``app.extensions``; ``certify.registry`` answers the questions the core asks of them
(which export, which demo steps, which nav entries…). Nothing is kept in module globals, so two apps (tests) do
not see each other's registrations.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

EXTENSION = "certify.areas"


class NavEntry(NamedTuple):
    roles: tuple[str, ...]
    label: str
    endpoint: str


class Step(NamedTuple):
    """An ordered, named contribution: a demo step ``fn(context)`` or a candidate panel ``fn(candidate)``."""

    order: int
    name: str
    fn: Callable


def nav(roles: Iterable[str], label: str, endpoint: str) -> NavEntry:
    return NavEntry(tuple(roles), label, endpoint)


@dataclass
class Area:
    name: str
    blueprints: Sequence[Any] = ()
    namespaces: Sequence[Any] = ()  # flask_socketio Namespace instances
    cli_commands: Sequence[Any] = ()  # click commands added to ``certify``
    exports: Mapping[str, Callable] = field(default_factory=dict)  # kind -> fn(round, path)
    demo_steps: Sequence[Step] = ()
    nav: Sequence[NavEntry] = ()
    candidate_panels: Sequence[Step] = ()  # fn(candidate) -> html | None
    slip_rows: Sequence[Step] = ()  # fn(candidate) -> [(label, text)]: lines of the admission slip (准考证)
    staff_panels: Sequence[Step] = ()  # fn(user) -> html | None: what is next, on the staff home page (/home)
    home: Mapping[str, str] = field(default_factory=dict)  # role -> endpoint of that role's home page
    setup: Callable[[Any], None] | None = None  # anything else the area needs at start-up (listeners, threads)


class AreaConflict(RuntimeError):
    """Two areas claim the same export kind, demo step, panel, home role or area name."""


class InstalledAreas:
    """The areas installed on one app, and what the core reads from them."""

    def __init__(self):
        self.areas: list[Area] = []

    def add(self, area: Area) -> None:
        self._check(area)
        self.areas.append(area)

    def remove(self, name: str) -> None:
        self.areas = [a for a in self.areas if a.name != name]

    def _check(self, new: Area) -> None:
        def claims(area: Area) -> set[tuple[str, str]]:
            return ({("area", area.name)} | {("export", k) for k in area.exports}
                    | {("demo step", s.name) for s in area.demo_steps}
                    | {("candidate panel", p.name) for p in area.candidate_panels}
                    | {("slip rows", p.name) for p in area.slip_rows}
                    | {("staff panel", p.name) for p in area.staff_panels}
                    | {("home of", r) for r in area.home})

        taken = set().union(*(claims(a) for a in self.areas)) if self.areas else set()
        clash = sorted(claims(new) & taken)
        if clash:
            raise AreaConflict(f"area {new.name!r} claims what another area already has: {clash}")

    @property
    def exports(self) -> dict[str, Callable]:
        return {kind: fn for a in self.areas for kind, fn in a.exports.items()}

    @property
    def demo_steps(self) -> list[Step]:
        return sorted((s for a in self.areas for s in a.demo_steps), key=lambda s: s.order)

    @property
    def candidate_panels(self) -> list[Step]:
        return sorted((p for a in self.areas for p in a.candidate_panels), key=lambda p: p.order)

    @property
    def slip_rows(self) -> list[Step]:
        return sorted((p for a in self.areas for p in a.slip_rows), key=lambda p: p.order)

    @property
    def staff_panels(self) -> list[Step]:
        return sorted((p for a in self.areas for p in a.staff_panels), key=lambda p: p.order)

    @property
    def home(self) -> dict[str, str]:
        return {role: endpoint for a in self.areas for role, endpoint in a.home.items()}

    @property
    def nav(self) -> dict[str, list[tuple[str, str]]]:
        """role -> [(label, endpoint)] in area order (what ``base.html`` shows as ``NAV``)."""
        out: dict[str, list[tuple[str, str]]] = {}
        for a in self.areas:
            for entry in a.nav:
                for role in entry.roles:
                    items = out.setdefault(role, [])
                    if (entry.label, entry.endpoint) not in items:
                        items.append((entry.label, entry.endpoint))
        return out


def install_area(app, area: Area) -> None:
    """Register one area's parts on ``app`` (blueprints, namespaces, commands, its setup hook)."""
    from .extensions import socketio

    installed: InstalledAreas = app.extensions.setdefault(EXTENSION, InstalledAreas())
    installed.add(area)
    for blueprint in area.blueprints:
        app.register_blueprint(blueprint)
    for namespace in area.namespaces:
        socketio.on_namespace(namespace)
    for command in area.cli_commands:
        app.cli.add_command(command)
    if area.setup is not None:
        area.setup(app)


def install_areas(app, modules: Iterable[str]) -> None:
    """The factory's one call: the URL converters, then each module's ``area()`` in order, then ``NAV``."""
    from .web import register_converters

    register_converters(app)  # before any blueprint whose rules use ``<round:…>``
    for module in modules:
        install_area(app, importlib.import_module(module).area())
    installed: InstalledAreas = app.extensions[EXTENSION]
    app.jinja_env.globals["NAV"] = _LiveNav(installed)
    app.jinja_env.globals["slip_rows"] = _slip_rows


def _slip_rows(candidate) -> list[tuple[str, str]]:
    """``slip_rows(candidate)`` in templates: the admission slip's lines from the installed areas."""
    from .registry import slip_rows

    return slip_rows(candidate)


class _LiveNav:
    """``NAV.get(role, [])`` in templates, always reflecting the installed areas."""

    def __init__(self, installed: InstalledAreas):
        self._installed = installed

    def get(self, role, default=None):
        return self._installed.nav.get(role, default)
