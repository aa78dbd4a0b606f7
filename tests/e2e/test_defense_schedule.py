"""Browser test: the secretariat runs the scheduler as a background job (the page polls its progress), publishes,
and the candidate sees their slot on the home page."""
from datetime import date

from certify.extensions import db
from defense.schedule import operations as ops
from defense.schedule import panelist_import
from tests.conftest import TEST_PASSWORD
from tests.defense.test_schedule_flow import roster, xlsx
from tests.e2e.conftest import browser_login


def test_secretariat_schedules_in_the_browser_and_the_candidate_sees_the_slot(page, new_context, make_round,
                                                                             make_candidate, make_user):
    rnd = make_round("2026-e2e", "重庆", 2026)
    cands = [make_candidate(rnd, level="中级", work_unit=f"学校{i % 3}") for i in range(6)]
    panelist_import.import_panelists(rnd, xlsx(("评审专家", roster(n_panels=2))), "专家.xlsx")
    for p in ops.round_panels(rnd):
        p.room = f"{p.name}会议室"
    ops.save_day(rnd, day=date(2026, 12, 1), start="08:30", end="12:00", slot_minutes=20, breaks="")
    make_user("secretariat", username="mishu-e2e")
    db.session.commit()

    browser_login(page, "mishu-e2e", TEST_PASSWORD)
    page.goto(f"/defense/admin/{rnd.code}/schedule")
    page.click("text=运行自动排程")
    page.wait_for_selector("#job[data-state='done']", timeout=30_000)  # polled, then reloaded when finished
    assert "已为 6 名考生排定答辩" in page.inner_text("#job-message")
    assert page.locator("section.schedule-panel tbody tr").count() == 6
    # 发布答辩安排 is a confirmation page (the one pattern, templates/_confirm.html), not a JS alert
    page.click("text=发布答辩安排…")
    page.wait_for_selector("#publish-what")
    assert page.inner_text("#d-candidates") == "6" and page.locator("#publish-panels tbody tr").count() == 2
    page.click("form.confirm-form [type=submit]")  # the box and the reason are required: the browser does not send the form
    assert page.url.endswith(f"/defense/admin/{rnd.code}/schedule/publish") and not ops.is_published(rnd)
    page.check("input[name=acknowledge]")
    page.fill("textarea[name=reason]", "专家组已确认时间")
    page.click("form.confirm-form [type=submit]")
    page.wait_for_selector("text=答辩安排已发布")
    db.session.expire_all()
    assert ops.is_published(rnd)

    cand_page = new_context().new_page()
    browser_login(cand_page, cands[0].ticket, TEST_PASSWORD)
    cand_page.goto("/")
    db.session.expire_all()
    a = ops.candidate_assignment(cands[0])
    text = cand_page.inner_text("body")
    assert "答辩安排" in text and a.panel.name in text and "2026-12-01" in text
