"""A large panelist import (评审专家, with their conflicts) as a background job (kind ``defense.import_panelists``).

The panelists page checks every row of an uploaded list (and of its conflicts sheet or file,
``panelist_import.check_file``) and, above ``PANELIST_JOB_MIN_ROWS`` rows, stages the file(s)
(``instance/uploads/panelists-<token>``) and asks for a confirmation instead of writing inside the POST; the
confirmation queues this job and leads to its page (rows done / total, phase, time left, cancel, then the result or
the row-level errors). Smaller files import at once, as before, and show the new accounts' passwords once.

The job checks the staged file(s) again against the round as it is then (phase "校验"): any wrong row fails it
with every row-level error and nothing written. It then records what it is about to change (the new panelists'
import keys, the old values of updated panelists, the new panels' names, the old members of the panels the file
names, the conflicts it adds to existing panelists) in its own row, and writes ``CHUNK`` panelists per committed
chunk, reporting rows done / total after each, where a cancel stops it; then the panels and the conflicts, then the
check that no scheduled candidate now faces a panelist they must avoid. A job that does not succeed once it has
begun writing (cancelled, failed, its worker gone) is undone by ``on_finish``, so the round never keeps half a
file. A dead worker's job is not re-run (it fails, and is undone).

The accounts it creates have no usable password yet (the worker has nobody to show one to): the panelists page's
"生成初始密码并导出账号" issues them once (``operations.issue_panelist_passwords``).
"""
from __future__ import annotations

from flask import current_app
from sqlalchemy import and_, delete, insert, select, update

from certify.extensions import db
from certify.jobs import queue, staging
from certify.jobs.models import Job
from certify.models import Round, User
from certify.tabular import ImportFailed, chunks

from ..models import Conflict, Panel, Panelist, PanelMember
from . import panelist_import as pi
from .operations import DefenseError, check_assignments_still_valid, find_conflict, round_panelists

KIND = "defense.import_panelists"
DEFAULT_JOB_MIN_ROWS = 500  # files with more panelist rows than this are imported by the worker
CHUNK = 200
CHECKING, WRITING, PANELS = "校验", "写入专家", "答辩组与回避"
UPLOADS = staging.Uploads("panelists")


def job_threshold() -> int:
    return int(current_app.config.get("PANELIST_JOB_MIN_ROWS", DEFAULT_JOB_MIN_ROWS))


def dedupe_key(round_id: int) -> str:
    return f"{KIND}:{round_id}"


def active_panelist_job(round_id: int) -> Job | None:
    return queue.active_job(dedupe_key(round_id))


def latest_panelist_job(round_id: int) -> Job | None:
    return db.session.execute(db.select(Job).where(Job.kind == KIND, Job.dedupe_key == dedupe_key(round_id))
                              .order_by(Job.id.desc()).limit(1)).scalar()


def stage(data: bytes, filename: str, rows: int, conflicts: bytes | None = None,
          conflicts_filename: str | None = None) -> str:
    """Stage the panelist file (and its conflicts file, staged under its own token named in the first's
    metadata); returns the token."""
    ctoken = UPLOADS.stage(conflicts, conflicts_filename or "回避.csv") if conflicts is not None else None
    return UPLOADS.stage(data, filename, rows=rows, conflicts_token=ctoken)


def load(token: str):
    """(staged panelist file, staged conflicts file or None), or None when missing or expired."""
    staged = UPLOADS.load(token)
    if staged is None:
        return None
    ctoken = staged.meta.get("conflicts_token")
    extra = UPLOADS.load(ctoken) if ctoken else None
    if ctoken and extra is None:
        return None
    return staged, extra


def discard(token: str) -> None:
    staged = UPLOADS.load(token)
    if staged is not None and staged.meta.get("conflicts_token"):
        UPLOADS.discard(staged.meta["conflicts_token"])
    UPLOADS.discard(token)


def enqueue_import(rnd: Round, token: str, filename: str, rows: int, *, created_by=None) -> Job:
    """Queue the import of a staged file (flushed; the caller's unit of work commits). Refused (409) while another
    panelist import of this round is queued or running."""
    return queue.enqueue(KIND, {"round_id": rnd.id, "token": token, "filename": filename, "rows": rows},
                         title=f"导入评审专家 · {rnd.code} · {filename}", created_by=created_by, round_id=rnd.id,
                         dedupe_key=dedupe_key(rnd.id))


def _undo_record(rnd: Round, checked: pi.CheckedFile, existing: dict[str, Panelist]) -> dict:
    created = [row["key"] for row in checked.rows if row["key"] not in existing]
    updated = {}
    for row in checked.rows:
        p = existing.get(row["key"])
        if p is not None and (p.name, p.work_unit, p.expertise, p.phone) != pi.new_values(row, p):
            updated[row["key"]] = [p.name, p.work_unit, p.expertise, p.phone]
    panels = {p.name: p for p in db.session.execute(db.select(Panel).where(
        Panel.round_id == rnd.id, Panel.name.in_(list(checked.panels_in_file) or [""]))).scalars()}
    conflicts = []
    for key, cand, unit in checked.conflict_rows:
        p = existing.get(key)
        if p is not None and find_conflict(p, cand, unit) is None:
            conflicts.append([p.id, cand.id if cand else None, unit])
    return {"created": created, "updated": updated,
            "panels_created": [name for name in checked.panels_in_file if name not in panels],
            "panels_before": {str(panel.id): [[m.panelist_id, m.is_chair] for m in panel.members]
                              for panel in panels.values()},
            "conflicts": conflicts}


