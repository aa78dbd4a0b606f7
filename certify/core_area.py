"""The core as an area: accounts, rounds, roster, admission slips, the CLI and the first demo steps."""
from __future__ import annotations


def area():
    from . import export_job, rounds_views, views
    from .area import Area, Step, nav
    from .cli import CORE_COMMANDS
    from .demo_core import demo_accounts, demo_candidates
    from .domain import CANDIDATE, PANELIST, SECRETARIAT, SUPERVISOR

    return Area(
        name="core",
        blueprints=[views.bp, rounds_views.bp, export_job.bp],
        cli_commands=CORE_COMMANDS,
        home={SECRETARIAT: "core.staff_home", SUPERVISOR: "core.staff_home", PANELIST: "core.staff_home",
              CANDIDATE: "core.candidate_home"},
        nav=[nav([SECRETARIAT, SUPERVISOR], "认证轮次", "rounds.index"),
             nav([SECRETARIAT], "账号管理", "core.staff"),
             nav([CANDIDATE], "我的主页", "core.candidate_home"),
             nav([CANDIDATE], "准考证", "core.my_slip")],
        demo_steps=[Step(10, "core.accounts", demo_accounts), Step(20, "core.candidates", demo_candidates)],
        setup=_setup,
    )


def _setup(app) -> None:
    from .export_job import register as register_export_job
    from .roster_job import register

    register()  # a large roster import as a background job kind
    register_export_job()  # a whole-round export of a large round as a background job kind
