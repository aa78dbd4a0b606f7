"""Core models shared by every area: accounts, rounds and schemes, roster, component scores, audit."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from flask_login import UserMixin
from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Numeric, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from .clock import utcnow
from .domain import COMPONENTS, LEVELS, MC_PARTIAL_HALF, ROLES
from .extensions import db


def sql_in(column: str, values) -> str:
    """A CHECK constraint's ``column IN (…)`` over the allowed values (one spelling for every table)."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(sql_in("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(255))
    must_change_password: Mapped[bool] = mapped_column(default=False)
    is_active_account: Mapped[bool] = mapped_column(default=True)
    # Part of the session id (``get_id``): bumped on logout, password change/reset and disabling, so a session
    # cookie issued before no longer loads the user.
    session_epoch: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    def set_password(self, password: str) -> None:
        """Hash a password with the strong KDF (no rule checks: see ``certify.accounts.change_password``)."""
        self.password_hash = generate_password_hash(password, method="scrypt")

    @property
    def has_usable_password(self) -> bool:
        """False for an imported candidate whose one-time password has not been issued yet."""
        return bool(self.password_hash) and not self.password_hash.startswith("!")

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.is_active_account

    def has_role(self, *roles: str) -> bool:
        return self.role in roles

    def __repr__(self) -> str:
        return f"<User {self.username} {self.role}>"


class Round(db.Model):
    """A certification round, e.g. code ``2024-cq``, region 重庆, year 2024."""

    __tablename__ = "rounds"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    region: Mapped[str] = mapped_column(String(20))
    year: Mapped[int]
    mc_policy: Mapped[str] = mapped_column(String(20), default=MC_PARTIAL_HALF)
    publicity_working_days: Mapped[int] = mapped_column(default=5)
    # the publicity notice (公示): who issues it and where complaints go (migration 0009)
    publicity_issuer: Mapped[str] = mapped_column(String(200), default="", server_default="")
    publicity_contact: Mapped[str] = mapped_column(String(300), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    schemes: Mapped[list[Scheme]] = relationship(
        back_populates="round", cascade="all, delete-orphan", order_by="Scheme.level.desc()"
    )
    candidates: Mapped[list[Candidate]] = relationship(back_populates="round")

    def scheme_for(self, level: str) -> Scheme | None:
        return next((s for s in self.schemes if s.level == level), None)

    @property
    def levels(self) -> list[str]:
        return [s.level for s in self.schemes]

    @property
    def title(self) -> str:
        return self.name or f"{self.year}年{self.region}青少年科技辅导员专业水平认证"


class Scheme(db.Model):
    """One level of a round: component weights (sum 100) and the certification ratio."""

    __tablename__ = "schemes"
    __table_args__ = (
        UniqueConstraint("round_id", "level"),
        CheckConstraint(sql_in("level", LEVELS), name="level"),
        CheckConstraint("exam_weight + defense_weight + record_weight = 100", name="weights_sum"),
        CheckConstraint("ratio > 0 AND ratio <= 1", name="ratio_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"))
    level: Mapped[str] = mapped_column(String(10))
    exam_weight: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    defense_weight: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    record_weight: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    ratio: Mapped[Decimal] = mapped_column(Numeric(5, 4))
    min_total: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))

    round: Mapped[Round] = relationship(back_populates="schemes")

    def weight(self, component: str) -> Decimal:
        return {"exam": self.exam_weight, "defense": self.defense_weight, "record": self.record_weight}[component]

    @property
    def components(self) -> list[str]:
        return [c for c in COMPONENTS if self.weight(c) > 0]

    @property
    def has_exam(self) -> bool:
        return self.exam_weight > 0

    @property
    def has_defense(self) -> bool:
        return self.defense_weight > 0


class Candidate(db.Model):
    """An admitted candidate of one round (roster key: 证件号 within the round)."""

    __tablename__ = "candidates"
    __table_args__ = (
        UniqueConstraint("round_id", "id_number"),
        CheckConstraint(sql_in("level", LEVELS), name="level"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), unique=True)
    ticket: Mapped[str] = mapped_column(String(40), unique=True)  # 准考证号, also the login name
    id_number: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    work_unit: Mapped[str] = mapped_column(String(200))
    district: Mapped[str] = mapped_column(String(100), default="")
    level: Mapped[str] = mapped_column(String(10))
    phone: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    round: Mapped[Round] = relationship(back_populates="candidates")
    user: Mapped[User | None] = relationship()

    @property
    def scheme(self) -> Scheme | None:
        return self.round.scheme_for(self.level)


class ComponentScore(db.Model):
    """A candidate's score in one component (exam, defense, work record), as the results read it.

    Exam grading, defense finalisation and the work-record import each write here through
    ``certify.scores.record_component``; results never reach into the areas' own tables.
    ``status`` is ``scored`` (score set) or ``absent`` (缺考, score empty).
    """

    __tablename__ = "component_scores"
    __table_args__ = (
        UniqueConstraint("candidate_id", "component"),
        CheckConstraint(sql_in("component", COMPONENTS), name="component"),
        CheckConstraint("status IN ('scored', 'absent')", name="status"),
        CheckConstraint("score IS NULL OR (score >= 0 AND score <= 100)", name="score_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), index=True)
    component: Mapped[str] = mapped_column(String(10))
    score: Mapped[Decimal | None] = mapped_column(Numeric(7, 4))
    status: Mapped[str] = mapped_column(String(10), default="scored")
    source: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    candidate: Mapped[Candidate] = relationship()


class AuditEntry(db.Model):
    """Append-only audit trail: who did what, when and why; a hash chain (certify.services.audit_chain) makes
    an edited, deleted or moved entry visible, and on PostgreSQL a trigger refuses UPDATE and DELETE."""

    __tablename__ = "audit_entries"
    # prev_hash is unique: two entries can never chain to the same predecessor, whatever the writers do.
    __table_args__ = (Index("ix_audit_round_at", "round_id", "at"), UniqueConstraint("prev_hash"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    round_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(60), index=True)
    target_type: Mapped[str] = mapped_column(String(40), default="")
    target_id: Mapped[str] = mapped_column(String(40), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))

    actor: Mapped[User | None] = relationship()


def _audit_append_only(table, connection, **_kw):
    if connection.dialect.name == "postgresql":  # db.create_all() gets the trigger the migration creates
        from sqlalchemy import text

        from .services.audit_chain import PG_APPEND_ONLY_FUNCTION, PG_APPEND_ONLY_TRIGGER

        connection.execute(text(PG_APPEND_ONLY_FUNCTION))
        connection.execute(text(PG_APPEND_ONLY_TRIGGER))


event.listen(AuditEntry.__table__, "after_create", _audit_append_only)


def _user_get_id(self) -> str:
    # The epoch in the session id makes a password change end every other session of the account.
    return f"{self.id}:{self.session_epoch or 0}"


User.get_id = _user_get_id
