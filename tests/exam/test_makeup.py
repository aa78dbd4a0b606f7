"""Make-up sessions (补考): a candidate absent from session A sits make-up B; results use B's grade."""
from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from certify.clock import display_timezone, to_local
from certify.domain import EXAM
from certify.extensions import db
from certify.models import AuditEntry, ComponentScore
from certify.results import operations as results_ops
from exam.analysis import operations as analysis
from exam.authoring.makeup import create_makeup, makeup_of, makeup_rows
from exam.authoring.papers import ExamAdminError
from exam.delivery import operations as ops
from exam.delivery.lifecycle import close_overdue, record_absentees
from exam.models import Attempt, ExamSession, Paper, PaperItem, SessionCandidate


def sit(session, cand, now, *, letter: str = "A", submit: bool = True):
    """The candidate starts, answers every item with ``letter`` and submits."""
    attempt, token = ops.start_attempt(session, cand, now=now)
    db.session.flush()
    items = db.session.execute(db.select(PaperItem).join(SessionCandidate, SessionCandidate.paper_id == PaperItem.paper_id)
                               .where(SessionCandidate.session_id == session.id,
                                      SessionCandidate.candidate_id == cand.id)
                               .order_by(PaperItem.position)).scalars().all()
    for seq, pi in enumerate(items, start=1):
        ops.save_answer(attempt.id, token=token, position=pi.position, response=letter, seq=seq, time_spent_ms=1000,
                        now=now + timedelta(minutes=1))
    if submit:
        ops.submit_attempt(attempt, token=token, now=now + timedelta(minutes=2))
    db.session.commit()
    return attempt


def exam_component(cand) -> ComponentScore | None:
    db.session.expire_all()
    return db.session.execute(db.select(ComponentScore).filter_by(candidate_id=cand.id, component=EXAM)
                              ).scalar_one_or_none()


@pytest.fixture
def closed_a(make_exam_session):
    """Session A (3 candidates): the first sits it; the second is interrupted (the clock closes the attempt); the
    third is absent. A has closed."""
    a = make_exam_session(candidates=3)
    c1, c2, c3 = a.candidates_made
    sit(a, c1, a.opens_at + timedelta(minutes=1))
    sit(a, c2, a.opens_at + timedelta(minutes=1), letter="B", submit=False)
    after = a.closes_at + timedelta(minutes=1)
    with time_machine.travel(after, tick=False):
        close_overdue(now=after)
        record_absentees(now=after)
        db.session.commit()
    return a


