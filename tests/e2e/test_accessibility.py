"""Accessibility in the browser: axe-core (vendored, pinned) over the candidate's and the panelist's pages at desktop
and phone size with no serious or critical violation; the exam clock is a silent timer and a polite live region
speaks only at 10, 5 and 1 minute(s) left; the A-/A+ text size is remembered across pages; a skip link."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from certify.clock import utcnow
from certify.extensions import db
from defense.scoring import operations as ops
from tests.conftest import TEST_PASSWORD
from tests.defense.conftest_scoring import build_panel
from tests.e2e.axe import axe_violations, blocking, by_impact
from tests.e2e.conftest import ARTIFACTS, browser_login
from tests.e2e.test_exam_delivery import enter_room, fresh_attempt
from tests.e2e.test_phone import publish_slot
from tests.exam.conftest import make_bank, make_exam_session, make_item  # noqa: F401  (fixtures)

# bypass_csp: the app's CSP (script-src 'self') forbids the inline script axe is injected as, and Playwright's polling
VIEWPORTS = {"desktop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}


def audit(page, name: str, figures: dict) -> None:
    page.wait_for_load_state("networkidle")
    found = axe_violations(page)
    figures[name] = {"by_impact": by_impact(found), "rules": {v["id"]: v["impact"] for v in found},
                     "blocking": [{"id": v["id"], "help": v["help"], "nodes": v["nodes"][:5]} for v in blocking(found)]}


def report(figures: dict, filename: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / filename).write_text(json.dumps(figures, ensure_ascii=False, indent=1), encoding="utf-8")
    print(filename, json.dumps({k: v["by_impact"] for k, v in figures.items()}, ensure_ascii=False))
    bad = {name: f["blocking"] for name, f in figures.items() if f["blocking"]}
    assert not bad, json.dumps(bad, ensure_ascii=False, indent=1)


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_axe_finds_no_serious_violation_on_the_candidate_pages(new_context, make_exam_session, size):
    session = make_exam_session(level="中级", candidates=1, duration=60)
    cand = session.candidates_made[0]
    publish_slot(cand)
    page = new_context(viewport=VIEWPORTS[size], bypass_csp=True).new_page()
    browser_login(page, cand.ticket, TEST_PASSWORD)
    figures = {}
    for name, url in (("home /me", "/me"), ("slip /me/slip", "/me/slip"), ("my exams /exam/", "/exam/"),
                      ("results /results/mine", "/results/mine"), ("instructions", f"/exam/sessions/{session.id}/")):
        page.goto(url)
        audit(page, name, figures)
    enter_room(page, session.id)
    page.click("#exam-item .exam-room-option[data-index='0']")
    page.wait_for_selector("#exam-save-state[data-state='saved']")
    audit(page, "exam room", figures)
    page.click("#exam-submit")
    page.wait_for_selector("#exam-confirm[open]")
    audit(page, "exam room: confirm dialog", figures)
    page.click("#exam-confirm-yes")
    page.wait_for_selector("#exam-closed[data-state='submitted']")
    page.goto(f"/exam/sessions/{session.id}/result")
    audit(page, "exam result", figures)
    report(figures, f"axe-candidate-{size}.json")


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_axe_finds_no_serious_violation_on_the_panelist_pages(new_context, ctx, size):
    setup = build_panel(members=2, candidates=2, prefix="ax")
    case = ops.ensure_cases(setup.panel)[0]
    db.session.commit()
    panel_id, case_id = setup.panel.id, case.id
    figures = {}
    chair = new_context(viewport=VIEWPORTS[size], bypass_csp=True).new_page()
    browser_login(chair, "ax0", TEST_PASSWORD)
    chair.goto("/defense/schedule")
    audit(chair, "my defense schedule", figures)
    chair.goto(f"/defense/room/{panel_id}")
    chair.wait_for_selector("#conn[data-state='ok']")
    chair.click(f"button[data-action='check_in'][data-case='{case_id}']")
    chair.wait_for_selector(f"tr[data-case-row='{case_id}'][data-state='checked_in']")
    chair.click("#call-next")
    chair.wait_for_selector(f"section[data-detail='{case_id}'][data-state='in_progress']")
    audit(chair, "defense room (chair)", figures)

    member = new_context(viewport=VIEWPORTS[size], bypass_csp=True).new_page()
    browser_login(member, "ax1", TEST_PASSWORD)
    member.goto(f"/defense/room/{panel_id}/sheet/{case_id}")
    member.wait_for_selector("#sync[data-sync='saved']")
    audit(member, "scoring sheet (panelist)", figures)
    report(figures, f"axe-panelist-{size}.json")


def test_the_clock_is_a_silent_timer_and_speaks_only_at_10_5_and_1_minutes(new_context, make_exam_session):
    session = make_exam_session(candidates=1, duration=60)
    cand = session.candidates_made[0]
    page = new_context(bypass_csp=True).new_page()  # the test's own polling scripts (the app's CSP forbids eval)
    browser_login(page, cand.ticket, TEST_PASSWORD)
    enter_room(page, session.id)
    assert page.get_attribute("#exam-clock", "role") == "timer"
    assert page.get_attribute("#exam-clock", "aria-live") == "off"
    assert page.get_attribute("#exam-announce", "aria-live") == "polite"

    marks = page.evaluate("""async () => {
      const { minuteMark } = await import('/static/js/exam/announce.js');
      const walk = (from, to) => { const said = []; for (let s = from; s > to; s -= 1) {
        const m = minuteMark(s, s - 1); if (m !== null) said.push([s - 1, m]); } return said; };
      return { walk: walk(3600, 0), first: minuteMark(null, 600), jump: minuteMark(720, 180),
               stay: minuteMark(600, 600), end: minuteMark(30, 0), coarse: walk(3600, 0).length };
    }""")
    assert marks["walk"] == [[600, 10], [300, 5], [60, 1]]  # one second at a time for an hour: three announcements
    assert marks["first"] is None and marks["stay"] is None and marks["end"] is None
    assert marks["jump"] == 5  # a shortened deadline across 10 and 5: the lowest mark crossed

    # the page itself: two seconds above ten minutes, the region stays silent until the mark, then says it once
    attempt = fresh_attempt(session.id, cand.id)
    attempt.deadline_at = utcnow() + timedelta(minutes=10, seconds=2)
    db.session.commit()
    page.reload()
    page.wait_for_selector("#exam-item .exam-room-option")
    assert page.inner_text("#exam-announce") == ""
    page.evaluate("""() => { window.__said = [];
      new MutationObserver(() => window.__said.push(document.getElementById('exam-announce').textContent))
        .observe(document.getElementById('exam-announce'), { childList: true, characterData: true, subtree: true }); }""")
    page.wait_for_function("document.getElementById('exam-announce').textContent.includes('10 分钟')", timeout=8_000)
    page.wait_for_function("Number(document.getElementById('exam-clock').dataset.seconds) <= 597")
    assert page.evaluate("window.__said") == ["考试剩余时间 10 分钟"]


def test_text_size_is_remembered_across_pages_and_a_skip_link_leads_to_the_content(new_context, make_exam_session):
    session = make_exam_session(candidates=1, duration=60)
    cand = session.candidates_made[0]
    page = new_context().new_page()
    browser_login(page, cand.ticket, TEST_PASSWORD)
    page.goto("/me")
    root_px = "() => parseFloat(getComputedStyle(document.documentElement).fontSize)"
    body_px = "() => parseFloat(getComputedStyle(document.body).fontSize)"
    assert page.evaluate(root_px) == 16 and page.evaluate(body_px) == 15
    page.click("button[data-textsize='1']")
    page.click("button[data-textsize='1']")
    assert page.evaluate(root_px) == 20 and page.evaluate(body_px) == 18.75
    page.goto("/exam/")  # another page: the size is kept
    assert page.evaluate(root_px) == 20
    assert page.evaluate("localStorage.getItem('certify-text-scale')") == "1.25"
    for _ in range(5):
        if page.is_enabled("button[data-textsize='-1']"):
            page.click("button[data-textsize='-1']")
    assert page.evaluate(root_px) == 14 and page.is_disabled("button[data-textsize='-1']")
    page.reload()
    assert page.evaluate(root_px) == 14

    page.keyboard.press("Tab")  # the first stop on every page is the skip link
    assert page.evaluate("document.activeElement.className") == "skip-link"
    assert page.locator(".skip-link").is_visible()
    page.keyboard.press("Enter")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'main'")


# axe accepts a placeholder as a name; the issue asks for a label (visible or aria-label), so this is checked directly
UNLABELLED = """() => Array.from(document.querySelectorAll('main input, main select, main textarea'))
  .filter((el) => el.type !== 'hidden' && el.type !== 'submit' && el.type !== 'button' && el.getClientRects().length)
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
  .map((el) => el.outerHTML)"""


def test_every_input_on_the_monitor_and_blueprint_pages_has_a_name(new_context, make_exam_session, make_user):
    """The monitor's 原因 boxes and the blueprint rows had placeholders only: each now has a label (with the monitor's
    action menus opened so their inputs are shown); axe runs over both pages too."""
    session = make_exam_session(candidates=2, duration=60)
    cand = session.candidates_made[0]
    page = new_context(bypass_csp=True).new_page()
    browser_login(page, cand.ticket, TEST_PASSWORD)
    enter_room(page, session.id)  # one row in progress (its force-submit form), one not started
    staff = new_context(viewport=VIEWPORTS["desktop"], bypass_csp=True).new_page()
    secretary = make_user("secretariat")
    browser_login(staff, secretary.username, TEST_PASSWORD)
    figures = {}
    for name, url in (("exam monitor", f"/exam/monitor/sessions/{session.id}"),
                      ("blueprint", f"/exam/admin/blueprints/{session.blueprint_id}")):
        staff.goto(url)
        staff.wait_for_load_state("networkidle")
        staff.evaluate("document.querySelectorAll('details').forEach((d) => { d.open = true; })")
        assert staff.locator("main input:visible, main select:visible, main textarea:visible").count() > 3
        audit(staff, name, figures)
        assert staff.evaluate(UNLABELLED) == [], name
    report(figures, "axe-staff-forms-desktop.json")
