"""Start-up of exam delivery that is not a declaration (see ``exam.area()``): the answer-save listeners, the
``exam-sweep`` command (defined by ``sweeper.register_cli``) and the background sweeper."""
from __future__ import annotations


def setup_delivery(app) -> None:
    from .events import install_listeners
    from .sweeper import register_cli, register_periodic

    install_listeners()
    register_cli(app)
    # The deadline sweeper is a periodic task of the background worker (certify worker, or the thread
    # certify serve starts on SQLite), never started by a web request.
    register_periodic()
