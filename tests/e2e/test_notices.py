"""Browser test of the notices at a phone viewport (390×844): told on login, the unread badge in the top bar,
the notice centre marks read (CSRF on), and the admission slip's print button opens the print dialog."""
from certify.extensions import db
from certify.notices import operations as notices
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import browser_login


def test_a_candidate_reads_a_notice_and_prints_the_slip_on_a_phone(new_context, make_round, make_candidate):
    cand = make_candidate(make_round("e2e-notice", "重庆", 2026), name="李静")
    notices.notify([cand.user_id], "exam", "笔试安排：初级笔试", "考试时间：2026-12-05 09:00 至 2026-12-05 11:00")
    db.session.commit()
    context = new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    context.add_init_script("window.__printed = 0; window.print = function () { window.__printed += 1; };")
    page = context.new_page()
    browser_login(page, cand.ticket, TEST_PASSWORD)
    assert "您有 1 条未读通知" in page.inner_text(".flashes")
    badge = page.locator(".notice-badge")
    assert badge.inner_text() == "1" and badge.is_visible()
    page.click("a.notice-link")
    page.wait_for_url("**/notices/")
    assert "考试时间：2026-12-05 09:00" in page.inner_text("main")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # nothing scrolls sideways
    page.click("button:has-text('标为已读')")
    page.wait_for_url("**/notices/")
    assert page.locator(".notice-badge").count() == 0 and "未读" not in page.inner_text("main .notice-list")
    page.goto("/me/slip")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # the slip fits the phone
    button = page.locator("button[data-print]")
    box = button.bounding_box()
    assert box is not None and 0 <= box["x"] and box["x"] + box["width"] <= 390
    button.click()
    assert page.evaluate("window.__printed") == 1
    assert page.locator(".photo-box").is_visible()
