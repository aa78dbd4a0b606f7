"""A large question-bank import as a background job (kind ``bank.import``), run by ``certify worker``.

The bank's preview page (``/bank/import/<token>``: the file staged in ``instance/uploads/bank-<token>``, planned
against the bank, every row checked) confirms as before; above ``BANK_JOB_MIN_ROWS`` rows the confirmation queues
this job with the previewed plan's fingerprint, without planning again inside the POST, and leads to the job's
page (rows done / total, phase, time left, cancel, then the result or the row-level errors). Smaller files import
at once, as before.

The job plans the staged file again against the bank as it is then (phase "校验"): any wrong row fails it with
every row-level error and nothing written, and so does a bank that changed since the preview (the plan's
fingerprint differs); it skips the near-duplicate search (warnings the preview showed: its audit entry counts the
other warnings only). It then records what it is about to write (the new items' codes; each updated item's
current version, stem key and last version number) in its own row, and writes ``CHUNK`` items per committed chunk,
reporting rows done / total after each, where a cancel stops it. A job that does not succeed once it has begun
writing (cancelled, failed, its worker gone) is undone by ``on_finish``: the new items and the new versions go,
the updated items point at their old versions again. A dead worker's job is not re-run (it fails, and is undone).
"""
from __future__ import annotations

from flask import current_app
from sqlalchemy import delete, select, update

from certify.extensions import db
from certify.jobs import queue
from certify.jobs.models import Job
from certify.models import User
from certify.tabular import chunks

from . import operations as ops
from .models import Item, ItemVersion
from .services import interchange
from .staging import UPLOADS

KIND = "bank.import"
DEDUPE_KEY = KIND  # one bank, one import at a time
DEFAULT_JOB_MIN_ROWS = 500  # files with more rows than this are imported by the worker
CHUNK = 1000
CHECKING, WRITING = "校验", "写入"


def job_threshold() -> int:
    return int(current_app.config.get("BANK_JOB_MIN_ROWS", DEFAULT_JOB_MIN_ROWS))


def plan_rows(plan) -> int:
    return len(plan.added) + len(plan.updated) + len(plan.unchanged)


def active_bank_job() -> Job | None:
    return queue.active_job(DEDUPE_KEY)


def enqueue_import(token: str, filename: str, fingerprint: str, rows: int, *, created_by=None,
                   defaults: interchange.Defaults | None = None) -> Job:
    """Queue the import of a staged, previewed file (flushed; the caller's unit of work commits). Refused (409)
    while another bank import is queued or running. ``defaults``: as for ``operations.plan_file`` (the CLI's)."""
    args = {"token": token, "filename": filename, "fingerprint": fingerprint, "rows": rows,
            "user_id": getattr(created_by, "id", created_by)}
    if defaults is not None:
        args["defaults"] = {"category": defaults.category, "difficulty": defaults.difficulty, "level": defaults.level}
    return queue.enqueue(KIND, args,
                         title=f"导入题库 · {filename}", created_by=created_by, dedupe_key=DEDUPE_KEY)


