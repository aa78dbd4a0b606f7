"""Publishing the defense schedule notifies every candidate (slot, panel, room or meeting link) and every
panelist (their panel's times and place); a move after publication notifies the moved candidate."""
from __future__ import annotations

from certify.clock import to_local
from certify.extensions import db
from certify.notices.models import Notice, NoticeDelivery
from defense.schedule import operations as ops
from tests.defense.test_schedule_flow import cands, rnd, setup_round  # noqa: F401  (fixtures)


def notices_of(user_id):
    return list(db.session.scalars(db.select(Notice).filter_by(user_id=user_id).order_by(Notice.id)))


def test_publication_notifies_candidates_and_panelists(rnd, cands):  # noqa: F811
    setup_round(rnd, cands)
    assert ops.run_schedule(rnd).ok
    db.session.commit()
    assert db.session.scalar(db.select(db.func.count()).select_from(Notice)) == 0  # a draft tells nobody
    ops.publish_schedule(rnd)
    db.session.commit()
    a = ops.candidate_assignment(cands[0])
    [notice] = notices_of(cands[0].user_id)
    assert notice.kind == "defense" and notice.title == "答辩安排已发布"
    start = to_local(a.start_at).strftime("%Y-%m-%d %H:%M")
    assert f"答辩时间：{start} 至 " in notice.body and start.startswith("2026-12-01")
    assert f"答辩组：{a.panel.name}。" in notice.body and f"答辩地点：{a.panel.name}会议室。" in notice.body
    member = a.panel.members[0].panelist
    [pnotice] = notices_of(member.user_id)
    assert pnotice.title == "答辩评审安排已发布" and a.panel.name in pnotice.body
    assert f"共 {len(ops.panel_timetable(a.panel))} 名考生" in pnotice.body
    # the panelist's phone from the panelist list is their SMS address
    sms = db.session.scalar(db.select(NoticeDelivery).filter_by(notice_id=pnotice.id, channel="sms"))
    assert sms is not None and sms.address == member.phone


def test_a_move_after_publication_notifies_the_candidate(rnd, cands):  # noqa: F811
    setup_round(rnd, cands)
    assert ops.run_schedule(rnd).ok
    ops.publish_schedule(rnd)
    db.session.commit()
    a = ops.candidate_assignment(cands[0])
    other_panel = next(p for p in ops.round_panels(rnd) if p.id != a.panel_id)
    taken = {x.start_at for x in ops.panel_timetable(other_panel)}
    free = next(s for s, _ in ops.slot_grid(rnd) if s not in taken)
    ops.move_candidate(rnd, cands[0], other_panel, free, reason="考生申请")
    db.session.commit()
    first, second = notices_of(cands[0].user_id)
    assert second.title == "答辩安排变更" and other_panel.name in second.body
