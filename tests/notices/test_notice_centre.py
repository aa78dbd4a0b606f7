"""The notice centre: notices per person, the unread badge, the login message, marking read, contacts, and the
secretariat's delivery page."""
from __future__ import annotations

from certify.extensions import db
from certify.notices import operations as ops
from certify.notices.models import Notice, NoticeDelivery
from tests.conftest import login


def test_notify_queues_one_row_per_channel_with_an_address(make_round, make_candidate, make_user):
    rnd = make_round()
    with_phone = make_candidate(rnd)
    with_phone.phone = "13800000001"
    without = make_candidate(rnd)
    panelist = make_user("panelist")
    ops.set_contact(panelist, email="p@example.org", mobile="")
    db.session.commit()
    notices = ops.notify([with_phone.user_id, without.user_id, panelist.id, None], "exam", "笔试安排", "正文",
                         round_id=rnd.id, mobiles={panelist.id: "13900000009"})
    db.session.commit()
    assert len(notices) == 3
    rows = {(d.notice.user_id, d.channel): d.address for d in db.session.scalars(db.select(NoticeDelivery))}
    assert rows == {(with_phone.user_id, "sms"): "13800000001", (panelist.id, "email"): "p@example.org",
                    (panelist.id, "sms"): "13900000009"}
    assert all(d.state == "pending" and d.attempts == 0 for d in db.session.scalars(db.select(NoticeDelivery)))


def test_a_rolled_back_change_leaves_no_notice(make_round, make_candidate):
    cand = make_candidate(make_round())
    ops.notify([cand.user_id], "exam", "笔试安排", "正文")
    db.session.rollback()
    assert db.session.scalar(db.select(db.func.count()).select_from(Notice)) == 0


def test_the_centre_shows_own_notices_with_a_badge_and_marks_them_read(app, client, make_round, make_candidate):
    rnd = make_round()
    me, other = make_candidate(rnd, name="张敏"), make_candidate(rnd)
    mine = ops.notify([me.user_id], "exam", "笔试安排：初级笔试", "考试时间：2026-12-05 09:00", round_id=rnd.id)[0]
    ops.notify([me.user_id], "results", "笔试成绩已发布", "请查看")
    theirs = ops.notify([other.user_id], "exam", "别人的通知", "x")[0]
    db.session.commit()
    resp = login(client, me.ticket, follow=True)
    html = resp.get_data(as_text=True)
    assert "您有 2 条未读通知" in html  # shown on login
    assert 'class="badge notice-badge" title="未读通知">2<' in html
    page = client.get("/notices/").get_data(as_text=True)
    assert "笔试安排：初级笔试" in page and "考试时间：2026-12-05 09:00" in page and "别人的通知" not in page
    assert page.count("未读</span>") == 2
    assert client.post(f"/notices/{theirs.id}/read").status_code == 404  # not theirs to touch
    assert client.post(f"/notices/{mine.id}/read").status_code == 302
    db.session.expire_all()
    assert db.session.get(Notice, mine.id).read_at is not None and db.session.get(Notice, theirs.id).read_at is None
    assert 'title="未读通知">1<' in client.get("/notices/").get_data(as_text=True)
    client.post("/notices/read-all")
    html = client.get("/notices/").get_data(as_text=True)
    assert "notice-badge" not in html and "未读</span>" not in html


def test_the_secretariat_sets_contacts_and_sees_delivery_status(client, login_as, make_round, make_candidate):
    cand = make_candidate(make_round())
    login_as("secretariat")
    resp = client.post("/notices/contacts", data={"username": cand.ticket, "email": "bad-address", "mobile": ""})
    assert resp.status_code == 400 and "电子邮箱格式不正确" in resp.get_data(as_text=True)
    resp = client.post("/notices/contacts", data={"username": cand.ticket, "email": "k@example.org",
                                                  "mobile": "13800000002"})
    assert resp.status_code == 302
    assert "k@example.org" in client.get("/notices/contacts").get_data(as_text=True)
    ops.notify([cand.user_id], "publicity", "认证结果公示", "x")
    failed = db.session.scalar(db.select(NoticeDelivery).filter_by(channel="email"))
    failed.state, failed.attempts, failed.last_error = "failed", 8, "SMTPConnectError: 连接被拒绝"
    db.session.commit()
    html = client.get("/notices/deliveries").get_data(as_text=True)
    assert 'data-state="email-failed">1<' in html and 'data-state="sms-pending">1<' in html
    assert "SMTPConnectError: 连接被拒绝" in html and "k@example.org" in html
    assert client.post(f"/notices/deliveries/{failed.id}/retry").status_code == 302
    db.session.expire_all()
    again = db.session.get(NoticeDelivery, failed.id)
    assert again.state == "pending" and again.attempts == 0


def test_candidates_and_panelists_do_not_see_delivery_pages(client, login_as):
    login_as("panelist")
    assert client.get("/notices/deliveries").status_code == 403
    assert client.get("/notices/contacts").status_code == 403
    assert client.get("/notices/").status_code == 200


def test_cli_sets_a_contact(app, make_round, make_candidate):
    cand = make_candidate(make_round())
    runner = app.test_cli_runner()
    bad = runner.invoke(args=["notices", "contact", cand.ticket, "--email", "nope"])
    assert bad.exit_code != 0 and "电子邮箱格式不正确" in bad.output
    assert runner.invoke(args=["notices", "contact", "nobody"]).exit_code != 0
    ok = runner.invoke(args=["notices", "contact", cand.ticket, "--email", "c@example.org", "--mobile", "13800000005"])
    assert ok.exit_code == 0, ok.output
    db.session.expire_all()
    assert ops.contacts([cand.user_id]) == {cand.user_id: ("c@example.org", "13800000005")}
