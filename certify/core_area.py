"""Wires the core (accounts, rounds, roster, admission slips, CLI, demo) into the app."""
from __future__ import annotations


def init_app(app):
    from . import rounds_views, views
    from .web import register_converters

    register_converters(app)  # before any blueprint whose rules use ``<round:…>``
    from .cli import CORE_COMMANDS
    from .domain import CANDIDATE, SECRETARIAT, SUPERVISOR
    from .registry import register_demo_step
    from .templating import add_nav

    app.register_blueprint(views.bp)
    app.register_blueprint(rounds_views.bp)
    for command in CORE_COMMANDS:
        app.cli.add_command(command)

    views.register_home(SECRETARIAT, "rounds.index")
    views.register_home(SUPERVISOR, "rounds.index")
    views.register_home(CANDIDATE, "core.candidate_home")
    add_nav([SECRETARIAT, SUPERVISOR], "认证轮次", "rounds.index")
    add_nav([CANDIDATE], "我的主页", "core.candidate_home")
    add_nav([CANDIDATE], "准考证", "core.my_slip")

    from .demo_core import demo_accounts, demo_candidates

    register_demo_step(10, "core.accounts", demo_accounts)
    register_demo_step(20, "core.candidates", demo_candidates)
