"""Export of the exam component (笔试成绩): the results export's identifying columns, then the score and a status,
then one count column per integrity event kind (blank for a candidate who never started).

The secretariat's full export shows the whole ID number; every other export masks it (first 6, last 4). The CLI
(``certify export exam --round CODE FILE``) writes the secretariat's full export."""
from __future__ import annotations

from sqlalchemy import select

from certify.clock import utcnow
from certify.domain import half_up, mask_id_number
from certify.extensions import db
from certify.models import Candidate, Round
from certify.tabular import Sheet, write_file

from ..delivery.rows import event_counts
from ..models import (
    AUTO_SUBMITTED,
    EVENT_KINDS,
    EVENT_LABELS,
    FORCE_SUBMITTED,
    IN_PROGRESS,
    SUBMITTED,
    Attempt,
    ExamSession,
    SessionCandidate,
    real_attempts,
    real_sessions,
)

BASE_HEADERS = ["准考证号", "姓名", "证件号", "工作单位", "认证级别", "笔试成绩", "状态"]
# one column per integrity event kind (the counts the live monitor and the events page show)
EVENT_HEADERS = [f"{EVENT_LABELS[kind]}（次）" for kind in EVENT_KINDS]
HEADERS = BASE_HEADERS + EVENT_HEADERS
STATUS_SUBMITTED, STATUS_AUTO, STATUS_ABSENT = "已交卷", "自动交卷", "缺考"
STATUS_NOT_YET, STATUS_SITTING = "未考", "作答中"


def exam_status(attempt: Attempt | None, session: ExamSession | None, now) -> str:
    """已交卷 / 自动交卷 / 缺考 / 未考 (and 作答中 while an attempt is still open)."""
    if attempt is not None:
        if attempt.state in (SUBMITTED, FORCE_SUBMITTED):
            return STATUS_SUBMITTED
        if attempt.state == AUTO_SUBMITTED:
            return STATUS_AUTO
        if attempt.state == IN_PROGRESS:
            return STATUS_SITTING
    if session is not None and now >= session.closes_at:
        return STATUS_ABSENT
    return STATUS_NOT_YET


def exam_rows(rnd: Round, *, full: bool, session: ExamSession | None = None) -> list[list]:
    """One row per candidate of the round's exam levels (or of one session), ordered by ticket."""
    now = utcnow()
    exam_levels = [s.level for s in rnd.schemes if s.has_exam]
    query = select(Candidate).where(Candidate.round_id == rnd.id, Candidate.level.in_(exam_levels))
    if session is not None:
        query = query.join(SessionCandidate, SessionCandidate.candidate_id == Candidate.id).where(
            SessionCandidate.session_id == session.id)
    candidates = list(db.session.scalars(query.order_by(Candidate.ticket)))
    sessions = {s.id: s for s in db.session.scalars(real_sessions().filter_by(round_id=rnd.id))}
    assigned = {}
    def latest_last(row):  # a make-up (exam/authoring/makeup.py) opens later: the candidate's latest session wins
        return sessions[row.session_id].opens_at, row.session_id

    for sc in sorted(db.session.execute(select(SessionCandidate.candidate_id, SessionCandidate.session_id)
                                        .where(SessionCandidate.session_id.in_(list(sessions)))).all(),
                     key=latest_last):
        if session is None or sc.session_id == session.id:
            assigned[sc.candidate_id] = sessions[sc.session_id]
    attempts = {}
    for a in sorted(db.session.scalars(real_attempts().where(Attempt.session_id.in_(list(sessions)))),
                    key=latest_last):
        if session is None or a.session_id == session.id:
            attempts[a.candidate_id] = a
    ids = [a.id for a in attempts.values()]
    counts: dict[int, dict[str, int]] = {}
    for start in range(0, len(ids), 500):  # bounded IN lists
        counts.update(event_counts(ids[start:start + 500]))
    rows = []
    for c in candidates:
        attempt = attempts.get(c.id)
        status = exam_status(attempt, assigned.get(c.id), now)
        score = None
        if attempt is not None and attempt.score is not None and status in (STATUS_SUBMITTED, STATUS_AUTO):
            score = half_up(attempt.score)
        events = counts.get(attempt.id, {}) if attempt is not None else None
        rows.append([c.ticket, c.name, c.id_number if full else mask_id_number(c.id_number), c.work_unit, c.level,
                     score, status, *((events.get(kind, 0) if events is not None else None) for kind in EVENT_KINDS)])
    return rows


def exam_sheet(rnd: Round, *, full: bool, session: ExamSession | None = None) -> Sheet:
    return Sheet(title="笔试成绩", headers=list(HEADERS), rows=exam_rows(rnd, full=full, session=session),
                 number_formats={5: "0.00", **{len(BASE_HEADERS) + i: "0" for i in range(len(EVENT_KINDS))}})


def export_exam(rnd: Round, path: str) -> None:
    """``certify export exam``: the secretariat's full export of the round's exam component."""
    if not any(s.has_exam for s in rnd.schemes):
        raise ValueError(f"轮次 {rnd.code} 没有笔试（各级别笔试权重均为 0）")
    write_file(path, [exam_sheet(rnd, full=True)])


def _exam_build(rnd: Round, full: bool = False, require_exam: bool = False) -> list[Sheet]:
    if require_exam and not any(s.has_exam for s in rnd.schemes):
        raise ValueError(f"轮次 {rnd.code} 没有笔试（各级别笔试权重均为 0）")
    return [exam_sheet(rnd, full=bool(full))]


def _session_build(rnd: Round, session_id: int = 0, full: bool = False) -> list[Sheet]:
    session = db.session.get(ExamSession, session_id)
    if session is None or session.round_id != rnd.id:
        raise ValueError("该场次不属于本轮次或已不存在")
    return [exam_sheet(rnd, full=bool(full), session=session)]


def register_exporters() -> None:
    """The round's exam export as a background-job exporter (``certify.export_job``): same sheet, same name."""
    from certify.domain import SECRETARIAT, SUPERVISOR
    from certify.export_job import Exporter, register_exporter

    register_exporter(Exporter(
        name="exam.round", title="笔试成绩导出", build=_exam_build,
        filename=lambda rnd, params, fmt: f"{rnd.code}-笔试成绩" + ("-完整" if params.get("full") else ""),
        roles=lambda params: (SECRETARIAT,) if params.get("full") else (SECRETARIAT, SUPERVISOR),
        params={"full": False}, cli_kind="exam", cli_params={"full": True, "require_exam": True}))
    register_exporter(Exporter(
        name="exam.session", title="场次笔试成绩导出", build=_session_build,
        filename=lambda rnd, params, fmt: f"{rnd.code}-场次{params.get('session_id')}-笔试成绩"
        + ("-完整" if params.get("full") else ""),
        roles=lambda params: (SECRETARIAT,) if params.get("full") else (SECRETARIAT, SUPERVISOR),
        params={"session_id": 0, "full": False}))
