"""The durable job queue: lifecycle, progress, row errors, cancel, a dead worker's job, claim exclusivity with
two workers, the job page and its JSON, and the foreground CLI."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from certify.clock import utcnow
from certify.extensions import db
from certify.jobs import queue
from certify.jobs.models import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, Job
from certify.models import AuditEntry


@pytest.fixture
def kinds():
    """Test job kinds, removed afterwards."""
    added = []

    def add(name, fn, **options):
        queue.register_kind(name, f"测试任务 {name}", fn, **options)
        added.append(name)

    yield add
    for name in added:
        queue.KINDS.pop(name, None)


def rows_job(ctx, rows: int = 4, bad: list | None = None, fail: bool = False):
    """Processes ``rows`` rows in chunks of one, writing an audit entry per row (the job's real work)."""
    from certify.audit import audit

    for i in range(1, rows + 1):
        if i in (bad or []):
            ctx.error(f"第 {i} 行身份证号无效", row=i, column="身份证号")
        else:
            audit("test.row", target_type="row", target_id=i)
        ctx.progress(i, rows, phase=f"导入第 {i} 行")
    if fail:
        audit("test.row", target_type="row", target_id="uncommitted")
        raise queue.JobFailed("导入失败", [{"row": 0, "message": "文件不完整"}])
    return {"message": f"已处理 {rows} 行", "rows": rows}


def _rows_written(target_id=None):
    q = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "test.row")
    if target_id is not None:
        q = q.where(AuditEntry.target_id == str(target_id))
    return db.session.execute(q).scalar()


def test_job_runs_to_success_with_progress_result_and_row_errors(ctx, kinds):
    seen = []

    def watched(c, **args):
        out = rows_job(c, **args)
        seen.append("ran")
        return out

    kinds("test.rows", watched)
    job = queue.enqueue("test.rows", {"rows": 5, "bad": [3]})
    db.session.commit()
    assert job.state == QUEUED and job.done == 0
    assert queue.run_pending() == [job.id]
    db.session.expire_all()
    job = db.session.get(Job, job.id)
    assert job.state == SUCCEEDED and seen == ["ran"]
    assert (job.done, job.total, job.phase) == (5, 5, "导入第 5 行")
    assert job.result == {"message": "已处理 5 行", "rows": 5} and job.message == "已处理 5 行"
    assert job.errors == [{"row": 3, "column": "身份证号", "message": "第 3 行身份证号无效"}]
    assert job.started_at and job.finished_at and job.claim is None and job.attempts == 1
    assert _rows_written() == 4


def test_failed_job_keeps_committed_chunks_rolls_back_the_rest_and_lists_errors(ctx, kinds):
    kinds("test.rows", rows_job)
    job = queue.enqueue("test.rows", {"rows": 2, "fail": True})
    db.session.commit()
    queue.run_pending()
    db.session.expire_all()
    job = db.session.get(Job, job.id)
    assert job.state == FAILED and job.message == "导入失败"
    assert job.errors == [{"row": 0, "message": "文件不完整"}]
    assert _rows_written() == 2 and _rows_written("uncommitted") == 0


def test_unexpected_exception_fails_the_job_without_a_traceback_on_the_page(ctx, kinds, client, login_as):
    def boom(c):
        raise ZeroDivisionError("secret detail")

    kinds("test.boom", boom)
    job = queue.enqueue("test.boom")
    db.session.commit()
    queue.run_pending()
    login_as("secretariat")
    body = client.get(f"/jobs/{job.id}.json").get_json()
    assert body["state"] == FAILED and "ZeroDivisionError" in body["message"]
    assert "secret detail" not in client.get(f"/jobs/{job.id}").get_data(as_text=True)


