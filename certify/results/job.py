"""Computing and freezing a large level's results (确认并冻结) as a background job (kind ``results.confirm``).

The confirmation POST of a level with more than ``RESULTS_JOB_MIN_CANDIDATES`` candidates queues this job (after the
same plan refusals and the same ticked box and reason) and leads to its page; smaller levels are confirmed inside
the POST, as before. ``certify results --round CODE --confirm LEVEL`` runs the same job in the foreground above the
same threshold. The job reports the phases of ``operations.confirm`` (读取成分成绩, 汇总总分, 排名认定, 写入结果),
where a cancel stops it; everything is written after the last report, in the job's one transaction: a job that is
cancelled, fails or whose worker dies leaves the level exactly as it was (a confirmed level stays confirmed, a draft
stays a draft with no entries). A dead worker's job is not re-run (it fails; the secretariat confirms again).
"""
from __future__ import annotations

from decimal import Decimal

from flask import current_app

from certify.extensions import db
from certify.jobs import queue
from certify.jobs.models import Job
from certify.models import Candidate, Round, User

from . import operations as ops

KIND = "results.confirm"
DEFAULT_JOB_MIN_CANDIDATES = 1000


def job_threshold() -> int:
    return int(current_app.config.get("RESULTS_JOB_MIN_CANDIDATES", DEFAULT_JOB_MIN_CANDIDATES))


def level_size(rnd: Round, level: str) -> int:
    return db.session.scalar(db.select(db.func.count(Candidate.id))
                             .where(Candidate.round_id == rnd.id, Candidate.level == level)) or 0


def is_large(rnd: Round, level: str) -> bool:
    return level_size(rnd, level) > job_threshold()


def dedupe_key(round_id: int, level: str) -> str:
    return f"{KIND}:{round_id}:{level}"


def enqueue_confirm(rnd: Round, level: str, *, ratio: Decimal, min_total: Decimal | None, reason: str,
                    created_by=None) -> Job:
    """Queue the confirmation (flushed; the caller's unit of work commits). Refused (409) while one of this level is
    queued or running."""
    args = {"round_id": rnd.id, "level": level, "ratio": str(ratio),
            "min_total": None if min_total is None else str(min_total), "reason": reason,
            "actor_id": getattr(created_by, "id", None)}
    return queue.enqueue(KIND, args, title=f"计算并冻结成绩 · {rnd.code} · {level}", created_by=created_by,
                         round_id=rnd.id, dedupe_key=dedupe_key(rnd.id, level))


def run(ctx: queue.JobContext, round_id: int, level: str, ratio: str, min_total: str | None = None,
        reason: str = "", actor_id: int | None = None, **_ignored) -> dict:
    rnd = db.session.get(Round, round_id)
    if rnd is None:
        raise queue.JobFailed("该轮次已不存在")
    total = len(ops.PHASES)

    def progress(phase: str) -> None:
        ctx.progress(ops.PHASES.index(phase), total, phase=phase)  # nothing written yet; may raise Cancelled

    actor = db.session.get(User, actor_id) if actor_id else None
    # Each report commits (nothing written yet); expiring the 5,000 candidates loaded in the first phase would
    # reload them one query each in the next. The state is read afresh before writing (operations.confirm).
    session = db.session()
    expire_before, session.expire_on_commit = session.expire_on_commit, False
    try:
        rs = ops.confirm(rnd, level, ratio=Decimal(ratio),
                         min_total=None if min_total is None else Decimal(min_total), override_min=True, actor=actor,
                         reason=reason, progress=progress)
    finally:
        session.expire_on_commit = expire_before
    certified = sum(1 for e in rs.entries if e.outcome == "certified")
    return {"message": f"{rnd.code} {level}成绩已确认并冻结：{len(rs.entries)} 名考生，认定 {certified} 名",
            "candidates": len(rs.entries), "certified": certified}


def _result_url(job: Job) -> str | None:
    from flask import url_for

    args = job.args or {}
    rnd = db.session.get(Round, args.get("round_id"))
    return url_for("results.preview", rnd=rnd, level=args.get("level")) if rnd is not None else None


def active_confirm_job(rnd: Round, level: str) -> Job | None:
    return queue.active_job(dedupe_key(rnd.id, level))


def register() -> None:
    queue.register_kind(KIND, "计算并冻结成绩", run, retry_on_crash=False, result_url=_result_url)
