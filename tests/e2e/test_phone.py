"""Browser tests at a phone's size (390×844): the candidate's pages (home, my exams, my slip, my defense slot, my
results) fit the width with their main action on screen, and the exam room's status bar (clock, saved state,
takeover banner) stays in view while the candidate scrolls."""
from __future__ import annotations

from sqlalchemy import select

from certify.extensions import db
from defense.models import DefenseAssignment, DefenseSchedule, Panel
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import ARTIFACTS, browser_login
from tests.e2e.test_exam_delivery import enter_room
from tests.exam.conftest import make_bank, make_exam_session, make_item  # noqa: F401  (fixtures)

PHONE = {"width": 390, "height": 844}
LONG_LINK = "https://meeting.example.com/j/98765432101234567890?pwd=AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"


def publish_slot(candidate, *, start_offset_days: int = 30):
    """A published defense slot for the candidate, with a room and a long meeting link (worst case for width)."""
    from datetime import timedelta

    from certify.clock import utcnow

    panel = Panel(round_id=candidate.round_id, name="第一答辩组", room="重庆科技馆 3 楼 301 会议室",
                  meeting_link=LONG_LINK)
    db.session.add(panel)
    db.session.flush()
    start = utcnow().replace(microsecond=0, second=0) + timedelta(days=start_offset_days)
    db.session.add(DefenseAssignment(round_id=candidate.round_id, candidate_id=candidate.id, panel_id=panel.id,
                                     start_at=start, end_at=start + timedelta(minutes=20), queue_position=1))
    schedule = db.session.execute(select(DefenseSchedule).filter_by(round_id=candidate.round_id)).scalar_one_or_none()
    if schedule is None:
        schedule = DefenseSchedule(round_id=candidate.round_id)
        db.session.add(schedule)
    schedule.status = "published"
    db.session.commit()


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"phone-{name}.png"), full_page=True)


def no_sideways_scroll(page):
    width = page.evaluate("[document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]")
    assert width[0] <= width[2] and width[1] <= width[2], (page.url, width)


def inside_viewport(page, selector, *, vertically=True):
    """The element's box lies within the viewport (no scrolling sideways; with vertically, none at all)."""
    box = page.evaluate("""(sel) => { const r = document.querySelector(sel).getBoundingClientRect();
        return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, w: window.innerWidth,
                h: window.innerHeight, sx: window.scrollX}; }""", selector)
    assert box["left"] >= 0 and box["right"] <= box["w"] and box["sx"] == 0, (page.url, selector, box)
    if vertically:
        assert box["top"] >= 0 and box["bottom"] <= box["h"], (page.url, selector, box)
    return box


def test_candidate_pages_fit_a_phone_with_the_main_action_on_screen(new_context, make_exam_session):
    session = make_exam_session(level="中级", candidates=1, duration=60)
    cand = session.candidates_made[0]
    publish_slot(cand)
    page = new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    browser_login(page, cand.ticket, TEST_PASSWORD)

    page.goto("/exam/")
    enter = "main a.btn:has-text('进入考试')"
    page.wait_for_selector(enter)
    no_sideways_scroll(page)
    inside_viewport(page, "main table.stack a.btn")  # 进入考试: on screen as the page opens
    assert page.locator(enter).bounding_box()["width"] >= 300  # full-width action
    labels = page.locator("main table.stack td[data-label]").evaluate_all(
        "tds => tds.map(td => getComputedStyle(td, '::before').content)")
    assert '"考试时间窗口"' in labels and '"迟到截止"' in labels  # each cell names itself in the card
    shot(page, "my-exams")

    page.goto("/me")
    no_sideways_scroll(page)
    page.locator("[data-panel] a.btn:has-text('进入考试')").scroll_into_view_if_needed()
    inside_viewport(page, "[data-panel] table.stack a.btn")
    slot = page.inner_text(".defense-slot")
    assert "重庆科技馆" in slot and "meeting.example.com" in slot
    inside_viewport(page, ".defense-slot a[href^='https://meeting']", vertically=False)
    shot(page, "home")

    page.goto("/me/slip")
    no_sideways_scroll(page)
    assert cand.ticket in page.inner_text("article.slip")

    page.goto("/results/mine")
    no_sideways_scroll(page)
    assert page.locator("#my-result").is_visible()
    shot(page, "results")

    page.goto(f"/exam/sessions/{session.id}/")  # the instructions: 开始作答 reachable without sideways scroll
    no_sideways_scroll(page)
    page.locator("#start-exam").scroll_into_view_if_needed()
    inside_viewport(page, "#start-exam")


def test_room_status_bar_and_takeover_banner_stay_visible_after_scrolling(new_context, make_exam_session):
    session = make_exam_session(candidates=1, duration=60)
    cand = session.candidates_made[0]
    page = new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    browser_login(page, cand.ticket, TEST_PASSWORD)
    enter_room(page, session.id)
    no_sideways_scroll(page)
    page.click("#exam-item .exam-room-option[data-index='0']")
    page.wait_for_selector("#exam-bar-save[data-state='saved']")
    assert "已保存" in page.inner_text("#exam-bar-save")

    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    page.wait_for_function("window.scrollY > 300")  # the answer sheet is long on a phone: the page did scroll
    inside_viewport(page, "#exam-clock")
    inside_viewport(page, "#exam-bar-save")

    other = new_context().new_page()  # the same candidate on another device: this page is taken over
    browser_login(other, cand.ticket, TEST_PASSWORD)
    other.goto(f"/exam/sessions/{session.id}/room")
    other.wait_for_selector("#exam-item .exam-room-option")
    page.wait_for_selector("#exam-banner[data-kind='taken']")
    assert page.evaluate("window.scrollY") > 300
    inside_viewport(page, "#exam-banner")
    no_sideways_scroll(page)
    page.screenshot(path=str(ARTIFACTS / "phone-room-taken-over.png"))  # the viewport, as the candidate sees it
