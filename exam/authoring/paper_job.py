"""Paper generation as a background job (kind ``exam.papers``), run by ``certify worker``.

The session pages queue it (creating or editing a session with more than ``EXAM_PAPER_JOB_MIN`` candidates, and
the "generate papers" button) instead of drawing thousands of papers inside the POST; ``certify exam-papers
--session ID`` runs the same job in the foreground with a progress bar. The job draws every paper (phase
"抽题组卷"), then writes ``papers.PAPER_CHUNK`` papers per transaction and reports papers done / total after each
chunk, where a cancel stops it. It lives in the ``jobs`` table, so it survives a web restart; it is safe to run
again from the start (it deletes the session's papers first), so a dead worker's run is re-queued once. A job that
does not finish (cancelled, failed, worker gone for good) once it has begun writing leaves the session with no papers
rather than half of them: ``on_finish`` deletes what it wrote, unless a candidate has already started.
"""
from __future__ import annotations

from flask import current_app

from certify.audit import audit
from certify.extensions import db
from certify.jobs import queue
from certify.jobs.models import SUCCEEDED, Job

from ..models import ExamSession
from .papers import WRITING, _delete_papers, _expire_stale, generate_papers, session_has_attempts

KIND = "exam.papers"
DEFAULT_JOB_MIN = 300  # sessions with more candidates than this get their papers from the worker


def dedupe_key(session_id: int) -> str:
    return f"{KIND}:{session_id}"


def run(ctx: queue.JobContext, session_id: int, reason: str = "") -> dict:
    session = db.session.get(ExamSession, session_id)
    if session is None:
        raise queue.JobFailed("该场次已不存在")

    def progress(done: int, total: int, phase: str) -> None:
        ctx.progress(done, total, phase=phase)  # commits the chunk written so far; may raise Cancelled

    made = generate_papers(session, reason=reason or "后台任务生成", progress=progress)
    return {"message": f"已为 {made} 名考生生成试卷", "papers": made, "session_id": session_id}


def on_finish(job: Job) -> None:
    """A job that did not succeed leaves no half-written papers (its own transaction, after the job ended)."""
    if job.state == SUCCEEDED or job.phase != WRITING:
        return  # refused before writing (e.g. the bank cannot fill the blueprint): the old papers were kept
    session = db.session.get(ExamSession, (job.args or {}).get("session_id"))
    if session is None or session_has_attempts(session):
        return
    _delete_papers(session)
    session.papers_generated_at = None
    db.session.flush()
    _expire_stale(session)


def _result_url(job: Job) -> str | None:
    from flask import url_for

    session_id = (job.args or {}).get("session_id")
    return url_for("exam_admin.session_detail", session_id=session_id) if session_id else None


def register() -> None:
    queue.register_kind(KIND, "生成试卷", run, retry_on_crash=True, max_attempts=2, on_finish=on_finish,
                        result_url=_result_url)


def active_paper_job(session_id: int) -> Job | None:
    return queue.active_job(dedupe_key(session_id))


def latest_paper_job(session_id: int) -> Job | None:
    """The session's most recent paper job (its page shows the progress or the outcome)."""
    return db.session.execute(db.select(Job).where(Job.kind == KIND, Job.dedupe_key == dedupe_key(session_id))
                              .order_by(Job.id.desc()).limit(1)).scalar()


def enqueue_papers(session: ExamSession, *, reason: str = "", created_by=None) -> Job:
    """Queue paper generation for a session (flushed; the caller's unit of work commits). Refused (409) while one
    is already queued or running for this session."""
    job = queue.enqueue(KIND, {"session_id": session.id, "reason": reason}, title=f"生成试卷 · {session.name}",
                        created_by=created_by, round_id=session.round_id, dedupe_key=dedupe_key(session.id))
    audit("exam.papers.enqueue", target=session, round_id=session.round_id, job_id=job.id, reason=reason)
    return job


def job_threshold() -> int:
    return int(current_app.config.get("EXAM_PAPER_JOB_MIN", DEFAULT_JOB_MIN))


def papers_now_or_queued(created_by=None):
    """The ``papers`` hook for ``sessions.create_session``/``update_session`` from a web page: small sessions get
    their papers at once, larger ones from the worker. Returns the hook and a list that receives the queued job."""
    queued: list[Job] = []

    def hook(session: ExamSession, reason: str) -> None:
        if len(session.assignments) > job_threshold():
            session.papers_generated_at = None
            queued.append(enqueue_papers(session, reason=reason, created_by=created_by))
        else:
            generate_papers(session, reason=reason)

    return hook, queued


def register_cli(app) -> None:
    import click
    from flask.cli import with_appcontext

    @click.command("exam-papers", help="为笔试场次生成试卷（与网页提交的后台任务相同），在前台运行并显示进度："
                                      "certify exam-papers --session 场次编号")
    @click.option("--session", "session_id", type=int, required=True, help="场次编号（场次页面地址中的数字）")
    @with_appcontext
    def exam_papers_command(session_id):
        from certify import uow
        from certify.cli import fail
        from certify.jobs.cli import run_with_progressbar

        session = db.session.get(ExamSession, session_id)
        if session is None:
            fail(f"场次 {session_id} 不存在")
        if session_has_attempts(session):
            fail("本场次已有考生开始作答，不能再重新生成试卷")
        try:
            job = enqueue_papers(session, reason="命令行生成")
            uow.commit()
        except queue.JobError as err:
            db.session.rollback()
            fail(err.message)
        run_with_progressbar(job)

    app.cli.add_command(exam_papers_command)
