"""A large roster import as a background job (kind ``roster.import``), run by ``certify worker``.

The roster page reads an uploaded file (bounded, ``roster.read_roster``) and, above ``ROSTER_JOB_MIN_ROWS`` rows,
stages it in the instance folder (``instance/uploads/roster-<token>``) and asks for a confirmation instead of
importing it inside the POST; the confirmation queues the job and leads to its page (``/jobs/<id>``: rows done /
total, phase, time left, cancel, then the result or the row-level errors). Smaller files import at once, as before.

The job checks every row first (phase "校验"): any wrong row fails it with every row-level error and nothing
written. It then records what it is about to write (the new tickets, the old values of updated candidates) in the
job's own row, and writes ``roster.INSERT_CHUNK`` rows per committed chunk, reporting rows done / total after each,
where a cancel stops it. A job that does not succeed once it has begun writing (cancelled, failed, its worker gone)
is undone by ``on_finish``: the candidates and accounts it added are deleted and the updated ones get their old
values back, so the round never keeps half a file. A dead worker's job is not re-run (it fails, and is undone).
"""
from __future__ import annotations

from flask import current_app
from sqlalchemy import delete, update

from . import roster
from .domain import CANDIDATE
from .extensions import db
from .jobs import queue, staging
from .jobs.models import Job
from .models import Candidate, Round, User
from .tabular import ImportFailed, chunks

KIND = "roster.import"
DEFAULT_JOB_MIN_ROWS = 500  # files with more rows than this are imported by the worker
CHECKING, WRITING = "校验", "写入"


def job_threshold() -> int:
    return int(current_app.config.get("ROSTER_JOB_MIN_ROWS", DEFAULT_JOB_MIN_ROWS))


def dedupe_key(round_id: int) -> str:
    return f"{KIND}:{round_id}"


# ------------------------------------------------------------------------------------------------ staged files

UPLOADS = staging.Uploads("roster")


def stage(data: bytes, filename: str, rows: int) -> str:
    """Keep an uploaded roster until it is confirmed (or for a day); returns its token."""
    return UPLOADS.stage(data, filename, rows=rows)


def load(token: str) -> tuple[bytes, str, int] | None:
    """(data, file name, rows) of a staged roster, or None when the token is unknown, malformed or damaged."""
    staged = UPLOADS.load(token)
    if staged is None:
        return None
    try:
        return staged.data, staged.filename, int(staged.meta["rows"])
    except (KeyError, TypeError, ValueError):
        return None


def discard(token: str) -> None:
    UPLOADS.discard(token)


# ------------------------------------------------------------------------------------------------ the job

def enqueue_import(rnd: Round, token: str, filename: str, rows: int, *, created_by=None) -> Job:
    """Queue the import of a staged file (flushed; the caller's unit of work commits). Refused (409) while another
    roster import of this round is queued or running."""
    return queue.enqueue(KIND, {"round_id": rnd.id, "token": token, "filename": filename, "rows": rows},
                         title=f"导入考生名单 · {rnd.code} · {filename}", created_by=created_by, round_id=rnd.id,
                         dedupe_key=dedupe_key(rnd.id))


