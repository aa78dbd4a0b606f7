"""A large work-record scores import (业绩成果得分) as a background job (kind ``results.import_records``).

The results page reads and checks every row of an uploaded file (``records.check_file``) and, above
``RECORDS_JOB_MIN_ROWS`` rows, stages it (``instance/uploads/records-<token>``) and asks for a confirmation instead
of writing inside the POST; the confirmation queues this job and leads to its page (rows done / total, phase, time
left, cancel, then the result or the row-level errors). Smaller files import at once, as before.

The job checks the staged file again against the round as it is then (phase "校验"): any wrong row fails it with
every row-level error and nothing written. It then records what it is about to change (the candidates who get a
work-record score for the first time; the old status, score, source and time of the others) in its own row, and
writes ``CHUNK`` rows per committed chunk, reporting rows done / total after each, where a cancel stops it. A job
that does not succeed once it has begun writing (cancelled, failed, its worker gone) is undone by ``on_finish``:
the new scores go and the changed ones get their old values back, so the round never keeps half a file. A dead
worker's job is not re-run (it fails, and is undone).
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from flask import current_app
from sqlalchemy import delete, select, update

from certify.domain import RECORD
from certify.extensions import db
from certify.jobs import queue, staging
from certify.jobs.models import Job
from certify.models import Candidate, ComponentScore, Round, User
from certify.tabular import ImportFailed, chunks

from . import records

KIND = "results.import_records"
DEFAULT_JOB_MIN_ROWS = 500  # files with more rows than this are imported by the worker
CHUNK = 1000
CHECKING, WRITING = "校验", "写入"
UPLOADS = staging.Uploads("records")


def job_threshold() -> int:
    return int(current_app.config.get("RECORDS_JOB_MIN_ROWS", DEFAULT_JOB_MIN_ROWS))


def dedupe_key(round_id: int) -> str:
    return f"{KIND}:{round_id}"


def active_records_job(round_id: int) -> Job | None:
    return queue.active_job(dedupe_key(round_id))


def latest_records_job(round_id: int) -> Job | None:
    return db.session.execute(db.select(Job).where(Job.kind == KIND, Job.dedupe_key == dedupe_key(round_id))
                              .order_by(Job.id.desc()).limit(1)).scalar()


def enqueue_import(rnd: Round, token: str, filename: str, rows: int, *, created_by=None) -> Job:
    """Queue the import of a staged file (flushed; the caller's unit of work commits). Refused (409) while another
    work-record import of this round is queued or running."""
    return queue.enqueue(KIND, {"round_id": rnd.id, "token": token, "filename": filename, "rows": rows,
                                "user_id": getattr(created_by, "id", created_by)},
                         title=f"导入业绩成果得分 · {rnd.code} · {filename}", created_by=created_by,
                         round_id=rnd.id, dedupe_key=dedupe_key(rnd.id))


def _value(score) -> str | None:
    return None if score is None else str(score)


def run(ctx: queue.JobContext, round_id: int, token: str, rows: int = 0, user_id: int | None = None,
        **_ignored) -> dict:
    rnd = db.session.get(Round, round_id)
    if rnd is None:
        raise queue.JobFailed("该轮次已不存在")
    staged = UPLOADS.load(token)
    if staged is None:
        raise queue.JobFailed("上传的文件已过期或不存在，请重新上传")
    ctx.progress(0, rows or None, phase=CHECKING)
    try:
        table, resolved = records.check_file(rnd, staged.data, staged.filename)
    except ImportFailed as err:
        raise queue.JobFailed(f"文件有 {len(err.errors)} 处错误，未导入任何业绩成果得分，请按错误表修改后重新上传",
                              [e.as_dict() for e in err.errors]) from None
    actor = db.session.get(User, user_id) if user_id else None
    existing = records.existing_records(c.id for _, c, _ in resolved)
    created, updated = [], {}
    for _number, cand, score in resolved:
        before = existing.get(cand.id)
        if before is None:
            created.append(cand.id)
        elif not records._unchanged(before, score):
            updated[str(cand.id)] = [before.status, _value(before.score), before.source,
                                     before.updated_at.isoformat() if before.updated_at else None]
    # Plain values from here on: each committed chunk expires the ORM objects.
    work = [(cand.id, score) for _n, cand, score in resolved]
    del existing, resolved
    undo = {"created": created, "updated": updated}
    # What the job is about to write goes with its first committed chunk: on_finish can always undo it.
    db.session.execute(update(Job).where(Job.id == ctx.job_id).values(args={**ctx.args, "undo": undo}))
    total, done = len(work), 0
    summary = records.ImportSummary(rows=total)
    ctx.progress(done, total, phase=WRITING)
    for start in range(0, total, CHUNK):
        chunk = work[start:start + CHUNK]
        people = {c.id: c for c in db.session.execute(select(Candidate).where(
            Candidate.id.in_([cid for cid, _ in chunk]))).scalars()}
        part = records._apply([(0, people[cid], score) for cid, score in chunk], table.file, actor)
        db.session.flush()
        for name in ("created", "updated", "unchanged", "absent"):
            setattr(summary, name, getattr(summary, name) + getattr(part, name))
        done += len(chunk)
        ctx.progress(done, total, phase=WRITING)  # commits the chunk; may raise Cancelled
    records.audit_import(rnd, table.file, summary, actor, job_id=ctx.job_id)
    return {"message": f"已导入 {summary.rows} 条业绩成果得分：新增 {summary.created}，更新 {summary.updated}，"
                       f"未变 {summary.unchanged}" + (f"（其中标记缺考 {summary.absent}）" if summary.absent else ""),
            "rows": total, "added": summary.created, "updated": summary.updated, "unchanged": summary.unchanged,
            "absent": summary.absent}


def undo_import(job: Job) -> int:
    """Take back what a job that did not succeed wrote; returns how many new scores were removed."""
    undo = (job.args or {}).get("undo") or {}
    removed = 0
    for batch in chunks(list(undo.get("created") or [])):
        removed += db.session.execute(delete(ComponentScore).where(
            ComponentScore.component == RECORD, ComponentScore.candidate_id.in_(batch))).rowcount or 0
    for cid, (status, score, source, at) in (undo.get("updated") or {}).items():
        db.session.execute(update(ComponentScore).where(
            ComponentScore.component == RECORD, ComponentScore.candidate_id == int(cid)).values(
            status=status, score=None if score is None else Decimal(score), source=source,
            updated_at=datetime.fromisoformat(at) if at else None))
    db.session.flush()
    db.session.expire_all()
    return removed


def on_finish(job: Job) -> None:
    """After any end: the staged file goes; a job that did not succeed leaves the scores as they were; the undo
    record is dropped from the job's row."""
    queue.finish_undoable(job, undo=undo_import, action="results.import_records.undo", discard=UPLOADS.discard,
                          round_id=(job.args or {}).get("round_id"))


def _result_url(job: Job) -> str | None:
    from flask import url_for

    rnd = db.session.get(Round, (job.args or {}).get("round_id"))
    return url_for("results.round_view", rnd=rnd) if rnd is not None else None


def register() -> None:
    queue.register_kind(KIND, "导入业绩成果得分", run, retry_on_crash=False, on_finish=on_finish,
                        result_url=_result_url)
