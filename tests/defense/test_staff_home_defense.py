"""The defense on the staff home page (panels live today; a panelist's next slot) and the defense list pages on a
round whose schemes have no defense (a clear message, not an empty page)."""
from __future__ import annotations

from datetime import datetime

import time_machine

from certify.domain import SECRETARIAT, SUPERVISOR
from certify.extensions import db
from certify.rounds import create_round
from defense.schedule import operations as sched_ops
from defense.scoring.models import DefenseCase
from tests.conftest import TEST_PASSWORD, login
from tests.defense.conftest_scoring import scoring_panel  # noqa: F401

MORNING = datetime(2024, 11, 2, 0, 0)  # 08:00 Beijing on the panel's day (its slots start at 08:30)


def test_cases_and_quality_on_a_round_with_no_defense_say_so(ctx, client, login_as, scoring_panel):  # noqa: F811
    scoring_panel()
    create_round("2024-jl", "吉林", 2024)  # Jilin: work record 100 %, no defense
    db.session.commit()
    login_as(SUPERVISOR)
    for path in ("/defense/cases", "/defense/quality"):
        resp = client.get(f"{path}?round=2024-jl")
        html = resp.get_data(as_text=True)
        assert resp.status_code == 200 and 'id="no-defense"' in html and "没有答辩环节" in html
        assert f'href="{path}?round=2024-cq"' in html  # the rounds that have a defense
        assert "导出" not in html and "本轮次尚无答辩" not in html
        # without ?round= the newest round with a defense is shown, not the newer one without
        assert 'id="no-defense"' not in client.get(path).get_data(as_text=True)


def test_secretariat_home_lists_panels_live_today(ctx, client, login_as, scoring_panel):  # noqa: F811
    setup = scoring_panel()
    case = DefenseCase(round_id=setup.round.id, assignment_id=setup.assignments[0].id,
                       candidate_id=setup.candidates[0].id, panel_id=setup.panel.id, state="in_progress")
    db.session.add(case)
    db.session.commit()
    with time_machine.travel(MORNING, tick=False):
        login_as(SECRETARIAT)
        resp = client.get("/", follow_redirects=True)
        html = resp.get_data(as_text=True)
    assert resp.request.path == "/home" and 'id="panel-panels-live"' in html
    assert "第一答辩组（2024-cq）" in html and "今日 08:30–09:10，2 名考生" in html and "进行中 1 名" in html
    with time_machine.travel(datetime(2024, 11, 5, 0, 0), tick=False):
        html = client.get("/home").get_data(as_text=True)
    assert "第一答辩组（2024-cq）" in html and "进行中 1 名" in html and "2 名考生" not in html  # still under way


def test_a_panelist_home_shows_their_panel_next_slot(ctx, client, scoring_panel):  # noqa: F811
    setup = scoring_panel()
    with time_machine.travel(MORNING, tick=False):
        login(client, setup.users[1].username, TEST_PASSWORD)
        html = client.get("/", follow_redirects=True).get_data(as_text=True)
        assert 'id="panel-next-slot"' in html and "答辩安排尚未发布" in html and "今日答辩组" not in html
        sched_ops.get_schedule(setup.round).status = "published"
        db.session.commit()
        html = client.get("/home").get_data(as_text=True)
        assert "第一答辩组（2024-cq）：下一时段 11-02 08:30–08:50" in html and "之后还有 1 个时段" in html
        assert f'href="/defense/room/{setup.panel.id}"' in html
    with time_machine.travel(datetime(2024, 11, 2, 2, 0), tick=False):  # 10:00 Beijing: every slot is over
        assert "没有待进行的答辩时段" in client.get("/home").get_data(as_text=True)
