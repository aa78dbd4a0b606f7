"""The item analysis report in Chromium: the items table sorts by a numeric column, both ways."""
import os

from certify.domain import SECRETARIAT
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import browser_login
from tests.exam.test_analysis_report import exam_session, simulated  # noqa: F401  (fixture)


def test_items_table_sorts_in_the_browser(page, live_server, make_user, exam_session):  # noqa: F811
    items, responses = simulated()
    s = exam_session(items, responses)
    user = make_user(SECRETARIAT)
    browser_login(page, user.username, TEST_PASSWORD)
    page.goto(f"{live_server}/exam/analysis/session/{s.session.id}")
    header = page.locator("#items-table thead th", has_text="难度")
    header.click()

    def facilities():
        return [float(v) for v in page.eval_on_selector_all(
            "#items-table tbody tr td:nth-child(6)", "cells => cells.map(c => c.dataset.sort)")]

    ascending = facilities()
    assert ascending == sorted(ascending) and len(ascending) == 4
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert facilities() == sorted(ascending, reverse=True)
    assert page.locator("svg.chart").count() == 2
    if os.environ.get("ANALYSIS_SCREENSHOT"):
        page.set_viewport_size({"width": int(os.environ.get("ANALYSIS_SCREENSHOT_WIDTH", 1280)), "height": 900})
        page.screenshot(path=os.environ["ANALYSIS_SCREENSHOT"], full_page=True)
