"""The attempt's life: start/resume, the state machine applied to stored attempts (submit, auto-close, force-submit,
reopen), the deadline sweep and absentees, and the secretariat's extra time."""
from __future__ import annotations

import functools
import secrets
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from certify.audit import audit
from certify.clock import iso_utc, utcnow
from certify.domain import EXAM
from certify.extensions import db
from certify.models import Candidate, ComponentScore
from certify.scores import record_component

from ..grading.grade import _write_grade, compute_grade
from ..models import (
    AUTO_SUBMITTED,
    FORCE_SUBMITTED,
    IN_PROGRESS,
    SUBMITTED,
    Answer,
    Attempt,
    ExamSession,
    SessionCandidate,
    is_real_session,
)
from ..services import attempt_state, timing
from ..services.attempt_state import Action, AttemptState
from .base import (
    MAX_EXTRA_MINUTES,
    TAKEN_OVER,
    ExamError,
    _dialect,
    _emit,
    _minutes,
    _reason,
    assignment,
    attempt_of,
    attempt_room,
    grace_seconds,
    locked,
    mark_created,
    session_room,
    token_tag,
)
from .integrity import clean_tab, note_start
from .rows import _notify_state


def transition(attempt: Attempt, action: str, *, actor=None, reason: str = "", now: datetime | None = None,
               deadline_at: datetime | None = None) -> str:
    """Move a locked attempt (``locked``) through the state machine (``services.attempt_state.TRANSITIONS``):
    check the pair, stamp the attempt, grade it (closing) or clear its grade (reopening), audit, queue the
    notices. Returns the new state; a pair not in the table is refused (409)."""
    now = now or utcnow()
    try:
        new = attempt_state.next_state(attempt.state, action)
    except attempt_state.IllegalTransition as err:
        raise ExamError(err.code, err.message, 409) from None
    if new in attempt_state.CLOSED:
        _close(attempt, new.value, now, actor=actor, reason=reason)
    elif action == Action.REOPEN:
        session = attempt.session
        before = {"state": attempt.state, "score": attempt.score, "deadline_at": attempt.deadline_at}
        attempt.state = IN_PROGRESS
        attempt.deadline_at = deadline_at
        attempt.submitted_at = None
        attempt.score = None
        attempt.graded_at = None
        attempt.client_token = secrets.token_urlsafe(24)  # the candidate resumes from a fresh page
        audit("exam.attempt.reopen", target=attempt, round_id=session.round_id, reason=reason, actor=actor,
              candidate_id=attempt.candidate_id, session_id=session.id, before=before,
              after={"state": IN_PROGRESS, "deadline_at": attempt.deadline_at})
        db.session.flush()
        _notify_state(attempt)
    else:  # pragma: no cover - the table has no other stored-attempt transitions
        raise AssertionError(f"no effect defined for {action}")
    return new.value


