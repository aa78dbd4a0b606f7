"""The exam's section of the staff home page (``/home``): today's exam sessions, with their phase and attempts."""
from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import url_for

from certify.clock import from_local, to_local, utcnow
from certify.domain import SECRETARIAT, SUPERVISOR
from certify.extensions import db
from certify.models import Round
from certify.staff_home import staff_panel

from ..models import IN_PROGRESS, Attempt, ExamSession, SessionCandidate
from ..services.timing import session_phase

PHASE_LABELS = {"upcoming": "未开始", "open": "进行中", "closed": "已结束"}


def sessions_today(user) -> str | None:
    if user.role not in (SECRETARIAT, SUPERVISOR):
        return None
    now = utcnow()
    start = from_local(datetime.combine(to_local(now).date(), time()))
    end = start + timedelta(days=1)
    sessions = db.session.execute(
        db.select(ExamSession, Round.code).join(Round, Round.id == ExamSession.round_id)
        .where(ExamSession.opens_at < end, ExamSession.closes_at > start)
        .order_by(ExamSession.opens_at, ExamSession.id)).all()
    ids = [s.id for s, _ in sessions]
    assigned = dict(db.session.execute(
        db.select(SessionCandidate.session_id, db.func.count()).where(SessionCandidate.session_id.in_(ids))
        .group_by(SessionCandidate.session_id)).all()) if ids else {}

    running = dict(db.session.execute(
        db.select(Attempt.session_id, db.func.count()).where(Attempt.session_id.in_(ids), Attempt.state == IN_PROGRESS)
        .group_by(Attempt.session_id)).all()) if ids else {}
    rows = []
    for s, code in sessions:
        phase = session_phase(now, s.opens_at, s.closes_at)
        url = url_for("exam_monitor.session_monitor", session_id=s.id) if phase == "open" else \
            url_for("exam_admin.session_detail", session_id=s.id)
        rows.append((f"{s.name}（{code}）", url,
                     f"{to_local(s.opens_at):%H:%M}–{to_local(s.closes_at):%m-%d %H:%M} · {PHASE_LABELS[phase]} · "
                     f"考生 {assigned.get(s.id, 0)} 人 · 作答中 {running.get(s.id, 0)} 人"))
    return staff_panel("exam-today", "今日笔试场次", rows, empty="今天没有笔试场次。",
                       more_url=url_for("exam_admin.sessions"), more_label="全部笔试场次")
