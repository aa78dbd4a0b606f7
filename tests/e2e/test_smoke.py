from certify.domain import SECRETARIAT
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import browser_login


def test_secretariat_logs_in_and_out(page, make_user):
    user = make_user(SECRETARIAT, display_name="秘书甲")
    browser_login(page, user.username, TEST_PASSWORD)
    assert "秘书甲" in page.inner_text("header")
    page.click("text=退出")
    page.wait_for_url("**/login")
