"""The practice and device check pages: the candidate's links, practice start into the same room, the secretariat's
item choice, the stored device check and the secretariat's counts per session."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from certify.extensions import db
from exam.delivery import practice
from exam.models import Attempt, DeviceCheck
from tests.conftest import csrf_token_from, login

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
          "Safari/537.36")


@pytest.fixture
def csrf_on(app):
    """CSRF checked (the suite's test clients post without tokens; turned on after logging in)."""
    previous = app.config["WTF_CSRF_ENABLED"]
    yield lambda: app.config.__setitem__("WTF_CSRF_ENABLED", True)
    app.config["WTF_CSRF_ENABLED"] = previous


def _setup(make_exam_session):
    real = make_exam_session(candidates=2)
    items = [item.id for item, _ in practice.eligible_items("初级")[:4]]
    session = practice.set_practice_items(real.scheme.round, real.scheme, items)
    db.session.commit()
    return real, session


def test_the_candidate_finds_both_on_the_exam_home_and_starts_practice_in_the_room(app, client, make_exam_session):
    real, session = _setup(make_exam_session)
    cand = real.candidates_made[0]
    assert login(client, cand.ticket).status_code == 302
    home = client.get("/exam/").get_data(as_text=True)
    assert 'href="/exam/device-check/"' in home and 'href="/exam/practice/"' in home
    page = client.get("/exam/practice/").get_data(as_text=True)
    assert "4 题" in page and "开始练习" in page
    resp = client.post("/exam/practice/start", data={"csrf_token": csrf_token_from(page)})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/exam/sessions/{session.id}/room")
    room = client.get(f"/exam/sessions/{session.id}/room").get_data(as_text=True)
    assert 'id="exam-room"' in room and "练习，不计分" in room
    # the same API start as the real exam
    token = csrf_token_from(room)
    started = client.post(f"/api/exam/sessions/{session.id}/attempt", headers={"X-CSRFToken": token})
    assert started.status_code in (200, 201), started.get_data(as_text=True)
    assert db.session.scalar(select(Attempt.id).filter_by(session_id=session.id, candidate_id=cand.id))


def test_start_without_csrf_is_refused(app, client, make_exam_session, csrf_on):
    real, _ = _setup(make_exam_session)
    login(client, real.candidates_made[0].ticket)
    csrf_on()
    resp = client.post("/exam/practice/start", data={})
    assert resp.status_code in (302, 400)
    assert db.session.scalars(select(Attempt)).all() == []


def test_the_secretariat_chooses_the_practice_items(app, client, login_as, make_exam_session):
    real, session = _setup(make_exam_session)
    login_as("secretariat")
    page = client.get(f"/exam/practice/manage?round={real.scheme.round.code}").get_data(as_text=True)
    assert "当前练习：4 道题" in page
    ids = [item.id for item, _ in practice.eligible_items("初级")[5:8]]
    resp = client.post(f"/exam/practice/manage/{real.scheme.id}",
                       data={"csrf_token": csrf_token_from(page), "item": [str(i) for i in ids]})
    assert resp.status_code == 302
    db.session.expire_all()
    assert practice.chosen_item_ids(session) == ids
    resp = client.post(f"/exam/practice/manage/{real.scheme.id}", data={"csrf_token": csrf_token_from(page)},
                       follow_redirects=True)
    assert "请至少选择一道题" in resp.get_data(as_text=True)


def test_the_device_check_is_stored_and_the_secretariat_sees_the_counts(app, client, login_as, make_exam_session,
                                                                         csrf_on):
    real, _ = _setup(make_exam_session)
    cand = real.candidates_made[0]
    login(client, cand.ticket)
    csrf_on()
    page = client.get("/exam/device-check/").get_data(as_text=True)
    token = page.split('data-csrf="')[1].split('"')[0]
    body = {"clock_offset_ms": 200_000, "latency_ms": 90, "websocket_ok": True, "storage_ok": False,
            "screen_width": 1366, "screen_height": 768}
    refused = client.post("/exam/device-check/", json=body, headers={"User-Agent": CHROME})
    assert refused.status_code == 400  # no CSRF token
    resp = client.post("/exam/device-check/", json=body, headers={"User-Agent": CHROME, "X-CSRFToken": token})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    data = resp.get_json()
    assert data["verdict"] == "fail" and data["browser"] == "Chrome"
    levels = {c["check"]: c["level"] for c in data["checks"]}
    assert levels == {"browser": "pass", "clock": "fail", "latency": "pass", "websocket": "pass",
                      "storage": "fail", "screen": "pass"}
    assert all(c["advice"] for c in data["checks"] if c["level"] != "pass")
    bad = client.post("/exam/device-check/", json={"latency_ms": "fast"},
                      headers={"X-CSRFToken": token, "Accept": "application/json"})
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "invalid_field"
    row = db.session.scalars(select(DeviceCheck)).one()
    assert row.candidate_id == cand.id and row.verdict == "fail" and row.browser_version == 120
    app.config["WTF_CSRF_ENABLED"] = False
    client.post("/logout")
    login_as("secretariat")
    overview = client.get(f"/exam/device-check/sessions?round={real.scheme.round.code}").get_data(as_text=True)
    assert real.name in overview and "初级模拟练习" not in overview
    detail = client.get(f"/exam/device-check/sessions/{real.id}").get_data(as_text=True)
    assert "考生 2 人，已检测 1 人（通过 0，基本可用 0，未通过 1），未检测 1 人" in detail
