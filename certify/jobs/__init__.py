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


def staff_panel(user):
    """Staff home: background jobs queued or running, and those that failed in the last 24 hours."""
    from datetime import timedelta

    from flask import url_for

    from certify.clock import utcnow
    from certify.domain import SECRETARIAT, SUPERVISOR
    from certify.extensions import db
    from certify.staff_home import staff_panel as render

    from .models import ACTIVE_STATES, FAILED, STATE_LABELS, Job
    from .views import percent

    if user.role not in (SECRETARIAT, SUPERVISOR):
        return None
    jobs = db.session.execute(db.select(Job).where(
        Job.state.in_(ACTIVE_STATES) | ((Job.state == FAILED) & (Job.finished_at >= utcnow() - timedelta(days=1))))
        .order_by(Job.id).limit(50)).scalars().all()
    rows = [(job.title or job.kind, url_for("jobs.show", job_id=job.id),
             STATE_LABELS[job.state] + (f" {percent(job)}%" if job.state != FAILED else "")) for job in jobs]
    return render("jobs", "后台任务", rows, empty="没有排队、运行中或近一天失败的后台任务。",
                  more_url=url_for("jobs.index"), more_label="全部后台任务")


def area():
    from certify.area import Area, Step, nav
    from certify.domain import SECRETARIAT, SUPERVISOR

    from . import models  # noqa: F401  (registers the tables)
    from .cli import job_group
    from .views import bp

    return Area(name="jobs", blueprints=[bp], cli_commands=[job_group], setup=_setup,
                nav=[nav([SECRETARIAT, SUPERVISOR], "后台任务", "jobs.index")],
                staff_panels=[Step(40, "jobs.pending", staff_panel)])


def _setup(app) -> None:
    from certify import backup, worker

    app.config.setdefault("JOB_STALE_SECONDS", 60)
    app.config.setdefault("JOB_HEARTBEAT_SECONDS", 10)
    app.config.setdefault("JOB_POLL_SECONDS", 1.0)
    worker.register_cli(app)
    backup.register_cli(app)
