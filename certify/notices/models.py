"""Notices (one per person and event), their delivery outbox (one row per notice × channel), contacts."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from certify.clock import utcnow
from certify.extensions import db
from certify.models import User, sql_in

from .services.delivery import CHANNELS, KINDS, PENDING, STATES


class Notice(db.Model):
    """A notice to one person (a candidate's or a staff user's account), shown in their notice centre."""

    __tablename__ = "notices"
    __table_args__ = (CheckConstraint(sql_in("kind", KINDS), name="kind"),
                      Index("ix_notices_user_read", "user_id", "read_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    round_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()
    deliveries: Mapped[list[NoticeDelivery]] = relationship(back_populates="notice", cascade="all, delete-orphan")


class NoticeDelivery(db.Model):
    """The outbox: one notice on one channel. The worker leases a row (state ``sending`` + ``lease_until``) with
    one conditional UPDATE before sending, so two workers never send the same row."""

    __tablename__ = "notice_deliveries"
    __table_args__ = (UniqueConstraint("notice_id", "channel"),
                      CheckConstraint(sql_in("channel", CHANNELS), name="channel"),
                      CheckConstraint(sql_in("state", STATES), name="state"),
                      Index("ix_notice_deliveries_state_next", "state", "next_try_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(10))
    address: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(10), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_try_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    lease_holder: Mapped[str] = mapped_column(String(100), default="")
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    notice: Mapped[Notice] = relationship(back_populates="deliveries")


class NoticeContact(db.Model):
    """A person's e-mail and mobile for notices (set by the secretariat; a candidate's mobile defaults to the
    roster's 手机, a panelist's to the panelist list's 手机)."""

    __tablename__ = "notice_contacts"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    email: Mapped[str] = mapped_column(String(200), default="")
    mobile: Mapped[str] = mapped_column(String(40), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
