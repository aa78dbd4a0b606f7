"""Start-up of exam delivery that is not a declaration (see ``exam.area()``): the ``exam-sweep`` command (defined by
``sweeper.register_cli``) and the sweeper as a periodic task of the background worker. Notices need no listener:
operations queue them on ``certify.realtime``, which the unit of work flushes after commit."""
from __future__ import annotations


def setup_delivery(app) -> None:
    from .sweeper import register_cli, register_periodic

    register_cli(app)
    # The deadline sweeper is a periodic task of the background worker (certify worker, or the thread
    # certify serve starts on SQLite), never started by a web request.
    register_periodic()