def start_attempt(session: ExamSession, candidate: Candidate, *, now: datetime | None = None,
                  tab: str | None = None) -> tuple[Attempt, str]:
    """Start the candidate's attempt, or resume it (rotating the client token: the newest page wins).

    ``tab`` is the page's per-tab id (``integrity.TAB_HEADER``): the tab that holds the attempt reloading resumes
    silently; another (or an unknown) tab is a takeover, and a concurrent session if the previous tab was live."""
    now = now or utcnow()
    tab = clean_tab(tab)
    sc = assignment(session.id, candidate.id)
    if sc is None:
        raise ExamError("not_assigned", "您未被安排参加本场考试", 404)
    attempt = attempt_of(session.id, candidate.id)
    if attempt is not None:
        close_if_overdue(locked(attempt), now=now)
        if attempt.state != IN_PROGRESS:
            code, message = attempt_state.REFUSALS[Action.START]
            raise ExamError(code, message, 409, keep_changes=True)
        previous, previous_tab, previous_seen = attempt.client_token, attempt.client_tab or "", attempt.last_seen_at
        token = secrets.token_urlsafe(24)
        attempt.client_token = token
        attempt.client_tab = tab
        attempt.last_seen_at = now
        if previous:
            note_start(attempt, tab, previous_tab, previous_seen, now)
            _emit("taken_over", {"attempt_id": attempt.id, "token_tag": token_tag(token),
                                 "message": "本场考试已在另一台设备或另一个窗口继续作答，此页面已停止保存。"},
                  attempt_room(attempt.id))
        db.session.flush()
        _notify_state(attempt)
        return attempt, token
    if not session.scheme.has_exam:
        raise ExamError("no_exam", "该认证级别不设笔试", 409)
    try:
        timing.check_entry(now, session.opens_at, session.closes_at, session.late_entry_minutes)
    except timing.EntryRefused as err:
        raise ExamError(err.code, err.message, 403) from None
    if sc.paper_id is None:
        raise ExamError("no_paper", "您的试卷尚未生成，请联系考务人员", 409)
    token = secrets.token_urlsafe(24)
    state = attempt_state.next_state(AttemptState.NOT_STARTED, Action.START).value
    attempt = db.session.scalars(_insert_attempt(_dialect()), {
        "session_id": session.id, "candidate_id": candidate.id, "paper_id": sc.paper_id, "state": state,
        "started_at": now, "deadline_at": timing.deadline_for(now, session.duration_minutes, sc.extra_minutes,
                                                              session.closes_at),
        "client_token": token, "client_tab": tab, "last_seen_at": now}).first()
    if attempt is None:  # a second device started at the same instant: resume that attempt instead
        return start_attempt(session, candidate, now=now, tab=tab)
    mark_created(attempt)
    # Sealed by the commit: the audit trail's lock is not held while the candidate's paper is put together.
    audit("exam.attempt.start", target=attempt, round_id=session.round_id, session_id=session.id,
          candidate_id=candidate.id, deadline_at=attempt.deadline_at, at_commit=True)
    _notify_state(attempt, sc, events={})  # a new attempt has no integrity events yet
    return attempt, token


_START_COLUMNS = ("session_id", "candidate_id", "paper_id", "state", "started_at", "deadline_at", "client_token",
                  "client_tab", "last_seen_at")


@functools.cache
def _insert_attempt(dialect: str):
    """A new attempt, or no row when the candidate already has one (the unique session × candidate): built once
    per dialect with bound parameters, returning the ORM object."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return (insert(Attempt).values({c: bindparam(c) for c in _START_COLUMNS})
            .on_conflict_do_nothing(index_elements=["session_id", "candidate_id"]).returning(Attempt))


def _close(attempt: Attempt, state: str, now: datetime, *, actor=None, reason: str = "") -> None:
    attempt.state = state
    if attempt.submitted_at is None:
        attempt.submitted_at = min(now, attempt.deadline_at) if state == AUTO_SUBMITTED else now
    attempt.answered_count = db.session.execute(select(func.count()).select_from(Answer).where(
        Answer.attempt_id == attempt.id, Answer.response != "")).scalar_one()
    _write_grade(attempt, compute_grade(attempt), now, reason=reason, actor=actor)
    audit(f"exam.attempt.{state}", target=attempt, round_id=attempt.session.round_id, reason=reason, actor=actor,
          session_id=attempt.session_id, candidate_id=attempt.candidate_id, score=attempt.score)
    db.session.flush()
    _emit("closed", {"attempt_id": attempt.id, "state": state, "message": CLOSE_MESSAGES[state]},
          attempt_room(attempt.id))
    _notify_state(attempt)


CLOSE_MESSAGES = {SUBMITTED: "已交卷", AUTO_SUBMITTED: "考试时间已到，系统已自动交卷",
                  FORCE_SUBMITTED: "考务人员已为您强制交卷"}


def close_if_overdue(attempt: Attempt, *, now: datetime | None = None) -> bool:
    """Close and grade an attempt whose time (plus grace) has run out. Locks the attempt first (``locked``)."""
    now = now or utcnow()
    locked(attempt)
    if attempt.state != IN_PROGRESS or timing.save_allowed(now, attempt.deadline_at, grace_seconds()):
        return False
    transition(attempt, Action.AUTO_CLOSE, now=now)
    return True


def submit_attempt(attempt: Attempt, *, token: str | None = None, now: datetime | None = None,
                   check: bool = True) -> Attempt:
    """The candidate hands in. After the deadline it counts as auto-submitted (time ran out)."""
    now = now or utcnow()
    locked(attempt)
    if check and attempt.state == IN_PROGRESS and token != attempt.client_token:  # a missing token is stale too
        raise ExamError("taken_over", TAKEN_OVER, 409)
    if close_if_overdue(attempt, now=now):
        return attempt
    transition(attempt, Action.AUTO_CLOSE if timing.is_overdue(now, attempt.deadline_at) else Action.SUBMIT,
               now=now)
    return attempt


def close_overdue(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """The sweep: close and grade overdue in-progress attempts. Each is locked, then checked again (safe with
    several processes and against a concurrent save or submit); locks are taken in id order."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=grace_seconds())
    table = Attempt.__table__
    ids = [row[0] for row in db.session.execute(
        select(table.c.id).where(table.c.state == IN_PROGRESS, table.c.deadline_at < cutoff)
        .order_by(table.c.id).limit(limit))]
    closed = []
    for attempt_id in ids:
        attempt = db.session.get(Attempt, attempt_id)
        locked(attempt)
        if attempt.state == IN_PROGRESS and attempt.deadline_at < cutoff:
            transition(attempt, Action.AUTO_CLOSE, now=now)
            closed.append(attempt_id)
    return closed


