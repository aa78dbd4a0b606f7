"""Refusals of the results go through the one DomainError path: the page flashes the same text and writes nothing
(the unit of work rolls back), a JSON client gets ``{"error": {code, message, items}}`` with the status."""
from __future__ import annotations

import pytest

from certify.errors import DomainError
from certify.extensions import db
from certify.models import AuditEntry
from certify.results import operations as ops
from certify.results.models import Complaint, ResultSet
from tests.conftest import login


def _audit_actions():
    return [a for a in db.session.execute(db.select(AuditEntry.action).order_by(AuditEntry.id)).scalars()]


@pytest.fixture
def lacking_round(make_round, scored):
    rnd = make_round("2024-cq", "重庆")
    scored(rnd, "初级", exam=80, record=80, name="齐全")
    scored(rnd, "初级", exam=70, name="缺项")  # no record score: confirmation is refused
    return rnd


def test_results_errors_are_domain_errors_with_items(ctx, lacking_round):
    with pytest.raises(DomainError) as info:
        ops.confirm(lacking_round, "初级")
    err = info.value
    assert isinstance(err, ops.ResultsError)
    assert (err.code, err.status) == ("components_missing", 409)
    assert err.headline.startswith("1 名考生尚缺成分成绩") and len(err.items) == 1 and "缺项" in err.items[0]
    assert err.message == err.headline + "：" + err.items[0]
    assert err.to_json()["items"] == err.items


def test_refused_confirm_page_flashes_the_list_and_writes_nothing(ctx, lacking_round, client, make_user):
    login(client, make_user("secretariat").username)
    before = _audit_actions()
    resp = client.post(f"/results/{lacking_round.code}/confirm", data={"level": "初级", "ratio": "0.8"})
    assert resp.status_code == 302 and "/preview?level=" in resp.headers["Location"]
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "1 名考生尚缺成分成绩（既无成绩也未标记缺考），不能确认：" in html and "缺项" in html
    db.session.expire_all()
    assert db.session.execute(db.select(ResultSet)).first() is None
    assert _audit_actions() == before


def test_refused_confirm_as_json_is_an_error_body(ctx, lacking_round, client, make_user):
    login(client, make_user("secretariat").username)
    resp = client.post(f"/results/{lacking_round.code}/confirm", data={"level": "初级", "ratio": "0.8"},
                       headers={"Accept": "application/json"})
    assert resp.status_code == 409
    error = resp.get_json()["error"]
    assert error["code"] == "components_missing" and len(error["items"]) == 1 and "缺项" in error["message"]


def test_refused_reopen_and_publish_flash_on_their_pages(ctx, lacking_round, client, make_user):
    login(client, make_user("secretariat").username)
    resp = client.post(f"/results/{lacking_round.code}/reopen", data={"level": "初级", "reason": "复核"},
                       follow_redirects=True)
    assert "成绩尚未确认，无需重新开放" in resp.get_data(as_text=True)
    resp = client.post(f"/results/{lacking_round.code}/publish", data={"start_date": "2024-07-01",
                                                                       "working_days": "5"})
    assert resp.headers["Location"].endswith(f"/results/{lacking_round.code}")
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "初级成绩尚未确认，不能发布公示" in html
    assert not any(a.startswith("results.") for a in _audit_actions())


def test_refused_complaint_decision_keeps_the_complaint_open(ctx, make_round, scored, client, make_user):
    rnd = make_round("2024-cq", "重庆")
    cand = scored(rnd, "初级", exam=80, record=80)
    complaint = Complaint(round_id=rnd.id, candidate_id=cand.id, lodged_on=ops.local_today(), content="x",
                          status="upheld", outcome_note="已处理")
    db.session.add(complaint)
    db.session.commit()
    login(client, make_user("supervisor").username)
    resp = client.post(f"/results/complaints/{complaint.id}/decide", data={"status": "dismissed", "note": "再议"},
                       follow_redirects=True)
    assert f"投诉 #{complaint.id} 已处理" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Complaint, complaint.id).status == "upheld"