def test_absent_candidate_sits_makeup_and_results_use_its_grade(closed_a):
    a = closed_a
    c1, c2, c3 = a.candidates_made
    assert (exam_component(c3).status, exam_component(c3).score) == ("absent", None)
    rows = {r["candidate"].id: r for r in makeup_rows(a)}
    assert rows[c3.id]["eligible"] and rows[c3.id]["status"] == "缺考"
    assert not rows[c1.id]["eligible"] and "已正常交卷" in rows[c1.id]["why"]
    assert rows[c2.id]["eligible"] and rows[c2.id]["status"] == "中断（到时自动交卷）"
    interrupted = exam_component(c2)
    assert interrupted.status == "scored" and interrupted.source == f"exam_session:{a.id}"
    opens = a.closes_at + timedelta(days=1)
    with time_machine.travel(a.closes_at + timedelta(hours=1), tick=False):
        b = create_makeup(a, candidate_ids=[c3.id, c2.id], opens_at=opens, closes_at=opens + timedelta(hours=3),
                          reason="考点停电，经批准补考")
        db.session.commit()
    # own window, fresh papers (new seed), same blueprint and scheme, only the named candidate
    assert b.id != a.id and b.blueprint_id == a.blueprint_id and b.scheme_id == a.scheme_id
    assert b.seed != a.seed and b.opens_at == opens and b.name == f"{a.name}（补考）"
    assert sorted(s.candidate_id for s in b.assignments) == sorted([c2.id, c3.id])
    paper_b = db.session.execute(db.select(Paper).filter_by(session_id=b.id, candidate_id=c3.id)).scalar_one()
    paper_a = db.session.execute(db.select(Paper).filter_by(session_id=a.id, candidate_id=c3.id)).scalar_one()
    assert paper_b.id != paper_a.id and paper_b.candidate_id == c3.id
    assert makeup_of(b).id == a.id and makeup_of(a) is None
    entry = db.session.execute(db.select(AuditEntry).filter_by(action="exam.session.makeup")).scalar_one()
    assert entry.reason == "考点停电，经批准补考" and entry.detail["original_session_id"] == a.id
    assert entry.detail["replaced"] == {c3.ticket: "缺考", c2.ticket: "中断（到时自动交卷）"}
    # the make-up: c3 sits it, the grade replaces 缺考
    attempt_b = sit(b, c3, opens + timedelta(minutes=1))
    assert attempt_b.session_id == b.id and attempt_b.score is not None
    row = exam_component(c3)
    assert (row.status, row.score, row.source) == ("scored", attempt_b.score, f"exam_session:{b.id}")
    # the earlier session's regrade (an erratum) leaves the make-up's grade alone
    attempt_b2 = sit(b, c2, opens + timedelta(minutes=1))
    assert (exam_component(c2).source, exam_component(c2).score) == (f"exam_session:{b.id}", attempt_b2.score)
    from exam.grading.grade import _write_grade, compute_grade

    attempt_a2 = db.session.execute(db.select(Attempt).filter_by(session_id=a.id, candidate_id=c2.id)).scalar_one()
    _write_grade(attempt_a2, compute_grade(attempt_a2), opens + timedelta(hours=1))
    db.session.commit()
    assert (exam_component(c2).source, exam_component(c2).score) == (f"exam_session:{b.id}", attempt_b2.score)
    # results: three candidates, each once, c3 with B's exam score
    comp = results_ops.compute(a.scheme.round, "初级")
    lines = {ln.candidate.id: ln for ln in comp.lines}
    assert len(comp.lines) == 3 and lines[c3.id].components["exam"] == attempt_b.score
    assert lines[c2.id].components["exam"] == attempt_b2.score
    assert lines[c3.id].status != "absent"
    # statistics: A's analysis counts the two who sat A, B's the one who sat B; nobody twice
    with time_machine.travel(opens + timedelta(hours=4), tick=False):
        assert analysis.session_report(a).analysis.test.n == 2  # c1 and c2's interrupted attempt
        assert analysis.session_report(db.session.get(ExamSession, b.id)).analysis.test.n == 2
    # B's absentee sweep after it closes does not touch c3's grade (c3 sat B)
    after_b = opens + timedelta(hours=3, minutes=1)
    with time_machine.travel(after_b, tick=False):
        record_absentees(now=after_b)
        db.session.commit()
    assert exam_component(c3).score == attempt_b.score


def test_makeup_refusals(closed_a, make_exam_session):
    a = closed_a
    c1, c2, c3 = a.candidates_made
    opens = a.closes_at + timedelta(days=1)
    window = {"opens_at": opens, "closes_at": opens + timedelta(hours=3)}
    with time_machine.travel(a.closes_at + timedelta(hours=1), tick=False):
        for kwargs, message in (({"candidate_ids": [c3.id], "reason": " "}, "请填写补考理由"),
                                ({"candidate_ids": [], "reason": "停电"}, "请选择补考考生"),
                                ({"candidate_ids": [c1.id], "reason": "停电"}, "已正常交卷"),
                                ({"candidate_ids": [c3.id], "reason": "停电", "opens_at": a.closes_at - timedelta(hours=1)},
                                 "须晚于原场次结束时间")):
            with pytest.raises(ExamAdminError, match=message):
                create_makeup(a, **{**window, **kwargs})
        create_makeup(a, candidate_ids=[c3.id], reason="停电", **window)
        db.session.commit()
        with pytest.raises(ExamAdminError, match="已安排补考"):
            create_makeup(a, candidate_ids=[c3.id], reason="再次", **window)
    still_open = make_exam_session(candidates=1)
    with pytest.raises(ExamAdminError, match="原场次尚未结束"):
        create_makeup(still_open, candidate_ids=[still_open.candidates_made[0].id], reason="停电",
                      opens_at=still_open.closes_at + timedelta(days=1),
                      closes_at=still_open.closes_at + timedelta(days=1, hours=3))
    assert db.session.scalar(db.select(db.func.count(ExamSession.id))) == 3


