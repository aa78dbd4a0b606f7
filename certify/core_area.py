"""Wires the core (accounts, rounds, roster, CLI) into the app."""
from __future__ import annotations


def init_app(app):
    from . import views
    from .cli import CORE_COMMANDS
    from .registry import register_demo_step

    app.register_blueprint(views.bp)
    for command in CORE_COMMANDS:
        app.cli.add_command(command)
    from .demo_core import demo_accounts

    register_demo_step(10, "core.accounts", demo_accounts)
