"""The exam on the staff home page: today's sessions with their window, phase, candidates and attempts."""
from __future__ import annotations

from datetime import timedelta

from certify.clock import utcnow
from certify.domain import SECRETARIAT, SUPERVISOR
from certify.extensions import db
from exam.models import Attempt


def test_sessions_today_with_phase_and_attempts(ctx, client, login_as, make_exam_session):
    now = utcnow().replace(microsecond=0)
    live = make_exam_session(name="今日初级笔试", opens_at=now - timedelta(minutes=10), closes_at=now + timedelta(hours=2))
    make_exam_session(name="下月中级笔试", level="中级", opens_at=now + timedelta(days=30),
                      closes_at=now + timedelta(days=30, hours=2))
    a = live.assignments[0]
    db.session.add(Attempt(session_id=live.id, candidate_id=a.candidate_id, paper_id=a.paper_id, state="in_progress",
                           started_at=now, deadline_at=now + timedelta(hours=1)))
    db.session.commit()
    login_as(SECRETARIAT)
    html = client.get("/home").get_data(as_text=True)
    section = html.split('id="panel-exam-today"')[1].split("</section>")[0]
    assert f'href="/exam/monitor/sessions/{live.id}">今日初级笔试（2024-cq）</a>' in section
    assert "进行中 · 考生 3 人 · 作答中 1 人" in section and "下月中级笔试" not in section
    client.post("/logout")
    login_as(SUPERVISOR)
    assert "今日初级笔试（2024-cq）" in client.get("/home").get_data(as_text=True)
