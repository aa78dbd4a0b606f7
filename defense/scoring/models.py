"""Scoring models of the oral defense: rubric, one case per scheduled candidate, score sheets and revisions.

Scores are kept exactly: per-criterion points are stored as decimal strings in JSON (no float ever), totals and
the finalised aggregate as ``Numeric``. The database holds what it can: one sheet per panelist × candidate,
one revision number per sheet, states and statuses by check constraint.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from certify.clock import utcnow
from certify.extensions import db
from certify.models import Candidate, User, sql_in

# The states, their labels and the score step are defined in the pure services; re-exported for the models' callers.
from ..services.states import (
    CASE_STATE_LABELS,  # noqa: F401
    LOCKED_CASE_STATES,  # noqa: F401
    SHEET_STATUS_LABELS,  # noqa: F401
    CaseState,  # noqa: F401
    SheetStatus,  # noqa: F401
)
from ..services.views import SCORE_STEP  # noqa: F401  points are entered in steps of 0.5 (docs and the sheet say so)

# Default rubric (DOMAIN.md: 认识理解, 科技素养, 组织策划能力) — the maxima sum to 100.
DEFAULT_CRITERIA = (
    ("认识理解", Decimal("30"), "对青少年科技教育工作的认识与理解：目标、意义、现状与发展。"),
    ("科技素养", Decimal("30"), "基本科学素养：科学知识、科学方法、科学精神，回答问题的准确性。"),
    ("组织策划能力", Decimal("40"), "组织策划青少年科技教育活动的能力：方案设计、实施、评价与反思。"),
)
DEFAULT_PHASES = [{"name": "个人陈述", "seconds": 300}, {"name": "专家提问", "seconds": 600}]
DEFAULT_SPREAD_THRESHOLD = Decimal("20")
DEFAULT_OUTLIER_THRESHOLD = Decimal("15")

CASE_STATES = tuple(s.value for s in CaseState)
SHEET_STATUSES = tuple(s.value for s in SheetStatus)


class Rubric(db.Model):
    """The scoring rubric of a round: criteria, the flag thresholds and the timer phases."""

    __tablename__ = "defense_rubrics"
    __table_args__ = (
        CheckConstraint("spread_threshold >= 0", name="spread_threshold"),
        CheckConstraint("outlier_threshold >= 0", name="outlier_threshold"),
        CheckConstraint("min_scorers >= 1", name="min_scorers"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), unique=True)
    spread_threshold: Mapped[Decimal] = mapped_column(Numeric(6, 2), default=DEFAULT_SPREAD_THRESHOLD)
    outlier_threshold: Mapped[Decimal] = mapped_column(Numeric(6, 2), default=DEFAULT_OUTLIER_THRESHOLD)
    min_scorers: Mapped[int] = mapped_column(default=3)
    # [{"name": "个人陈述", "seconds": 300}, …]: the chair's timer runs these phases in order.
    phases: Mapped[list] = mapped_column(JSON, default=lambda: [dict(p) for p in DEFAULT_PHASES])
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    criteria: Mapped[list[RubricCriterion]] = relationship(
        back_populates="rubric", cascade="all, delete-orphan", order_by="RubricCriterion.position")

    @property
    def max_total(self) -> Decimal:
        return sum((Decimal(c.max_points) for c in self.criteria), Decimal(0))


class RubricCriterion(db.Model):
    __tablename__ = "defense_rubric_criteria"
    __table_args__ = (
        UniqueConstraint("rubric_id", "position"),
        UniqueConstraint("rubric_id", "name"),
        CheckConstraint("max_points > 0", name="max_points"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rubric_id: Mapped[int] = mapped_column(ForeignKey("defense_rubrics.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(100))
    max_points: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    descriptors: Mapped[str] = mapped_column(Text, default="")  # optional guidance shown to panelists

    rubric: Mapped[Rubric] = relationship(back_populates="criteria")


class DefenseCase(db.Model):
    """The live record of one scheduled candidate's defense: queue, timer, state, flags and the final score."""

    __tablename__ = "defense_cases"
    __table_args__ = (CheckConstraint(sql_in("state", CASE_STATES), name="state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("defense_assignments.id", ondelete="CASCADE"),
                                               unique=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), unique=True)
    panel_id: Mapped[int] = mapped_column(ForeignKey("panels.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(20), default="waiting")
    queue_order: Mapped[int] = mapped_column(default=0)  # the room's queue; carry-over moves it to the end
    carried_over: Mapped[bool] = mapped_column(default=False)
    checked_in_at: Mapped[datetime | None]
    called_at: Mapped[datetime | None]
    # Timer: the running phase (index into rubric.phases) and when it started; a log of finished phases.
    phase_index: Mapped[int | None]
    phase_started_at: Mapped[datetime | None]
    timer_log: Mapped[list] = mapped_column(JSON, default=list)
    ended_at: Mapped[datetime | None]
    # Flags from the aggregate (spread / leave-one-out outlier) and the chair's resolution of them.
    flags: Mapped[list] = mapped_column(JSON, default=list)
    flags_resolved_at: Mapped[datetime | None]
    flags_resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    chair_comment: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[Decimal | None] = mapped_column(Numeric(7, 4))  # the finalised aggregate (exact to 4 dp)
    finalised_at: Mapped[datetime | None]
    finalised_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reopen_count: Mapped[int] = mapped_column(default=0)  # secretariat reopenings after finalisation
    version: Mapped[int] = mapped_column(default=1)  # bumped by every change, for the live room
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    candidate: Mapped[Candidate] = relationship()
    sheets: Mapped[list[ScoreSheet]] = relationship(back_populates="case", cascade="all, delete-orphan",
                                                    order_by="ScoreSheet.id")
    flags_resolved_by: Mapped[User | None] = relationship(foreign_keys=[flags_resolved_by_id])

    @property
    def locked(self) -> bool:
        return self.state in LOCKED_CASE_STATES

    @property
    def state_label(self) -> str:
        return CASE_STATE_LABELS.get(self.state, self.state)


class ScoreSheet(db.Model):
    """One panelist's sheet for one candidate (unique). ``version`` guards against a stale device overwriting."""

    __tablename__ = "defense_score_sheets"
    __table_args__ = (
        UniqueConstraint("candidate_id", "panelist_id"),
        CheckConstraint(sql_in("status", SHEET_STATUSES), name="status"),
        CheckConstraint("total IS NULL OR total >= 0", name="total_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("defense_cases.id", ondelete="CASCADE"), index=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"))
    panelist_id: Mapped[int] = mapped_column(ForeignKey("panelists.id", ondelete="CASCADE"), index=True)
    scores: Mapped[dict] = mapped_column(JSON, default=dict)  # {criterion_id: "12.5"} (decimal strings)
    total: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    version: Mapped[int] = mapped_column(default=1)
    revision: Mapped[int] = mapped_column(default=0)  # number of submissions so far (1 = original)
    submitted_at: Mapped[datetime | None]
    recuse_reason: Mapped[str] = mapped_column(Text, default="")
    reopen_reason: Mapped[str] = mapped_column(Text, default="")
    reopened_count: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    case: Mapped[DefenseCase] = relationship(back_populates="sheets")
    revisions: Mapped[list[ScoreSheetRevision]] = relationship(
        back_populates="sheet", cascade="all, delete-orphan", order_by="ScoreSheetRevision.revision")


class ScoreSheetRevision(db.Model):
    """Every submitted version of a sheet: the original (revision 1) and each revision after a reopen."""

    __tablename__ = "defense_score_sheet_revisions"
    __table_args__ = (UniqueConstraint("sheet_id", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sheet_id: Mapped[int] = mapped_column(ForeignKey("defense_score_sheets.id", ondelete="CASCADE"), index=True)
    revision: Mapped[int]
    scores: Mapped[dict] = mapped_column(JSON, default=dict)
    total: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str] = mapped_column(Text, default="")  # the reopen reason that led to this revision
    reopened_at: Mapped[datetime | None]  # set when this revision was reopened (superseded)

    sheet: Mapped[ScoreSheet] = relationship(back_populates="revisions")
