"""Results tables: a frozen result set per round · level, its entries, the publicity period, complaints.

A ``ResultSet`` exists once a level has been confirmed; its ``ResultEntry`` rows freeze the components, the
exact total, the rank and the outcome at that moment (later component changes do not alter them). A reopen
(audited, with a reason) deletes the entries and puts the set back to ``draft``. The states and the allowed
moves are the table in ``services/states.py``; ``operations.transition`` is the one place a state changes.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from certify.clock import utcnow
from certify.domain import LEVELS
from certify.extensions import db
from certify.models import Candidate, Round, User, sql_in

from .services.states import ResultSetState

DRAFT = ResultSetState.DRAFT
CONFIRMED = ResultSetState.CONFIRMED
STATES = tuple(s.value for s in ResultSetState)

CERTIFIED = "certified"
NOT_CERTIFIED = "not_certified"
ABSENT = "absent"
OUTCOMES = (CERTIFIED, NOT_CERTIFIED, ABSENT)
OUTCOME_LABELS = {CERTIFIED: "认定", NOT_CERTIFIED: "未认定", ABSENT: "缺考"}

OPEN = "open"
UPHELD = "upheld"
DISMISSED = "dismissed"
COMPLAINT_STATES = (OPEN, UPHELD, DISMISSED)
COMPLAINT_LABELS = {OPEN: "待处理", UPHELD: "属实（撤销认定）", DISMISSED: "不属实"}


class ResultSet(db.Model):
    __tablename__ = "result_sets"
    __table_args__ = (
        UniqueConstraint("round_id", "level"),
        CheckConstraint(sql_in("level", LEVELS), name="level"),
        CheckConstraint(sql_in("state", STATES), name="state"),
        CheckConstraint("ratio > 0 AND ratio <= 1", name="ratio_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    level: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(12), default=DRAFT)
    ratio: Mapped[Decimal] = mapped_column(Numeric(5, 4))
    min_total: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    eligible: Mapped[int] = mapped_column(default=0)
    quota: Mapped[int] = mapped_column(default=0)
    cut_line: Mapped[Decimal | None] = mapped_column(Numeric(14, 8))
    confirmed_at: Mapped[datetime | None]
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    round: Mapped[Round] = relationship()
    confirmed_by: Mapped[User | None] = relationship()
    entries: Mapped[list[ResultEntry]] = relationship(back_populates="result_set", cascade="all, delete-orphan",
                                                      order_by="ResultEntry.position")

    @property
    def confirmed(self) -> bool:
        return self.state == CONFIRMED


class ResultEntry(db.Model):
    __tablename__ = "result_entries"
    __table_args__ = (
        UniqueConstraint("result_set_id", "candidate_id"),
        CheckConstraint(sql_in("outcome", OUTCOMES), name="outcome"),
        CheckConstraint("outcome <> 'absent' OR total IS NULL", name="absent_no_total"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    result_set_id: Mapped[int] = mapped_column(ForeignKey("result_sets.id", ondelete="CASCADE"), index=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]  # order of the list (rank order, absent last)
    exam: Mapped[Decimal | None] = mapped_column(Numeric(7, 4))
    defense: Mapped[Decimal | None] = mapped_column(Numeric(7, 4))
    record: Mapped[Decimal | None] = mapped_column(Numeric(7, 4))
    total: Mapped[Decimal | None] = mapped_column(Numeric(14, 8))
    rank: Mapped[int | None]
    outcome: Mapped[str] = mapped_column(String(16))
    revoked: Mapped[bool] = mapped_column(default=False)
    revoked_reason: Mapped[str] = mapped_column(Text, default="")

    result_set: Mapped[ResultSet] = relationship(back_populates="entries")
    candidate: Mapped[Candidate] = relationship()

    def component(self, name: str) -> Decimal | None:
        return {"exam": self.exam, "defense": self.defense, "record": self.record}[name]

    @property
    def final_outcome(self) -> str:
        """The outcome after complaints: a revoked certification is 未认定."""
        return NOT_CERTIFIED if self.revoked else self.outcome


class PublicityPeriod(db.Model):
    """Publication of a round's results: the publicity list and its period; candidates see results from then."""

    __tablename__ = "publicity_periods"
    __table_args__ = (CheckConstraint("end_date >= start_date", name="dates"),
                      CheckConstraint("working_days >= 1", name="working_days"))

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), unique=True)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    working_days: Mapped[int]
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    round: Mapped[Round] = relationship()


class Complaint(db.Model):
    __tablename__ = "complaints"
    __table_args__ = (CheckConstraint(sql_in("status", COMPLAINT_STATES), name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), index=True)
    lodged_on: Mapped[date] = mapped_column(Date)
    complainant: Mapped[str] = mapped_column(String(100), default="")
    content: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default=OPEN)
    outcome_note: Mapped[str] = mapped_column(Text, default="")
    # why a complaint is recorded after the publicity period ended (e.g. a later disciplinary finding); migration 0009
    late_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]

    candidate: Mapped[Candidate] = relationship()
    recorded_by: Mapped[User | None] = relationship(foreign_keys=[recorded_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
