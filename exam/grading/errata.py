"""Key errata: validate, preview (the dry run) and apply with a regrade of every affected closed attempt."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select

from certify.audit import audit
from certify.clock import utcnow
from certify.extensions import db
from question_bank.models import ItemVersion

from ..delivery.base import ExamError, _reason
from ..delivery.rows import _notify_state
from ..models import (
    CLOSED_STATES,
    ERRATUM_KINDS,
    Attempt,
    ExamSession,
    KeyErratum,
    PaperItem,
    SessionCandidate,
)
from ..services import grading
from .grade import _errata, _policy, _write_grade, compute_grade


@dataclass
class RegradeRow:
    attempt: Attempt
    before: Decimal | None
    after: Decimal

    @property
    def delta(self) -> Decimal:
        return self.after - (self.before or Decimal(0))


def validate_erratum(session: ExamSession, item_version_id, kind: str, accepted) -> tuple[ItemVersion, list[str]]:
    if kind not in ERRATUM_KINDS:
        raise ExamError("invalid_kind", "请选择勘误类型", 400)
    version = db.session.get(ItemVersion, int(item_version_id)) if str(item_version_id).isdigit() else None
    used = version is not None and db.session.execute(
        select(func.count()).select_from(PaperItem)
        .join(SessionCandidate, SessionCandidate.paper_id == PaperItem.paper_id)
        .where(SessionCandidate.session_id == session.id, PaperItem.item_version_id == version.id)).scalar_one() > 0
    if not used:
        raise ExamError("not_in_session", "本场考试的试卷中没有这道题", 404)
    keys = []
    for raw in accepted or []:
        raw = (raw or "").strip().upper().replace(",", "").replace(" ", "")
        if not raw:
            continue
        try:
            keys.append(grading.normalise_response(version.type, raw, len(version.options)))
        except grading.InvalidResponse as err:
            raise ExamError("invalid_key", f"答案“{raw}”无效：{err}", 400) from None
    keys = list(dict.fromkeys(keys))
    if kind == "void":
        keys = []
    elif not keys:
        raise ExamError("key_required", "请填写更正后的答案或可接受的答案", 400)
    elif kind == "correct" and len(keys) != 1:
        raise ExamError("invalid_key", "更正答案只能填写一个答案", 400)
    return version, keys


def _affected_attempts(session: ExamSession, item_version_id: int) -> list[Attempt]:
    return list(db.session.execute(
        select(Attempt).join(PaperItem, PaperItem.paper_id == Attempt.paper_id)
        .where(Attempt.session_id == session.id, Attempt.state.in_(CLOSED_STATES),
               PaperItem.item_version_id == item_version_id).order_by(Attempt.id)
        .with_for_update(of=Attempt)).scalars())  # PostgreSQL: no reopen races the regrade (SQLite: one writer)


def preview_erratum(session: ExamSession, item_version_id, kind: str, accepted) -> list[RegradeRow]:
    """The dry run: every affected (closed) attempt's score before and after the erratum; nothing written."""
    version, keys = validate_erratum(session, item_version_id, kind, accepted)
    errata = {k: list(v) for k, v in _errata(session.id).items()}
    errata.setdefault(version.id, []).append(grading.Erratum(kind, tuple(keys)))
    errata = {k: tuple(v) for k, v in errata.items()}
    policy = _policy(session.id)
    return [RegradeRow(a, a.score, compute_grade(a, errata, policy).score)
            for a in _affected_attempts(session, version.id)]


def apply_erratum(session: ExamSession, item_version_id, kind: str, accepted, *, reason: str, actor=None,
                  now: datetime | None = None) -> tuple[KeyErratum, list[RegradeRow]]:
    """Enter the erratum and regrade every affected closed attempt in this one transaction (audited)."""
    now = now or utcnow()
    reason = _reason(reason)
    version, keys = validate_erratum(session, item_version_id, kind, accepted)
    erratum = KeyErratum(session_id=session.id, item_version_id=version.id, kind=kind, accepted=keys, reason=reason,
                         applied_at=now, applied_by_id=getattr(actor, "id", None))
    db.session.add(erratum)
    db.session.flush()
    audit("exam.erratum", target=erratum, round_id=session.round_id, reason=reason, actor=actor,
          session_id=session.id, item_version_id=version.id, kind=kind, accepted=keys, original_key=version.answer)
    errata = _errata(session.id)
    policy = _policy(session.id)
    rows = []
    for attempt in _affected_attempts(session, version.id):
        before = attempt.score
        result = compute_grade(attempt, errata, policy)
        _write_grade(attempt, result, now, reason=f"题目勘误重新评分：{reason}", actor=actor)
        audit("exam.attempt.regrade", target=attempt, round_id=session.round_id, reason=reason, actor=actor,
              erratum_id=erratum.id, candidate_id=attempt.candidate_id, before=before, after=result.score)
        rows.append(RegradeRow(attempt, before, result.score))
        _notify_state(attempt)
    return erratum, rows