def run(ctx: queue.JobContext, round_id: int, token: str, rows: int = 0, **_ignored) -> dict:
    rnd = db.session.get(Round, round_id)
    if rnd is None:
        raise queue.JobFailed("该轮次已不存在")
    loaded = load(token)
    if loaded is None:
        raise queue.JobFailed("上传的文件已过期或不存在，请重新上传")
    staged, extra = loaded
    ctx.progress(0, rows or None, phase=CHECKING)
    try:
        checked = pi.check_file(rnd, staged.data, staged.filename, extra.data if extra else None,
                                extra.filename if extra else None)
    except ImportFailed as err:
        raise queue.JobFailed(f"文件有 {len(err.errors)} 处错误，未导入任何专家，请按错误表修改后重新上传",
                              [e.as_dict() for e in err.errors]) from None
    existing = {p.import_key: p for p in round_panelists(rnd)}
    undo = _undo_record(rnd, checked, existing)
    # What the job is about to write goes with its first committed chunk: on_finish can always undo it.
    db.session.execute(update(Job).where(Job.id == ctx.job_id).values(args={**ctx.args, "undo": undo}))
    total, done = len(checked.rows), 0
    result = pi.ImportResult()
    ctx.progress(done, total, phase=WRITING)
    for start in range(0, total, CHUNK):
        chunk = checked.rows[start:start + CHUNK]
        pi.write_panelists(rnd, chunk, existing, result, issue=False)
        done += len(chunk)
        ctx.progress(done, total, phase=WRITING)  # commits the chunk; may raise Cancelled
    ctx.progress(total, total, phase=PANELS)
    by_key = {p.import_key: p for p in round_panelists(rnd)}  # one query: the committed chunks expired them
    pi.write_panels_and_conflicts(rnd, checked, by_key, result)
    try:
        check_assignments_still_valid(rnd)
    except DefenseError as err:
        raise queue.JobFailed("导入会使已排定的考生面对须回避的专家，未导入任何专家", list(err.messages)) from None
    pi.audit_import(rnd, checked.file, result, job_id=ctx.job_id)
    message = (f"导入完成：新增专家 {result.created} 名，更新 {result.updated} 名，未变 {result.unchanged} 名；"
               f"新建答辩组 {result.panels_created} 个，调整答辩组 {result.panels_changed} 个；"
               f"新增回避 {result.conflicts_added} 条")
    if result.created:
        message += f"。新建的 {result.created} 个专家账号尚无密码，请在「评审专家」页生成初始密码并导出账号"
    return {"message": message, "rows": total, "added": result.created, "updated": result.updated,
            "unchanged": result.unchanged, "panels_created": result.panels_created,
            "panels_changed": result.panels_changed, "conflicts_added": result.conflicts_added}


def undo_import(job: Job) -> int:
    """Take back what a job that did not succeed wrote; returns how many new panelists were removed."""
    args = job.args or {}
    undo, round_id = args.get("undo") or {}, args.get("round_id")
    if round_id is None:
        return 0
    for panelist_id, candidate_id, unit in undo.get("conflicts") or []:
        same = Conflict.candidate_id == candidate_id if candidate_id is not None else and_(
            Conflict.candidate_id.is_(None), Conflict.work_unit == unit)
        db.session.execute(delete(Conflict).where(Conflict.panelist_id == panelist_id, same))
    for panel_id, members in (undo.get("panels_before") or {}).items():
        db.session.execute(delete(PanelMember).where(PanelMember.panel_id == int(panel_id)))
        if members:
            db.session.execute(insert(PanelMember), [{"panel_id": int(panel_id), "panelist_id": pid, "is_chair": chair}
                                                     for pid, chair in members])
    for batch in chunks(list(undo.get("panels_created") or [])):
        ids = list(db.session.execute(select(Panel.id).where(Panel.round_id == round_id,
                                                             Panel.name.in_(batch))).scalars())
        db.session.execute(delete(PanelMember).where(PanelMember.panel_id.in_(ids)))
        db.session.execute(delete(Panel).where(Panel.id.in_(ids)))
    removed = 0
    for batch in chunks(list(undo.get("created") or [])):
        found = db.session.execute(select(Panelist.id, Panelist.user_id).where(
            Panelist.round_id == round_id, Panelist.import_key.in_(batch))).all()
        ids, user_ids = [r[0] for r in found], [r[1] for r in found if r[1] is not None]
        db.session.execute(delete(PanelMember).where(PanelMember.panelist_id.in_(ids)))
        db.session.execute(delete(Conflict).where(Conflict.panelist_id.in_(ids)))
        removed += db.session.execute(delete(Panelist).where(Panelist.id.in_(ids))).rowcount or 0
        db.session.execute(delete(User).where(User.id.in_(user_ids)))
    for key, (name, unit, expertise, phone) in (undo.get("updated") or {}).items():
        p = db.session.execute(select(Panelist).filter_by(round_id=round_id, import_key=key)).scalar_one_or_none()
        if p is not None:
            p.name, p.work_unit, p.expertise, p.phone = name, unit, expertise, phone
            if p.user is not None:
                p.user.display_name = name
    db.session.flush()
    db.session.expire_all()
    return removed


def on_finish(job: Job) -> None:
    """After any end: the staged file(s) go; a job that did not succeed leaves the round's panelists as they were;
    the undo record is dropped from the job's row."""
    queue.finish_undoable(job, undo=undo_import, action="defense.import_panelists.undo", discard=discard,
                          round_id=(job.args or {}).get("round_id"))


def _result_url(job: Job) -> str | None:
    from flask import url_for

    rnd = db.session.get(Round, (job.args or {}).get("round_id"))
    return url_for("defense_admin.panelists", code=rnd.code) if rnd is not None else None


def register() -> None:
    queue.register_kind(KIND, "导入评审专家", run, retry_on_crash=False, on_finish=on_finish,
                        result_url=_result_url)
