"""Browser test of item 2 of issue 12: a candidate runs the device check (the verdict is stored), then opens the
practice paper from /exam/, answers it in the same exam room, submits and sees the practice score; nothing of it
reaches the exam component."""
from sqlalchemy import select

from certify.domain import EXAM
from certify.extensions import db
from certify.models import ComponentScore
from exam.delivery import practice
from exam.models import SUBMITTED, Attempt, DeviceCheck
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import browser_login
from tests.exam.conftest import make_bank, make_exam_session, make_item  # noqa: F401  (fixtures)


def test_device_check_then_a_practice_paper_in_the_room(new_context, make_exam_session):
    real = make_exam_session(candidates=1)
    items = [item.id for item, _ in practice.eligible_items("初级")[:3]]
    session = practice.set_practice_items(real.scheme.round, real.scheme, items)
    db.session.commit()
    session_id = session.id
    cand = real.candidates_made[0]
    page = new_context(viewport={"width": 1366, "height": 768}).new_page()
    browser_login(page, cand.ticket, TEST_PASSWORD)

    page.goto("/exam/")
    page.click("#link-device-check")
    page.click("#device-run")
    page.wait_for_selector("#device-result:not([hidden])")
    levels = {li.get_attribute("data-check"): li.get_attribute("data-level")
              for li in page.locator("#device-checks li").all()}
    assert levels["clock"] == "pass" and levels["storage"] == "pass" and levels["screen"] == "pass"
    assert levels["websocket"] == "pass" and levels["latency"] == "pass", levels
    db.session.expire_all()
    check = db.session.scalars(select(DeviceCheck).filter_by(candidate_id=cand.id)).one()
    assert check.browser == "chrome" and check.websocket_ok and check.storage_ok and check.screen_width == 1366

    page.goto("/exam/")
    page.click("#link-practice")
    page.click("#practice-start")
    page.wait_for_selector("#exam-item .exam-room-option")
    assert "练习，不计分" in page.inner_text(".exam-room-title")
    for _ in range(3):
        page.click("#exam-item .exam-room-option[data-index='0']")
        page.wait_for_selector("#exam-save-state[data-state='saved']")
        page.keyboard.press("ArrowRight")
    page.click("#exam-submit")
    page.wait_for_selector("#exam-confirm[open]")
    page.click("#exam-confirm-yes")
    page.wait_for_selector("#exam-closed[data-state='submitted']")
    page.goto(f"/exam/sessions/{session_id}/result")
    assert "练习得分" in page.inner_text("#exam-result")
    db.session.expire_all()
    attempt = db.session.scalars(select(Attempt).filter_by(session_id=session_id, candidate_id=cand.id)).one()
    assert attempt.state == SUBMITTED and attempt.score is not None and attempt.answered_count == 3
    assert f"{attempt.score:.2f}" in page.inner_text("#exam-score")
    assert db.session.scalars(select(ComponentScore).filter_by(candidate_id=cand.id, component=EXAM)).all() == []

    page.click("#practice-again")  # the practice page offers another round, with the last score
    assert "再练一次" in page.inner_text("#practice-start")
    assert page.locator("#practice-score").count() == 1
