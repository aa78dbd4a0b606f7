"""The admission slip (准考证) carries the exam window and place, the defense slot and place for a level with a
defense (once published), a photo box and a print button."""
from __future__ import annotations

from datetime import datetime, timedelta

from certify.extensions import db
from exam.authoring.sessions import update_session
from tests.conftest import login
from tests.exam.test_session_notices import settings


def test_the_slip_shows_the_exam_window_place_photo_box_and_print_button(client, make_exam_session):
    opens = datetime(2026, 12, 5, 1, 0)
    session = make_exam_session(candidates=1, opens_at=opens, closes_at=opens + timedelta(hours=2), duration=90,
                                extra={0: 15})
    update_session(session, **settings(session, place="重庆市第八中学 3 号楼 201"))
    db.session.commit()
    cand = session.candidates_made[0]
    login(client, cand.ticket)
    html = client.get("/me/slip").get_data(as_text=True)
    assert "<th>笔试时间</th><td colspan=\"4\">2026-12-05 09:00 至 2026-12-05 11:00（北京时间，时长 90 分钟，另加 15 分钟；" \
        in html
    assert "<th>笔试地点</th><td colspan=\"4\">重庆市第八中学 3 号楼 201</td>" in html
    assert 'class="photo-box"' in html and "data-print" in html and "js/print.js" in html
    assert "答辩" not in html.split("slip-arrangement", 1)[1].split("</table>")[0]  # 初级 in Chongqing: no defense


def test_an_intermediate_slip_shows_the_defense_slot_once_published(client, make_round, make_candidate):
    from defense.schedule import operations as ops
    from tests.defense.test_schedule_flow import setup_round

    rnd = make_round("2026-cq", "重庆", 2026)
    cands = [make_candidate(rnd, level="中级", work_unit=f"学校{i % 4}") for i in range(9)]
    setup_round(rnd, cands)
    assert ops.run_schedule(rnd).ok
    db.session.commit()
    login(client, cands[0].ticket)
    assert "<th>答辩安排</th><td colspan=\"4\">尚未发布，以平台通知为准</td>" in client.get("/me/slip").get_data(as_text=True)
    ops.publish_schedule(rnd)
    db.session.commit()
    a = ops.candidate_assignment(cands[0])
    html = client.get("/me/slip").get_data(as_text=True)
    assert "<th>答辩时间</th><td colspan=\"4\">2026-12-01 " in html and f"（北京时间，{a.panel.name}）" in html
    assert f"<th>答辩地点</th><td colspan=\"4\">{a.panel.name}会议室</td>" in html


def test_the_session_form_has_the_place_field(client, login_as, make_exam_session):
    session = make_exam_session(candidates=1)
    login_as("secretariat")
    html = client.get(f"/exam/admin/sessions/{session.id}/edit").get_data(as_text=True)
    assert "考试地点" in html and 'name="place"' in html
