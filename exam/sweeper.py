"""The background sweeper: closes and grades overdue attempts (auto-submitted) even when no browser is open,
and records never-started candidates absent once a session has closed.

One daemon thread per process, each tick in its own app context. Safe with several processes: attempts and
sessions are claimed with ``UPDATE … WHERE state = 'in_progress' AND deadline_at < cutoff`` (and
``absentees_recorded_at IS NULL``), so each is closed by exactly one process.
"""
from __future__ import annotations

import threading

from certify.extensions import db
from certify.uow import unit_of_work

_started: set[int] = set()
_lock = threading.Lock()


def sweep_once(app) -> dict:
    from . import operations as ops

    with app.app_context():
        try:
            with unit_of_work():  # one transaction: commit + notices on success, rollback on error
                return ops.sweep()
        finally:
            db.session.remove()


def _loop(app, interval: float, stop: threading.Event) -> None:
    while not stop.wait(interval):
        try:
            result = sweep_once(app)
            if result["closed"] or result["absent"]:
                app.logger.info("exam sweep: closed %d attempts, absentees %s", len(result["closed"]),
                                result["absent"])
        except Exception:  # keep sweeping; the next tick retries
            app.logger.exception("exam sweep failed")


def start_sweeper(app) -> threading.Event | None:
    """Start the sweeper thread for this app once (EXAM_SWEEPER_ENABLED, every EXAM_SWEEP_INTERVAL_SECONDS)."""
    if not app.config.get("EXAM_SWEEPER_ENABLED"):
        return None
    with _lock:
        if id(app) in _started:
            return None
        _started.add(id(app))
    stop = threading.Event()
    interval = max(1, int(app.config.get("EXAM_SWEEP_INTERVAL_SECONDS", 5)))
    thread = threading.Thread(target=_loop, args=(app, interval, stop), name="exam-sweeper", daemon=True)
    thread.start()
    app.extensions["exam_sweeper_stop"] = stop
    return stop


def register_cli(app) -> None:
    import click
    from flask import current_app
    from flask.cli import with_appcontext

    @click.command("exam-sweep", help="立即执行一次考试巡检：到时未交卷的作答自动交卷并评分，考试结束后未参加者记为缺考。"
                                     "（多进程部署可关闭后台巡检线程，改由定时任务运行本命令。）")
    @with_appcontext
    def exam_sweep_command():
        result = sweep_once(current_app._get_current_object())
        absent = sum(result["absent"].values())
        click.echo(f"已自动交卷 {len(result['closed'])} 份作答；记为缺考 {absent} 人")

    app.cli.add_command(exam_sweep_command)
