"""Browser tests of the exam room: (a) answer, go offline, answer more, see the unsent warning, come back,
reload, find every answer and the right remaining time, submit; (b) a deadline a few seconds ahead runs out and
the page shows the auto-submitted state (real seconds pass here, kept short)."""
from datetime import timedelta

from sqlalchemy import select

from certify.clock import utcnow
from certify.extensions import db
from exam.models import AUTO_SUBMITTED, SUBMITTED, Answer, Attempt
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import browser_login
from tests.exam.conftest import make_bank, make_exam_session, make_item  # noqa: F401  (fixtures)


def enter_room(page, session_id):
    page.goto(f"/exam/sessions/{session_id}/")
    page.check("input[name=confirm]")
    page.click("#start-exam")
    page.wait_for_selector("#exam-item .exam-room-option")


def answer_current(page, option_index, expect="saved"):
    page.click(f"#exam-item .exam-room-option[data-index='{option_index}']")
    page.wait_for_selector(f"#exam-save-state[data-state='{expect}']")


def fresh_attempt(session_id, candidate_id):
    db.session.expire_all()
    return db.session.execute(select(Attempt).filter_by(session_id=session_id, candidate_id=candidate_id)).scalar_one()


def test_offline_answers_survive_reload_and_submit(new_context, make_exam_session):
    session = make_exam_session(candidates=1, duration=60)
    cand = session.candidates_made[0]
    context = new_context()
    page = context.new_page()
    browser_login(page, cand.ticket, TEST_PASSWORD)
    writes = []  # (has the attempt pass, has the CSRF header, has a cookie, status) of every save and flag
    page.on("response", lambda r: writes.append((
        "x-attempt-pass" in r.request.headers, "x-csrftoken" in r.request.headers,
        "cookie" in r.request.all_headers(), r.status)) if r.request.method == "PUT" else None)
    enter_room(page, session.id)

    answer_current(page, 0)
    assert writes and all(w == (True, False, False, 200) for w in writes), writes  # the pass, without the cookie
    page.keyboard.press("ArrowRight")
    page.keyboard.press("2")  # keyboard choice: the second displayed option
    page.wait_for_selector("#exam-save-state[data-state='saved']")

    context.set_offline(True)
    page.keyboard.press("ArrowRight")
    answer_current(page, 0, expect="unsent")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("f")  # flag while offline
    answer_current(page, 1, expect="unsent")
    page.wait_for_selector("#exam-banner[data-kind='unsent']")
    assert "尚未发送" in page.inner_text("#exam-banner")
    attempt = fresh_attempt(session.id, cand.id)
    assert attempt.answered_count == 2  # the server has only what was sent

    context.set_offline(False)
    page.wait_for_selector("#exam-banner", state="hidden")
    page.wait_for_selector("#exam-save-state[data-state='saved']")
    page.reload()
    page.wait_for_selector("#exam-item .exam-room-option")
    assert page.locator("#exam-grid .exam-room-cell.answered").count() == 4
    assert page.locator("#exam-grid .exam-room-cell.flagged").count() == 1
    attempt = fresh_attempt(session.id, cand.id)
    expected = (attempt.deadline_at - utcnow()).total_seconds()
    page.wait_for_function("document.getElementById('exam-clock').dataset.seconds !== undefined")
    shown = int(page.get_attribute("#exam-clock", "data-seconds"))
    assert abs(shown - expected) <= 5, (shown, expected)
    saved = dict(db.session.execute(select(Answer.position, Answer.response).filter_by(attempt_id=attempt.id)).all())
    assert all(saved.get(p) for p in (1, 2, 3, 4)), saved

    page.click("#exam-submit")
    page.wait_for_selector("#exam-confirm[open]")
    assert page.get_attribute("#exam-confirm-body", "data-unanswered") == str(len(page.locator("#exam-grid .exam-room-cell").all()) - 4)
    page.click("#exam-confirm-yes")
    page.wait_for_selector("#exam-closed[data-state='submitted']")
    assert fresh_attempt(session.id, cand.id).state == SUBMITTED


def test_time_runs_out_and_the_page_shows_auto_submitted(new_context, make_exam_session):
    session = make_exam_session(candidates=1, duration=60)
    cand = session.candidates_made[0]
    page = new_context().new_page()
    browser_login(page, cand.ticket, TEST_PASSWORD)
    enter_room(page, session.id)
    answer_current(page, 0)
    attempt = fresh_attempt(session.id, cand.id)
    attempt.deadline_at = utcnow() + timedelta(seconds=4)
    db.session.commit()
    page.reload()
    page.wait_for_selector("#exam-item .exam-room-option")
    page.wait_for_selector("#exam-closed[data-state='auto_submitted']", timeout=20_000)
    assert "自动交卷" in page.inner_text("#exam-closed")
    attempt = fresh_attempt(session.id, cand.id)
    assert attempt.state == AUTO_SUBMITTED and attempt.score is not None


def test_monitor_page_updates_live_and_force_submit_reaches_the_candidate(new_context, make_exam_session, make_user):
    session = make_exam_session(candidates=2, duration=60)
    cand = session.candidates_made[0]
    secretary = make_user("secretariat")
    staff = new_context().new_page()
    browser_login(staff, secretary.username, TEST_PASSWORD)
    staff.goto(f"/exam/monitor/sessions/{session.id}")
    staff.wait_for_selector("#monitor-live[data-state='live']")
    row = f"tr[data-candidate-id='{cand.id}']"
    assert staff.get_attribute(row, "data-status") == "not_started"

    page = new_context().new_page()
    browser_login(page, cand.ticket, TEST_PASSWORD)
    enter_room(page, session.id)
    staff.wait_for_selector(f"{row}[data-status='in_progress']")
    answer_current(page, 0)
    staff.wait_for_function(
        f"document.querySelector(\"{row} [data-col='answered']\").textContent.trim() === '1'")

    staff.click(f"{row} details summary")
    staff.fill(f"{row} form[data-when='in_progress'] input[name=reason]", "考场纪律")
    staff.click(f"{row} form[data-when='in_progress'] button")
    staff.wait_for_selector(f"{row}[data-status='force_submitted']")
    page.wait_for_selector("#exam-closed[data-state='force_submitted']")
    assert "强制交卷" in page.inner_text("#exam-closed")
