"""Publicity per the notice: the 公示 list names only those proposed for certification (name, work unit, level),
with the issuing body, the period and the complaint contact from the round settings; complaints, and so
revocations, stay possible after the publicity period, with a reason and an audit entry, and the exports show them."""
from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal

import pytest
import time_machine
from openpyxl import load_workbook

from certify.extensions import db
from certify.models import AuditEntry
from certify.results import operations as ops
from certify.results.exports import PUBLICITY_HEADERS, publicity_rows, results_sheet
from certify.results.models import Complaint
from tests.conftest import login

D = Decimal
AFTER = datetime(2024, 7, 10, 2, 0)  # Beijing 10:00 on 2024-07-10, after a 5-day period from 2024-07-03


@pytest.fixture
def published(make_round, scored):
    """Chongqing intermediate: a certified (甲, 乙), not certified (丙), absent (丁); published 2024-07-03."""
    rnd = make_round("2024-cq", "重庆")
    c = {"a": scored(rnd, "中级", exam=90, defense=90, record=90, name="甲", work_unit="一中"),
         "b": scored(rnd, "中级", exam=85, defense=85, record=85, name="乙", work_unit="二中"),
         "c": scored(rnd, "中级", exam=50, defense=50, record=50, name="丙", work_unit="三中"),
         "d": scored(rnd, "中级", exam="absent", defense=90, record=90, name="丁", work_unit="四中")}
    ops.confirm(rnd, "中级", ratio=D("0.5"))  # eligible 3 -> quota 2 (half up of 1.5)
    ops.publish(rnd, date(2024, 7, 3))
    db.session.commit()
    return rnd, c


def test_the_list_names_only_those_proposed_for_certification(ctx, published):
    rnd, c = published
    rows = publicity_rows(rnd)
    assert PUBLICITY_HEADERS == ["序号", "姓名", "工作单位", "认证级别"]
    assert rows == [[1, "甲", "一中", "中级"], [2, "乙", "二中", "中级"]]  # not 未认定 丙, not 缺考 丁


def test_issuer_and_contact_come_from_the_round_settings(ctx, published, client, login_as):
    rnd, _ = published
    login_as("secretariat")
    page = client.get(f"/results/{rnd.code}/publicity").get_data(as_text=True)
    assert "尚未设置公示发布单位和投诉受理方式" in page and "丙" not in page and "丁" not in page
    resp = client.post(f"/rounds/{rnd.code}/settings", data={
        "r-mc_policy": rnd.mc_policy, "r-publicity_working_days": "5", "r-publicity_issuer": "重庆市科学技术协会",
        "r-publicity_contact": "监督委员会 023-12345678"})
    assert resp.status_code == 302
    db.session.refresh(rnd)
    assert (rnd.publicity_issuer, rnd.publicity_contact) == ("重庆市科学技术协会", "监督委员会 023-12345678")
    entry = db.session.execute(db.select(AuditEntry).filter_by(action="round.update")).scalar_one()
    assert entry.detail["after"]["publicity_issuer"] == "重庆市科学技术协会"
    assert "重庆市科学技术协会" in client.get(f"/rounds/{rnd.code}").get_data(as_text=True)  # editable there
    page = client.get(f"/results/{rnd.code}/publicity").get_data(as_text=True)
    assert '<p class="publicity-issuer" id="publicity-issuer">重庆市科学技术协会' in page
    assert "023-12345678" in page and "2024年07月03日 至 2024年07月09日" in page and "尚未设置" not in page
    assert "甲" in page and "乙" in page and "丙" not in page and "丁" not in page
    too_long = client.post(f"/rounds/{rnd.code}/settings", data={
        "r-mc_policy": rnd.mc_policy, "r-publicity_working_days": "5", "r-publicity_issuer": "长" * 201})
    assert too_long.status_code == 400 and "公示发布单位最多 200 个字符" in too_long.get_data(as_text=True)


def test_a_complaint_after_the_period_needs_a_reason_and_its_revocation_reaches_the_exports(
        ctx, published, make_user):
    rnd, c = published
    sup = make_user("supervisor")
    with time_machine.travel(AFTER, tick=False):
        with pytest.raises(ops.ResultsError, match="公示期后登记投诉须填写理由"):
            ops.record_complaint(rnd, c["b"].ticket, "事后查实违纪", actor=sup)
        complaint = ops.record_complaint(rnd, c["b"].ticket, "事后查实违纪", actor=sup,
                                         late_reason="纪检通报：业绩材料造假")
        db.session.commit()
        ops.decide_complaint(complaint, "upheld", "撤销认定", actor=sup)
        db.session.commit()
    assert complaint.late_reason == "纪检通报：业绩材料造假"
    lodged = db.session.execute(db.select(AuditEntry).filter_by(action="results.complaint")).scalar_one()
    assert lodged.reason == "纪检通报：业绩材料造假" and lodged.detail["after_publicity"] is True
    revoke = db.session.execute(db.select(AuditEntry).filter_by(action="results.revoke")).scalar_one()
    assert revoke.reason == "撤销认定" and revoke.detail["after_publicity"] is True and revoke.actor_id == sup.id
    assert [r[1] for r in publicity_rows(rnd)] == ["甲"]
    outcome = {row[1]: row[10] for row in results_sheet(rnd, masked=True).rows}
    assert outcome == {"甲": "认定", "乙": "未认定", "丙": "未认定", "丁": "缺考"}


def test_a_complaint_inside_the_period_needs_no_reason(ctx, published, make_user):
    rnd, c = published
    with time_machine.travel(datetime(2024, 7, 5, 2, 0), tick=False):
        complaint = ops.record_complaint(rnd, c["a"].ticket, "成绩有误", actor=make_user("supervisor"),
                                         late_reason="（公示期内，不记录）")
    assert complaint.late_reason == ""
    entry = db.session.execute(db.select(AuditEntry).filter_by(action="results.complaint")).scalar_one()
    assert entry.detail["after_publicity"] is False and entry.reason == ""


def test_the_complaints_page_after_the_period(ctx, published, client, make_user):
    rnd, c = published
    sup = make_user("supervisor")
    with time_machine.travel(AFTER, tick=False):
        login(client, sup.username)
        page = client.get(f"/results/{rnd.code}/complaints").get_data(as_text=True)
        assert "公示期已结束" in page and 'name="late_reason"' in page
        resp = client.post(f"/results/{rnd.code}/complaints", data={"candidate": c["a"].ticket, "content": "违纪"},
                           follow_redirects=True)
        assert "须填写理由" in resp.get_data(as_text=True)
        assert db.session.scalar(db.select(db.func.count()).select_from(Complaint)) == 0
        resp = client.post(f"/results/{rnd.code}/complaints", data={
            "candidate": c["a"].ticket, "content": "违纪", "late_reason": "纪检通报"}, follow_redirects=True)
        html = resp.get_data(as_text=True)
        assert "已登记投诉" in html and "公示期后登记：纪检通报" in html
        complaint = db.session.execute(db.select(Complaint)).scalar_one()
        client.post(f"/results/complaints/{complaint.id}/decide", data={"status": "upheld", "note": "属实"})
        pub = client.get(f"/results/{rnd.code}/export/publicity.xlsx")
        ws = load_workbook(io.BytesIO(pub.data)).active
        assert [[cell.value for cell in r] for r in ws.iter_rows()] == [PUBLICITY_HEADERS, [1, "乙", "二中", "中级"]]