def test_secretariat_page_creates_the_makeup(client, login_as, closed_a):
    a = closed_a
    c1, c2, c3 = a.candidates_made
    login_as("secretariat")
    opens = (a.closes_at + timedelta(days=1)).replace(second=0, microsecond=0)
    tz_opens = to_local(opens, display_timezone())
    data = {"candidate_ids": [str(c3.id)], "opens_at": tz_opens.strftime("%Y-%m-%dT%H:%M"),
            "closes_at": (tz_opens + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"), "duration_minutes": "60"}
    with time_machine.travel(a.closes_at + timedelta(hours=1), tick=False):
        detail = client.get(f"/exam/admin/sessions/{a.id}").get_data(as_text=True)
        assert f"/exam/admin/sessions/{a.id}/makeup" in detail
        page = client.get(f"/exam/admin/sessions/{a.id}/makeup").get_data(as_text=True)
        assert c3.ticket in page and "可补考" in page and "已正常交卷" in page and 'value="60"' in page
        resp = client.post(f"/exam/admin/sessions/{a.id}/makeup", data=data)  # no reason: refused
        assert resp.status_code == 400 and "请填写补考理由" in resp.get_data(as_text=True)
        assert db.session.scalar(db.select(db.func.count(ExamSession.id))) == 1
        resp = client.post(f"/exam/admin/sessions/{a.id}/makeup", data={**data, "candidate_ids": [str(c1.id)],
                                                                         "reason": "停电"})
        assert resp.status_code == 400 and db.session.scalar(db.select(db.func.count(ExamSession.id))) == 1
        resp = client.post(f"/exam/admin/sessions/{a.id}/makeup", data={**data, "reason": "考点停电"})
        assert resp.status_code == 302
        db.session.expire_all()
        b = db.session.execute(db.select(ExamSession).where(ExamSession.id != a.id)).scalar_one()
        assert resp.headers["Location"].endswith(f"/exam/admin/sessions/{b.id}")
        assert b.opens_at == opens and [s.candidate_id for s in b.assignments] == [c3.id]
        detail = client.get(f"/exam/admin/sessions/{b.id}").get_data(as_text=True)
        assert 'id="makeup-of"' in detail and a.name in detail
        page = client.get(f"/exam/admin/sessions/{a.id}/makeup").get_data(as_text=True)
        assert f"已安排补考（{b.name}）" in page
    entry = db.session.execute(db.select(AuditEntry).filter_by(action="exam.session.makeup")).scalar_one()
    assert entry.reason == "考点停电" and entry.actor_id is not None


def test_cli_lists_then_creates_the_makeup(app, closed_a):
    a = closed_a
    c1, c2, c3 = a.candidates_made
    opens = to_local(a.closes_at + timedelta(days=1), display_timezone())
    args = ["session", "makeup", "--session", str(a.id), "--candidates", f"{c3.ticket},{c2.ticket}",
            "--opens", opens.strftime("%Y-%m-%d %H:%M"), "--closes", (opens + timedelta(hours=3)).strftime("%Y-%m-%d %H:%M")]
    runner = app.test_cli_runner()
    with time_machine.travel(a.closes_at + timedelta(hours=1), tick=False):
        result = runner.invoke(args=args)  # without --yes: lists, writes nothing
        assert result.exit_code == 0, result.output
        assert f"{c3.ticket} {c3.name}：缺考" in result.output and "未写入任何数据" in result.output
        assert db.session.scalar(db.select(db.func.count(ExamSession.id))) == 1
        result = runner.invoke(args=[*args, "--yes"])  # no reason: refused, non-zero
        assert result.exit_code != 0 and "请填写补考理由" in result.output
        result = runner.invoke(args=[*args[:5], c1.ticket, *args[6:], "--yes", "--reason", "停电"])
        assert result.exit_code != 0 and "已正常交卷" in result.output
        result = runner.invoke(args=[*args[:5], "X999", *args[6:]])
        assert result.exit_code != 0 and "X999 不在场次" in result.output
        result = runner.invoke(args=[*args, "--yes", "--reason", "考点停电"])
        assert result.exit_code == 0, result.output
        assert "已建立补考场次" in result.output
    db.session.expire_all()
    b = db.session.execute(db.select(ExamSession).where(ExamSession.id != a.id)).scalar_one()
    assert sorted(s.candidate_id for s in b.assignments) == sorted([c2.id, c3.id])
    entry = db.session.execute(db.select(AuditEntry).filter_by(action="exam.session.makeup")).scalar_one()
    assert entry.reason == "考点停电"


def test_makeup_window_can_be_edited_and_its_candidates_stay(closed_a):
    """Editing a make-up (its window) is not refused as 'already in another session of this level' for the
    candidates it shares with the original by design; adding someone from the original still is."""
    from exam.authoring.sessions import update_session

    a = closed_a
    c1, c2, c3 = a.candidates_made
    opens = a.closes_at + timedelta(days=1)
    with time_machine.travel(a.closes_at + timedelta(hours=1), tick=False):
        b = create_makeup(a, candidate_ids=[c3.id], reason="停电", opens_at=opens, closes_at=opens + timedelta(hours=3))
        db.session.commit()
        fields = {"name": b.name, "blueprint_id": b.blueprint_id, "opens_at": opens + timedelta(hours=1),
                  "closes_at": opens + timedelta(hours=4), "duration_minutes": b.duration_minutes,
                  "late_entry_minutes": b.late_entry_minutes, "instructions": b.instructions, "assign_all": False,
                  "event_warning_threshold": None, "seed": b.seed}
        update_session(b, candidate_ids=[c3.id], **fields)
        db.session.commit()
        assert b.opens_at == opens + timedelta(hours=1)
        with pytest.raises(ExamAdminError, match="已安排在本级别的其他场次"):
            update_session(b, candidate_ids=[c3.id, c1.id], **fields)


def test_practice_sessions_have_no_makeup_and_never_supersede(closed_a):
    """A practice session (模拟练习) is never the original of a make-up, and a later practice session of the same
    level does not count as a make-up: the candidate's real grade stays recorded."""
    from exam.grading.grade import _superseded, _write_grade, compute_grade

    a = closed_a
    c1, c2, c3 = a.candidates_made
    opens = a.closes_at + timedelta(days=1)
    with time_machine.travel(a.closes_at + timedelta(hours=1), tick=False):
        b = create_makeup(a, candidate_ids=[c2.id], reason="停电", opens_at=opens, closes_at=opens + timedelta(hours=3))
        db.session.commit()
    attempt_a2 = db.session.execute(db.select(Attempt).filter_by(session_id=a.id, candidate_id=c2.id)).scalar_one()
    assert _superseded(attempt_a2) and makeup_of(b).id == a.id
    b.practice = True  # the same shape, but practice: neither a make-up nor superseding
    db.session.commit()
    assert not _superseded(attempt_a2) and makeup_of(b) is None
    _write_grade(attempt_a2, compute_grade(attempt_a2), opens)
    db.session.commit()
    assert exam_component(c2).source == f"exam_session:{a.id}"
    with time_machine.travel(opens + timedelta(hours=4), tick=False):
        with pytest.raises(ExamAdminError, match="模拟练习场次不安排补考"):
            create_makeup(db.session.get(ExamSession, b.id), candidate_ids=[c2.id], reason="x",
                          opens_at=opens + timedelta(days=1), closes_at=opens + timedelta(days=1, hours=3))
