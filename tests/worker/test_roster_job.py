"""A large roster import as a background job (``certify.roster_job``): above the threshold the page stages the file
and asks for a confirmation, which queues the job; the job reports rows done / total per committed chunk, fails
with every row error and nothing written, and a cancel, a failure or a dead worker mid-way leaves the roster as it
was. At or below the threshold the page imports at once, as before."""
from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from certify import roster, roster_job
from certify.clock import utcnow
from certify.extensions import db
from certify.jobs import queue
from certify.jobs.models import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, Job
from certify.models import AuditEntry, Candidate, User
from tests.core.conftest import csv_bytes, person


@pytest.fixture
def small_jobs(app, monkeypatch):
    """Files of more than 3 rows go to the worker, which writes 2 rows per chunk."""
    before = app.config.get("ROSTER_JOB_MIN_ROWS")
    app.config["ROSTER_JOB_MIN_ROWS"] = 3
    monkeypatch.setattr(roster, "INSERT_CHUNK", 2)
    yield
    app.config["ROSTER_JOB_MIN_ROWS"] = before if before is not None else roster_job.DEFAULT_JOB_MIN_ROWS


def _count(model, *where) -> int:
    return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar()


def _upload(client, rnd, rows, name="名单.csv"):
    return client.post(f"/rounds/{rnd.code}/roster", data={"file": (io.BytesIO(csv_bytes(rows)), name)},
                       content_type="multipart/form-data")


def _staged_token(html: str) -> str:
    match = re.search(r'name="token"[^>]*value="([^"]+)"', html) or re.search(r'value="([^"]+)"[^>]*name="token"', html)
    assert match, "no confirmation form on the page"
    return match.group(1)


def _staged_files(app, job: Job) -> list[str]:
    """The staged upload of a job (its data and its metadata file) while it is kept."""
    folder = Path(app.instance_path) / "uploads"
    return sorted(p.name for p in folder.glob(f"roster-{job.args['token']}.*"))


def _queue_import(client, rnd, rows) -> Job:
    """Upload a large file and confirm it, as the secretariat does; returns the queued job."""
    html = _upload(client, rnd, rows).get_data(as_text=True)
    resp = client.post(f"/rounds/{rnd.code}/roster/confirm", data={"token": _staged_token(html)})
    assert resp.status_code == 302 and re.search(r"/jobs/\d+$", resp.headers["Location"])
    return db.session.execute(select(Job).where(Job.kind == roster_job.KIND).order_by(Job.id.desc())).scalars().first()


def _watch_progress(monkeypatch, hook=None) -> list:
    seen = []
    original = queue.JobContext.progress

    def watched(self, done=None, total=None, phase=None, message=None):
        seen.append((done, total, phase))
        if hook is not None:
            hook(self, done)
        return original(self, done, total, phase, message)

    monkeypatch.setattr(queue.JobContext, "progress", watched)
    return seen


def test_a_large_file_is_staged_confirmed_and_imported_by_the_worker_with_progress(
        app, client, login_as, make_round, small_jobs, monkeypatch):
    rnd = make_round()
    login_as("secretariat")
    assert _upload(client, rnd, [person(1)]).status_code == 200  # small: imported at once
    resp = _upload(client, rnd, [person(1, name="新名字")] + [person(n) for n in range(2, 6)])
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "确认后台导入" in html and "共 <b>5</b> 行" in html
    assert "<b>4</b>将新增" in html and "<b>1</b>将更新" in html  # checked at upload: what the job will do
    assert _count(Candidate) == 1 and _count(Job) == 0  # nothing written yet
    token = _staged_token(html)
    assert (Path(app.instance_path) / "uploads" / f"roster-{token}.bin").exists()

    job = _queue_import(client, rnd, [person(1, name="新名字")] + [person(n) for n in range(2, 6)])
    assert job.state == QUEUED and job.args["rows"] == 5 and job.round_id == rnd.id
    page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert "导入考生名单" in page and "取消任务" in page
    again = client.post(f"/rounds/{rnd.code}/roster/confirm", data={"token": job.args["token"]},
                        follow_redirects=True)
    assert "同类任务正在进行中" in again.get_data(as_text=True)  # one roster import per round at a time
    busy = _upload(client, rnd, [person(9)])  # not even a small file while the job may write
    assert busy.status_code == 400 and "本轮名单正在后台导入" in busy.get_data(as_text=True)

    seen = _watch_progress(monkeypatch)
    assert queue.run_pending() == [job.id]
    assert seen == [(0, 5, roster_job.CHECKING), (0, 5, roster_job.WRITING), (2, 5, roster_job.WRITING),
                    (4, 5, roster_job.WRITING), (5, 5, roster_job.WRITING)]
    status = client.get(f"/jobs/{job.id}.json").get_json()
    assert status["state"] == SUCCEEDED and (status["done"], status["total"], status["percent"]) == (5, 5, 100)
    assert (status["result"]["added"], status["result"]["updated"], status["result"]["unchanged"]) == (4, 1, 0)
    assert status["result_url"].endswith(f"/rounds/{rnd.code}/candidates")
    db.session.expire_all()
    assert _count(Candidate, Candidate.round_id == rnd.id) == 5
    assert db.session.execute(select(Candidate.name).where(Candidate.id_number == person(1)[0])).scalar() == "新名字"
    job = db.session.get(Job, job.id)
    assert "undo" not in job.args and _staged_files(app, job) == []
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "roster.import")
                               .order_by(AuditEntry.id.desc())).scalars().first()
    assert entry.detail["added"] == 4 and entry.detail["updated"] == 1 and len(entry.detail["added_tickets"]) == 4
    html = client.get(f"/rounds/{rnd.code}/roster").get_data(as_text=True)
    assert f"#{job.id}" in html and "已完成" in html and "5 / 5 行" in html


