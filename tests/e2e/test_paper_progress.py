"""Browser test: regenerating a large session's papers queues a background job; the session page shows its progress
bar (polling /jobs/<id>.json) and reloads with every paper generated when the worker is done."""
import time

from certify.extensions import db
from certify.jobs import queue
from certify.jobs.models import SUCCEEDED, Job
from exam.authoring import paper_job
from exam.authoring import papers as paper_ops
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import browser_login
from tests.exam.conftest import make_bank, make_exam_session, make_item  # noqa: F401  (fixtures)


def test_session_page_shows_the_paper_jobs_progress_then_the_papers(page, app, make_exam_session, make_user,
                                                                   monkeypatch):
    session = make_exam_session(candidates=3)
    make_user("secretariat", username="mishu-papers")
    db.session.commit()
    monkeypatch.setitem(app.config, "EXAM_PAPER_JOB_MIN", 2)
    monkeypatch.setattr(paper_ops, "PAPER_CHUNK", 1)
    original = queue.JobContext.progress

    def slow(self, *args, **kwargs):  # the live server's worker thread: slow enough to watch the bar move
        time.sleep(0.6)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(queue.JobContext, "progress", slow)

    browser_login(page, "mishu-papers", TEST_PASSWORD)
    page.goto(f"/exam/admin/sessions/{session.id}")
    page.click("text=重新生成试卷")  # the confirmation page first: the box and a reason
    page.check("input[name=acknowledge]")
    page.fill("textarea[name=reason]", "题库已更新")
    page.click("input[type=submit][name=submit], button[type=submit]:has-text('确认执行')")
    page.wait_for_selector("#job progress")
    assert "试卷正在后台生成" in page.inner_text("body")
    page.wait_for_selector("#job-rows:has-text('/ 3')", timeout=20_000)  # papers done / total, polled
    page.wait_for_selector("#job", state="detached", timeout=30_000)  # done: the page reloaded without the bar
    assert page.locator("text=重新生成试卷").count() == 1
    assert page.locator("td .tag.ok", has_text="已生成").count() == 3
    db.session.expire_all()
    job = db.session.execute(db.select(Job).where(Job.kind == paper_job.KIND)).scalar_one()
    assert job.state == SUCCEEDED and (job.done, job.total) == (3, 3)
