"""``certify worker``: the one background process of a deployment — periodic tasks plus the job queue.

- Periodic tasks are registered by the areas (``register_periodic``; the exam deadline sweeper is one, every
  ``EXAM_SWEEP_INTERVAL_SECONDS``). Each runs in its own thread, so a long job never delays a sweep. A task
  that must not run twice at once takes a lease (``certify.jobs.queue.acquire_lease``), so several worker
  processes, or a worker and a cron ``certify exam-sweep``, never sweep side by side.
- Job threads (``--threads``, default 1) claim queued jobs one at a time (see ``certify.jobs``) and re-queue or
  fail the jobs of a worker that died.

Nothing here is started by a web request. A deployment with PostgreSQL runs ``certify worker`` once beside the
web processes; on the embedded SQLite default ``certify serve`` (and ``certify demo --serve``) starts the same
threads inside its own process (``start_embedded``), so a secretariat with one machine runs one command.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .extensions import db

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Periodic:
    name: str
    fn: Callable  # fn(app) -> None, runs outside any app context (pushes its own)
    interval_key: str
    default_interval: float = 5
    enabled_key: str | None = None


PERIODIC: dict[str, Periodic] = {}


def register_periodic(name: str, fn: Callable, *, interval_key: str, default_interval: float = 5,
                      enabled_key: str | None = None) -> None:
    PERIODIC[name] = Periodic(name, fn, interval_key, default_interval, enabled_key)


def _enabled(app, task: Periodic) -> bool:
    return task.enabled_key is None or bool(app.config.get(task.enabled_key))


def _interval(app, task: Periodic) -> float:
    return max(1.0, float(app.config.get(task.interval_key, task.default_interval)))


def periodic_loop(app, task: Periodic, stop: threading.Event) -> None:
    interval = _interval(app, task)
    while not stop.wait(interval):
        try:
            task.fn(app)
        except Exception:  # keep going; the next tick retries
            app.logger.exception("periodic task %s failed", task.name)


def job_loop(app, stop: threading.Event, *, name: str | None = None) -> None:
    """Claim and run jobs until ``stop`` is set; re-queue or fail dead workers' jobs every few seconds."""
    from .jobs import queue

    poll = float(app.config.get("JOB_POLL_SECONDS", 1.0))
    reap_every = max(5.0, float(app.config.get("JOB_STALE_SECONDS", 60)) / 4)
    last_reap = 0.0
    while not stop.is_set():
        job_id = None
        with app.app_context():
            try:
                if time.monotonic() - last_reap >= reap_every:
                    reaped = queue.reap_stale()
                    last_reap = time.monotonic()
                    if reaped["requeued"] or reaped["failed"]:
                        app.logger.warning("jobs of a dead worker: requeued %s, failed %s", reaped["requeued"],
                                           reaped["failed"])
                job_id = queue.run_next(name=name)
            except Exception:
                app.logger.exception("job loop tick failed")
            finally:
                db.session.remove()
        if job_id is None:
            stop.wait(poll)


def start_periodic(app, name: str, stop: threading.Event | None = None) -> threading.Event | None:
    """Start one periodic task's thread (None when the task is disabled by its config)."""
    task = PERIODIC[name]
    if not _enabled(app, task):
        return None
    stop = stop or threading.Event()
    threading.Thread(target=periodic_loop, args=(app, task, stop), name=f"periodic-{name}", daemon=True).start()
    return stop


def start(app, *, periodic: bool = True, jobs: bool = True, threads: int = 1,
          stop: threading.Event | None = None) -> tuple[threading.Event, list[threading.Thread]]:
    """Start the worker's threads; returns the stop event and the threads."""
    stop = stop or threading.Event()
    started = []
    if periodic:
        for task in PERIODIC.values():
            if _enabled(app, task):
                t = threading.Thread(target=periodic_loop, args=(app, task, stop), name=f"periodic-{task.name}",
                                     daemon=True)
                t.start()
                started.append(t)
    if jobs:
        for n in range(max(1, threads)):
            t = threading.Thread(target=job_loop, args=(app, stop), kwargs={"name": f"jobs-{n + 1}"},
                                 name=f"jobs-{n + 1}", daemon=True)
            t.start()
            started.append(t)
    return stop, started


def embedded_wanted(app) -> bool:
    """``CERTIFY_EMBEDDED_WORKER``: ``auto`` (default: on for SQLite, off for PostgreSQL, which runs
    ``certify worker``), ``1`` or ``0``."""
    mode = str(app.config.get("EMBEDDED_WORKER") or os.environ.get("CERTIFY_EMBEDDED_WORKER", "auto")).lower()
    if mode in ("1", "true", "yes", "on"):
        return True
    if mode in ("0", "false", "no", "off"):
        return False
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")


def start_embedded(app) -> threading.Event | None:
    """Called by ``certify serve``: run the worker inside the web process when wanted (once per app)."""
    if not embedded_wanted(app) or "certify_worker_stop" in app.extensions:
        return None
    stop, threads = start(app)
    app.extensions["certify_worker_stop"] = stop
    app.logger.info("embedded worker started: %s", ", ".join(t.name for t in threads))
    return stop


def register_cli(app) -> None:
    import click
    from flask import current_app
    from flask.cli import with_appcontext

    @click.command("worker", help="启动后台进程：考试巡检（到时自动交卷、记缺考）与后台任务队列。每个部署运行一个"
                                  "（可运行多个，巡检同一时刻只有一个在执行，任务不会被重复领取）。"
                                  "内置 SQLite 部署无需单独运行：certify serve 已包含。")
    @click.option("--threads", default=1, show_default=True, type=int, help="并行执行任务的线程数")
    @click.option("--no-periodic", is_flag=True, help="不运行定时任务（考试巡检）")
    @click.option("--no-jobs", is_flag=True, help="不执行后台任务")
    @with_appcontext
    def worker_command(threads, no_periodic, no_jobs):
        app_ = current_app._get_current_object()
        stop = threading.Event()

        def _stop(signum, _frame):
            click.echo(f"收到信号 {signum}，正在停止（当前任务结束后退出）…")
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        _stop_event, threads_ = start(app_, periodic=not no_periodic, jobs=not no_jobs, threads=threads, stop=stop)
        names = ", ".join(t.name for t in threads_) or "（无）"
        click.echo(f"后台进程已启动：{names}（按 Ctrl+C 停止）")
        while not stop.wait(1):
            pass
        deadline = time.monotonic() + 30
        for t in threads_:
            t.join(max(0.1, deadline - time.monotonic()))
        click.echo("后台进程已停止")

    app.cli.add_command(worker_command)
