"""Live panel room over Socket.IO (Flask-SocketIO test client): independence, progress, flags, reopen,
finalise and lock, recusal, reconnection, versions, and who may do what."""
import json
from decimal import Decimal

from certify.extensions import db
from certify.models import AuditEntry, ComponentScore
from defense.scoring.models import DefenseCase, ScoreSheet, ScoreSheetRevision
from tests.defense.conftest_scoring import restore_socketio, scoring_panel, sio_clients  # noqa: F401

NS = "/defense"


def emit(client, event, data):
    return client.emit(event, data, namespace=NS, callback=True)


def get_state(client, panel_id):
    ack = emit(client, "state", {"panel_id": panel_id})
    assert ack["ok"], ack
    return ack["state"]


def case_in(state, case_id):
    return next(c for c in state["cases"] if c["id"] == case_id)


def points(state, *values):
    ids = [str(c["id"]) for c in state["rubric"]["criteria"]]
    return dict(zip(ids, [str(v) for v in values]))


CONFIRMED = {"acknowledge": True, "reason": "合议无异议"}


def chair_do(client, panel_id, action, **extra):
    return emit(client, "chair", {"panel_id": panel_id, "action": action, **extra})


def submit(client, panel_id, case_id, *values):
    st = get_state(client, panel_id)
    sheet = case_in(st, case_id)["my_sheet"]
    return emit(client, "submit", {"sheet_id": sheet["id"], "scores": points(st, *values), "version": sheet["version"]})


def start_case(chair, panel_id):
    st = get_state(chair, panel_id)
    case_id = st["cases"][0]["id"]
    ack = chair_do(chair, panel_id, "check_in", case_id=case_id)
    assert ack["ok"], ack
    assert chair_do(chair, panel_id, "call_next")["ok"]
    return case_id


def received_states(client):
    return [e["args"][0] for e in client.get_received(NS) if e["name"] == "state"]


def test_unauthenticated_socket_is_refused(app, restore_socketio):
    from tests.conftest import socket_client

    client = socket_client(app, NS, app.test_client())  # a valid CSRF token of an anonymous page: still refused
    assert not client.is_connected(NS)


def test_independent_scoring_and_live_progress(scoring_panel, sio_clients):
    setup = scoring_panel(members=4)
    pid = setup.panel.id
    chair = sio_clients("p0", pid)
    a, b, c = (sio_clients(f"p{i}", pid) for i in (1, 2, 3))
    case_id = start_case(chair, pid)
    for client in (chair, a, b, c):
        client.get_received(NS)  # drop what came so far

    assert submit(a, pid, case_id, "27.5", "26", "35.5")["ok"]  # total 89
    # the chair sees live that A has submitted, but not A's total before submitting their own
    pushed = received_states(chair)
    assert pushed, "the chair got no live update"
    members = {m["name"]: m for m in case_in(pushed[-1], case_id)["members"]}
    assert members["专家p1"]["status"] == "submitted" and "total" not in members["专家p1"]
    assert members["专家p2"]["status"] == "draft"
    # B (not yet submitted) never receives A's scores or who submitted
    for st in received_states(b) + [get_state(b, pid)]:
        view = case_in(st, case_id)
        assert "members" not in view and "aggregate" not in view
        assert "27.5" not in json.dumps(st) and "89" not in json.dumps(view)
    # the chair submits: now sees the others' submitted totals, but no aggregate until all are in
    assert submit(chair, pid, case_id, 25, 25, 35)["ok"]
    view = case_in(get_state(chair, pid), case_id)
    assert {m["name"]: m.get("total") for m in view["members"]}["专家p1"] == "89"
    assert "aggregate" not in view
    assert submit(b, pid, case_id, 26, 26, 34)["ok"]
    assert submit(c, pid, case_id, 24, 25, 33)["ok"]
    # a non-chair panelist after submitting still sees only their own sheet
    view_b = case_in(get_state(b, pid), case_id)
    assert "members" not in view_b and view_b["my_sheet"]["total"] == "86"
    assert chair_do(chair, pid, "end", case_id=case_id)["ok"]
    view = case_in(get_state(chair, pid), case_id)
    assert view["state"] == "scoring" and view["aggregate"]["score"] == "85.5"  # (85 + 89 + 86 + 82) / 4
    assert view["aggregate"]["flags"] == []


def _all_submit(clients, pid, case_id, totals):
    """Each client submits criteria that add up to the given total (split 30/30/40 proportionally)."""
    for client, total in zip(clients, totals):
        a = min(Decimal(30), Decimal(total))
        b = min(Decimal(30), Decimal(total) - a)
        c = Decimal(total) - a - b
        ack = submit(client, pid, case_id, a, b, c)
        assert ack["ok"], ack


