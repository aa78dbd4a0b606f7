"""Job kinds, enqueueing, cancelling, claiming, running and reaping; and the worker leases.

A job function is ``fn(ctx: JobContext, **args) -> dict | None`` registered with ``register_kind``. It reports
``ctx.progress(done, total, phase)`` between chunks; each report commits the work done so far together with the
progress (one transaction, so SQLite's single writer is never asked for a second connection) and raises
``Cancelled`` when a cancel was requested or the job was taken back from this worker. ``ctx.error(...)`` records
a row-level error; ``raise JobFailed(message, errors)`` ends the job as failed (its uncommitted work rolled back).
The return value is the job's result (JSON).
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from certify import uow
from certify.clock import utcnow
from certify.errors import DomainError
from certify.extensions import db

from .models import ACTIVE_STATES, CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, Job, WorkerLease

log = logging.getLogger(__name__)
EPOCH = datetime(1970, 1, 1)


class JobError(DomainError):
    """A refusal about a job itself (unknown kind, already running, not cancellable)."""


class Cancelled(Exception):
    """Raised inside a job when it must stop (cancel requested, or the job is no longer ours)."""


class JobFailed(Exception):
    """A job ends as failed with a message and optional row-level errors."""

    def __init__(self, message: str, errors: list | None = None):
        super().__init__(message)
        self.message = message
        self.errors = list(errors or [])


@dataclass(frozen=True)
class JobKind:
    name: str
    title: str
    fn: Callable[..., Any]
    # Safe to run again from the start when its worker died mid-way (idempotent); otherwise it fails clearly.
    retry_on_crash: bool = False
    max_attempts: int = 2
    # Where the job page links when the job is done: fn(job) -> url or None.
    result_url: Callable[[Job], str | None] | None = None
    # Runs in its own transaction once the job has ended (any final state, a dead worker's job included).
    on_finish: Callable[[Job], None] | None = None


KINDS: dict[str, JobKind] = {}


def register_kind(name: str, title: str, fn: Callable, **options) -> JobKind:
    kind = JobKind(name, title, fn, **options)
    KINDS[name] = kind
    return kind


def kind_of(job: Job) -> JobKind | None:
    return KINDS.get(job.kind)


def _config(name: str, default: float) -> float:
    try:
        return float(current_app.config.get(name, default))
    except RuntimeError:  # outside an app context
        return default


def stale_after() -> timedelta:
    return timedelta(seconds=_config("JOB_STALE_SECONDS", 60))


def heartbeat_interval() -> float:
    return _config("JOB_HEARTBEAT_SECONDS", 10)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"


# ------------------------------------------------------------------------------------------------ state changes

def active_job(dedupe_key: str) -> Job | None:
    """The queued or running job with this key, if any (a running one with a stale heartbeat does not count)."""
    jobs = db.session.execute(select(Job).where(Job.dedupe_key == dedupe_key, Job.state.in_(ACTIVE_STATES))
                              .order_by(Job.id.desc())).scalars()
    for job in jobs:
        if job.state == QUEUED or not is_stale(job):
            return job
    return None


def is_stale(job: Job, now: datetime | None = None) -> bool:
    now = now or utcnow()
    beat = job.heartbeat_at or job.started_at or job.created_at
    return job.state == RUNNING and now - beat > stale_after()


def enqueue(kind: str, args: dict | None = None, *, title: str = "", created_by=None, round_id: int | None = None,
            dedupe_key: str | None = None) -> Job:
    """Queue a job (flushed, not committed: the caller's unit of work commits it). Refused when a job with the
    same ``dedupe_key`` is already queued or running."""
    if kind not in KINDS:
        raise JobError("unknown_job_kind", f"未知的任务类型「{kind}」", 400)
    if dedupe_key:
        if (existing := active_job(dedupe_key)) is not None:
            raise JobError("job_running", "同类任务正在进行中", 409, job_id=existing.id)
        _fail_stale(dedupe_key)  # a dead worker's job with this key must not hold the key
    job = Job(kind=kind, title=title or KINDS[kind].title, args=dict(args or {}), dedupe_key=dedupe_key,
              round_id=round_id, created_by_id=getattr(created_by, "id", created_by), state=QUEUED,
              created_at=utcnow(), errors=[], message="等待后台进程执行")
    db.session.add(job)
    try:
        db.session.flush()
    except IntegrityError:  # another process queued the same key a moment ago (uq_jobs_active_dedupe_key)
        db.session.rollback()
        raise JobError("job_running", "同类任务正在进行中", 409) from None
    from certify.audit import audit

    audit("job.enqueue", target=job, round_id=round_id, kind=kind, args=job.args)
    return job


def _fail_stale(dedupe_key: str) -> None:
    now = utcnow()
    db.session.execute(update(Job).where(Job.dedupe_key == dedupe_key, Job.state == RUNNING,
                                         Job.heartbeat_at < now - stale_after()).values(
        state=FAILED, claim=None, finished_at=now,
        message="执行该任务的后台进程已中断，任务未完成（已有新的同类任务提交）"))


def request_cancel(job: Job) -> Job:
    """A queued job is cancelled at once; a running one is asked to stop at its next checkpoint."""
    now = utcnow()
    if job.state == QUEUED:
        rows = db.session.execute(update(Job).where(Job.id == job.id, Job.state == QUEUED).values(
            state=CANCELLED, cancel_requested=True, finished_at=now, message="已取消（尚未开始执行）")).rowcount
        if rows:
            db.session.refresh(job)
            kind = kind_of(job)
            if kind is not None and kind.on_finish is not None:
                kind.on_finish(job)  # in the caller's transaction: the job never ran
            return job
        db.session.refresh(job)
    if job.state != RUNNING:
        raise JobError("job_finished", "任务已结束，无法取消", 409)
    job.cancel_requested = True
    job.message = "已请求取消，任务将在当前步骤结束后停止"
    db.session.flush()
    return job


# ------------------------------------------------------------------------------------------------ the worker side

def claim_next(claim: str, *, now: datetime | None = None) -> int | None:
    """Atomically take the oldest queued job of a known kind; commits. PostgreSQL: ``FOR UPDATE SKIP LOCKED``
    (competing workers skip each other's row instead of waiting); SQLite: one conditional ``UPDATE`` (SQLite
    has one writer at a time, so the statement is atomic)."""
    now = now or utcnow()
    if not KINDS:
        return None
    table = Job.__table__
    pick = (select(table.c.id).where(table.c.state == QUEUED, table.c.kind.in_(list(KINDS)))
            .order_by(table.c.id).limit(1))
    values = dict(state=RUNNING, claim=claim, started_at=now, heartbeat_at=now, attempts=table.c.attempts + 1,
                  message="")
    try:
        if db.engine.dialect.name == "postgresql":
            job_id = db.session.execute(pick.with_for_update(skip_locked=True)).scalar()
            if job_id is None:
                db.session.rollback()
                return None
            db.session.execute(update(table).where(table.c.id == job_id).values(**values))
        else:
            job_id = db.session.execute(update(table).where(table.c.id == pick.scalar_subquery(),
                                                            table.c.state == QUEUED)
                                        .values(**values).returning(table.c.id)).scalar()
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return job_id


def reap_stale(*, now: datetime | None = None) -> dict[str, list[int]]:
    """Running jobs whose worker stopped beating (process killed, machine restarted): re-queue the ones safe
    to run again, fail the others with a message that says so. Conditional updates: safe with several workers.
    Commits."""
    now = now or utcnow()
    cutoff = now - stale_after()
    out = {"requeued": [], "failed": []}
    stale = db.session.execute(select(Job).where(Job.state == RUNNING, Job.heartbeat_at < cutoff)).scalars().all()
    for job in stale:
        kind = kind_of(job)
        guard = (Job.id == job.id, Job.state == RUNNING, Job.claim == job.claim)
        if kind is not None and kind.retry_on_crash and job.attempts < kind.max_attempts and not job.cancel_requested:
            values = dict(state=QUEUED, claim=None, heartbeat_at=None,
                          message="执行该任务的后台进程已中断，任务已重新排队")
            bucket = "requeued"
        else:
            values = dict(state=CANCELLED if job.cancel_requested else FAILED, claim=None, finished_at=now,
                          message=(f"执行该任务的后台进程已中断（超过 {int(stale_after().total_seconds())} 秒无响应），"
                                   "任务未完成，请重新提交"))
            bucket = "failed"
        if db.session.execute(update(Job).where(*guard).values(**values)).rowcount:
            out[bucket].append(job.id)
    db.session.commit()
    for job_id in out["failed"]:
        _after_finish(job_id)
    return out


def _after_finish(job_id: int) -> None:
    job = db.session.get(Job, job_id)
    kind = kind_of(job) if job is not None else None
    if kind is None or kind.on_finish is None:
        return
    try:
        db.session.refresh(job)
        if job.state in ACTIVE_STATES:  # taken back from this worker and re-queued: not ended
            return
        with uow.unit_of_work():
            kind.on_finish(job)
    except Exception:  # the job's own state is already recorded; only its mirror is missing
        log.exception("on_finish of job %s failed", job_id)


class JobContext:
    """What a running job sees: its id and arguments, progress reports, the cancel check, row errors."""

    def __init__(self, job: Job, claim: str, *, echo: Callable[[Job], None] | None = None):
        self.job_id = job.id
        self.args = dict(job.args or {})
        self.claim = claim
        self.errors: list = list(job.errors or [])
        self._echo = echo
        self._lock = threading.Lock()

    def error(self, message: str, *, row: int | None = None, column: str | None = None, sheet: str | None = None):
        self.errors.append({k: v for k, v in {"row": row, "column": column, "sheet": sheet,
                                              "message": message}.items() if v is not None})

    def progress(self, done: int | None = None, total: int | None = None, phase: str | None = None,
                 message: str | None = None) -> None:
        """Commit the work so far with the progress; raise ``Cancelled`` when asked to stop."""
        values: dict = {"heartbeat_at": utcnow(), "errors": list(self.errors)}
        if done is not None:
            values["done"] = done
        if total is not None:
            values["total"] = total
        if phase is not None:
            values["phase"] = phase[:200]
        if message is not None:
            values["message"] = message
        with self._lock:
            row = db.session.execute(update(Job).where(Job.id == self.job_id, Job.claim == self.claim,
                                                       Job.state == RUNNING)
                                     .values(**values).returning(Job.cancel_requested)).first()
            uow.commit()
        if row is None:
            raise Cancelled("任务已不再由本进程执行")
        if self._echo is not None:
            self._echo(db.session.get(Job, self.job_id))
        if row[0]:
            raise Cancelled("已按请求取消")

    def check_cancel(self) -> None:
        """Raise ``Cancelled`` if a cancel was requested (reads only)."""
        row = db.session.execute(select(Job.cancel_requested, Job.claim, Job.state)
                                 .where(Job.id == self.job_id)).first()
        if row is None or row[1] != self.claim or row[2] != RUNNING:
            raise Cancelled("任务已不再由本进程执行")
        if row[0]:
            raise Cancelled("已按请求取消")


class _Heartbeat(threading.Thread):
    """Beats for a running job while its function is busy (a CP-SAT solve reports nothing for seconds)."""

    def __init__(self, app, job_id: int, claim: str, interval: float):
        super().__init__(name=f"job-heartbeat-{job_id}", daemon=True)
        self.app, self.job_id, self.claim, self.interval = app, job_id, claim, interval
        self.stop = threading.Event()

    def run(self):
        while not self.stop.wait(self.interval):
            try:
                with self.app.app_context():
                    with db.engine.begin() as conn:
                        conn.execute(update(Job).where(Job.id == self.job_id, Job.claim == self.claim,
                                                       Job.state == RUNNING).values(heartbeat_at=utcnow()))
            except Exception:  # a busy SQLite writer: the next beat retries
                log.debug("job heartbeat failed", exc_info=True)


def _finish(job_id: int, claim: str, state: str, *, message: str, result=None, errors=None) -> bool:
    db.session.rollback()
    values = dict(state=state, message=message, finished_at=utcnow(), claim=None, heartbeat_at=utcnow())
    if result is not None:
        values["result"] = result
    if errors is not None:
        values["errors"] = errors
    rows = db.session.execute(update(Job).where(Job.id == job_id, Job.claim == claim, Job.state == RUNNING)
                              .values(**values)).rowcount
    uow.commit()
    return bool(rows)


def run_claimed(job_id: int, claim: str, *, echo: Callable[[Job], None] | None = None) -> str:
    """Run a claimed job to its end in the current app context; returns its final state."""
    app = current_app._get_current_object()
    job = db.session.get(Job, job_id)
    kind = kind_of(job)
    ctx = JobContext(job, claim, echo=echo)
    beat = _Heartbeat(app, job_id, claim, heartbeat_interval())
    beat.start()
    try:
        if kind is None:
            raise JobFailed(f"本进程不认识任务类型「{job.kind}」")
        with uow.unit_of_work():
            result = kind.fn(ctx, **ctx.args)
        result = result if isinstance(result, dict) else None
        state = SUCCEEDED
        _finish(job_id, claim, SUCCEEDED, message=(result or {}).get("message") or "已完成", result=result,
                errors=ctx.errors)
    except Cancelled as stop:
        state = CANCELLED
        _finish(job_id, claim, CANCELLED, message=str(stop), errors=ctx.errors)
    except JobFailed as err:
        state = FAILED
        _finish(job_id, claim, FAILED, message=err.message, errors=ctx.errors + err.errors)
    except DomainError as err:
        state = FAILED
        _finish(job_id, claim, FAILED, message="；".join(err.messages) if err.messages else err.code,
                errors=ctx.errors)
    except Exception as exc:  # the page must learn the job ended; details go to the log
        state = FAILED
        log.exception("job %s (%s) failed", job_id, getattr(job, "kind", "?"))
        _finish(job_id, claim, FAILED, message=f"任务出错：{type(exc).__name__}，详情见服务器日志",
                errors=ctx.errors)
    finally:
        beat.stop.set()
    _after_finish(job_id)
    return state


def run_next(*, name: str | None = None) -> int | None:
    """Claim and run one queued job (the worker's tick, and tests); returns its id or None when idle."""
    claim = f"{name or worker_name()}:{uuid.uuid4().hex[:8]}"
    job_id = claim_next(claim)
    if job_id is None:
        return None
    run_claimed(job_id, claim)
    return job_id


def run_pending(*, limit: int = 100) -> list[int]:
    """Run queued jobs until none is left (tests, ``certify job run-queued``)."""
    done = []
    while len(done) < limit and (job_id := run_next()) is not None:
        done.append(job_id)
    return done


def run_in_foreground(job: Job, *, echo: Callable[[Job], None] | None = None) -> str:
    """Run a just-enqueued job in this process (the CLI): claimed like a worker would, so no worker takes it."""
    claim = f"{worker_name()}:cli:{uuid.uuid4().hex[:8]}"
    rows = db.session.execute(update(Job).where(Job.id == job.id, Job.state == QUEUED).values(
        state=RUNNING, claim=claim, started_at=utcnow(), heartbeat_at=utcnow(), attempts=Job.attempts + 1,
        message="")).rowcount
    uow.commit()
    if not rows:
        raise JobError("job_taken", "任务已被后台进程领取", 409)
    return run_claimed(job.id, claim, echo=echo)


# ------------------------------------------------------------------------------------------------ leases

def acquire_lease(name: str, holder: str, ttl_seconds: float, *, now: datetime | None = None) -> bool:
    """Take (or renew) the named lease unless someone else holds it unexpired. Each step is one write
    statement in its own transaction, so it is atomic on SQLite and PostgreSQL alike. Commits."""
    now = now or utcnow()
    table = WorkerLease.__table__
    insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    try:
        db.session.execute(insert(table).values(name=name, holder=None, expires_at=EPOCH)
                           .on_conflict_do_nothing(index_elements=["name"]))
        db.session.commit()
        rows = db.session.execute(update(table).where(
            table.c.name == name, (table.c.expires_at < now) | (table.c.holder == holder))
            .values(holder=holder, expires_at=now + timedelta(seconds=ttl_seconds))).rowcount
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return bool(rows)


def release_lease(name: str, holder: str) -> None:
    table = WorkerLease.__table__
    try:
        db.session.execute(update(table).where(table.c.name == name, table.c.holder == holder)
                           .values(holder=None, expires_at=EPOCH))
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def finish_undoable(job: Job, *, undo: Callable[[Job], int], action: str, discard: Callable[[str], None],
                    **where) -> None:
    """The ``on_finish`` of an import job that records what it writes (``args["undo"]``: the rows it added and the
    old values of those it updated) before its first committed chunk: after any end, a job that did not succeed is
    undone (``undo(job)`` returns how many rows it removed; audited as ``action`` with ``where``), the undo record is
    dropped from the job's row, and the staged upload goes (``discard(token)``)."""
    from certify.audit import audit

    args = job.args or {}
    if job.state != SUCCEEDED and args.get("undo"):
        removed = undo(job)
        audit(action, **where, job_id=job.id, removed=removed, restored=len(args["undo"].get("updated") or {}))
    if "undo" in args:
        job.args = {k: v for k, v in args.items() if k != "undo"}
        db.session.flush()
    discard(args.get("token") or "")

