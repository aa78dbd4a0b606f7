"""Start-up of exam delivery that is not a declaration (see ``exam.area()``): the answer-save listeners, the
``exam-sweep`` command (defined by ``sweeper.register_cli``) and the background sweeper."""
from __future__ import annotations


def setup_delivery(app) -> None:
    from .events import install_listeners
    from .sweeper import register_cli, start_sweeper

    install_listeners()
    register_cli(app)
    if app.config.get("EXAM_SWEEPER_ENABLED") and not app.config.get("TESTING"):
        # Started by the first request a server handles, so one-shot CLI commands (demo, imports, exports)
        # never run a sweeper thread beside their own writes.
        @app.before_request
        def _start_exam_sweeper():
            if "exam_sweeper_stop" not in app.extensions:
                start_sweeper(app)
