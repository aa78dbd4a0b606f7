"""The durable job queue and the worker leases (see ``certify.jobs`` for why a table rather than RQ)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from certify.clock import utcnow
from certify.extensions import db
from certify.models import User, sql_in

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
ACTIVE_STATES = (QUEUED, RUNNING)
ACTIVE_WHERE = text(sql_in("state", ACTIVE_STATES))
STATE_LABELS = {QUEUED: "排队中", RUNNING: "运行中", SUCCEEDED: "已完成", FAILED: "失败", CANCELLED: "已取消"}


class Job(db.Model):
    """One unit of background work: its kind and arguments, where it is (state, progress, phase), and how it
    ended (result, row-level errors, message). ``claim`` is the token of the worker run that holds it: every
    write of a running job is conditional on it, so a job taken back from a dead worker is never written by it."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(sql_in("state", STATES), name="state"),
        Index("ix_jobs_state_id", "state", "id"),
        # At most one queued or running job per dedupe key, whatever races the web processes run.
        Index("uq_jobs_active_dedupe_key", "dedupe_key", unique=True, sqlite_where=ACTIVE_WHERE,
              postgresql_where=ACTIVE_WHERE),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(200), default="")
    args: Mapped[dict] = mapped_column(JSON, default=dict)
    # Jobs with the same key never run side by side (e.g. one scheduling job per round).
    dedupe_key: Mapped[str | None] = mapped_column(String(120))
    round_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id", ondelete="SET NULL"), index=True)
    state: Mapped[str] = mapped_column(String(12), default=QUEUED)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int | None]
    phase: Mapped[str] = mapped_column(String(200), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict | None] = mapped_column(JSON)
    errors: Mapped[list] = mapped_column(JSON, default=list)
    attempts: Mapped[int] = mapped_column(default=0)
    claim: Mapped[str | None] = mapped_column(String(120))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]

    created_by: Mapped[User | None] = relationship()

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def state_label(self) -> str:
        return STATE_LABELS.get(self.state, self.state)


class WorkerLease(db.Model):
    """A named lease (e.g. ``exam-sweep``): whoever holds it unexpired does that work; the others skip it."""

    __tablename__ = "worker_leases"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(120))
    expires_at: Mapped[datetime]
