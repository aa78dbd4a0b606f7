"""Notice operations: create notices (and their outbox rows) in the caller's transaction, read them, mark them
read, set contacts, report the outbox. None commits: a notice created by a rolled-back change never exists,
and the worker only ever sees outbox rows of committed notices (the transactional outbox)."""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from flask import current_app
from sqlalchemy import func, select, update

from certify.audit import audit
from certify.clock import utcnow
from certify.errors import DomainError
from certify.extensions import db
from certify.models import Candidate, User

from .models import Notice, NoticeContact, NoticeDelivery
from .services.delivery import CHANNELS, EMAIL, FAILED, KINDS, PENDING, SMS, STATES

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MOBILE_RE = re.compile(r"^\+?[0-9][0-9 -]{5,30}$")


class NoticeError(DomainError):
    code = "notice_refused"

    def __init__(self, messages, *, code: str | None = None, status: int | None = None):
        super().__init__(code, messages, status)


def enabled_channels() -> tuple[str, ...]:
    wanted = current_app.config.get("NOTICE_CHANNELS", "email,sms")
    names = wanted if isinstance(wanted, (list, tuple)) else str(wanted).split(",")
    return tuple(c for c in (n.strip() for n in names) if c in CHANNELS)


def contacts(user_ids: Iterable[int], mobiles: Mapping[int, str] | None = None) -> dict[int, tuple[str, str]]:
    """user id -> (email, mobile): the contact row first; a mobile missing there falls back to ``mobiles`` (what
    the caller knows, e.g. a panelist's phone), then to the candidate roster's 手机."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = {c.user_id: c for c in db.session.scalars(select(NoticeContact).where(NoticeContact.user_id.in_(ids)))}
    phones = dict(db.session.execute(select(Candidate.user_id, Candidate.phone)
                                     .where(Candidate.user_id.in_(ids))).all())
    out = {}
    for uid in ids:
        row = rows.get(uid)
        email = (row.email if row else "").strip()
        mobile = (row.mobile if row else "").strip() or (mobiles or {}).get(uid, "").strip() or \
            (phones.get(uid) or "").strip()
        out[uid] = (email, mobile)
    return out


def notify(user_ids: Iterable[int | None], kind: str, title: str, body: str, *, round_id: int | None = None,
           mobiles: Mapping[int, str] | None = None) -> list[Notice]:
    """A notice for each person (None ids, e.g. a candidate without an account, are skipped), and an outbox row
    for each enabled channel the person has an address for."""
    if kind not in KINDS:
        raise ValueError(f"unknown notice kind {kind!r}")
    ids = sorted({uid for uid in user_ids if uid is not None})
    channels = enabled_channels()
    addresses = contacts(ids, mobiles)
    now = utcnow()
    notices = []
    for uid in ids:
        notice = Notice(user_id=uid, round_id=round_id, kind=kind, title=title[:200], body=body, created_at=now)
        email, mobile = addresses[uid]
        for channel, address in ((EMAIL, email), (SMS, mobile)):
            if channel in channels and address:
                notice.deliveries.append(NoticeDelivery(channel=channel, address=address, state=PENDING,
                                                        next_try_at=now, created_at=now))
        db.session.add(notice)
        notices.append(notice)
    db.session.flush()
    return notices


# ---------------------------------------------------------------- the notice centre

def notices_for(user: User, limit: int = 200) -> list[Notice]:
    return list(db.session.scalars(select(Notice).filter_by(user_id=user.id)
                                   .order_by(Notice.created_at.desc(), Notice.id.desc()).limit(limit)))


def unread_count(user: User) -> int:
    return db.session.scalar(select(func.count()).select_from(Notice)
                             .where(Notice.user_id == user.id, Notice.read_at.is_(None))) or 0


def mark_read(user: User, notice_id: int) -> Notice:
    notice = db.session.get(Notice, notice_id)
    if notice is None or notice.user_id != user.id:
        raise NoticeError("没有这条通知", code="not_found", status=404)
    if notice.read_at is None:
        notice.read_at = utcnow()
    return notice


def mark_all_read(user: User) -> int:
    return db.session.execute(update(Notice).where(Notice.user_id == user.id, Notice.read_at.is_(None))
                              .values(read_at=utcnow())).rowcount or 0


# ---------------------------------------------------------------- contacts (the secretariat)

def find_person(key: str) -> User | None:
    """A user by login name (a candidate's is their 准考证号)."""
    key = (key or "").strip()
    return db.session.scalar(select(User).filter_by(username=key)) if key else None


def set_contact(user: User, *, email: str, mobile: str, actor=None) -> NoticeContact:
    email, mobile = (email or "").strip(), (mobile or "").strip()
    problems = []
    if email and not EMAIL_RE.match(email):
        problems.append(f"电子邮箱格式不正确：{email}")
    if mobile and not MOBILE_RE.match(mobile):
        problems.append(f"手机号码格式不正确：{mobile}")
    if problems:
        raise NoticeError(problems, code="invalid_contact")
    row = db.session.get(NoticeContact, user.id) or NoticeContact(user_id=user.id)
    before = {"email": row.email or "", "mobile": row.mobile or ""}
    row.email, row.mobile = email, mobile
    db.session.add(row)
    db.session.flush()
    audit("notices.contact", target=user, actor=actor, before=before, after={"email": email, "mobile": mobile})
    return row


def contact_rows() -> list[tuple[User, NoticeContact]]:
    return list(db.session.execute(select(User, NoticeContact).join(NoticeContact, NoticeContact.user_id == User.id)
                                   .order_by(User.username)).all())


# ---------------------------------------------------------------- the outbox, as the secretariat sees it

def delivery_counts() -> dict[tuple[str, str], int]:
    """(channel, state) -> rows."""
    rows = db.session.execute(select(NoticeDelivery.channel, NoticeDelivery.state, func.count())
                              .group_by(NoticeDelivery.channel, NoticeDelivery.state)).all()
    counts = {(c, s): 0 for c in CHANNELS for s in STATES}
    counts.update({(c, s): n for c, s, n in rows})
    return counts


def problem_deliveries(limit: int = 200) -> list[NoticeDelivery]:
    """Failed rows, and pending rows that have failed at least once (waiting for their next try)."""
    return list(db.session.scalars(
        select(NoticeDelivery).where((NoticeDelivery.state == FAILED)
                                     | ((NoticeDelivery.state == PENDING) & (NoticeDelivery.last_error != "")))
        .order_by(NoticeDelivery.id.desc()).limit(limit)))


def retry(delivery_id: int, *, actor=None) -> NoticeDelivery:
    row = db.session.get(NoticeDelivery, delivery_id)
    if row is None:
        raise NoticeError("没有这条发送记录", code="not_found", status=404)
    if row.state != FAILED:
        raise NoticeError("只有发送失败的记录可以重试", code="not_failed", status=409)
    row.state, row.next_try_at, row.attempts = PENDING, utcnow(), 0
    db.session.flush()
    audit("notices.retry", target=row, actor=actor, channel=row.channel)
    return row
