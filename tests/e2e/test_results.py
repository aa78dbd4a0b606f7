"""Browser: the secretariat imports work-record scores, previews the cut line, confirms, publishes and downloads
the publicity list; a candidate logs in and sees their result."""
from __future__ import annotations

from openpyxl import load_workbook

from certify.domain import SECRETARIAT
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import browser_login
from tests.results.results_files import csv_bytes


def test_secretariat_confirms_and_candidate_sees_result(page, new_context, make_user, make_round, make_candidate,
                                                        tmp_path):
    rnd = make_round("2024-jl-e2e", "吉林")
    cands = [make_candidate(rnd, name=f"吉{i}", work_unit=f"单位{i}") for i in range(5)]
    sec = make_user(SECRETARIAT, display_name="秘书乙")
    records = tmp_path / "records.csv"
    records.write_bytes(csv_bytes([["准考证号", "业绩成果得分"]]
                                  + [[c.ticket, s] for c, s in zip(cands, ["95", "88.5", "88.5", "70", "65"])]))

    browser_login(page, sec.username, TEST_PASSWORD)
    page.goto(f"/results/{rnd.code}")
    page.set_input_files("#records-import input[type=file]", str(records))
    page.click("#records-import input[type=submit]")
    page.wait_for_selector("text=新增 5")

    page.goto(f"/results/{rnd.code}/preview?level=初级")
    page.fill("#compute input[name=ratio]", "0.4")
    page.click("#compute button[type=submit]")
    page.wait_for_url("**ratio=0.4**")
    assert page.inner_text("#quota") == "2"
    assert page.inner_text("#cut-line") == "88.50"
    assert page.inner_text("#certified") == "3"  # the two 88.5 tie at #2
    assert "吉3" in page.inner_text("#around-cut")  # just below the cut line
    # the distribution drawn in the page: the five totals in their 10-point bands, the cut line inside 80–90
    chart = page.locator("#distribution svg.chart")
    assert chart.is_visible()
    counts = [int(t.rsplit("：", 1)[1].split()[0]) for t in chart.locator("rect.bar > title").all_text_contents()]
    assert counts == [0, 0, 0, 0, 0, 0, 1, 1, 2, 1]  # 65 · 70 · 88.5 ×2 · 95
    cut, band = page.locator("#chart-cut").bounding_box(), chart.locator("rect.bar").nth(8).bounding_box()
    assert band["x"] < cut["x"] < band["x"] + band["width"]
    assert "达到分数线 3 人" in page.inner_text("#distribution-summary")
    page.click("#decide input[type=submit]")
    page.wait_for_selector("#confirm-changes")  # step two: what will be frozen, the box and a reason
    assert "40%" in page.inner_text("#new-ratio") and page.inner_text("#c-certified") == "3"
    page.check("input[name=acknowledge]")
    page.fill("textarea[name=reason]", "按 40% 认定")
    page.click("form.card input[type=submit]")
    page.wait_for_selector("#state")
    assert "已确认并冻结" in page.inner_text("#state")

    page.goto(f"/results/{rnd.code}")
    page.click("#publish input[type=submit]")  # start today, 5 working days
    page.wait_for_selector("#publish-changes")
    page.check("input[name=acknowledge]")
    page.fill("textarea[name=reason]", "按期公示")
    page.click("form.card input[type=submit]")
    page.wait_for_selector("text=已发布公示")
    with page.expect_download() as info:
        page.click("#publicity-xlsx")
    path = tmp_path / "publicity.xlsx"
    info.value.save_as(path)
    ws = load_workbook(path).active
    assert [c.value for c in ws[1]] == ["序号", "姓名", "工作单位", "认证级别"]
    assert [r[1].value for r in ws.iter_rows(min_row=2)][:3] == ["吉0", "吉1", "吉2"]

    cand_page = new_context().new_page()
    browser_login(cand_page, cands[1].ticket, TEST_PASSWORD)
    cand_page.goto("/results/mine")
    panel = cand_page.inner_text("#my-result")
    assert "88.50" in panel and "认定" in panel and "排名" in panel
