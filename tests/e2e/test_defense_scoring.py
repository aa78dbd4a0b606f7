"""Browser test: a chair and three panelists in four browser contexts score a candidate live; one panelist's
device goes offline mid-sheet and comes back; the finalised score matches the hand-computed aggregate."""
from decimal import Decimal

from certify.extensions import db
from certify.models import ComponentScore
from defense.scoring import operations as ops
from tests.conftest import TEST_PASSWORD
from tests.defense.conftest_scoring import build_panel
from tests.e2e.conftest import browser_login

SCORES = {  # username → points per criterion (认识理解 30, 科技素养 30, 组织策划能力 40)
    "p0": ("25", "25", "35"),      # chair: 85
    "p1": ("27.5", "26", "35.5"),  # 89
    "p2": ("26", "26", "34"),      # 86 (goes offline mid-sheet)
    "p3": ("24", "25", "33"),      # 82
}


def fill(page, criteria, values):
    for cid, value in zip(criteria, values):
        page.fill(f"input[data-criterion='{cid}']", value)


def open_sheet(context, panel_id, case_id, username):
    page = context.new_page()
    browser_login(page, username, TEST_PASSWORD)
    page.goto(f"/defense/room/{panel_id}/sheet/{case_id}")
    page.wait_for_selector("#sync[data-sync='saved']")
    return page


def test_four_browsers_score_live_with_one_offline_device(new_context, ctx):
    setup = build_panel(members=4, candidates=1, prefix="p")
    case = ops.ensure_cases(setup.panel)[0]
    criteria = [c.id for c in ops.get_rubric(setup.round.id).criteria]
    db.session.commit()
    panel_id, case_id = setup.panel.id, case.id

    chair_ctx = new_context()
    room = chair_ctx.new_page()
    browser_login(room, "p0", TEST_PASSWORD)
    room.goto(f"/defense/room/{panel_id}")
    room.wait_for_selector("#conn[data-state='ok']")
    room.click(f"button[data-action='check_in'][data-case='{case_id}']")
    room.wait_for_selector(f"tr[data-case-row='{case_id}'][data-state='checked_in']")
    room.click("#call-next")
    room.wait_for_selector(f"section[data-detail='{case_id}'][data-state='in_progress']")

    contexts = {name: new_context() for name in ("p1", "p2", "p3")}
    pages = {name: open_sheet(c, panel_id, case_id, name) for name, c in contexts.items()}

    # p1 scores and submits; the chair sees it live, without p1's total (the chair has not submitted)
    fill(pages["p1"], criteria, SCORES["p1"])
    pages["p1"].wait_for_selector("#sync[data-sync='saved']")
    pages["p1"].click("#submit-sheet")
    pages["p1"].wait_for_selector("#sync[data-sync='submitted']")
    room.wait_for_selector(f"section[data-detail='{case_id}'] tr[data-member='{setup.panelists[1].id}'][data-status='submitted']")
    assert "89" not in room.inner_text(f"section[data-detail='{case_id}'] table")

    # p2 starts, then the device goes offline mid-sheet: marks stay unconfirmed and kept in the browser
    p2 = pages["p2"]
    p2.fill(f"input[data-criterion='{criteria[0]}']", SCORES["p2"][0])
    p2.wait_for_selector(f"input[data-criterion='{criteria[0]}'][data-mark='confirmed']")
    contexts["p2"].set_offline(True)
    p2.wait_for_selector("#conn[data-state='down']")
    p2.fill(f"input[data-criterion='{criteria[1]}']", SCORES["p2"][1])
    p2.fill(f"input[data-criterion='{criteria[2]}']", SCORES["p2"][2])
    p2.wait_for_selector("#sync[data-sync='offline']")
    assert p2.get_attribute(f"input[data-criterion='{criteria[2]}']", "data-mark") == "unconfirmed"
    assert p2.is_disabled("#submit-sheet")
    stored = p2.evaluate("() => JSON.stringify(Object.entries(localStorage))")
    assert '\\"34\\"' in stored or '"34"' in stored
    # meanwhile p3 submits
    fill(pages["p3"], criteria, SCORES["p3"])
    pages["p3"].wait_for_selector("#sync[data-sync='saved']")
    pages["p3"].click("#submit-sheet")
    pages["p3"].wait_for_selector("#sync[data-sync='submitted']")
    # back online: the draft is sent, every mark confirmed, then submitted
    contexts["p2"].set_offline(False)
    p2.wait_for_selector("#sync[data-sync='saved']", timeout=20_000)
    for cid in criteria:
        assert p2.get_attribute(f"input[data-criterion='{cid}']", "data-mark") == "confirmed"
    p2.click("#submit-sheet")
    p2.wait_for_selector("#sync[data-sync='submitted']")

    # the chair scores too (own sheet in a second tab), ends the defense and finalises
    chair_sheet = chair_ctx.new_page()
    chair_sheet.goto(f"/defense/room/{panel_id}/sheet/{case_id}")
    chair_sheet.wait_for_selector("#sync[data-sync='saved']")
    fill(chair_sheet, criteria, SCORES["p0"])
    chair_sheet.wait_for_selector("#sync[data-sync='saved']")
    chair_sheet.click("#submit-sheet")
    chair_sheet.wait_for_selector("#sync[data-sync='submitted']")
    room.click(f"section[data-detail='{case_id}'] button[data-action='end']")
    room.wait_for_selector(f"[data-aggregate-score='{case_id}']")
    assert room.inner_text(f"[data-aggregate-score='{case_id}']").startswith("85.5")
    room.click(f"[data-action='finalise'][data-case='{case_id}']")  # the confirmation page, not a JS alert
    room.wait_for_selector("#finalise-what")
    assert room.inner_text("#f-score").startswith("85.5")
    room.check("input[name=acknowledge]")
    room.fill("textarea[name=reason]", "合议无异议")
    room.click("form.confirm-form [type=submit]")
    room.wait_for_selector(f"tr[data-case-row='{case_id}'][data-state='finalised']")
    room.click(f"tr[data-case-row='{case_id}'][data-state='finalised'] button:has-text('详情')")
    assert "85.5" in room.inner_text(f"[data-final-score='{case_id}']")
    pages["p1"].wait_for_selector("#sync[data-sync='submitted']")

    db.session.expire_all()
    row = db.session.execute(db.select(ComponentScore).filter_by(candidate_id=setup.candidates[0].id)).scalar_one()
    assert Decimal(row.score) == Decimal("85.5")  # (85 + 89 + 86 + 82) / 4