def test_cancel_a_queued_job_at_once_and_a_running_one_at_its_next_checkpoint(ctx, kinds):
    def cancels_itself_midway(c, rows: int = 6):
        from certify.audit import audit

        for i in range(1, rows + 1):
            audit("test.row", target_type="row", target_id=i)
            if i == 2:  # the secretariat presses "cancel" (another connection, as the web process would)
                with db.engine.begin() as conn:
                    conn.execute(update(Job).where(Job.id == c.job_id).values(cancel_requested=True))
            c.progress(i, rows)
        return {"rows": rows}

    kinds("test.cancel", cancels_itself_midway)
    queued = queue.enqueue("test.cancel")
    db.session.commit()
    queue.request_cancel(queued)
    db.session.commit()
    assert queued.state == CANCELLED and queued.finished_at is not None
    running = queue.enqueue("test.cancel")
    db.session.commit()
    assert queue.run_pending() == [running.id]  # the cancelled one is never claimed
    db.session.expire_all()
    running = db.session.get(Job, running.id)
    assert running.state == CANCELLED and running.done == 2  # stopped at the checkpoint after row 2
    assert _rows_written() == 2  # chunks reported before the stop are kept, nothing after it ran
    with pytest.raises(queue.JobError) as err:
        queue.request_cancel(running)
    assert err.value.code == "job_finished"


def test_dead_workers_job_is_requeued_when_safe_and_failed_clearly_otherwise(ctx, kinds):
    kinds("test.retry", rows_job, retry_on_crash=True, max_attempts=2)
    kinds("test.once", rows_job)
    t0 = utcnow()
    retry = queue.enqueue("test.retry", {"rows": 1})
    once = queue.enqueue("test.once", {"rows": 1})
    fresh = queue.enqueue("test.once", {"rows": 1})
    for job in (retry, once, fresh):  # a worker took them, then its process was killed
        job.state, job.claim, job.attempts, job.started_at = RUNNING, "dead-host:1:jobs-1:x", 1, t0
        job.heartbeat_at = t0 - timedelta(minutes=5)
    fresh.heartbeat_at = t0  # still beating: left alone
    db.session.commit()
    reaped = queue.reap_stale(now=t0)
    assert reaped == {"requeued": [retry.id], "failed": [once.id]}
    db.session.expire_all()
    once = db.session.get(Job, once.id)
    assert once.state == FAILED and "后台进程已中断" in once.message and once.finished_at is not None
    assert db.session.get(Job, fresh.id).state == RUNNING
    retry = db.session.get(Job, retry.id)
    assert retry.state == QUEUED and "重新排队" in retry.message
    # The dead worker's late write is refused: the job is no longer its own.
    ctx_old = queue.JobContext(retry, "dead-host:1:jobs-1:x")
    with pytest.raises(queue.Cancelled):
        ctx_old.progress(1, 1)
    # A live worker picks the re-queued job up and finishes it.
    assert queue.run_next() == retry.id
    db.session.expire_all()
    retry = db.session.get(Job, retry.id)
    assert retry.state == SUCCEEDED and retry.attempts == 2


def test_two_workers_never_claim_the_same_job(app, ctx, kinds):
    from certify.worker import job_loop

    ran: list[tuple[int, str]] = []
    lock = threading.Lock()

    def record(c, n):
        with lock:
            ran.append((c.job_id, threading.current_thread().name))
        time.sleep(0.01)
        return {"n": n}

    kinds("test.record", record)
    ids = []
    for n in range(24):
        ids.append(queue.enqueue("test.record", {"n": n}).id)
    db.session.commit()
    app.config["JOB_POLL_SECONDS"] = 0.05
    stop = threading.Event()
    workers = [threading.Thread(target=job_loop, args=(app, stop), kwargs={"name": f"w{k}"}, name=f"w{k}")
               for k in range(2)]
    try:
        for w in workers:
            w.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            db.session.expire_all()
            left = db.session.execute(select(func.count()).select_from(Job)
                                      .where(Job.state.in_((QUEUED, RUNNING)))).scalar()
            db.session.rollback()
            if not left:
                break
            time.sleep(0.1)
    finally:
        stop.set()
        for w in workers:
            w.join(30)
        app.config["JOB_POLL_SECONDS"] = 1.0
    assert sorted(job_id for job_id, _ in ran) == sorted(ids)  # each job ran exactly once
    states = db.session.execute(select(Job.state, func.count()).group_by(Job.state)).all()
    assert dict(states) == {SUCCEEDED: 24}


def test_enqueue_refuses_a_second_active_job_with_the_same_key_and_unknown_kinds(ctx, kinds):
    kinds("test.rows", rows_job)
    first = queue.enqueue("test.rows", dedupe_key="round:1")
    with pytest.raises(queue.JobError) as err:
        queue.enqueue("test.rows", dedupe_key="round:1")
    assert err.value.code == "job_running" and err.value.extra["job_id"] == first.id
    with pytest.raises(queue.JobError) as err:
        queue.enqueue("no.such.kind")
    assert err.value.code == "unknown_job_kind"