def test_row_errors_are_shown_at_upload_and_nothing_is_staged_or_queued(client, login_as, make_round, small_jobs):
    rnd = make_round()
    login_as("secretariat")
    rows = [person(n) for n in range(1, 5)] + [person(5, id_number="110105194912310021"), person(6, level="高级")]
    resp = _upload(client, rnd, rows)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "共 2 处错误" in html and "校验位错误" in html and "确认后台导入" not in html
    assert _count(Job) == 0 and _count(Candidate) == 0


def test_rows_that_became_wrong_before_the_job_ran_fail_it_with_every_error_and_nothing_written(
        app, client, login_as, make_round, make_candidate, small_jobs):
    """The job checks the file again against the round as it is then: here two of its tickets were taken by
    accounts made after the upload was confirmed."""
    rnd = make_round()
    login_as("secretariat")
    rows = [person(n, ticket=f"TK{n:06d}") for n in range(1, 6)]
    job = _queue_import(client, rnd, rows)
    other = make_round("2024-jl", "吉林")
    make_candidate(other, ticket="TK000002")
    make_candidate(other, ticket="TK000004")
    assert queue.run_pending() == [job.id]
    db.session.expire_all()
    job = db.session.get(Job, job.id)
    assert job.state == FAILED and "2 处错误" in job.message and "未导入任何考生" in job.message
    assert {(e["row"], e["column"]) for e in job.errors} == {(3, "准考证号"), (5, "准考证号")}
    assert _count(Candidate, Candidate.round_id == rnd.id) == 0 and _staged_files(app, job) == []
    page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert "逐行错误（共 2 处）" in page and "已被其他考生或账号使用" in page


def test_cancel_mid_way_takes_back_every_written_row(app, client, login_as, make_round, small_jobs, monkeypatch):
    rnd = make_round()
    login_as("secretariat")
    _upload(client, rnd, [person(1)])
    old_ticket = db.session.execute(select(Candidate.ticket)).scalar_one()
    job = _queue_import(client, rnd, [person(1, name="改过的名字", work_unit="新单位")]
                        + [person(n) for n in range(2, 7)])

    def cancel_after_first_chunk(ctx, done):
        if done == 2:  # the secretariat presses "cancel" while the first chunk is being written
            db.session.execute(update(Job).where(Job.id == ctx.job_id).values(cancel_requested=True))

    seen = _watch_progress(monkeypatch, cancel_after_first_chunk)
    assert queue.run_pending() == [job.id]
    assert seen[-1] == (2, 6, roster_job.WRITING)  # stopped after the first committed chunk
    db.session.expire_all()
    job = db.session.get(Job, job.id)
    assert job.state == CANCELLED and job.done == 2 and "取消" in job.message
    cand = db.session.execute(select(Candidate)).scalar_one()  # only the candidate from before
    assert (cand.ticket, cand.name, cand.work_unit) == (old_ticket, "考生01", "单位1")
    assert _count(User, User.role == "candidate") == 1 and _staged_files(app, job) == []
    undo = db.session.execute(select(AuditEntry).where(AuditEntry.action == "roster.import.undo")).scalar_one()
    assert undo.detail["removed"] == 2 and undo.detail["job_id"] == job.id