def record_absentees(*, now: datetime | None = None) -> dict[int, int]:
    """After a session closes, assigned candidates who never started are recorded absent (once per session)."""
    now = now or utcnow()
    table = ExamSession.__table__
    claimed = [row[0] for row in db.session.execute(
        update(table).where(table.c.closes_at <= now, table.c.absentees_recorded_at.is_(None), is_real_session())
        .values(absentees_recorded_at=now).returning(table.c.id))]
    out = {}
    for session_id in claimed:
        started = select(Attempt.candidate_id).where(Attempt.session_id == session_id)
        absent = list(db.session.execute(select(SessionCandidate).where(
            SessionCandidate.session_id == session_id, SessionCandidate.candidate_id.not_in(started))).scalars())
        n = 0
        for sc in absent:
            attempt_state.next_state(AttemptState.NOT_STARTED, Action.MARK_ABSENT)  # never started: absent
            existing = db.session.execute(select(ComponentScore).filter_by(
                candidate_id=sc.candidate_id, component=EXAM)).scalar_one_or_none()
            if existing is not None and existing.status == "scored":
                continue  # sat the exam in another session
            record_component(sc.candidate, EXAM, None, status="absent", source=f"exam_session:{session_id}",
                             reason="考试结束未参加笔试")
            n += 1
        session = db.session.get(ExamSession, session_id)
        audit("exam.session.absentees", target=session, round_id=session.round_id, absent=n)
        _emit("absentees", {"session_id": session_id, "absent": n}, session_room(session_id))
        out[session_id] = n
    return out


def sweep(*, now: datetime | None = None) -> dict:
    now = now or utcnow()
    return {"closed": close_overdue(now=now), "absent": record_absentees(now=now)}


def force_submit(attempt: Attempt, *, actor=None, reason: str = "", now: datetime | None = None) -> Attempt:
    now = now or utcnow()
    reason = _reason(reason)
    if close_if_overdue(attempt, now=now):  # locks the attempt
        raise ExamError("attempt_closed", "该考生的作答时间已到，系统已自动交卷", 409, keep_changes=True)
    transition(attempt, Action.FORCE_SUBMIT, actor=actor, reason=reason, now=now)
    return attempt


