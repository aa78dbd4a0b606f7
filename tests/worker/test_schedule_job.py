"""The defense scheduler runs as a background job: queued by the secretariat's button, run by a worker thread
(as ``certify serve``/``certify worker`` do), mirrored on the schedule page, cancellable, and runnable in the
foreground from the CLI."""
from __future__ import annotations

import time

from sqlalchemy import func, select

from certify.extensions import db
from certify.jobs import queue
from certify.jobs.models import CANCELLED, FAILED, SUCCEEDED, Job
from defense.schedule import operations as ops
from tests.defense.test_schedule_flow import HEADER, setup_round


def _wait_done(client, code, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/defense/admin/{code}/schedule/status").get_json()
        if status["state"] != "running":
            return status
        time.sleep(0.2)
    raise AssertionError("the scheduling job did not finish")


def test_secretariat_button_queues_a_job_that_a_worker_thread_runs(app, client, login_as, rnd, cands):
    from certify import worker

    setup_round(rnd, cands)
    login_as("secretariat")
    assert client.post(f"/defense/admin/{rnd.code}/schedule/run").status_code == 302
    again = client.post(f"/defense/admin/{rnd.code}/schedule/run", follow_redirects=True)
    assert "排程任务正在进行中" in again.get_data(as_text=True)  # one job per round while it is queued
    assert db.session.execute(select(func.count()).select_from(Job)).scalar() == 1
    db.session.rollback()
    app.config["JOB_POLL_SECONDS"] = 0.1
    stop, threads = worker.start(app, periodic=False)
    try:
        status = _wait_done(client, rnd.code)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        app.config["JOB_POLL_SECONDS"] = 1.0
    assert status["state"] == "done" and status["progress"] == 100 and "9 名考生" in status["message"]
    job = client.get(f"/jobs/{status['job_id']}.json").get_json()
    assert job["state"] == SUCCEEDED and job["result"]["candidates"] == 9 and job["percent"] == 100
    assert job["result_url"].endswith(f"/defense/admin/{rnd.code}/schedule")
    assert "查看结果" in client.get(f"/jobs/{status['job_id']}").get_data(as_text=True)
    db.session.expire_all()
    assert len(ops.round_assignments(rnd)) == 9


def test_infeasible_round_fails_the_job_with_the_reasons_as_row_errors(client, login_as, rnd, cands):
    rows = [HEADER] + [[f"专家{k}", f"学校{k % 4}", "", "", "唯一组", "是" if k == 0 else "否"] for k in range(4)]
    setup_round(rnd, cands, rows=rows)
    login_as("secretariat")
    client.post(f"/defense/admin/{rnd.code}/schedule/run")
    assert len(queue.run_pending()) == 1
    status = client.get(f"/defense/admin/{rnd.code}/schedule/status").get_json()
    assert status["state"] == "failed" and "与每个答辩组都有回避冲突" in status["message"]
    job = client.get(f"/jobs/{status['job_id']}.json").get_json()
    assert job["state"] == FAILED and job["message"] == "无法排程"
    assert any("与每个答辩组都有回避冲突" in e["message"] for e in job["errors"])
    assert not ops.round_assignments(rnd)


def test_cancelling_a_queued_schedule_job_resets_the_schedule_page(client, login_as, rnd, cands):
    setup_round(rnd, cands)
    login_as("secretariat")
    client.post(f"/defense/admin/{rnd.code}/schedule/run")
    job_id = client.get(f"/defense/admin/{rnd.code}/schedule/status").get_json()["job_id"]
    client.post(f"/jobs/{job_id}/cancel")
    assert client.get(f"/jobs/{job_id}.json").get_json()["state"] == CANCELLED
    db.session.expire_all()
    row = ops.get_schedule(rnd, create=False)
    assert not ops.job_running(row) and (row.job_state, row.job_message) == ("idle", "排程任务已取消")
    assert queue.run_pending() == []


def test_cli_runs_the_scheduler_job_in_the_foreground(app, rnd, cands):
    setup_round(rnd, cands)
    result = app.test_cli_runner().invoke(args=["job", "run", "defense.schedule", "--round", rnd.code,
                                                "--arg", "time_limit=5"])
    assert result.exit_code == 0, result.output
    assert "已为 9 名考生排定答辩" in result.output
    db.session.expire_all()
    assert len(ops.round_assignments(rnd)) == 9
    assert ops.get_schedule(rnd).job_state == "done"
