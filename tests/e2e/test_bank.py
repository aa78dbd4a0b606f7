"""The secretariat uploads a bank file, sees the preview, confirms, and finds an item by search."""
from __future__ import annotations

from certify.domain import SECRETARIAT
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import browser_login
from tests.question_bank.bank_files import row, sample_rows, xlsx_bytes


def test_secretariat_imports_a_bank_with_preview_and_searches(page, make_user, tmp_path):
    user = make_user(SECRETARIAT, display_name="秘书乙")
    path = tmp_path / "题库.xlsx"
    path.write_bytes(xlsx_bytes(sample_rows() + [row(code="E2E-1", stem="浏览器测试：北斗卫星导航系统是哪国建设的？",
                                                      options=("美国", "中国", "俄罗斯", "欧盟"), answer="B")]))
    browser_login(page, user.username, TEST_PASSWORD)

    page.click("nav.mainnav >> text=题库")
    page.click("text=导入题库")
    page.set_input_files("input[type=file]", str(path))
    page.click("input[type=submit][value='上传并预览']")
    page.wait_for_url("**/bank/import/*")
    assert page.inner_text("#count-added") == "5"
    assert page.inner_text("#count-rejected") == "0"
    assert "E2E-1" in page.inner_text("main")

    page.click("input[type=submit][value='确认导入']")
    page.wait_for_selector("text=导入完成")
    assert "新增 5 题" in page.inner_text("[role=status]")

    page.click("text=查看题库")
    page.fill("input[name=q]", "北斗")
    page.click("button:has-text('筛选')")
    page.wait_for_url("**/bank/?q=*")
    rows = page.locator("table.bank-list tbody tr")
    assert rows.count() == 1
    assert "E2E-1" in rows.first.inner_text()
    rows.first.locator("a").first.click()
    page.wait_for_url("**/bank/items/*")
    assert "题目 E2E-1" in page.inner_text("h1")
