"""Exam notices: a session's window and place reach its candidates when it is created, again when the window or
place changes (candidates added later get theirs), and its scores' release is announced."""
from __future__ import annotations

from datetime import datetime, timedelta

import time_machine

from certify.clock import to_local
from certify.extensions import db
from certify.notices.models import Notice
from exam.authoring.sessions import release_scores, update_session

FIELDS = ("name", "blueprint_id", "opens_at", "closes_at", "duration_minutes", "late_entry_minutes", "instructions",
          "event_warning_threshold", "seed", "place")


def notices_of(cand):
    return list(db.session.scalars(db.select(Notice).filter_by(user_id=cand.user_id).order_by(Notice.id)))


def settings(session, **over):
    data = {f: getattr(session, f) for f in FIELDS}
    data.update(assign_all=False, candidate_ids=[a.candidate_id for a in session.assignments])
    data.update(over)
    return data


def local(value):
    return to_local(value).strftime("%Y-%m-%d %H:%M")


def test_creating_a_session_tells_each_candidate_the_window_and_place(make_exam_session):
    opens = datetime(2026, 12, 5, 1, 0)
    session = make_exam_session(candidates=2, opens_at=opens, closes_at=opens + timedelta(hours=2), duration=90)
    for cand in session.candidates_made:
        [notice] = notices_of(cand)
        assert notice.kind == "exam" and notice.title == f"笔试安排：{session.name}"
        assert "考试时间：2026-12-05 09:00 至 2026-12-05 11:00（北京时间），考试时长 90 分钟。" in notice.body
        assert "考试地点：线上" in notice.body


def test_a_changed_window_or_place_is_announced_again_and_added_candidates_get_theirs(make_exam_session,
                                                                                       make_candidate):
    session = make_exam_session(candidates=2)
    first = session.candidates_made[0]
    update_session(session, **settings(session, place="重庆市第八中学 3 号楼 201"))
    db.session.commit()
    assert [n.title for n in notices_of(first)] == [f"笔试安排：{session.name}", f"笔试安排变更：{session.name}"]
    assert "考试地点：重庆市第八中学 3 号楼 201。" in notices_of(first)[-1].body
    update_session(session, **settings(session, instructions="新的须知"))  # nothing a candidate is told changed
    db.session.commit()
    assert len(notices_of(first)) == 2
    newcomer = make_candidate(session.scheme.round)
    update_session(session, **settings(session, candidate_ids=[a.candidate_id for a in session.assignments]
                                       + [newcomer.id]))
    db.session.commit()
    assert len(notices_of(first)) == 2
    [notice] = notices_of(newcomer)
    assert local(session.opens_at) in notice.body and "重庆市第八中学" in notice.body


def test_releasing_scores_is_announced(make_exam_session):
    session = make_exam_session(candidates=1)
    with time_machine.travel(session.closes_at + timedelta(minutes=1), tick=False):
        release_scores(session)
        db.session.commit()
    notices = notices_of(session.candidates_made[0])
    assert notices[-1].kind == "results" and notices[-1].title == f"笔试成绩已发布：{session.name}"
