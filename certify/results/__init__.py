"""Results: work-record import, totals, ranking, certification by ratio, publication, complaints; the audit view."""


def init_app(app):
    from certify import audit_views
    from certify.domain import CANDIDATE, SECRETARIAT, SUPERVISOR
    from certify.registry import register_candidate_panel, register_demo_step, register_export
    from certify.templating import add_nav

    from . import models  # noqa: F401  (registers the tables)
    from .cli import COMMANDS
    from .demo import demo_records
    from .exports import export_publicity, export_results
    from .routes import bp, candidate_panel

    app.register_blueprint(bp)
    audit_views.init_audit_views(app)
    for command in COMMANDS:
        app.cli.add_command(command)
    register_export("results", export_results)
    register_export("publicity", export_publicity)
    register_demo_step(80, "results.demo", demo_records)
    register_candidate_panel(40, "results", candidate_panel)
    add_nav((SECRETARIAT, SUPERVISOR), "成绩", "results.index")
    add_nav((SECRETARIAT, SUPERVISOR), "审计日志", "audit.index")
    add_nav((CANDIDATE,), "我的成绩", "results.mine")
