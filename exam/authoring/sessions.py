"""Operations on exam sessions (场次): create and edit, assign candidates, extra time, release scores.

Each function validates (collecting every problem), flushes and audits; none commits. Creating or editing a
session with candidates assigned (re)generates its papers at once, so a session never opens without them."""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, select

from certify.audit import audit
from certify.clock import utcnow
from certify.extensions import db
from certify.models import Candidate, Round, Scheme

from ..delivery import operations as ops
from ..models import (
    IN_PROGRESS,
    Attempt,
    Blueprint,
    ExamSession,
    Paper,
    SessionCandidate,
    is_real_session,
    real_sessions,
)
from ..services.timing import CLOSED, session_phase
from .papers import ExamAdminError, generate_papers, session_has_attempts
from .session_notices import ANNOUNCED_FIELDS, announce_scores, announce_session

MAX_EXTRA_MINUTES = 600
FIELDS = ("name", "blueprint_id", "opens_at", "closes_at", "duration_minutes", "late_entry_minutes",
          "instructions", "assign_all", "event_warning_threshold", "seed", "place")


def new_seed() -> int:
    return secrets.randbelow(2**31 - 1) + 1


def _validate(rnd: Round, scheme: Scheme | None, data: dict) -> list[str]:
    errors = []
    if scheme is None or scheme.round_id != rnd.id:
        return ["请选择本轮次的认证级别方案"]
    if not scheme.has_exam:
        return [f"{rnd.region}{scheme.level}方案没有笔试（笔试权重为 0），不能建立笔试场次"]
    if not (data.get("name") or "").strip():
        errors.append("请填写场次名称")
    blueprint = db.session.get(Blueprint, data["blueprint_id"]) if data.get("blueprint_id") else None
    if blueprint is None or blueprint.scheme_id != scheme.id:
        errors.append(f"请选择{scheme.level}方案的组卷方案")
    opens, closes = data.get("opens_at"), data.get("closes_at")
    if opens is None or closes is None:
        errors.append("请填写开考时间和结束时间")
    elif closes <= opens:
        errors.append("结束时间必须晚于开考时间")
    duration = data.get("duration_minutes")
    if not isinstance(duration, int) or duration <= 0:
        errors.append("考试时长须为正整数（分钟）")
    elif opens is not None and closes is not None and closes > opens and \
            timedelta(minutes=duration) > closes - opens:
        window = int((closes - opens).total_seconds() // 60)
        errors.append(f"考试时长 {duration} 分钟超出了考试时间窗口（{window} 分钟）")
    late = data.get("late_entry_minutes")
    if not isinstance(late, int) or late < 0:
        errors.append("迟到入场时限须为不小于 0 的整数（分钟）")
    threshold = data.get("event_warning_threshold")
    if threshold is not None and (not isinstance(threshold, int) or threshold < 1):
        errors.append("异常行为提醒阈值须为正整数（留空表示不提醒）")
    seed = data.get("seed")
    if seed is not None and (not isinstance(seed, int) or not (0 <= seed < 2**31)):
        errors.append(f"随机种子须为 0–{2**31 - 1} 之间的整数")
    return errors


def _candidate_ids(rnd: Round, scheme: Scheme, assign_all: bool, chosen, session: ExamSession | None) -> tuple[
        list[int], list[str]]:
    """The candidates to assign, and the reasons any chosen one is refused."""
    errors = []
    if assign_all:
        ids = list(db.session.scalars(select(Candidate.id).filter_by(round_id=rnd.id, level=scheme.level)
                                      .order_by(Candidate.id)))
    else:
        ids = []
        wanted = sorted({int(c) for c in chosen or ()})
        found = {c.id: c for c in db.session.scalars(select(Candidate).where(Candidate.id.in_(wanted)))}
        for cid in wanted:
            cand = found.get(cid)
            if cand is None:
                errors.append(f"考生（编号 {cid}）不存在")
                continue
            label = f"考生 {cand.name}（准考证号 {cand.ticket}）"
            cand_scheme = cand.scheme
            if cand_scheme is None or not cand_scheme.has_exam:
                errors.append(f"{label}所在的{cand.round.region}{cand.level}方案没有笔试，不能安排笔试场次")
            elif cand.round_id != rnd.id:
                errors.append(f"{label}不属于本轮次（{rnd.code}）")
            elif cand.level != scheme.level:
                errors.append(f"{label}的认证级别是{cand.level}，与本场次（{scheme.level}）不符")
            else:
                ids.append(cid)
    # one exam session per candidate and scheme: grading writes one exam component per candidate
    others = select(SessionCandidate.candidate_id, ExamSession.name).join(ExamSession).where(
        ExamSession.scheme_id == scheme.id, SessionCandidate.candidate_id.in_(ids), is_real_session())
    if session is not None and session.id is not None:
        # a candidate already in this session keeps their place: a make-up (exam/authoring/makeup.py) and the session it
        # re-examines share candidates by design
        kept = select(SessionCandidate.candidate_id).where(SessionCandidate.session_id == session.id)
        others = others.where(ExamSession.id != session.id, SessionCandidate.candidate_id.not_in(kept))
    clashes = db.session.execute(others).all()
    if clashes:
        names = {c.candidate_id: c.name for c in clashes}
        tickets = dict(db.session.execute(select(Candidate.id, Candidate.ticket).where(Candidate.id.in_(names))).all())
        shown = "、".join(f"{tickets[cid]}（{names[cid]}）" for cid in sorted(names)[:10])
        more = f" 等 {len(names)} 人" if len(names) > 10 else ""
        errors.append(f"以下考生已安排在本级别的其他场次：{shown}{more}")
    return ids, errors


def _normalise(data: dict) -> dict:
    out = dict(data)
    out["name"] = (data.get("name") or "").strip()[:200]
    out["instructions"] = (data.get("instructions") or "").strip()
    out["place"] = (data.get("place") or "").strip()[:200]
    out["assign_all"] = bool(data.get("assign_all", True))
    if out.get("late_entry_minutes") is None:
        out["late_entry_minutes"] = 30
    return out


def _snapshot(session: ExamSession) -> dict:
    return {f: getattr(session, f) for f in FIELDS}


def _sync_assignments(session: ExamSession, ids: list[int]) -> tuple[set[int], set[int]]:
    current = {a.candidate_id: a for a in session.assignments}
    wanted = set(ids)
    added, removed = wanted - set(current), set(current) - wanted
    for cid in removed:
        session.assignments.remove(current[cid])
    for cid in sorted(added):
        session.assignments.append(SessionCandidate(candidate_id=cid))
    db.session.flush()
    return added, removed


def _generate_now(session: ExamSession, reason: str) -> None:
    generate_papers(session, reason=reason)


def create_session(rnd: Round, scheme: Scheme | None, *, candidate_ids=(), papers=_generate_now,
                   **data) -> ExamSession:
    """Create a session; with candidates assigned, its papers are generated at once (or, with another
    ``papers(session, reason)`` hook, e.g. queued as a worker job: ``exam.authoring.paper_job``)."""
    data = _normalise(data)
    errors = _validate(rnd, scheme, data)
    ids: list[int] = []
    if not errors:
        ids, cand_errors = _candidate_ids(rnd, scheme, data["assign_all"], candidate_ids, None)
        errors += cand_errors
    if errors:
        raise ExamAdminError(errors)
    if data.get("seed") is None:
        data["seed"] = new_seed()
    session = ExamSession(round_id=rnd.id, scheme_id=scheme.id, scheme=scheme,
                          **{f: data.get(f) for f in FIELDS})
    db.session.add(session)
    db.session.flush()
    _sync_assignments(session, ids)
    audit("exam.session.create", target=session, round_id=rnd.id, after=_snapshot(session),
          candidates=len(ids))
    if ids:
        papers(session, "创建场次时自动生成")
    announce_session(session)
    return session


def update_session(session: ExamSession, *, candidate_ids=(), papers=_generate_now, **data) -> ExamSession:
    """Edit a session. Papers are regenerated when the blueprint, seed or candidates change; once any attempt
    exists those three are frozen (the window, duration and instructions may still change)."""
    rnd, scheme = db.session.get(Round, session.round_id), session.scheme
    data = _normalise(data)
    if data.get("seed") is None:
        data["seed"] = session.seed
    errors = _validate(rnd, scheme, data)
    ids: list[int] = []
    if not errors:
        ids, cand_errors = _candidate_ids(rnd, scheme, data["assign_all"], candidate_ids, session)
        errors += cand_errors
    started = session_has_attempts(session)
    current_ids = {a.candidate_id for a in session.assignments}
    draw_changed = data["blueprint_id"] != session.blueprint_id or data["seed"] != session.seed
    if started and not errors:
        if draw_changed:
            errors.append("已有考生开始作答，不能再更换组卷方案或随机种子")
        if set(ids) != current_ids:
            errors.append("已有考生开始作答，不能再调整考生名单；迟到补考的考生请另建场次")
    if errors:
        raise ExamAdminError(errors)
    # Attempt rows first (the one lock order of attempt writes, see operations.lock_attempt): the attempts in
    # progress are locked, in id order, before the session row is written (PostgreSQL; SQLite has one writer).
    running = list(db.session.scalars(select(Attempt).filter_by(session_id=session.id, state=IN_PROGRESS)
                                      .order_by(Attempt.id).with_for_update())) if started else []
    before = _snapshot(session)
    for f in FIELDS:
        setattr(session, f, data.get(f))
    session.blueprint = db.session.get(Blueprint, data["blueprint_id"])
    added, removed = _sync_assignments(session, ids)
    clamped = []
    for attempt in running:  # a deadline never runs past the (new) close
        if attempt.deadline_at > session.closes_at:
            attempt.deadline_at = session.closes_at
            clamped.append(attempt.candidate_id)
    after = _snapshot(session)
    changed = {f: {"before": before[f], "after": after[f]} for f in FIELDS if before[f] != after[f]}
    audit("exam.session.update", target=session, round_id=session.round_id, changed=changed,
          added=sorted(added), removed=sorted(removed), deadlines_clamped=clamped)
    needs_papers = draw_changed or added or removed or any(a.paper_id is None for a in session.assignments)
    if (ids or removed) and needs_papers and not started:
        papers(session, "修改场次后自动重新生成")
    if any(f in changed for f in ANNOUNCED_FIELDS):
        announce_session(session, changed=True)  # everyone assigned now, the added ones included
    elif added:
        announce_session(session, candidate_ids=added)
    return session


def set_extra_time(session: ExamSession, candidate_id: int, minutes: int, *, reason: str = "",
                   actor=None) -> SessionCandidate:
    """A candidate's extra time (e.g. an accommodation), from the session page: ``operations.set_extra_time``
    (the one operation; the monitor's "+N minutes" uses it too), refusals as ``ExamAdminError``."""
    assignment = ops.assignment(session.id, candidate_id)
    if assignment is None:
        raise ExamAdminError("该考生未安排在本场次")
    try:
        return ops.set_extra_time(assignment, minutes, actor=actor, reason=reason)
    except ops.ExamError as err:
        raise ExamAdminError(err.messages, code=err.code, status=err.status, keep_changes=err.keep_changes) from None


def release_plan(session: ExamSession, *, now: datetime | None = None) -> dict:
    """Step one of 发布成绩 (writes nothing): how many candidates will see a score, how many are ungraded or
    absent. Refused once released or before the window has closed."""
    now = now or utcnow()
    if session.scores_released_at is not None:
        raise ExamAdminError("本场次成绩已发布")
    if session_phase(now, session.opens_at, session.closes_at) != CLOSED:
        raise ExamAdminError("考试时间窗口尚未结束，结束后才能发布成绩")
    assigned = db.session.scalar(select(func.count()).select_from(SessionCandidate)
                                 .where(SessionCandidate.session_id == session.id)) or 0
    attempts = db.session.execute(select(Attempt.graded_at.is_not(None), Attempt.state)
                                  .where(Attempt.session_id == session.id)).all()
    graded = sum(1 for is_graded, _ in attempts if is_graded)
    return {"assigned": assigned, "graded": graded, "ungraded": len(attempts) - graded,
            "in_progress": sum(1 for _, state in attempts if state == IN_PROGRESS),
            "absent": max(assigned - len(attempts), 0)}


def release_scores(session: ExamSession, *, now: datetime | None = None, reason: str = "", actor=None) -> None:
    """Let candidates see their exam scores (once the session has closed); audited with the reason."""
    now = now or utcnow()
    plan = release_plan(session, now=now)
    session.scores_released_at = now
    db.session.flush()
    audit("exam.session.release_scores", target=session, round_id=session.round_id, reason=reason, actor=actor,
          **plan)
    announce_scores(session)


def attempt_counts(session: ExamSession) -> dict[str, int]:
    return dict(db.session.execute(select(Attempt.state, func.count()).filter_by(session_id=session.id)
                                   .group_by(Attempt.state)).all())


def roster(session: ExamSession) -> list[dict]:
    """The session's candidates with their paper and attempt (one query each)."""
    rows = db.session.execute(
        select(SessionCandidate, Candidate, Paper.expected_facility)
        .join(Candidate, Candidate.id == SessionCandidate.candidate_id)
        .outerjoin(Paper, Paper.id == SessionCandidate.paper_id)
        .where(SessionCandidate.session_id == session.id).order_by(Candidate.ticket)).all()
    attempts = {a.candidate_id: a for a in db.session.scalars(select(Attempt).filter_by(session_id=session.id))}
    return [{"assignment": sc, "candidate": c, "attempt": attempts.get(c.id), "facility": f} for sc, c, f in rows]


def sessions_of_round(rnd: Round) -> list[ExamSession]:
    return list(db.session.scalars(real_sessions().filter_by(round_id=rnd.id)
                                   .order_by(ExamSession.opens_at, ExamSession.id)))
