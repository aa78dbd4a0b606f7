"""Key errata: the dry run shows before/after without writing; confirming regrades every affected attempt in one
transaction with the audit trail and the exam component scores."""
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from certify.extensions import db
from certify.models import AuditEntry, ComponentScore
from exam.delivery import operations as ops
from exam.models import Answer, KeyErratum, PaperItem
from question_bank.models import ItemVersion


@pytest.fixture
def sat(make_exam_session):
    """A fixed-paper session: candidate 0 answers item 1 with the key, candidate 1 with another option."""
    session = make_exam_session(candidates=3, mode="fixed")
    attempts = []
    for i, cand in enumerate(session.candidates_made[:2]):
        attempt, token = ops.start_attempt(session, cand)
        version = db.session.execute(select(ItemVersion).join(PaperItem, PaperItem.item_version_id == ItemVersion.id)
                                     .where(PaperItem.paper_id == attempt.paper_id, ItemVersion.type == "single")
                                     .order_by(ItemVersion.id)).scalars().first()
        position = db.session.execute(select(PaperItem.position).filter_by(paper_id=attempt.paper_id,
                                                                           item_version_id=version.id)).scalar_one()
        wrong = next(chr(65 + k) for k in range(len(version.options)) if chr(65 + k) != version.answer)
        ops.save_answer(attempt.id, token=token, position=position, response=[version.answer if i == 0 else wrong],
                        seq=1)
        ops.submit_attempt(attempt, token=token)
        attempts.append(attempt)
    db.session.commit()
    session.version, session.wrong, session.attempts = version, wrong, attempts
    return session


def points_of(session):
    return db.session.execute(select(PaperItem.points).filter_by(paper_id=session.attempts[0].paper_id,
                                                                  item_version_id=session.version.id)).scalar_one()


def test_dry_run_shows_before_and_after_and_writes_nothing(sat):
    right, wrong = sat.attempts
    audits_before = db.session.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
    rows = ops.preview_erratum(sat, sat.version.id, "correct", [sat.wrong])
    db.session.rollback()
    pts = Decimal(points_of(sat))
    by_id = {r.attempt.id: r for r in rows}
    assert set(by_id) == {right.id, wrong.id}  # the third candidate never sat: not affected
    assert by_id[right.id].after == by_id[right.id].before - pts
    assert by_id[wrong.id].after == by_id[wrong.id].before + pts
    assert db.session.execute(select(func.count()).select_from(KeyErratum)).scalar_one() == 0
    assert db.session.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == audits_before
    db.session.refresh(right)
    assert right.score == by_id[right.id].before


def test_confirm_regrades_all_audits_and_updates_component_scores(make_user, sat):
    secretary = make_user("secretariat")
    right, wrong = sat.attempts
    before = {a.id: a.score for a in sat.attempts}
    erratum, rows = ops.apply_erratum(sat, sat.version.id, "accept", [sat.wrong], reason="选项表述有歧义",
                                      actor=secretary)
    db.session.commit()
    pts = Decimal(points_of(sat))
    db.session.refresh(right)
    db.session.refresh(wrong)
    assert right.score == before[right.id] and wrong.score == before[wrong.id] + pts
    assert erratum.accepted == [sat.wrong] and erratum.applied_by_id == secretary.id
    comp = db.session.execute(select(ComponentScore).filter_by(candidate_id=wrong.candidate_id, component="exam")
                              ).scalar_one()
    assert comp.score == wrong.score
    actions = db.session.execute(select(AuditEntry.action, AuditEntry.detail).where(
        AuditEntry.action.in_(("exam.erratum", "exam.attempt.regrade")))).all()
    assert [a for a, _ in actions].count("exam.attempt.regrade") == 2
    regrade = next(d for a, d in actions if a == "exam.attempt.regrade" and d["candidate_id"] == wrong.candidate_id)
    assert Decimal(regrade["after"]) - Decimal(regrade["before"]) == pts
    answer_points = db.session.execute(select(Answer.points).join(PaperItem, (PaperItem.paper_id == wrong.paper_id) & (
        PaperItem.position == Answer.position)).where(Answer.attempt_id == wrong.id,
                                                      PaperItem.item_version_id == sat.version.id)).scalar_one()
    assert answer_points == pts


def test_void_gives_everyone_the_points_and_later_submissions_use_the_erratum(sat):
    third = sat.candidates_made[2]
    ops.apply_erratum(sat, sat.version.id, "void", [], reason="题目有误")
    db.session.commit()
    pts = Decimal(points_of(sat))
    attempt, token = ops.start_attempt(sat, third)
    ops.submit_attempt(attempt, token=token)
    db.session.commit()
    assert attempt.score == pts  # answered nothing, but the voided item counts for everyone


def test_erratum_input_is_checked_with_clear_messages(sat):
    with pytest.raises(ops.ExamError, match="只能填写一个答案"):
        ops.preview_erratum(sat, sat.version.id, "correct", ["A", "B"])
    with pytest.raises(ops.ExamError, match="答案“Z”无效"):
        ops.preview_erratum(sat, sat.version.id, "accept", ["Z"])
    with pytest.raises(ops.ExamError, match="没有这道题"):
        ops.preview_erratum(sat, 999999, "void", [])
    with pytest.raises(ops.ExamError, match="请填写原因"):
        ops.apply_erratum(sat, sat.version.id, "void", [], reason="")


def test_erratum_pages_preview_then_confirm(client, login_as, sat):
    login_as("secretariat")
    url = f"/exam/grading/sessions/{sat.id}/errata/new"
    page = client.get(url, query_string={"item_version_id": sat.version.id})
    assert page.status_code == 200 and sat.version.stem in page.get_data(as_text=True)
    data = {"item_version_id": str(sat.version.id), "kind": "correct", "keys": sat.wrong, "reason": "答案印错"}
    preview = client.post(url, data={**data, "action": "preview"}).get_data(as_text=True)
    assert "预览" in preview and "确认勘误并重新评分" in preview
    assert db.session.execute(select(func.count()).select_from(KeyErratum)).scalar_one() == 0
    resp = client.post(url, data={**data, "action": "confirm"})
    assert resp.status_code == 302
    assert db.session.execute(select(func.count()).select_from(KeyErratum)).scalar_one() == 1
    listing = client.get(f"/exam/grading/sessions/{sat.id}/errata").get_data(as_text=True)
    assert "答案印错" in listing and "更正答案" in listing


def test_supervisor_cannot_enter_errata(client, login_as, sat):
    login_as("supervisor")
    assert client.get(f"/exam/grading/sessions/{sat.id}/errata").status_code == 200
    assert client.get(f"/exam/grading/sessions/{sat.id}/errata/new").status_code == 403
