"""Exam sessions: validation, assignment, paper generation (bulk, reproducible, frozen once started), extra
time, score release, and the secretariat's pages."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from certify.clock import utcnow
from certify.extensions import db
from certify.models import AuditEntry
from exam.authoring.papers import ExamAdminError, generate_papers, save_blueprint
from exam.authoring.sessions import create_session, release_scores, set_extra_time, update_session
from exam.demo import DEMO_ROWS
from exam.models import AUTO_SUBMITTED, IN_PROGRESS, Attempt, ExamSession, Paper, PaperItem, SessionCandidate


def papers_of(session):
    out = {}
    for sc in db.session.execute(db.select(SessionCandidate).filter_by(session_id=session.id)).scalars():
        items = db.session.execute(db.select(PaperItem).filter_by(paper_id=sc.paper_id)
                                   .order_by(PaperItem.position)).scalars().all()
        out[sc.candidate_id] = items
    return out


def actions():
    return [e.action for e in db.session.execute(db.select(AuditEntry).order_by(AuditEntry.id)).scalars()]


def test_session_gets_one_paper_per_candidate(make_exam_session):
    session = make_exam_session(candidates=4)
    assert session.papers_generated_at is not None
    papers = papers_of(session)
    assert len(papers) == 4
    for cid, items in papers.items():
        assert len(items) == 60
        assert sum(Decimal(i.points) for i in items) == 100
        assert len({i.item_version_id for i in items}) == 60
        assert Counter(i.blueprint_row for i in items) == {1: 10, 2: 8, 3: 7, 4: 5, 5: 10, 6: 20}
        paper = db.session.execute(db.select(Paper).filter_by(session_id=session.id, candidate_id=cid)).scalar_one()
        assert paper.expected_facility is not None
    assert {"exam.session.create", "exam.papers.generate"} <= set(actions())


def test_fixed_mode_same_items_own_order(make_exam_session):
    session = make_exam_session(candidates=5, mode="fixed")
    papers = papers_of(session)
    assert len({frozenset(i.item_version_id for i in items) for items in papers.values()}) == 1
    assert len({tuple(i.item_version_id for i in items) for items in papers.values()}) > 1


def test_regeneration_is_reproducible_and_refused_once_started(make_exam_session):
    session = make_exam_session(candidates=3)
    before = {cid: [(i.item_version_id, i.option_order) for i in items] for cid, items in papers_of(session).items()}
    generate_papers(session)
    db.session.commit()
    after = {cid: [(i.item_version_id, i.option_order) for i in items] for cid, items in papers_of(session).items()}
    assert before == after  # same seed, bank and candidates → same papers
    cand = session.candidates_made[0]
    sc = db.session.execute(db.select(SessionCandidate).filter_by(session_id=session.id, candidate_id=cand.id)).scalar_one()
    db.session.add(Attempt(session_id=session.id, candidate_id=cand.id, paper_id=sc.paper_id,
                           deadline_at=utcnow() + timedelta(minutes=60)))
    db.session.commit()
    with pytest.raises(ExamAdminError, match="不能再重新生成试卷"):
        generate_papers(session)


def _data(session, **changes):
    data = {"name": session.name, "blueprint_id": session.blueprint_id, "opens_at": session.opens_at,
            "closes_at": session.closes_at, "duration_minutes": session.duration_minutes,
            "late_entry_minutes": session.late_entry_minutes, "instructions": session.instructions,
            "assign_all": False, "event_warning_threshold": None, "seed": session.seed}
    data.update(changes)
    return data


def test_window_duration_and_threshold_validation(make_exam_session):
    session = make_exam_session(candidates=1)
    rnd, scheme = session.scheme.round, session.scheme
    now = utcnow()
    with pytest.raises(ExamAdminError) as err:
        create_session(rnd, scheme, **_data(session, name=" ", opens_at=now, closes_at=now - timedelta(hours=1),
                                            duration_minutes=0, late_entry_minutes=-1, event_warning_threshold=0))
    text = "\n".join(err.value.errors)
    for expected in ("请填写场次名称", "结束时间必须晚于开考时间", "考试时长须为正整数", "迟到入场时限", "异常行为提醒阈值"):
        assert expected in text
    with pytest.raises(ExamAdminError, match="考试时长 90 分钟超出了考试时间窗口（60 分钟）"):
        create_session(rnd, scheme, **_data(session, opens_at=now, closes_at=now + timedelta(hours=1),
                                            duration_minutes=90))


def test_jilin_candidate_and_scheme_are_refused(make_exam_session, make_round, make_candidate):
    session = make_exam_session(candidates=1)
    jl = make_round("2024-jl", "吉林", 2024)
    jilin = make_candidate(jl, level="初级", name="吉林考生")
    with pytest.raises(ExamAdminError) as err:
        update_session(session, candidate_ids=[jilin.id, *[c.id for c in session.candidates_made]], **_data(session))
    assert "考生 吉林考生" in err.value.errors[0] and "吉林初级方案没有笔试" in err.value.errors[0]
    with pytest.raises(ExamAdminError, match="吉林初级方案没有笔试"):
        create_session(jl, jl.scheme_for("初级"), candidate_ids=[jilin.id], **_data(session))


def test_wrong_level_and_double_booking_are_refused(make_exam_session, make_candidate):
    session = make_exam_session(candidates=2)
    rnd = session.scheme.round
    middle = make_candidate(rnd, level="中级", name="中级考生")
    with pytest.raises(ExamAdminError, match="认证级别是中级，与本场次（初级）不符"):
        update_session(session, candidate_ids=[middle.id], **_data(session))
    db.session.rollback()
    with pytest.raises(ExamAdminError, match="已安排在本级别的其他场次"):
        create_session(rnd, session.scheme, candidate_ids=[session.candidates_made[0].id],
                       **_data(session, name="第二场"))


def test_editing_regenerates_and_freezes_once_started(make_exam_session, make_candidate):
    session = make_exam_session(candidates=2)
    first = {k: [i.item_version_id for i in v] for k, v in papers_of(session).items()}
    update_session(session, candidate_ids=[c.id for c in session.candidates_made], **_data(session, seed=12345))
    db.session.commit()
    second = {k: [i.item_version_id for i in v] for k, v in papers_of(session).items()}
    assert first.keys() == second.keys() and first != second
    newcomer = make_candidate(session.scheme.round, level="初级")
    ids = [c.id for c in session.candidates_made] + [newcomer.id]
    update_session(session, candidate_ids=ids, **_data(session))
    db.session.commit()
    assert all(sc.paper_id for sc in session.assignments) and len(session.assignments) == 3

    cand = session.candidates_made[0]
    sc = next(a for a in session.assignments if a.candidate_id == cand.id)
    db.session.add(Attempt(session_id=session.id, candidate_id=cand.id, paper_id=sc.paper_id,
                           deadline_at=utcnow() + timedelta(minutes=60)))
    db.session.commit()
    with pytest.raises(ExamAdminError, match="不能再调整考生名单"):
        update_session(session, candidate_ids=ids[:2], **_data(session))
    db.session.rollback()
    with pytest.raises(ExamAdminError, match="不能再更换组卷方案或随机种子"):
        update_session(session, candidate_ids=ids, **_data(session, seed=99))
    db.session.rollback()
    later = session.closes_at + timedelta(hours=2)
    update_session(session, candidate_ids=ids, **_data(session, closes_at=later, instructions="新须知"))
    db.session.commit()
    assert session.closes_at == later
    attempt = db.session.execute(db.select(Attempt).filter_by(session_id=session.id)).scalar_one()
    attempt.deadline_at = session.opens_at + timedelta(minutes=60)
    earlier = session.opens_at + timedelta(minutes=61)
    update_session(session, candidate_ids=ids, **_data(session, closes_at=earlier))
    assert attempt.deadline_at == session.opens_at + timedelta(minutes=60)  # already before the close
    attempt.deadline_at = session.opens_at + timedelta(minutes=90)
    update_session(session, candidate_ids=ids, **_data(session, closes_at=session.opens_at + timedelta(minutes=70)))
    assert attempt.deadline_at == session.opens_at + timedelta(minutes=70)  # never past the close
    update_session(session, candidate_ids=ids, **_data(session, closes_at=later, instructions="新须知"))
    db.session.commit()
    entries = db.session.execute(db.select(AuditEntry).filter_by(action="exam.session.update")
                                 .order_by(AuditEntry.id)).scalars().all()
    changed = [set(e.detail["changed"]) for e in entries]
    assert {"closes_at", "instructions"} in changed and {"closes_at"} in changed
    assert [e.detail["deadlines_clamped"] for e in entries][-3:] == [[], [session.candidates_made[0].id], []]


def test_extra_time_moves_an_open_deadline(make_exam_session):
    session = make_exam_session(candidates=2)
    cand = session.candidates_made[1]
    sc = next(a for a in session.assignments if a.candidate_id == cand.id)
    started = session.opens_at + timedelta(minutes=5)
    attempt = Attempt(session_id=session.id, candidate_id=cand.id, paper_id=sc.paper_id, state=IN_PROGRESS,
                      started_at=started, deadline_at=started + timedelta(minutes=60))
    db.session.add(attempt)
    db.session.commit()
    set_extra_time(session, cand.id, 15, reason="视力障碍")
    db.session.commit()
    assert sc.extra_minutes == 15
    assert attempt.deadline_at == started + timedelta(minutes=75)
    entry = db.session.execute(db.select(AuditEntry).filter_by(action="exam.session.extra_time")).scalar_one()
    assert entry.reason == "视力障碍" and entry.detail["after"] == 15
    with pytest.raises(ExamAdminError, match="0–600"):
        set_extra_time(session, cand.id, -5)
    with pytest.raises(ExamAdminError, match="未安排在本场次"):
        set_extra_time(session, 987654, 5)


def test_extra_time_does_not_reopen_an_attempt_whose_time_ran_out(make_exam_session):
    session = make_exam_session(candidates=1)
    cand = session.candidates_made[0]
    sc = session.assignments[0]
    started = session.opens_at + timedelta(minutes=5)
    deadline = started + timedelta(minutes=60)
    attempt = Attempt(session_id=session.id, candidate_id=cand.id, paper_id=sc.paper_id, state=IN_PROGRESS,
                      started_at=started, deadline_at=deadline)
    db.session.add(attempt)
    db.session.commit()
    # Past the deadline and the grace, before the sweeper's next tick: the attempt is closed as at any deadline
    # (kept: keep_changes), and the extra time is refused rather than stored where it no longer applies.
    with time_machine.travel(deadline + timedelta(minutes=2), tick=False):
        with pytest.raises(ExamAdminError, match="已交卷") as err:
            set_extra_time(session, cand.id, 30, reason="补时")
        assert err.value.code == "attempt_closed" and err.value.keep_changes
        db.session.commit()
    db.session.expire_all()
    assert attempt.state == AUTO_SUBMITTED
    assert attempt.deadline_at == deadline
    assert sc.extra_minutes == 0


def test_release_scores_only_after_close(make_exam_session):
    session = make_exam_session(candidates=1)
    with pytest.raises(ExamAdminError, match="尚未结束"):
        release_scores(session)
    with time_machine.travel(session.closes_at + timedelta(minutes=1), tick=False):
        release_scores(session)
        db.session.commit()
        assert session.scores_released_at is not None
        with pytest.raises(ExamAdminError, match="已发布"):
            release_scores(session)
    assert "exam.session.release_scores" in actions()


# ---------------------------------------------------------------- pages

def test_create_session_page_stores_utc_and_generates_papers(client, login_as, make_round, make_candidate,
                                                             make_bank):
    rnd = make_round()
    make_bank()
    for _ in range(3):
        make_candidate(rnd, level="中级")
    make_candidate(rnd, level="初级")
    scheme = rnd.scheme_for("中级")
    bp = save_blueprint(scheme, name="中级方案", mode="per_candidate",
                        rows=[dict(r, difficulty_min=1, difficulty_max=5) for r in DEMO_ROWS])
    db.session.commit()
    login_as("secretariat")
    assert client.get(f"/exam/admin/schemes/{scheme.id}/sessions/new").status_code == 200
    form = {"name": "中级笔试", "blueprint_id": bp.id, "opens_at": "2030-05-10T09:00", "closes_at": "2030-05-10T11:00",
            "duration_minutes": 60, "late_entry_minutes": 30, "instructions": "带好证件", "assign_all": "y",
            "event_warning_threshold": "", "seed": ""}
    bad = client.post(f"/exam/admin/schemes/{scheme.id}/sessions/new", data={**form, "closes_at": "2030-05-10T08:00"})
    assert bad.status_code == 400 and "结束时间必须晚于开考时间" in bad.get_data(as_text=True)
    resp = client.post(f"/exam/admin/schemes/{scheme.id}/sessions/new", data=form)
    assert resp.status_code == 302
    session = db.session.execute(db.select(ExamSession)).scalar_one()
    assert session.opens_at == datetime(2030, 5, 10, 1, 0) and session.closes_at == datetime(2030, 5, 10, 3, 0)
    assert len(session.assignments) == 3 and all(a.paper_id for a in session.assignments)
    assert session.seed > 0
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "2030-05-10 09:00" in html and "已生成" in html and "中级笔试" in html
    listing = client.get(f"/exam/admin/?round={rnd.code}").get_data(as_text=True)
    assert "中级笔试" in listing and "中级方案" in listing


def test_jilin_scheme_session_page_is_refused(client, login_as, make_round):
    jl = make_round("2024-jl", "吉林", 2024)
    login_as("secretariat")
    resp = client.get(f"/exam/admin/schemes/{jl.scheme_for('初级').id}/sessions/new", follow_redirects=True)
    assert "吉林初级方案没有笔试" in resp.get_data(as_text=True)


def test_detail_actions_extra_time_generate_release(client, login_as, make_exam_session):
    session = make_exam_session(candidates=2)
    login_as("secretariat")
    cand = session.candidates_made[0]
    resp = client.post(f"/exam/admin/sessions/{session.id}/extra-time",
                       data={"candidate_id": cand.id, "minutes": 20, "reason": "设备故障"})
    assert resp.status_code == 302
    db.session.expire_all()
    sc = db.session.execute(db.select(SessionCandidate).filter_by(candidate_id=cand.id)).scalar_one()
    assert sc.extra_minutes == 20
    resp = client.post(f"/exam/admin/sessions/{session.id}/papers", data={"acknowledge": "y", "reason": "重抽"},
                       follow_redirects=True)
    assert "已为 2 名考生生成试卷" in resp.get_data(as_text=True)
    resp = client.post(f"/exam/admin/sessions/{session.id}/release", follow_redirects=True)
    assert "尚未结束" in resp.get_data(as_text=True)
    with time_machine.travel(session.closes_at + timedelta(minutes=5), tick=False):
        page = client.get(f"/exam/admin/sessions/{session.id}").get_data(as_text=True)
        assert "发布成绩" in page and "缺考" in page
        page = client.get(f"/exam/admin/sessions/{session.id}/release").get_data(as_text=True)
        assert 'id="r-assigned">2<' in page and 'id="r-absent">2<' in page and 'name="acknowledge"' in page
        resp = client.post(f"/exam/admin/sessions/{session.id}/release", follow_redirects=True)
        assert "请勾选确认并填写理由" in resp.get_data(as_text=True)
        db.session.expire_all()
        assert db.session.get(ExamSession, session.id).scores_released_at is None
        resp = client.post(f"/exam/admin/sessions/{session.id}/release", data={"acknowledge": "y", "reason": "按期发布"},
                           follow_redirects=True)
        assert "成绩已发布" in resp.get_data(as_text=True)
    entry = db.session.execute(db.select(AuditEntry).filter_by(action="exam.session.release_scores")).scalar_one()
    assert entry.reason == "按期发布" and entry.detail["absent"] == 2


def test_regenerating_papers_needs_the_confirmation(client, login_as, make_exam_session):
    session = make_exam_session(candidates=2)
    login_as("secretariat")
    before = sorted(db.session.scalars(db.select(Paper.id).filter_by(session_id=session.id)))
    assert len(before) == 2
    generated = db.session.scalar(db.select(db.func.count(AuditEntry.id)).filter_by(action="exam.papers.generate"))
    page = client.get(f"/exam/admin/sessions/{session.id}").get_data(as_text=True)
    assert f"/exam/admin/sessions/{session.id}/papers\">重新生成试卷" in page
    page = client.get(f"/exam/admin/sessions/{session.id}/papers").get_data(as_text=True)
    assert 'id="p-existing">2<' in page and 'id="p-assigned">2<' in page and 'name="reason"' in page
    for data in ({}, {"acknowledge": "y"}, {"reason": "题库更新"}):
        resp = client.post(f"/exam/admin/sessions/{session.id}/papers", data=data,
                           headers={"Accept": "application/json"})
        assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "confirmation_required"
    assert db.session.scalar(db.select(db.func.count(AuditEntry.id)).filter_by(action="exam.papers.generate")) \
        == generated
    resp = client.post(f"/exam/admin/sessions/{session.id}/papers", data={"acknowledge": "y", "reason": "题库更新"},
                       follow_redirects=True)
    assert "已为 2 名考生生成试卷" in resp.get_data(as_text=True)
    entries = db.session.execute(db.select(AuditEntry).filter_by(action="exam.papers.generate")
                                 .order_by(AuditEntry.id)).scalars().all()
    assert [e.reason for e in entries[generated:]] == ["秘书处手动重新生成：题库更新"]


def test_supervisor_reads_sessions_and_changes_nothing(client, login_as, make_exam_session):
    session = make_exam_session(candidates=1)
    login_as("supervisor")
    page = client.get(f"/exam/admin/sessions/{session.id}")
    assert page.status_code == 200 and "编辑场次" not in page.get_data(as_text=True)
    assert client.get("/exam/admin/").status_code == 200
    assert client.post(f"/exam/admin/sessions/{session.id}/papers").status_code == 403
    assert client.post(f"/exam/admin/sessions/{session.id}/release").status_code == 403
    assert client.post(f"/exam/admin/sessions/{session.id}/extra-time",
                       data={"candidate_id": 1, "minutes": 5}).status_code == 403
    assert client.get(f"/exam/admin/sessions/{session.id}/edit").status_code == 403


def test_detail_links_to_monitor_and_analysis_when_they_exist(client, login_as, make_exam_session, app):
    session = make_exam_session(candidates=1)
    login_as("secretariat")
    html = client.get(f"/exam/admin/sessions/{session.id}").get_data(as_text=True)
    for endpoint, label in (("exam_monitor.session_monitor", "实时监考"), ("exam_analysis.session_report", "试题分析")):
        assert (label in html) == (endpoint in app.view_functions)


# ---------------------------------------------------------------- demo step

def test_demo_step_creates_open_sessions_with_papers(make_round, make_candidate, make_bank):
    from exam.demo import demo_exam_sessions

    rnd = make_round("demo-cq", "重庆", 2024)
    juniors = [make_candidate(rnd, level="初级") for _ in range(3)]
    make_candidate(rnd, level="中级")
    make_bank()
    printed = []
    context = {"print": printed.append, "logins": []}
    with time_machine.travel(datetime(2030, 1, 1, 8, 0, 30), tick=False):
        demo_exam_sessions(context)
        db.session.commit()
    sessions = db.session.execute(db.select(ExamSession).order_by(ExamSession.id)).scalars().all()
    assert len(sessions) == 2 and {s.scheme.level for s in sessions} == {"初级", "中级"}
    for s in sessions:
        # open from the start of the hour for 25 hours, entry for the first 24: the last entrant gets a full paper
        assert s.opens_at == datetime(2030, 1, 1, 8, 0) and s.closes_at == datetime(2030, 1, 2, 9, 0)
        assert s.late_entry_minutes == 24 * 60 and "开考后 24 小时内可入场" in s.instructions
        assert s.duration_minutes == 60 and s.blueprint.mode == "per_candidate" and s.blueprint.total_points == 100
        assert all(a.paper_id for a in s.assignments)
    junior = next(s for s in sessions if s.scheme.level == "初级")
    assert {a.candidate_id for a in junior.assignments} == {c.id for c in juniors}
    demo_exam_sessions(context)  # re-running changes nothing
    assert db.session.execute(db.select(db.func.count()).select_from(ExamSession)).scalar() == 2


def test_demo_step_fails_loudly_when_the_bank_is_short(make_round, make_candidate, make_bank):
    from exam.demo import DemoError, demo_exam_sessions

    rnd = make_round("demo-cq", "重庆", 2024)
    make_candidate(rnd, level="初级")
    make_bank([("科学素养", "single", 3, "通用", 4)])
    with pytest.raises(DemoError, match="演示题库无法满足.*第 1 行（科学素养 · 单选 · 难度 1–5）.*还缺 6 道"):
        demo_exam_sessions({"print": print, "logins": []})
