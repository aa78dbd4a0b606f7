"""Paper generation as a background job (``exam.authoring.paper_job``): queued by the session pages above the threshold,
progress per chunk on the session page and the job's JSON, cancel mid-way leaves no half set of papers, a refusal
keeps the old papers and shows the reasons, a dead worker's job is re-queued and finishes, and the CLI runs the
same job in the foreground."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from certify.clock import utcnow
from certify.extensions import db
from certify.jobs import queue
from certify.jobs.models import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, Job
from exam.authoring import paper_job
from exam.authoring import papers as paper_ops
from exam.demo import DEMO_ROWS
from exam.models import ExamSession, Paper, PaperItem
from question_bank.models import RETIRED, Item


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(paper_ops, "PAPER_CHUNK", 1)


@pytest.fixture
def job_threshold(app):
    before = app.config.get("EXAM_PAPER_JOB_MIN")
    app.config["EXAM_PAPER_JOB_MIN"] = 2
    yield
    app.config["EXAM_PAPER_JOB_MIN"] = before if before is not None else paper_job.DEFAULT_JOB_MIN


def _papers(session_id: int) -> int:
    return db.session.execute(select(func.count()).select_from(Paper).where(Paper.session_id == session_id)).scalar()


def _only_job() -> Job:
    return db.session.execute(select(Job).where(Job.kind == paper_job.KIND)).scalar_one()


def test_create_page_queues_the_job_and_the_session_page_shows_its_progress(
        client, login_as, make_round, make_candidate, make_bank, job_threshold, small_chunks, monkeypatch):
    rnd = make_round()
    make_bank()
    for _ in range(3):
        make_candidate(rnd, level="中级")
    scheme = rnd.scheme_for("中级")
    bp = paper_ops.save_blueprint(scheme, name="中级方案", mode="per_candidate",
                                  rows=[dict(r, difficulty_min=1, difficulty_max=5) for r in DEMO_ROWS])
    db.session.commit()
    login_as("secretariat")
    form = {"name": "中级笔试", "blueprint_id": bp.id, "opens_at": "2030-05-10T09:00", "closes_at": "2030-05-10T11:00",
            "duration_minutes": 60, "late_entry_minutes": 30, "instructions": "", "assign_all": "y",
            "event_warning_threshold": "", "seed": "5"}
    resp = client.post(f"/exam/admin/schemes/{scheme.id}/sessions/new", data=form, follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "试卷正在后台生成" in html
    session = db.session.execute(select(ExamSession)).scalar_one()
    job = _only_job()
    assert job.state == QUEUED and job.args["session_id"] == session.id and _papers(session.id) == 0
    assert f"后台任务 #{job.id}" in html and f"/jobs/{job.id}.json" in html and "取消生成" in html
    assert "重新生成试卷" not in html and ">生成试卷<" not in html  # no second run while one is queued
    again = client.post(f"/exam/admin/sessions/{session.id}/papers", follow_redirects=True)
    assert "同类任务正在进行中" in again.get_data(as_text=True)

    seen = []
    original = queue.JobContext.progress

    def watched(self, done=None, total=None, phase=None, message=None):
        seen.append((done, total, phase))
        return original(self, done, total, phase, message)

    monkeypatch.setattr(queue.JobContext, "progress", watched)
    assert queue.run_pending() == [job.id]
    assert seen == [(0, 3, paper_ops.DRAWING), (0, 3, paper_ops.WRITING), (1, 3, paper_ops.WRITING),
                    (2, 3, paper_ops.WRITING), (3, 3, paper_ops.WRITING)]
    status = client.get(f"/jobs/{job.id}.json").get_json()
    assert status["state"] == SUCCEEDED and (status["done"], status["total"], status["percent"]) == (3, 3, 100)
    assert status["result"]["papers"] == 3 and status["result_url"].endswith(f"/exam/admin/sessions/{session.id}")
    db.session.expire_all()
    assert _papers(session.id) == 3 and all(a.paper_id for a in session.assignments)
    assert session.papers_generated_at is not None
    html = client.get(f"/exam/admin/sessions/{session.id}").get_data(as_text=True)
    assert "取消生成" not in html and "重新生成试卷" in html


def test_cancel_mid_way_leaves_no_half_set_of_papers(app, client, login_as, make_exam_session, small_chunks,
                                                     monkeypatch):
    session = make_exam_session(candidates=3)  # small: generated inline by the factory
    assert _papers(session.id) == 3
    job = paper_job.enqueue_papers(session, reason="测试")
    db.session.commit()
    original = queue.JobContext.progress

    def cancel_after_first(self, done=None, total=None, phase=None, message=None):
        if done == 1:  # the secretariat presses "cancel" while the first chunk is being written
            db.session.execute(update(Job).where(Job.id == self.job_id).values(cancel_requested=True))
        return original(self, done, total, phase, message)

    monkeypatch.setattr(queue.JobContext, "progress", cancel_after_first)
    assert queue.run_pending() == [job.id]
    db.session.expire_all()
    job = db.session.get(Job, job.id)
    assert job.state == CANCELLED and job.done == 1 and "取消" in job.message
    assert _papers(session.id) == 0 and session.papers_generated_at is None
    assert not any(a.paper_id for a in session.assignments)
    assert paper_ops.paper_counts(session) == {"assigned": 3, "with_paper": 0, "missing": 3}
    login_as("secretariat")
    html = client.get(f"/exam/admin/sessions/{session.id}").get_data(as_text=True)
    assert "已取消" in html and ">生成试卷<" in html  # the outcome shown, and the button back


def test_a_refused_job_fails_with_the_reasons_and_keeps_the_old_papers(client, login_as, make_exam_session):
    session = make_exam_session(candidates=2)
    items_before = db.session.execute(select(func.count()).select_from(PaperItem)).scalar()
    db.session.execute(update(Item).values(status=RETIRED))  # the bank can no longer fill the blueprint
    job = paper_job.enqueue_papers(session)
    db.session.commit()
    queue.run_pending()
    db.session.expire_all()
    job = db.session.get(Job, job.id)
    assert job.state == FAILED and "无法从题库组卷" in job.message
    assert _papers(session.id) == 2
    assert db.session.execute(select(func.count()).select_from(PaperItem)).scalar() == items_before
    login_as("supervisor")
    html = client.get(f"/exam/admin/sessions/{session.id}").get_data(as_text=True)
    assert "失败" in html and "无法从题库组卷" in html and "取消生成" not in html


def test_a_dead_workers_job_is_requeued_and_finishes(make_exam_session):
    """The job lives in the database: a worker killed mid-run (stale heartbeat) gives it back to the queue and
    the next worker generates every paper from the start."""
    session = make_exam_session(candidates=2)
    job = paper_job.enqueue_papers(session)
    db.session.commit()
    long_ago = utcnow() - timedelta(minutes=10)
    db.session.execute(update(Job).where(Job.id == job.id).values(
        state=RUNNING, claim="dead-worker:1", started_at=long_ago, heartbeat_at=long_ago, attempts=1,
        done=1, total=2, phase=paper_ops.WRITING))
    db.session.commit()
    assert queue.reap_stale() == {"requeued": [job.id], "failed": []}
    assert queue.run_pending() == [job.id]
    db.session.expire_all()
    job = db.session.get(Job, job.id)
    assert job.state == SUCCEEDED and job.result["papers"] == 2 and job.attempts == 2
    assert _papers(session.id) == 2 and all(a.paper_id for a in session.assignments)


def test_cli_runs_the_same_job_in_the_foreground(app, make_exam_session):
    session = make_exam_session(candidates=3)
    result = app.test_cli_runner().invoke(args=["exam-papers", "--session", str(session.id)])
    assert result.exit_code == 0, result.output
    assert "已为 3 名考生生成试卷" in result.output and "生成试卷" in result.output
    db.session.expire_all()
    job = _only_job()
    assert job.state == SUCCEEDED and (job.done, job.total) == (3, 3)
    assert _papers(session.id) == 3
    missing = app.test_cli_runner().invoke(args=["exam-papers", "--session", "999999"])
    assert missing.exit_code != 0 and "不存在" in missing.output


def test_editing_a_large_sessions_blueprint_on_the_page_queues_its_papers(client, login_as, make_exam_session,
                                                                          job_threshold):
    from tests.exam.test_blueprints import _form

    session = make_exam_session(candidates=3)
    bp = session.blueprint
    spec = [dict(r, difficulty_min=1, difficulty_max=5) for r in DEMO_ROWS]
    spec[5] = dict(spec[5], count=10, points=2)  # 10 true/false × 2 instead of 20 × 1
    login_as("secretariat")
    resp = client.post(f"/exam/admin/blueprints/{bp.id}", data=_form(name=bp.name, spec=spec))
    assert resp.status_code == 302
    job = _only_job()
    assert job.state == QUEUED and job.args["session_id"] == session.id
    assert queue.run_pending() == [job.id]
    db.session.expire_all()
    sc = session.assignments[0]
    assert db.session.execute(select(func.count()).select_from(PaperItem).filter_by(paper_id=sc.paper_id)).scalar() == 50