def test_a_failure_mid_way_is_undone(app, client, login_as, make_round, small_jobs, monkeypatch):
    rnd = make_round()
    login_as("secretariat")
    job = _queue_import(client, rnd, [person(n) for n in range(1, 6)])
    real_insert = roster._insert_candidates
    calls = []

    def insert_then_break(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real_insert(*args, **kwargs)

    monkeypatch.setattr(roster, "_insert_candidates", insert_then_break)
    assert queue.run_pending() == [job.id]
    db.session.expire_all()
    job = db.session.get(Job, job.id)
    assert job.state == FAILED and "RuntimeError" in job.message and "disk full" not in job.message
    assert _count(Candidate) == 0 and _count(User, User.role == "candidate") == 0


def test_a_dead_workers_import_fails_and_is_undone(app, client, login_as, make_round, small_jobs, monkeypatch):
    """The worker process is killed after its first committed chunk: the reaper fails the job (a roster import is
    not re-run) and takes back what it wrote."""
    rnd = make_round()
    login_as("secretariat")
    job = _queue_import(client, rnd, [person(n) for n in range(1, 6)])

    def killed(ctx, done):
        if done == 4:
            raise KeyboardInterrupt  # stands for SIGKILL: nothing of the job's own handling runs

    _watch_progress(monkeypatch, killed)
    with pytest.raises(KeyboardInterrupt):
        queue.run_pending()
    db.session.rollback()
    assert _count(Candidate) == 2 and db.session.get(Job, job.id).state == RUNNING
    long_ago = utcnow() - timedelta(minutes=10)
    db.session.execute(update(Job).where(Job.id == job.id).values(heartbeat_at=long_ago))
    db.session.commit()
    assert queue.reap_stale() == {"requeued": [], "failed": [job.id]}
    db.session.expire_all()
    assert db.session.get(Job, job.id).state == FAILED
    assert _count(Candidate) == 0 and _count(User, User.role == "candidate") == 0 and _staged_files(app, job) == []


def test_a_queued_import_cancelled_before_it_starts_drops_the_staged_file(app, client, login_as, make_round,
                                                                          small_jobs):
    rnd = make_round()
    login_as("secretariat")
    job = _queue_import(client, rnd, [person(n) for n in range(1, 6)])
    assert len(_staged_files(app, job)) == 2
    resp = client.post(f"/jobs/{job.id}/cancel", follow_redirects=True)
    assert "任务已取消" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Job, job.id).state == CANCELLED and _staged_files(app, job) == [] and _count(Candidate) == 0


def test_files_up_to_the_threshold_import_at_once_and_bad_tokens_are_refused(client, login_as, make_round,
                                                                              small_jobs):
    rnd = make_round()
    login_as("secretariat")
    resp = _upload(client, rnd, [person(n) for n in range(1, 4)])
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "导入成功" in html and "<b>3</b>新增" in html and "确认后台导入" not in html
    assert _count(Candidate) == 3 and _count(Job) == 0
    resp = client.post(f"/rounds/{rnd.code}/roster/confirm", data={"token": "x" * 32}, follow_redirects=True)
    assert "上传的文件已过期或不存在" in resp.get_data(as_text=True) and _count(Job) == 0
    bad = _upload(client, rnd, [person(n) for n in range(1, 5)], name="名单.pdf")
    assert bad.status_code == 400 and _count(Job) == 0


def test_the_cli_runs_the_same_job_in_the_foreground_above_the_threshold(app, make_round, small_jobs, tmp_path):
    from certify.cli import import_roster_command

    rnd = make_round()
    code, round_id = rnd.code, rnd.id
    runner = app.test_cli_runner()
    path = tmp_path / "名单.csv"
    path.write_bytes(csv_bytes([person(n) for n in range(1, 6)]))
    result = runner.invoke(import_roster_command, ["--round", code, str(path)])
    assert result.exit_code == 0, result.output
    assert "已完成：名单已导入：新增 5 人，更新 0 人，未变 0 人" in result.output
    db.session.remove()
    job = db.session.execute(select(Job).where(Job.kind == roster_job.KIND)).scalar_one()
    assert job.state == SUCCEEDED and (job.done, job.total) == (5, 5) and _staged_files(app, job) == []
    assert _count(Candidate, Candidate.round_id == round_id) == 5
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes([person(n) for n in range(6, 10)] + [person(10, level="高级")]))
    result = runner.invoke(import_roster_command, ["--round", code, str(bad)])
    out = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code == 1 and "bad.csv，第 6 行，「认证级别」列：未知的认证级别「高级」" in out
    db.session.remove()
    assert _count(Job) == 1 and _count(Candidate, Candidate.round_id == round_id) == 5  # refused before queueing
