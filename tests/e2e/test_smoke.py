"""Browser smoke tests of the foundation: log in and out; the secretariat creates a round, imports a roster
and prints slips; a candidate logs in with the slip's initial password, must change it, and reaches home."""
import re

from certify.domain import SECRETARIAT
from certify.extensions import db
from certify.models import Candidate
from tests.conftest import TEST_PASSWORD
from tests.core.conftest import csv_bytes, person, xlsx_bytes
from tests.e2e.conftest import ARTIFACTS, browser_login


def test_secretariat_logs_in_and_out(page, make_user):
    user = make_user(SECRETARIAT, display_name="秘书甲")
    browser_login(page, user.username, TEST_PASSWORD)
    assert "秘书甲" in page.inner_text("header")
    page.click("text=退出")
    page.wait_for_url("**/login")


def test_round_roster_slip_and_candidate_first_login(new_context, make_user, tmp_path):
    staff = make_user(SECRETARIAT, display_name="秘书乙")
    page = new_context(viewport={"width": 1024, "height": 768}).new_page()  # a tablet in landscape
    browser_login(page, staff.username, TEST_PASSWORD)
    page.wait_for_url("**/home")  # the staff home page; the rounds are one click away
    page.click("main >> text=认证轮次")
    page.wait_for_url("**/rounds/")

    page.fill("input[name=code]", "e2e-cq")
    page.select_option("select[name=region]", "重庆")
    page.fill("input[name=year]", "2025")
    page.click("input[value=新建轮次]")
    page.wait_for_url(re.compile(r".*/rounds/[^/]+$"))
    assert "初级" in page.inner_text("main") and "中级" in page.inner_text("main")

    page.click("nav.tabs >> text=名单导入")
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(xlsx_bytes([person(1), person(2, id_number="500103198805020171")]))
    page.set_input_files("input[type=file]", str(bad))
    page.click("input[value=导入名单]")
    errors = page.inner_text(".panel-error")
    assert "未写入任何数据" in errors and "校验位错误" in errors

    good = tmp_path / "good.csv"
    good.write_bytes(csv_bytes([person(1, name="王晓燕"), person(2, "中级", name="周文斌")], encoding="gb18030"))
    page.set_input_files("input[type=file]", str(good))
    page.click("input[value=导入名单]")
    assert "导入成功" in page.inner_text("#import-result")

    page.click("nav.tabs >> text=考生名单")
    page.fill("input[name=q]", "王晓燕")
    page.click("button:has-text('筛选')")
    assert page.locator("#candidates tbody tr").count() == 1

    page.click("nav.tabs >> text=准考证")
    assert page.locator("article.slip").count() == 2
    page.click("text=生成初始密码并打印准考证")  # one-time passwords exist only on this printout
    page.click("button:has-text('确认生成并显示准考证')")
    assert page.locator("article.slip").count() == 2
    initial = page.locator("article.slip", has_text="王晓燕").locator("p:has-text('初始密码') span.mono").inner_text()
    initial = initial.strip()
    ARTIFACTS.mkdir(exist_ok=True)
    page.emulate_media(media="print")
    assert not page.locator("header.topbar").is_visible()
    page.screenshot(path=str(ARTIFACTS / "slips-print.png"), full_page=True)
    page.emulate_media(media="screen")

    cand = db.session.execute(db.select(Candidate).filter_by(name="王晓燕")).scalar_one()
    ticket = cand.ticket
    db.session.remove()
    assert initial in page.inner_text("main")

    student = new_context(viewport={"width": 820, "height": 1180}).new_page()  # a tablet in portrait
    browser_login(student, ticket, initial)
    student.wait_for_url("**/account/password")
    student.fill("input[name=current]", initial)
    student.fill("input[name=new]", "brand-new-pass-1")
    student.fill("input[name=confirm]", "brand-new-pass-1")
    student.click("input[type=submit]")
    student.wait_for_url("**/me")
    home = student.inner_text("main")
    assert "王晓燕" in home and ticket in home and "初级" in home
    student.screenshot(path=str(ARTIFACTS / "candidate-home.png"), full_page=True)
    student.click("nav.mainnav >> text=准考证")
    assert "已由考生本人设置" in student.inner_text("main") and initial not in student.inner_text("main")