def run(ctx: queue.JobContext, round_id: int, token: str, filename: str = "", rows: int = 0, **_ignored) -> dict:
    rnd = db.session.get(Round, round_id)
    if rnd is None:
        raise queue.JobFailed("该轮次已不存在")
    staged = load(token)
    if staged is None:
        raise queue.JobFailed("上传的文件已过期或不存在，请重新上传")
    data, name, _rows = staged
    ctx.progress(0, rows or None, phase=CHECKING)
    try:
        table = roster.read_roster(data, name)
        plan = roster.plan_import(rnd, [(r.number, r.values) for r in table.rows], file=table.file,
                                  sheet=table.sheet)
    except ImportFailed as err:
        raise queue.JobFailed(f"文件有 {len(err.errors)} 处错误，未导入任何考生，请按错误表修改后重新上传",
                              [e.as_dict() for e in err.errors]) from None
    total = len(plan.rows)
    added = [row.values for row in plan.rows if row.action == "add"]
    changed = [row for row in plan.rows if row.action == "update"]
    undo = {"added": [v["ticket"] for v in added],
            "updated": {row.values["id_number"]: {k: c[0] for k, c in row.changes.items()} for row in changed}}
    # What the job is about to write goes with its first committed chunk: on_finish can always undo it.
    db.session.execute(update(Job).where(Job.id == ctx.job_id).values(args={**ctx.args, "undo": undo}))
    done = total - len(added) - len(changed)  # unchanged rows need no writing
    ctx.progress(done, total, phase=WRITING)
    for start in range(0, len(added), roster.INSERT_CHUNK):
        chunk = added[start:start + roster.INSERT_CHUNK]
        roster._insert_candidates(rnd, chunk, load=False)
        done += len(chunk)
        ctx.progress(done, total, phase=WRITING)  # commits the chunk; may raise Cancelled
    updates = []
    for start in range(0, len(changed), roster.INSERT_CHUNK):
        chunk = changed[start:start + roster.INSERT_CHUNK]
        updates += roster.update_candidates(rnd, chunk)
        db.session.flush()
        done += len(chunk)
        ctx.progress(done, total, phase=WRITING)
    result = roster.RosterResult(added=len(added), updated=len(changed), unchanged=total - len(added) - len(changed))
    roster.audit_import(rnd, table.file, result, undo["added"], updates)
    return {"message": f"名单已导入：{result.summary}", "rows": total, "added": result.added,
            "updated": result.updated, "unchanged": result.unchanged}


def undo_import(job: Job) -> int:
    """Take back what a job that did not succeed wrote (its recorded tickets and old values); returns how many
    candidates were removed."""
    undo = (job.args or {}).get("undo")
    round_id = (job.args or {}).get("round_id")
    if not undo or round_id is None:
        return 0
    removed = 0
    for batch in chunks(list(undo.get("added") or [])):
        removed += db.session.execute(delete(Candidate).where(Candidate.round_id == round_id,
                                                              Candidate.ticket.in_(batch))).rowcount or 0
        db.session.execute(delete(User).where(User.role == CANDIDATE, User.username.in_(batch)))
    before = undo.get("updated") or {}
    for batch in chunks(sorted(before)):
        for cand in db.session.execute(db.select(Candidate).where(Candidate.round_id == round_id,
                                                                  Candidate.id_number.in_(batch))).scalars():
            for key, value in before[cand.id_number].items():
                setattr(cand, key, value)
                if key == "name" and cand.user is not None:
                    cand.user.display_name = value
    db.session.flush()
    return removed


def on_finish(job: Job) -> None:
    """After any end: the staged file goes; a job that did not succeed leaves the roster as it was; the undo
    record (every new ticket) is dropped from the job's row."""
    queue.finish_undoable(job, undo=undo_import, action="roster.import.undo", discard=discard,
                          round_id=(job.args or {}).get("round_id"))


def _result_url(job: Job) -> str | None:
    from flask import url_for

    rnd = db.session.get(Round, (job.args or {}).get("round_id"))
    return url_for("rounds.candidates", rnd=rnd) if rnd is not None else None


def active_roster_job(round_id: int) -> Job | None:
    return queue.active_job(dedupe_key(round_id))


def latest_roster_job(round_id: int) -> Job | None:
    return db.session.execute(db.select(Job).where(Job.kind == KIND, Job.dedupe_key == dedupe_key(round_id))
                              .order_by(Job.id.desc()).limit(1)).scalar()


def register() -> None:
    queue.register_kind(KIND, "导入考生名单", run, retry_on_crash=False, on_finish=on_finish,
                        result_url=_result_url)
