"""The defense scheduler as a background job (kind ``defense.schedule``), run by ``certify worker``.

Enqueued by the secretariat's "run the scheduler" button (``operations.start_schedule_job``) or run in the
foreground by ``certify job run defense.schedule --round CODE``. The job computes with CP-SAT, then saves the
draft; its progress is the job's (``/jobs/<id>``) and is mirrored on the round's ``DefenseSchedule`` row
(``job_state``/``job_progress``/``job_message``), which the schedule page shows and polls. Safe to run again
from the start if its worker died (nothing is saved until the solve is done), so a dead worker's run is
re-queued once.
"""
from __future__ import annotations

from certify.extensions import db
from certify.jobs import queue
from certify.jobs.models import CANCELLED, FAILED, SUCCEEDED, Job
from certify.models import Round

KIND = "defense.schedule"


def dedupe_key(round_id: int) -> str:
    return f"{KIND}:{round_id}"


def _mirror(round_id: int, state: str, progress: int, message: str) -> None:
    from ..models import DefenseSchedule

    row = db.session.execute(db.select(DefenseSchedule).filter_by(round_id=round_id)).scalar_one_or_none()
    if row is not None:
        row.job_state, row.job_progress, row.job_message = state, progress, message


def run(ctx: queue.JobContext, round_id: int, time_limit: float = 8.0) -> dict:
    from . import operations as ops

    rnd = db.session.get(Round, round_id)
    if rnd is None:
        raise queue.JobFailed("该轮次已不存在")

    def progress(pct: int, message: str) -> None:
        _mirror(round_id, "running", pct, message)
        ctx.progress(pct, 100, phase=message)  # commits the mirror with the job's progress; may raise Cancelled

    progress(1, "排程任务已开始")
    result, grid = ops.compute_schedule(rnd, time_limit=float(time_limit), progress=progress)
    if not result.ok:
        raise queue.JobFailed("无法排程", [{"message": r} for r in result.reasons])
    ctx.check_cancel()  # the solve is done: a cancel requested meanwhile still keeps the old draft
    n = ops.save_schedule(rnd, result, grid)
    return {"message": f"已为 {n} 名考生排定答辩（{result.seconds:.1f} 秒）", "candidates": n,
            "solver": result.status, "seconds": round(result.seconds, 1),
            "loads": {str(k): v for k, v in result.loads.items()}}


def on_finish(job: Job) -> None:
    """Mirror the job's end on the schedule row (runs in its own transaction after the job ended)."""
    round_id = (job.args or {}).get("round_id")
    if round_id is None:
        return
    if job.state == SUCCEEDED:
        _mirror(round_id, "done", 100, job.message)
    elif job.state == FAILED:
        reasons = [e.get("message", "") if isinstance(e, dict) else str(e) for e in job.errors or []]
        _mirror(round_id, "failed", 100, "\n".join(reasons) or job.message)
    elif job.state == CANCELLED:
        _mirror(round_id, "idle", 0, "排程任务已取消")


def _result_url(job: Job) -> str | None:
    from flask import url_for

    rnd = db.session.get(Round, (job.args or {}).get("round_id"))
    return url_for("defense_admin.schedule", code=rnd.code) if rnd is not None else None


def register() -> None:
    queue.register_kind(KIND, "答辩自动排程", run, retry_on_crash=True, max_attempts=2, on_finish=on_finish,
                        result_url=_result_url)


def active_schedule_job(round_id: int) -> Job | None:
    return queue.active_job(dedupe_key(round_id))


def enqueue_schedule(rnd: Round, *, time_limit: float = 8.0, created_by=None) -> Job | None:
    """Queue the scheduler for a round; None when one is already queued or running. The caller's unit of work
    commits (a worker then picks it up)."""
    from certify.audit import audit

    from . import operations as ops

    if active_schedule_job(rnd.id) is not None:
        return None
    job = queue.enqueue(KIND, {"round_id": rnd.id, "time_limit": time_limit}, title=f"答辩自动排程 · {rnd.code}",
                        created_by=created_by, round_id=rnd.id, dedupe_key=dedupe_key(rnd.id))
    s = ops.get_schedule(rnd)
    s.job_state, s.job_progress, s.job_message = "running", 0, "排程任务已排队，等待后台进程执行"
    audit("defense.schedule_run", target=s, round_id=rnd.id, job_id=job.id)
    db.session.flush()
    return job



def latest_job_id(round_id: int) -> int | None:
    """The round's most recent scheduling job (the schedule page links to its job page)."""
    return db.session.execute(db.select(Job.id).where(Job.kind == KIND, Job.round_id == round_id)
                              .order_by(Job.id.desc()).limit(1)).scalar()
