"""Defense models: panelists, panels, conflicts, the schedule. (Scoring models: defense/scoring_models.py.)"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from certify.clock import utcnow
from certify.extensions import db
from certify.models import Candidate, User


class Panelist(db.Model):
    """A panel expert (评审专家) of one round; their login is a User with role 'panelist'."""

    __tablename__ = "panelists"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(100))
    work_unit: Mapped[str] = mapped_column(String(200))
    expertise: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    # Import key: phone if given, else name + work unit (DOMAIN.md); stored normalised.
    import_key: Mapped[str] = mapped_column(String(320))
    # Not a column: a generated one-time password lives only on the object that created it, to be shown once.
    initial_password = None

    __table_args__ = (UniqueConstraint("round_id", "import_key"),)

    user: Mapped[User | None] = relationship()
    memberships: Mapped[list[PanelMember]] = relationship(back_populates="panelist")


class Panel(db.Model):
    """A defense panel (答辩组) of 3–5 panelists with one chair."""

    __tablename__ = "panels"
    __table_args__ = (UniqueConstraint("round_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    room: Mapped[str] = mapped_column(String(200), default="")  # a room, or
    meeting_link: Mapped[str] = mapped_column(String(500), default="")  # an online meeting link

    members: Mapped[list[PanelMember]] = relationship(back_populates="panel", cascade="all, delete-orphan")

    @property
    def chair(self) -> Panelist | None:
        return next((m.panelist for m in self.members if m.is_chair), None)


class PanelMember(db.Model):
    __tablename__ = "panel_members"
    __table_args__ = (UniqueConstraint("panel_id", "panelist_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    panel_id: Mapped[int] = mapped_column(ForeignKey("panels.id", ondelete="CASCADE"), index=True)
    panelist_id: Mapped[int] = mapped_column(ForeignKey("panelists.id", ondelete="CASCADE"), index=True)
    is_chair: Mapped[bool] = mapped_column(default=False)

    panel: Mapped[Panel] = relationship(back_populates="members")
    panelist: Mapped[Panelist] = relationship(back_populates="memberships")


class Conflict(db.Model):
    """A declared conflict of interest (回避): panelist × candidate, or panelist × work unit."""

    __tablename__ = "defense_conflicts"
    __table_args__ = (CheckConstraint("(candidate_id IS NOT NULL) OR (work_unit <> '')", name="target"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    panelist_id: Mapped[int] = mapped_column(ForeignKey("panelists.id", ondelete="CASCADE"), index=True)
    candidate_id: Mapped[int | None] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"))
    work_unit: Mapped[str] = mapped_column(String(200), default="")

    panelist: Mapped[Panelist] = relationship()
    candidate: Mapped[Candidate | None] = relationship()


class DefenseDay(db.Model):
    """A defense day of a round with its sessions: slot length and breaks."""

    __tablename__ = "defense_days"
    __table_args__ = (UniqueConstraint("round_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    day: Mapped[date]
    start_time: Mapped[str] = mapped_column(String(5), default="08:30")  # local time HH:MM
    end_time: Mapped[str] = mapped_column(String(5), default="17:30")
    slot_minutes: Mapped[int] = mapped_column(default=20)
    breaks: Mapped[str] = mapped_column(String(200), default="12:00-13:30")  # "HH:MM-HH:MM, …" local


class DefenseSchedule(db.Model):
    """The round's schedule: draft until published; publication is audited."""

    __tablename__ = "defense_schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="draft")  # draft | published
    published_at: Mapped[datetime | None]
    job_state: Mapped[str] = mapped_column(String(20), default="idle")  # idle | running | done | failed
    job_progress: Mapped[int] = mapped_column(default=0)  # 0–100
    job_message: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DefenseAssignment(db.Model):
    """One candidate's defense: panel and slot (naive UTC), and their place in the panel's queue."""

    __tablename__ = "defense_assignments"
    __table_args__ = (UniqueConstraint("panel_id", "start_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), unique=True)
    panel_id: Mapped[int] = mapped_column(ForeignKey("panels.id", ondelete="CASCADE"), index=True)
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    queue_position: Mapped[int] = mapped_column(default=0)
    changed_after_publication: Mapped[bool] = mapped_column(default=False)

    candidate: Mapped[Candidate] = relationship()
    panel: Mapped[Panel] = relationship()