def test_discrepancy_flag_blocks_finalising_until_reopen_keeps_original_and_revised(scoring_panel, sio_clients):
    setup = scoring_panel(members=3)
    pid = setup.panel.id
    chair, a, b = (sio_clients(f"p{i}", pid) for i in range(3))
    case_id = start_case(chair, pid)
    assert chair_do(chair, pid, "end", case_id=case_id)["ok"]
    _all_submit([chair, a, b], pid, case_id, ["85", "88", "60"])
    view = case_in(get_state(chair, pid), case_id)
    assert view["state"] == "flagged"
    kinds = {f["kind"]: f for f in view["aggregate"]["flags"]}
    assert "spread" in kinds and "专家p2" in kinds["spread"]["message"] and "60" in kinds["spread"]["message"]
    assert kinds["outlier"]["panelists"] == [str(setup.panelists[2].id)]  # 60 vs median(85, 88) = 86.5
    refused = chair_do(chair, pid, "finalise", case_id=case_id, **CONFIRMED)
    assert not refused["ok"] and "分差" in refused["error"]
    # a reason is required to reopen; then B's sheet goes back with it
    sheet_b = next(m for m in view["members"] if m["name"] == "专家p2")["sheet_id"]
    assert not chair_do(chair, pid, "reopen_sheet", sheet_id=sheet_b, reason=" ")["ok"]
    assert chair_do(chair, pid, "reopen_sheet", sheet_id=sheet_b, reason="第三项疑似录入错误")["ok"]
    mine = case_in(get_state(b, pid), case_id)["my_sheet"]
    assert mine["status"] == "reopened" and mine["reopen_reason"] == "第三项疑似录入错误"
    _all_submit([b], pid, case_id, ["80"])
    view = case_in(get_state(chair, pid), case_id)
    assert view["state"] == "scoring" and view["aggregate"]["flags"] == []
    for unconfirmed in ({}, {"acknowledge": True}, {"reason": "合议无异议"}, {"acknowledge": True, "reason": " "}):
        refused = chair_do(chair, pid, "finalise", case_id=case_id, **unconfirmed)  # irreversible: box and reason
        assert not refused["ok"] and refused["code"] == "confirmation_required"
    assert case_in(get_state(chair, pid), case_id)["state"] == "scoring"
    assert chair_do(chair, pid, "finalise", case_id=case_id, **CONFIRMED)["ok"]
    db.session.expire_all()
    sheet = db.session.get(ScoreSheet, sheet_b)
    assert [(r.revision, r.total) for r in sheet.revisions] == [(1, Decimal("60")), (2, Decimal("80"))]
    assert sheet.revisions[0].reopened_at is not None and sheet.revisions[1].reason == "第三项疑似录入错误"
    score = db.session.execute(db.select(ComponentScore).filter_by(candidate_id=setup.candidates[0].id)).scalar_one()
    assert Decimal(score.score) == Decimal("84.3333")  # (85 + 88 + 80) / 3 = 84.333…
    actions = [e.action for e in db.session.execute(db.select(AuditEntry)).scalars()]
    assert "defense.sheet_reopen" in actions and "defense.finalise" in actions


