"""Results: work-record import, totals, ranking, certification by ratio, publication, complaints; the audit view."""


def area():
    from certify import audit_views
    from certify.area import Area, Step, nav
    from certify.domain import CANDIDATE, SECRETARIAT, SUPERVISOR

    from . import models  # noqa: F401  (registers the tables)
    from .cli import COMMANDS
    from .demo import demo_records
    from .exports import export_publicity, export_results
    from .routes import bp, candidate_panel, complaints_panel

    return Area(
        name="results",
        blueprints=[bp, audit_views.bp],
        cli_commands=[*COMMANDS, audit_views.audit_cli],
        exports={"results": export_results, "publicity": export_publicity},
        demo_steps=[Step(80, "results.demo", demo_records)],
        candidate_panels=[Step(40, "results", candidate_panel)],
        staff_panels=[Step(35, "results.complaints", complaints_panel)],
        nav=[nav((SECRETARIAT, SUPERVISOR), "成绩", "results.index"),
             nav((SECRETARIAT, SUPERVISOR), "审计日志", "audit.index"),
             nav((CANDIDATE,), "我的成绩", "results.mine")],
        setup=_setup,
    )


def _setup(app) -> None:
    """The background job kinds: a large work-record import, a large level's 确认并冻结, large rounds' exports."""
    from .exports import register_exporters
    from .job import register as register_confirm_job
    from .records_job import register

    register()
    register_confirm_job()
    register_exporters()
