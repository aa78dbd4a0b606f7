"""The deadline sweeper as a worker task: one sweep at a time across workers, each overdue attempt graded
exactly once, never started by a web request; the worker starts inside ``certify serve`` on SQLite."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import time_machine
from sqlalchemy import func, select

from certify.clock import utcnow
from certify.extensions import db
from certify.jobs.queue import acquire_lease, release_lease
from certify.models import AuditEntry, ComponentScore
from exam.delivery import operations as ops
from exam.models import AUTO_SUBMITTED


def test_lease_is_held_by_one_holder_until_released_or_expired(ctx):
    t0 = utcnow()
    assert acquire_lease("exam-sweep", "a", 60, now=t0)
    assert not acquire_lease("exam-sweep", "b", 60, now=t0 + timedelta(seconds=30))
    assert acquire_lease("exam-sweep", "a", 60, now=t0 + timedelta(seconds=30))  # the holder renews
    release_lease("exam-sweep", "a")
    assert acquire_lease("exam-sweep", "b", 60, now=t0)
    assert acquire_lease("exam-sweep", "c", 60, now=t0 + timedelta(seconds=61))  # b died: expired


def test_two_worker_sweepers_run_one_sweep_at_a_time_and_grade_each_attempt_once(app, make_exam_session,
                                                                               monkeypatch):
    from exam.delivery.sweeper import sweep_once

    session = make_exam_session(candidates=6, duration=30)
    t0 = utcnow().replace(microsecond=0)
    with time_machine.travel(t0, tick=False):
        attempts = [ops.start_attempt(session, cand)[0] for cand in session.candidates_made]
        db.session.commit()
    ids = sorted(a.id for a in attempts)
    deadline = max(a.deadline_at for a in attempts)
    db.session.remove()

    running, peak, sweeps = [0], [0], []
    lock = threading.Lock()
    real_sweep = ops.sweep

    def slow_sweep(**kwargs):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            time.sleep(0.05)  # long enough that an unguarded second sweeper would overlap
            result = real_sweep(**kwargs)
            sweeps.append(result)
            return result
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(ops, "sweep", slow_sweep)
    results: list[dict] = []
    errors: list[BaseException] = []

    def worker(name):
        try:
            for _ in range(8):
                results.append(sweep_once(app, holder=name))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    with time_machine.travel(deadline + timedelta(minutes=2), tick=True):
        threads = [threading.Thread(target=worker, args=(f"worker-{k}",)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert not errors, errors
    assert peak[0] == 1  # never two sweeps at once
    assert any(r["skipped"] for r in results)  # the other worker found the lease held
    closed = sorted(i for r in results for i in r["closed"])
    assert closed == ids  # every overdue attempt closed, none twice
    with app.app_context():
        assert all(db.session.get(ops.Attempt, i).state == AUTO_SUBMITTED for i in ids)
        graded = db.session.execute(select(AuditEntry.target_id, func.count()).where(
            AuditEntry.action == f"exam.attempt.{AUTO_SUBMITTED}").group_by(AuditEntry.target_id)).all()
        assert sorted((int(t), n) for t, n in graded) == [(i, 1) for i in ids]
        scores = db.session.execute(select(func.count()).select_from(ComponentScore).where(
            ComponentScore.component == "exam")).scalar()
        assert scores == len(ids)


def test_exam_sweep_command_skips_while_another_process_sweeps(app, ctx):
    assert acquire_lease("exam-sweep", "other-host:99:periodic-exam-sweep", 60)
    result = app.test_cli_runner().invoke(args=["exam-sweep"])
    assert result.exit_code == 0 and "另一个进程正在巡检" in result.output
    release_lease("exam-sweep", "other-host:99:periodic-exam-sweep")
    result = app.test_cli_runner().invoke(args=["exam-sweep"])
    assert "已自动交卷 0 份作答" in result.output


def test_no_web_request_starts_a_sweeper(app, client):
    names_before = {t.name for t in threading.enumerate()}
    old = app.config["EXAM_SWEEPER_ENABLED"]
    app.config["EXAM_SWEEPER_ENABLED"] = True
    try:
        client.get("/login")
    finally:
        app.config["EXAM_SWEEPER_ENABLED"] = old
    started = {t.name for t in threading.enumerate()} - names_before
    assert not any("sweep" in name for name in started)
    assert "certify_worker_stop" not in app.extensions and "exam_sweeper_stop" not in app.extensions


def test_serve_starts_the_embedded_worker_on_sqlite_only(app, monkeypatch):
    from certify import cli, gunicorn_conf, worker

    started = []
    monkeypatch.setattr(cli, "upgrade_database", lambda: None)
    monkeypatch.setattr(cli.os, "execv", lambda exe, argv: started.append(("serve", argv[-1])))
    monkeypatch.setattr(worker, "start", lambda app_, **k: (started.append(("worker", k)) or
                                                             (threading.Event(), [])))
    monkeypatch.delenv("CERTIFY_EMBEDDED_WORKER", raising=False)
    sqlite = app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    result = app.test_cli_runner().invoke(args=["serve", "--port", "5999"])
    assert result.exit_code == 0, result.output
    assert started == [("serve", "from certify.gunicorn_conf import run_embedded; run_embedded('127.0.0.1', 5999)")]
    started.clear()
    assert gunicorn_conf.embedded_app(app) is app  # what the gunicorn worker of certify serve loads
    app.extensions.pop("certify_worker_stop", None)
    assert started == ([("worker", {})] if sqlite else [])
    assert worker.embedded_wanted(app) is sqlite
    app.config["EMBEDDED_WORKER"] = "0"
    try:
        assert worker.embedded_wanted(app) is False
    finally:
        app.config.pop("EMBEDDED_WORKER")


def test_worker_threads_start_the_sweeper_only_when_enabled(app):
    from certify import worker

    stop, threads = worker.start(app, jobs=False)
    stop.set()
    assert threads == []  # EXAM_SWEEPER_ENABLED is off in tests
    app.config["EXAM_SWEEPER_ENABLED"] = True
    try:
        stop, threads = worker.start(app, jobs=True)
        assert sorted(t.name for t in threads) == ["jobs-1", "periodic-exam-sweep"]
    finally:
        stop.set()
        app.config["EXAM_SWEEPER_ENABLED"] = False
        for t in threads:
            t.join(10)
