"""Wires exam delivery into the app: candidate pages, the JSON API and its OpenAPI description, the live
monitor, errata and regrading, the Socket.IO namespace, the sweeper, nav entries and the candidate panel."""
from __future__ import annotations


def init_delivery(app) -> None:
    from certify.domain import CANDIDATE, SECRETARIAT, SUPERVISOR
    from certify.registry import register_candidate_panel
    from certify.templating import add_nav

    from . import api, candidate, errata, monitor
    from .events import init_events
    from .sweeper import register_cli, register_periodic
    app.register_blueprint(api.bp)
    app.register_blueprint(candidate.bp)
    app.register_blueprint(monitor.bp)
    app.register_blueprint(errata.bp)
    init_events()
    add_nav([CANDIDATE], "我的考试", "exam.my_sessions")
    add_nav([SECRETARIAT, SUPERVISOR], "考试监控", "exam_monitor.index")
    register_candidate_panel(20, "exam.sessions", candidate.candidate_panel)
    register_cli(app)
    # The deadline sweeper is a periodic task of the background worker (certify worker, or the thread
    # certify serve starts on SQLite), never started by a web request.
    register_periodic()
