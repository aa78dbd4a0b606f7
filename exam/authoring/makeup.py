"""Make-up sessions (补考): named candidates of a closed session sit again in a session of their own.

A make-up is an ordinary ``ExamSession`` of the same scheme and blueprint, with its own window, a fresh seed (so
fresh papers) and only the named candidates. No column marks it: a session is a make-up of an earlier session of
the same scheme when its candidates were assigned there too (``sessions`` otherwise allows one session per
candidate and scheme). The candidate's exam component follows their latest session: grading the make-up records
its grade over the 缺考 or the interrupted attempt's grade, and a later regrade of the earlier session (an
erratum) leaves the make-up's grade in place (``exam.delivery.grade._superseded``). Creating one is audited with
the reason."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from certify.audit import audit
from certify.clock import utcnow
from certify.extensions import db
from certify.models import Candidate, Round

from ..models import AUTO_SUBMITTED, FORCE_SUBMITTED, Attempt, ExamSession, SessionCandidate
from ..services.timing import CLOSED, session_phase
from .papers import ExamAdminError, generate_papers
from .sessions import _snapshot, _sync_assignments, _validate, new_seed

INTERRUPTED = (AUTO_SUBMITTED, FORCE_SUBMITTED)  # closed by the clock or by staff: the candidate may not have finished


def later_sessions(scheme_id: int, after: ExamSession, candidate_ids) -> dict[int, ExamSession]:
    """{candidate_id: the latest session of the same scheme, opening after ``after``, that the candidate sits}."""
    ids = list(candidate_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(SessionCandidate.candidate_id, ExamSession)
        .join(ExamSession, ExamSession.id == SessionCandidate.session_id)
        .where(ExamSession.scheme_id == scheme_id, ExamSession.id != after.id, ExamSession.opens_at > after.opens_at,
               ExamSession.practice.is_(False), SessionCandidate.candidate_id.in_(ids))
        .order_by(ExamSession.opens_at, ExamSession.id)).all()
    return {cid: session for cid, session in rows}


def makeup_of(session: ExamSession) -> ExamSession | None:
    """The earlier session of the same scheme whose candidates this session re-examines, if it is a make-up."""
    ids = [a.candidate_id for a in session.assignments]
    if not ids or session.practice:
        return None
    return db.session.execute(
        select(ExamSession).join(SessionCandidate, SessionCandidate.session_id == ExamSession.id)
        .where(ExamSession.scheme_id == session.scheme_id, ExamSession.opens_at < session.opens_at,
               ExamSession.practice.is_(False), SessionCandidate.candidate_id.in_(ids))
        .order_by(ExamSession.opens_at.desc(), ExamSession.id.desc()).limit(1)).scalar_one_or_none()


def makeup_rows(session: ExamSession) -> list[dict]:
    """Each candidate of ``session`` with their attempt state, whether they may sit a make-up and why not."""
    rows = db.session.execute(
        select(Candidate).join(SessionCandidate, SessionCandidate.candidate_id == Candidate.id)
        .where(SessionCandidate.session_id == session.id).order_by(Candidate.ticket)).scalars().all()
    attempts = {a.candidate_id: a for a in db.session.scalars(select(Attempt).filter_by(session_id=session.id))}
    later = later_sessions(session.scheme_id, session, [c.id for c in rows])
    out = []
    for c in rows:
        attempt = attempts.get(c.id)
        state = attempt.state if attempt is not None else None
        why = ""
        if c.id in later:
            why = f"已安排补考（{later[c.id].name}）"
        elif state is not None and state not in INTERRUPTED:
            why = "已正常交卷或仍在作答，不能补考"
        out.append({"candidate": c, "attempt": attempt, "state": state, "eligible": not why, "why": why,
                    "status": "缺考" if attempt is None else ("中断（" + {AUTO_SUBMITTED: "到时自动交卷",
                                                                         FORCE_SUBMITTED: "强制交卷"}[state] + "）"
                                                            if state in INTERRUPTED else "已作答")})
    return out


def create_makeup(original: ExamSession, *, candidate_ids, opens_at: datetime | None, closes_at: datetime | None,
                  duration_minutes: int | None = None, name: str | None = None, reason: str = "", actor=None,
                  now: datetime | None = None) -> ExamSession:
    """A make-up session for named candidates of the closed session ``original``: same scheme and blueprint, its
    own window, a fresh seed and fresh papers. Refused (nothing written) unless the original has closed, a reason
    is given and every candidate is 缺考 or interrupted there and has no make-up yet. Audited with the reason."""
    now = now or utcnow()
    errors = []
    if original.practice:
        raise ExamAdminError("模拟练习场次不安排补考")
    if session_phase(now, original.opens_at, original.closes_at) != CLOSED:
        errors.append("原场次尚未结束，结束后才能安排补考")
    reason = (reason or "").strip()
    if not reason:
        errors.append("请填写补考理由（记入审计日志）")
    wanted = sorted({int(c) for c in candidate_ids or ()})
    if not wanted:
        errors.append("请选择补考考生")
    rows = {r["candidate"].id: r for r in makeup_rows(original)}
    for cid in wanted:
        row = rows.get(cid)
        if row is None:
            errors.append(f"考生（编号 {cid}）不在原场次「{original.name}」中")
        elif not row["eligible"]:
            errors.append(f"考生 {row['candidate'].name}（准考证号 {row['candidate'].ticket}）{row['why']}")
    if opens_at is not None and opens_at < original.closes_at:
        errors.append("补考开考时间须晚于原场次结束时间")
    if opens_at is not None and closes_at is not None and closes_at <= now:
        errors.append("补考结束时间已过")
    rnd = db.session.get(Round, original.round_id)
    scheme = original.scheme
    seed = new_seed()
    while seed == original.seed:  # pragma: no cover - one chance in two billion
        seed = new_seed()
    data = {"name": (name or "").strip()[:200] or f"{original.name}（补考）", "blueprint_id": original.blueprint_id,
            "opens_at": opens_at, "closes_at": closes_at,
            "duration_minutes": original.duration_minutes if duration_minutes is None else duration_minutes,
            "late_entry_minutes": original.late_entry_minutes, "instructions": original.instructions,
            "assign_all": False, "event_warning_threshold": original.event_warning_threshold, "seed": seed}
    errors += _validate(rnd, scheme, data)
    if errors:
        raise ExamAdminError(errors)
    session = ExamSession(round_id=rnd.id, scheme_id=scheme.id, scheme=scheme, **data)
    db.session.add(session)
    db.session.flush()
    _sync_assignments(session, wanted)
    tickets = [rows[cid]["candidate"].ticket for cid in wanted]
    audit("exam.session.makeup", target=session, round_id=rnd.id, reason=reason, actor=actor,
          original_session_id=original.id, original=original.name, candidates=tickets,
          replaced={rows[cid]["candidate"].ticket: rows[cid]["status"] for cid in wanted}, after=_snapshot(session))
    generate_papers(session, reason=f"补考场次（原场次「{original.name}」）：{reason}")
    return session
