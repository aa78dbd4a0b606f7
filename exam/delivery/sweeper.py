"""The deadline sweeper: closes and grades overdue attempts (auto-submitted) even when no browser is open,
and records never-started candidates absent once a session has closed.

It is a periodic task of the background worker (``certify worker``, or the thread ``certify serve`` starts on
the embedded SQLite default), never of a web request. One sweep runs at a time across every process: a sweep
first takes the ``exam-sweep`` lease (``certify.jobs.queue.acquire_lease``) and a process that finds it held
skips its tick. Under the lease attempts and sessions are still claimed with conditional updates
(``UPDATE … WHERE state = 'in_progress' AND deadline_at < cutoff``), so nothing is graded twice even if a
sweep outlived its lease.
"""
from __future__ import annotations

from certify.extensions import db
from certify.uow import unit_of_work

LEASE = "exam-sweep"
LEASE_SECONDS = 120  # longer than any sweep (at most 500 attempts); a crashed holder blocks sweeps this long


def sweep_once(app, *, holder: str | None = None) -> dict:
    """One sweep in its own app context and transaction. ``skipped`` is true when another process held the
    lease (it is sweeping right now)."""
    from certify.jobs.queue import acquire_lease, release_lease, worker_name

    from . import operations as ops

    holder = holder or worker_name()
    with app.app_context():
        try:
            if not acquire_lease(LEASE, holder, LEASE_SECONDS):
                return {"closed": [], "absent": {}, "skipped": True}
            try:
                with unit_of_work():
                    result = ops.sweep()
            finally:
                release_lease(LEASE, holder)
            return {**result, "skipped": False}
        finally:
            db.session.remove()


def sweep_tick(app) -> None:
    """The worker's periodic task."""
    result = sweep_once(app)
    if result["closed"] or result["absent"]:
        app.logger.info("exam sweep: closed %d attempts, absentees %s", len(result["closed"]), result["absent"])


def register_periodic() -> None:
    from certify.worker import register_periodic as register

    register("exam-sweep", sweep_tick, interval_key="EXAM_SWEEP_INTERVAL_SECONDS", default_interval=5,
             enabled_key="EXAM_SWEEPER_ENABLED")


def start_sweeper(app):
    """Start only the sweeper's thread (EXAM_SWEEPER_ENABLED, every EXAM_SWEEP_INTERVAL_SECONDS); None when
    disabled. ``certify worker`` and ``certify serve`` start it with the other worker threads."""
    from certify.worker import start_periodic

    return start_periodic(app, "exam-sweep")


def register_cli(app) -> None:
    import click
    from flask import current_app
    from flask.cli import with_appcontext

    @click.command("exam-sweep", help="立即执行一次考试巡检：到时未交卷的作答自动交卷并评分，"
                                     "考试结束后未参加者记为缺考。"
                                     "（后台进程 certify worker 已定时巡检；本命令供定时任务或手动补跑。）")
    @with_appcontext
    def exam_sweep_command():
        result = sweep_once(current_app._get_current_object())
        if result["skipped"]:
            click.echo("另一个进程正在巡检，本次跳过")
            return
        absent = sum(result["absent"].values())
        click.echo(f"已自动交卷 {len(result['closed'])} 份作答；记为缺考 {absent} 人")

    app.cli.add_command(exam_sweep_command)