def test_flag_confirmed_with_comment_then_finalise_locks_everything(scoring_panel, sio_clients, client, login_as):
    setup = scoring_panel(members=3)
    pid = setup.panel.id
    chair, a, b = (sio_clients(f"p{i}", pid) for i in range(3))
    case_id = start_case(chair, pid)
    assert chair_do(chair, pid, "end", case_id=case_id)["ok"]
    _all_submit([chair, a, b], pid, case_id, ["90", "68", "75"])  # spread 22
    assert not chair_do(chair, pid, "confirm", case_id=case_id, comment="")["ok"]
    assert not emit(a, "chair", {"panel_id": pid, "action": "confirm", "case_id": case_id, "comment": "x"})["ok"]
    assert chair_do(chair, pid, "confirm", case_id=case_id, comment="经合议，分差源于答辩表现的不同侧重，维持评分")["ok"]
    view = case_in(get_state(chair, pid), case_id)
    assert view["aggregate"]["resolved"] and view["state"] == "scoring"
    assert chair_do(chair, pid, "finalise", case_id=case_id, **CONFIRMED)["ok"]
    db.session.expire_all()
    case = db.session.get(DefenseCase, case_id)
    assert case.state == "finalised" and case.score == Decimal("77.6667") and case.chair_comment.startswith("经合议")
    # locked: no reopen by the chair, no new drafts, no second finalise
    mine = case_in(get_state(a, pid), case_id)["my_sheet"]
    assert not emit(a, "save_draft", {"sheet_id": mine["id"], "scores": {}, "version": mine["version"]})["ok"]
    assert not chair_do(chair, pid, "reopen_sheet", sheet_id=mine["id"], reason="x")["ok"]
    assert not chair_do(chair, pid, "finalise", case_id=case_id, **CONFIRMED)["ok"]
    for view in (case_in(get_state(x, pid), case_id) for x in (a, b)):
        assert view["score"] == "77.67"
    # only the secretariat reopens a finalised case, with a reason; the component score is withdrawn meanwhile
    login_as("supervisor")
    assert client.post(f"/defense/cases/{case_id}/reopen", data={"reason": "复核"}).status_code == 403
    client.post("/logout")
    login_as("secretariat")
    resp = client.post(f"/defense/cases/{case_id}/reopen", data={"reason": ""}, follow_redirects=True)
    assert "请填写重新开放的理由" in resp.get_data(as_text=True)
    resp = client.post(f"/defense/cases/{case_id}/reopen", data={"reason": "考生申诉，复核评分"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(DefenseCase, case_id).state == "scoring"
    assert db.session.execute(db.select(ComponentScore).filter_by(candidate_id=setup.candidates[0].id)
                              ).scalar_one_or_none() is None
    entry = db.session.execute(db.select(AuditEntry).filter_by(action="defense.reopen")).scalar_one()
    assert entry.reason == "考生申诉，复核评分" and entry.detail["before"]["state"] == "finalised"


def test_recusal_aggregate_uses_the_others_with_a_minimum_of_three(scoring_panel, sio_clients):
    setup = scoring_panel(members=4, candidates=2)
    pid = setup.panel.id
    clients = [sio_clients(f"p{i}", pid) for i in range(4)]
    case_id = start_case(clients[0], pid)
    mine = case_in(get_state(clients[3], pid), case_id)["my_sheet"]
    assert not emit(clients[3], "recuse", {"sheet_id": mine["id"], "reason": ""})["ok"]
    assert emit(clients[3], "recuse", {"sheet_id": mine["id"], "reason": "曾指导过该考生"})["ok"]
    _all_submit(clients[:3], pid, case_id, ["80", "82", "84"])
    assert chair_do(clients[0], pid, "end", case_id=case_id)["ok"]
    view = case_in(get_state(clients[0], pid), case_id)
    assert view["aggregate"]["score"] == "82"
    assert chair_do(clients[0], pid, "finalise", case_id=case_id, **CONFIRMED)["ok"]
    # second candidate: two recuse → only two scorers → no score, finalising refused
    second = get_state(clients[0], pid)["cases"][1]["id"]
    assert chair_do(clients[0], pid, "check_in", case_id=second)["ok"]
    assert chair_do(clients[0], pid, "call_next")["ok"]
    for client in clients[2:]:
        mine = case_in(get_state(client, pid), second)["my_sheet"]
        assert emit(client, "recuse", {"sheet_id": mine["id"], "reason": "利益相关"})["ok"]
    _all_submit(clients[:2], pid, second, ["70", "72"])
    assert chair_do(clients[0], pid, "end", case_id=second)["ok"]
    refused = chair_do(clients[0], pid, "finalise", case_id=second, **CONFIRMED)
    assert not refused["ok"] and "不足 3 人" in refused["error"]


def test_reconnection_returns_the_users_state_and_stale_device_cannot_overwrite(scoring_panel, sio_clients):
    setup = scoring_panel(members=3)
    pid = setup.panel.id
    chair = sio_clients("p0", pid)
    phone = sio_clients("p1", pid)
    laptop = sio_clients("p1", pid)  # the same panelist on a second device
    case_id = start_case(chair, pid)
    st = get_state(phone, pid)
    sheet = case_in(st, case_id)["my_sheet"]
    first = str(st["rubric"]["criteria"][0]["id"])
    ack = emit(phone, "save_draft", {"sheet_id": sheet["id"], "scores": {first: "20.5"}, "version": sheet["version"]})
    assert ack["ok"] and ack["sheet"]["version"] == sheet["version"] + 1
    # the second device got the update pushed; a stale save from the old version is refused, the server wins
    pushed = [case_in(s, case_id)["my_sheet"] for s in received_states(laptop)]
    assert pushed and pushed[-1]["scores"] == {first: "20.5"}
    stale = emit(laptop, "save_draft", {"sheet_id": sheet["id"], "scores": {}, "version": sheet["version"]})
    assert not stale["ok"] and stale["code"] == "stale" and stale["sheet"]["scores"] == ack["sheet"]["scores"]
    # the phone drops and reconnects: joining again gives back its draft and version
    phone.disconnect(namespace=NS)
    again = sio_clients("p1")
    joined = emit(again, "join", {"panel_id": pid})
    mine = case_in(joined["state"], case_id)["my_sheet"]
    assert mine["scores"] == ack["sheet"]["scores"] and mine["version"] == ack["sheet"]["version"]
    # invalid numbers are refused with the criterion named
    bad = emit(again, "submit", {"sheet_id": mine["id"], "scores": points(st, "30.5", "12.3", "x"),
                                 "version": mine["version"]})
    assert not bad["ok"] and "认识理解" in bad["error"] and "科技素养" in bad["error"] and "组织策划能力" in bad["error"]


def test_panelists_reach_only_their_own_panel_and_sheets(scoring_panel, sio_clients, client):
    mine = scoring_panel(members=3, prefix="a", panel_name="甲组")
    other = scoring_panel(members=3, prefix="b", panel_name="乙组")
    outsider = sio_clients("b1")
    assert emit(outsider, "join", {"panel_id": mine.panel.id})["code"] == "forbidden"
    chair = sio_clients("a0", mine.panel.id)
    member = sio_clients("a1", mine.panel.id)
    case_id = start_case(chair, mine.panel.id)
    st = get_state(chair, mine.panel.id)
    chair_sheet = case_in(st, case_id)["my_sheet"]
    # someone else's sheet, another panel's chair actions, a non-chair's chair action: all refused
    assert emit(member, "save_draft", {"sheet_id": chair_sheet["id"], "scores": {}, "version": 1})["code"] == "forbidden"
    assert emit(outsider, "chair", {"panel_id": mine.panel.id, "action": "call_next"})["code"] == "forbidden"
    assert chair_do(member, mine.panel.id, "call_next")["code"] == "forbidden"
    other_state = get_state(sio_clients("b0", other.panel.id), other.panel.id)
    assert chair_do(chair, mine.panel.id, "check_in", case_id=other_state["cases"][0]["id"])["code"] == "forbidden"
    # pages
    from tests.conftest import login
    login(client, "b1")
    assert client.get(f"/defense/room/{mine.panel.id}").status_code == 403
    assert client.get(f"/defense/room/{mine.panel.id}/sheet/{case_id}").status_code == 403
    assert client.get(f"/defense/room/{other.panel.id}").status_code == 200


def test_conflicted_panelist_cannot_score(scoring_panel, sio_clients, client):
    setup = scoring_panel(members=4, candidate_units=["专家单位p2"])  # candidate from panelist p2's work unit
    pid = setup.panel.id
    chair = sio_clients("p0", pid)
    p2 = sio_clients("p2", pid)
    case_id = start_case(chair, pid)
    sheet = case_in(get_state(p2, pid), case_id)["my_sheet"]
    assert sheet["status"] == "recused" and "同一工作单位" in sheet["recuse_reason"]
    st = get_state(p2, pid)
    assert not emit(p2, "submit", {"sheet_id": sheet["id"], "scores": points(st, 20, 20, 30),
                                   "version": sheet["version"]})["ok"]
    from tests.conftest import login
    login(client, "p2")
    assert client.get(f"/defense/room/{pid}/sheet/{case_id}").status_code == 403
    assert client.get(f"/defense/room/{pid}").status_code == 200


def test_queue_absent_carry_over_and_timer(scoring_panel, sio_clients):
    setup = scoring_panel(members=3, candidates=3)
    pid = setup.panel.id
    chair = sio_clients("p0", pid)
    ids = [c["id"] for c in get_state(chair, pid)["cases"]]
    assert chair_do(chair, pid, "carry_over", case_id=ids[0])["ok"]
    assert [c["id"] for c in get_state(chair, pid)["cases"]] == [ids[1], ids[2], ids[0]]
    assert chair_do(chair, pid, "absent", case_id=ids[1])["ok"]
    assert not chair_do(chair, pid, "call_next")["ok"]  # nobody checked in
    assert chair_do(chair, pid, "check_in", case_id=ids[2])["ok"]
    assert chair_do(chair, pid, "start_phase", case_id=ids[2], phase=0)["ok"]
    view = case_in(get_state(chair, pid), ids[2])
    assert view["state"] == "in_progress" and view["timer"]["phase_name"] == "个人陈述"
    assert chair_do(chair, pid, "start_phase", case_id=ids[2], phase=1)["ok"]
    assert chair_do(chair, pid, "stop_phase", case_id=ids[2])["ok"]
    view = case_in(get_state(chair, pid), ids[2])
    assert [e["name"] for e in view["timer"]["log"]] == ["个人陈述", "专家提问"] and view["timer"]["phase_index"] is None
    assert not chair_do(chair, pid, "start_phase", case_id=ids[2], phase=7)["ok"]
    db.session.expire_all()
    absent = db.session.execute(db.select(ComponentScore).filter_by(candidate_id=setup.candidates[1].id)).scalar_one()
    assert absent.status == "absent" and absent.score is None
    assert db.session.get(DefenseCase, ids[0]).carried_over
    assert db.session.execute(db.select(db.func.count(ScoreSheetRevision.id))).scalar() == 0