def run(ctx: queue.JobContext, token: str, fingerprint: str = "", rows: int = 0, user_id: int | None = None,
        defaults: dict | None = None, **_ignored) -> dict:
    staged = UPLOADS.load(token)
    if staged is None:
        raise queue.JobFailed("上传的文件已过期或不存在，请重新上传")
    ctx.progress(0, rows or None, phase=CHECKING)
    plan = ops.plan_file(staged.data, staged.filename, interchange.Defaults(**defaults) if defaults else None,
                         near_duplicates=False)  # the preview (or the CLI) showed those warnings
    if not plan.ok:
        raise queue.JobFailed(f"文件有 {len(plan.errors)} 处错误，未导入任何题目，请按错误表修改后重新上传",
                              [e.as_dict() for e in plan.errors])
    if fingerprint and plan.fingerprint() != fingerprint:
        raise queue.JobFailed("题库在预览之后发生了变化，未导入任何题目；请重新上传文件，核对新的预览后再确认")
    actor = db.session.get(User, user_id) if user_id else None
    total = plan_rows(plan)
    added = ops.assign_codes(plan.added)
    updated_ids = [p.existing_id for p in plan.updated]
    before: dict[str, list] = {}
    for batch in chunks(updated_ids):
        latest = dict(db.session.execute(select(ItemVersion.item_id, db.func.max(ItemVersion.version))
                                         .where(ItemVersion.item_id.in_(batch)).group_by(ItemVersion.item_id)).all())
        for item_id, version_id, key in db.session.execute(
                select(Item.id, Item.current_version_id, Item.stem_key).where(Item.id.in_(batch))):
            before[str(item_id)] = [version_id, key, latest.get(item_id, 0)]
    undo = {"added": [code for code, _ in added], "updated": before}
    # What the job is about to write goes with its first committed chunk: on_finish can always undo it.
    db.session.execute(update(Job).where(Job.id == ctx.job_id).values(args={**ctx.args, "undo": undo}))
    done = len(plan.unchanged)  # unchanged rows need no writing
    ctx.progress(done, total, phase=WRITING)
    for start in range(0, len(added), CHUNK):
        chunk = added[start:start + CHUNK]
        ops.write_items(chunk, [], actor)
        done += len(chunk)
        ctx.progress(done, total, phase=WRITING)  # commits the chunk; may raise Cancelled
    for start in range(0, len(plan.updated), CHUNK):
        chunk = plan.updated[start:start + CHUNK]
        ops.write_items([], chunk, actor)
        done += len(chunk)
        ctx.progress(done, total, phase=WRITING)
    db.session.expire_all()
    summary = plan.summary()
    if plan.added or plan.updated:
        ops.audit_import(plan, undo["added"], [p.code for p in plan.updated], actor, job_id=ctx.job_id)
    return {"message": f"题库已导入：新增 {summary['added']} 题，更新 {summary['updated']} 题（生成新版本），"
                       f"未变 {summary['unchanged']} 题",
            "rows": total, "added": summary["added"], "updated": summary["updated"],
            "unchanged": summary["unchanged"]}


def undo_import(job: Job) -> int:
    """Take back what a job that did not succeed wrote; returns how many new items were removed."""
    undo = (job.args or {}).get("undo") or {}
    removed = 0
    for batch in chunks(list(undo.get("added") or [])):
        ids = list(db.session.execute(select(Item.id).where(Item.code.in_(batch))).scalars())
        if not ids:
            continue
        db.session.execute(update(Item).where(Item.id.in_(ids)).values(current_version_id=None))
        db.session.execute(delete(ItemVersion).where(ItemVersion.item_id.in_(ids)))
        removed += db.session.execute(delete(Item).where(Item.id.in_(ids))).rowcount or 0
    before = undo.get("updated") or {}
    for item_id, (version_id, key, latest) in before.items():
        db.session.execute(update(Item).where(Item.id == int(item_id)).values(current_version_id=version_id,
                                                                              stem_key=key))
        db.session.execute(delete(ItemVersion).where(ItemVersion.item_id == int(item_id),
                                                     ItemVersion.version > latest))
    db.session.flush()
    db.session.expire_all()
    return removed


def on_finish(job: Job) -> None:
    """After any end: the staged file goes; a job that did not succeed leaves the bank as it was; the undo record
    is dropped from the job's row."""
    queue.finish_undoable(job, undo=undo_import, action="bank.import.undo", discard=UPLOADS.discard,
                          target_type="bank")


def _result_url(job: Job) -> str | None:
    from flask import url_for

    return url_for("bank.index")


def register() -> None:
    queue.register_kind(KIND, "导入题库", run, retry_on_crash=False, on_finish=on_finish, result_url=_result_url)
