"""Background jobs: a durable queue in the application database, run by ``certify worker``.

Why a database table and not RQ/Celery on Redis: a job and its progress must survive a restart of anything but
the database. The Redis this platform runs keeps nothing on disk (it is a Socket.IO relay and a rate-limit
store), so a queue there loses queued and running jobs, and their outcome, on every Redis restart. The table
also works the same on the embedded SQLite default, where there is no Redis at all: one mechanism for both
databases, readable by the web pages with the same session that reads everything else, transactional with the
operation that enqueues it (a job queued in a rolled-back request never runs).

- ``queue.register_kind(name, title, fn)`` declares a kind; ``queue.enqueue(kind, args, ...)`` queues one.
- ``certify worker`` (``certify.worker``) claims jobs atomically (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, one
  conditional ``UPDATE`` on SQLite), beats a heartbeat while running them, and re-queues or fails the jobs of
  a worker that died (stale heartbeat).
- ``/jobs/<id>`` shows a job (progress bar, rows done/total, phase, time left, result or row errors) and lets
  the secretariat cancel it; ``certify job run KIND`` runs one in the foreground with a progress bar.
"""
from __future__ import annotations


def area():
    from certify.area import Area, nav
    from certify.domain import SECRETARIAT, SUPERVISOR

    from . import models  # noqa: F401  (registers the tables)
    from .cli import job_group
    from .views import bp

    return Area(name="jobs", blueprints=[bp], cli_commands=[job_group], setup=_setup,
                nav=[nav([SECRETARIAT, SUPERVISOR], "后台任务", "jobs.index")])


def _setup(app) -> None:
    from certify import backup, worker

    app.config.setdefault("JOB_STALE_SECONDS", 60)
    app.config.setdefault("JOB_HEARTBEAT_SECONDS", 10)
    app.config.setdefault("JOB_POLL_SECONDS", 1.0)
    worker.register_cli(app)
    backup.register_cli(app)