def test_the_database_holds_one_active_job_per_key_when_two_processes_race(ctx, kinds, monkeypatch):
    kinds("test.rows", rows_job)
    queue.enqueue("test.rows", dedupe_key="round:7")
    db.session.commit()
    monkeypatch.setattr(queue, "active_job", lambda key: None)  # both processes checked before either inserted
    with pytest.raises(queue.JobError) as err:
        queue.enqueue("test.rows", dedupe_key="round:7")
    assert err.value.code == "job_running"
    assert db.session.execute(select(func.count()).select_from(Job)).scalar() == 1
    first = db.session.execute(select(Job)).scalar_one()
    first.state = SUCCEEDED  # once it ended, the key is free again
    db.session.commit()
    queue.enqueue("test.rows", dedupe_key="round:7")
    db.session.commit()


def test_a_dead_workers_job_does_not_block_a_new_one_with_its_key(ctx, kinds):
    kinds("test.rows", rows_job)
    dead = queue.enqueue("test.rows", dedupe_key="round:8")
    dead.state, dead.claim, dead.heartbeat_at = RUNNING, "gone:1", utcnow() - timedelta(minutes=10)
    db.session.commit()
    fresh = queue.enqueue("test.rows", dedupe_key="round:8")
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Job, dead.id).state == FAILED and db.session.get(Job, fresh.id).state == QUEUED


def test_job_page_json_and_cancel_button_by_role(ctx, kinds, client, login_as, make_user):
    kinds("test.rows", rows_job)
    job = queue.enqueue("test.rows", {"rows": 3})
    job.state, job.claim, job.started_at = RUNNING, "w:1", utcnow() - timedelta(seconds=20)
    job.heartbeat_at, job.done, job.total, job.phase = utcnow(), 1, 3, "导入第 1 行"
    db.session.commit()
    login_as("supervisor")
    page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert "测试任务 test.rows" in page and 'id="job-progress"' in page and "取消任务" not in page
    body = client.get(f"/jobs/{job.id}.json").get_json()
    assert (body["state"], body["done"], body["total"], body["percent"], body["phase"]) == \
        (RUNNING, 1, 3, 33, "导入第 1 行")
    assert 30 <= body["eta_seconds"] <= 50  # 20 s for one row, two rows left
    assert client.post(f"/jobs/{job.id}/cancel").status_code == 403
    assert "测试任务 test.rows" in client.get("/jobs/").get_data(as_text=True)
    client.post("/logout")
    login_as("candidate")
    assert client.get(f"/jobs/{job.id}.json").status_code == 403
    client.post("/logout")
    login_as("secretariat")
    assert "取消任务" in client.get(f"/jobs/{job.id}").get_data(as_text=True)
    resp = client.post(f"/jobs/{job.id}/cancel")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/jobs/{job.id}")
    db.session.expire_all()
    assert db.session.get(Job, job.id).cancel_requested is True
    assert client.get("/jobs/99999").status_code == 404


def test_queued_job_page_says_when_no_worker_seems_to_run(ctx, kinds, client, login_as):
    kinds("test.rows", rows_job)
    job = queue.enqueue("test.rows")
    job.created_at = utcnow() - timedelta(minutes=2)
    db.session.commit()
    login_as("secretariat")
    assert "certify worker" in client.get(f"/jobs/{job.id}.json").get_json()["hint"]


def test_cli_runs_a_job_in_the_foreground_with_a_progress_bar(app, ctx, kinds):
    kinds("test.rows", rows_job)
    result = app.test_cli_runner().invoke(args=["job", "run", "test.rows", "--arg", "rows=3"])
    assert result.exit_code == 0, result.output
    assert "测试任务 test.rows" in result.output and "已完成：已处理 3 行" in result.output
    job = db.session.execute(select(Job)).scalar_one()
    assert job.state == SUCCEEDED and job.done == 3
    failed = app.test_cli_runner().invoke(args=["job", "run", "test.rows", "--arg", "rows=1", "--arg", "fail=true"])
    assert failed.exit_code == 1 and "失败：导入失败" in failed.output
    unknown = app.test_cli_runner().invoke(args=["job", "run", "nope"])
    assert unknown.exit_code == 1 and "未知的任务类型" in unknown.output
