"""Browser test of the room's integrity signals: overlapping events are stored once each, an event raised offline
arrives once when the network is back, reloading the tab is no takeover, while a duplicated tab or another device
is (and the old page is told at once)."""
import json
import time

from sqlalchemy import select

from certify.extensions import db
from exam.models import AttemptEvent
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import browser_login
from tests.e2e.test_exam_delivery import enter_room, fresh_attempt
from tests.exam.conftest import make_bank, make_exam_session, make_item  # noqa: F401  (fixtures)


def kinds(attempt_id):
    db.session.expire_all()
    return db.session.execute(select(AttemptEvent.kind).filter_by(attempt_id=attempt_id)
                              .order_by(AttemptEvent.id)).scalars().all()


def wait_for(predicate, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_events_once_reload_is_no_takeover_other_device_is(new_context, make_exam_session):
    session = make_exam_session(candidates=1, duration=60)
    cand = session.candidates_made[0]
    context = new_context()
    page = context.new_page()
    browser_login(page, cand.ticket, TEST_PASSWORD)
    enter_room(page, session.id)
    attempt = fresh_attempt(session.id, cand.id)

    # two events raised back to back: their sends overlap, each is stored exactly once
    page.evaluate("document.dispatchEvent(new Event('copy')); document.dispatchEvent(new Event('copy'));")
    assert wait_for(lambda: kinds(attempt.id).count("copy") == 2)
    time.sleep(1.0)
    assert kinds(attempt.id).count("copy") == 2
    ids = db.session.execute(select(AttemptEvent.client_event_id).filter_by(attempt_id=attempt.id, kind="copy")
                             ).scalars().all()
    assert None not in ids and len(set(ids)) == 2  # both events, not the first one twice

    # raised offline: queued, sent once the network is back
    context.set_offline(True)
    page.evaluate("document.dispatchEvent(new Event('paste'))")
    time.sleep(0.5)
    assert "paste" not in kinds(attempt.id)
    context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    assert wait_for(lambda: kinds(attempt.id).count("paste") == 1)

    # a reload of the same tab resumes: no takeover
    page.reload()
    page.wait_for_selector("#exam-item .exam-room-option")
    time.sleep(1.0)
    assert "takeover" not in kinds(attempt.id)
    assert kinds(attempt.id).count("copy") == 2 and kinds(attempt.id).count("paste") == 1

    # a duplicated tab inherits sessionStorage (the tab id): the live tab answers, the copy takes a new id, so it
    # is a takeover (and, both being live, a concurrent session); the old page stops at once
    tab_id = page.evaluate("sessionStorage.getItem('exam-tab-id')")
    assert tab_id
    dup = context.new_page()
    dup.add_init_script(f"sessionStorage.setItem('exam-tab-id', {json.dumps(tab_id)})")
    dup.goto(f"/exam/sessions/{session.id}/room")  # an attempt in progress: straight to the room (继续作答)
    dup.wait_for_selector("#exam-item .exam-room-option")
    page.wait_for_selector("#exam-banner[data-kind='taken']")
    assert dup.evaluate("sessionStorage.getItem('exam-tab-id')") != tab_id
    assert wait_for(lambda: {"takeover", "concurrent_session"} <= set(kinds(attempt.id)))
    assert kinds(attempt.id).count("takeover") == 1 and kinds(attempt.id).count("concurrent_session") == 1

    # another device while the copy is live: another takeover, the same concurrent episode; the copy stops
    other = new_context().new_page()
    browser_login(other, cand.ticket, TEST_PASSWORD)
    other.goto(f"/exam/sessions/{session.id}/room")
    other.wait_for_selector("#exam-item .exam-room-option")
    dup.wait_for_selector("#exam-banner[data-kind='taken']")
    assert wait_for(lambda: kinds(attempt.id).count("takeover") == 2)
    assert kinds(attempt.id).count("concurrent_session") == 1