def set_extra_time(sc: SessionCandidate, minutes, *, actor=None, reason: str = "",
                   now: datetime | None = None) -> SessionCandidate:
    """Set one candidate's total extra minutes (0–600; the reason is required): an attempt in progress gets the new
    deadline (never past the close) and the candidate's page and the monitor are told. Time that already ran
    out is not given back (the attempt is closed as at any deadline; reopening is its own action). The session
    page sets the total; the monitor's "+N minutes" sets the current total + N."""
    now = now or utcnow()
    minutes = _minutes(minutes, f"延长时间须为 0–{MAX_EXTRA_MINUTES} 之间的整数（分钟）")
    if not 0 <= minutes <= MAX_EXTRA_MINUTES:
        raise ExamError("invalid_minutes", f"延长时间须为 0–{MAX_EXTRA_MINUTES} 之间的整数（分钟）", 400)
    reason = _reason(reason)
    session = sc.session
    attempt = attempt_of(sc.session_id, sc.candidate_id)
    if attempt is not None:  # attempt row first (the one lock order), then the assignment
        close_if_overdue(locked(attempt), now=now)
        if attempt.state != IN_PROGRESS:
            raise ExamError("attempt_closed", "该考生已交卷，延长时间不再生效；如需继续作答请重新开放", 409,
                            keep_changes=True)
    before = sc.extra_minutes or 0
    old_deadline = attempt.deadline_at if attempt is not None else None
    sc.extra_minutes = minutes
    if attempt is not None:
        attempt.deadline_at = timing.deadline_for(attempt.started_at, session.duration_minutes, minutes,
                                                  session.closes_at)
        if minutes > before and attempt.deadline_at <= old_deadline:
            raise ExamError("capped_at_close", "该考生的截止时间已是本场考试的结束时间，不能再延长", 409)
    audit("exam.session.extra_time", target=session, round_id=session.round_id, reason=reason, actor=actor,
          candidate_id=sc.candidate_id, before=before, after=minutes,
          deadline=None if attempt is None else {"before": old_deadline, "after": attempt.deadline_at})
    db.session.flush()
    message = (f"考务人员为您延长了 {minutes - before} 分钟作答时间" if minutes > before
               else f"考务人员已将您的延长时间调整为 {minutes} 分钟")
    notify_extra_time(sc, attempt, now=now, message=message)
    return sc


def add_time(sc: SessionCandidate, minutes, *, actor=None, reason: str = "", now: datetime | None = None) -> int:
    """The monitor's "+N minutes": ``set_extra_time`` with the current total + N. Returns the new total."""
    minutes = _minutes(minutes, "延长时间必须是整数分钟")
    total = (sc.extra_minutes or 0) + minutes
    if minutes < 1 or total > MAX_EXTRA_MINUTES:
        raise ExamError("invalid_minutes", f"延长时间须为 1 分钟以上，累计不超过 {MAX_EXTRA_MINUTES} 分钟", 400)
    return set_extra_time(sc, total, actor=actor, reason=reason, now=now).extra_minutes


def notify_extra_time(sc: SessionCandidate, attempt: Attempt | None, *, now: datetime, message: str) -> None:
    """After a candidate's extra time changed: an attempt in progress has its new deadline pushed to the
    candidate's page (which otherwise counts down to the old one) and the monitor gets the row."""
    if attempt is not None and attempt.state == IN_PROGRESS:
        _emit("deadline", {"attempt_id": attempt.id, "deadline_at": iso_utc(attempt.deadline_at),
                           "remaining_seconds": timing.remaining_seconds(now, attempt.deadline_at),
                           "message": message}, attempt_room(attempt.id))
    if attempt is not None:
        _notify_state(attempt)
    else:
        _emit("row", {"candidate_id": sc.candidate_id, "extra_minutes": sc.extra_minutes},
              session_room(sc.session_id))


def reopen_attempt(attempt: Attempt, *, minutes, actor=None, reason: str = "", now: datetime | None = None) -> Attempt:
    """Reopen a closed attempt (e.g. after a technical failure) for ``minutes`` more, never past the close."""
    now = now or utcnow()
    reason = _reason(reason)
    minutes = _minutes(minutes, "重新开放的时长必须是整数分钟")
    if not 1 <= minutes <= MAX_EXTRA_MINUTES:
        raise ExamError("invalid_minutes", "重新开放的时长须在 1 到 600 分钟之间", 400)
    locked(attempt)
    if not attempt_state.allowed(attempt.state, Action.REOPEN):
        transition(attempt, Action.REOPEN)  # refused with the table's reason
    session = attempt.session
    if now >= session.closes_at:
        raise ExamError("session_closed", "本场考试已结束，不能重新开放作答", 409)
    transition(attempt, Action.REOPEN, actor=actor, reason=reason, now=now,
               deadline_at=min(now + timedelta(minutes=minutes), session.closes_at))
    return attempt
