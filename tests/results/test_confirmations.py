"""The secretariat's results pages: 缺考 for non-submitters, the ratio the frozen result used, the distribution
chart, and the two-step confirmation of the irreversible actions (确认并冻结, 发布公示, 标记缺考)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from certify.extensions import db
from certify.models import AuditEntry, ComponentScore
from certify.results import operations as ops
from certify.results.models import PublicityPeriod, ResultSet
from tests.conftest import login

D = Decimal


def audits(action):
    return db.session.execute(db.select(AuditEntry).filter_by(action=action).order_by(AuditEntry.id)).scalars().all()


@pytest.fixture
def jl(make_round, scored):
    """Jilin junior (work record 100 %, scheme ratio 80 %): three scored, one who submitted nothing."""
    rnd = make_round("2024-jl", "吉林")
    cands = [scored(rnd, "初级", record=s, name=f"吉{i}") for i, s in enumerate((90, 80, 70))]
    missing = scored(rnd, "初级", name="未交")
    return rnd, cands, missing


@pytest.fixture
def secretariat(client, make_user):
    login(client, make_user("secretariat").username)
    return client


def test_round_page_shows_the_ratio_and_cut_line_the_frozen_result_used(ctx, jl, secretariat):
    rnd, cands, missing = jl
    html = secretariat.get(f"/results/{rnd.code}").get_data(as_text=True)
    assert "80%" in html and "（方案设置）" in html and "0.8000" not in html
    ops.mark_absent(rnd, "初级", "未提交")
    ops.confirm(rnd, "初级", ratio=D("0.6"))
    db.session.commit()
    html = secretariat.get(f"/results/{rnd.code}").get_data(as_text=True)
    row = html.split('<td>初级</td>')[1].split("</tr>")[0]
    assert '<td class="num ratio">60%</td>' in row and "0.8" not in row and "80%" not in row
    assert '<td class="num cut">80.00</td>' in row  # 0.6 × 3 = 1.8 -> 2: 90, 80
    assert "0% · 0% · 100%" in row  # weights, same percent rule
    preview = secretariat.get(f"/results/{rnd.code}/preview?level=初级").get_data(as_text=True)
    assert 'id="ratio">60%<' in preview and "业绩成果得分 × 100%" in preview


def test_preview_lists_missing_components_and_marks_them_absent_in_two_steps(ctx, jl, secretariat):
    rnd, cands, missing = jl
    html = secretariat.get(f"/results/{rnd.code}/preview?level=初级").get_data(as_text=True)
    assert 'id="mark-absent"' in html and "未交：缺少业绩成果得分" in html
    page = secretariat.get(f"/results/{rnd.code}/absent?level=初级").get_data(as_text=True)
    assert missing.ticket in page and "未交" in page and "业绩成果得分" in page and "吉0" not in page
    # without the ticked box (or without a reason): refused, nothing written
    for data in ({"level": "初级", "reason": "未提交"}, {"level": "初级", "acknowledge": "y", "reason": " "}):
        resp = secretariat.post(f"/results/{rnd.code}/absent", data=data, headers={"Accept": "application/json"})
        assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "confirmation_required"
    resp = secretariat.post(f"/results/{rnd.code}/absent", data={"level": "初级"})
    assert resp.status_code == 302 and "/absent?level=" in resp.headers["Location"]
    db.session.expire_all()
    assert db.session.execute(db.select(ComponentScore).filter_by(candidate_id=missing.id)).first() is None
    assert audits("results.mark_absent") == []
    resp = secretariat.post(f"/results/{rnd.code}/absent",
                            data={"level": "初级", "acknowledge": "y", "reason": "逾期未提交业绩材料"})
    assert resp.status_code == 302
    db.session.expire_all()
    row = db.session.execute(db.select(ComponentScore).filter_by(candidate_id=missing.id)).scalar_one()
    assert (row.component, row.status, row.score) == ("record", "absent", None)
    [entry] = audits("results.mark_absent")
    assert entry.reason == "逾期未提交业绩材料" and missing.ticket in str(entry.detail)
    assert [e.reason for e in audits("score.component") if e.target_id == str(missing.id)] == ["逾期未提交业绩材料"]
    comp = ops.compute(rnd, "初级")
    assert not comp.missing and [ln.outcome for ln in comp.lines if ln.candidate.id == missing.id] == ["absent"]


def test_confirm_needs_the_second_step_and_the_page_says_what_will_change(ctx, jl, secretariat):
    rnd, cands, missing = jl
    ops.mark_absent(rnd, "初级", "未提交")
    db.session.commit()
    page = secretariat.get(f"/results/{rnd.code}/confirm?level=初级&ratio=0.6&min_total=")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "方案设置 80% → <b id=\"new-ratio\">60%</b>" in html and "→ <b>已确认并冻结</b>" in html
    assert 'id="c-certified">2<' in html and 'id="c-absent">1<' in html and 'id="c-cut">80.00<' in html
    who = html.split('id="c-who"')[1].split("</ul>")[0]
    assert "吉0" in who and "吉1" in who and "吉2" not in who
    data = {"level": "初级", "ratio": "0.6", "min_total": ""}
    resp = secretariat.post(f"/results/{rnd.code}/confirm", data=data)
    assert resp.status_code == 302 and "/confirm?level=" in resp.headers["Location"]
    follow = secretariat.get(resp.headers["Location"]).get_data(as_text=True)
    assert "请勾选确认并填写理由" in follow
    resp = secretariat.post(f"/results/{rnd.code}/confirm", data={**data, "acknowledge": "y"},
                            headers={"Accept": "application/json"})
    assert resp.status_code == 400
    db.session.expire_all()
    assert db.session.execute(db.select(ResultSet)).first() is None and audits("results.confirm") == []
    resp = secretariat.post(f"/results/{rnd.code}/confirm", data={**data, "acknowledge": "y", "reason": "按 60% 认定"})
    assert resp.status_code == 302
    db.session.expire_all()
    rs = ops.result_set_for(rnd, "初级")
    assert rs.confirmed and rs.ratio == D("0.6")
    assert [e.reason for e in audits("results.confirm")] == ["按 60% 认定"]


def test_refused_confirm_page_goes_back_to_the_preview(ctx, jl, secretariat):
    rnd, cands, missing = jl
    resp = secretariat.get(f"/results/{rnd.code}/confirm?level=初级&ratio=0.6")
    assert resp.status_code == 302 and "/preview?level=" in resp.headers["Location"]
    assert "尚缺成分成绩" in secretariat.get(resp.headers["Location"]).get_data(as_text=True)


def test_publish_needs_the_second_step_and_the_page_says_what_will_change(ctx, jl, secretariat):
    rnd, cands, missing = jl
    ops.mark_absent(rnd, "初级", "未提交")
    ops.confirm(rnd, "初级", ratio=D("0.6"))
    db.session.commit()
    html = secretariat.get(f"/results/{rnd.code}/publish?start_date=2024-07-01&working_days=5").get_data(as_text=True)
    assert "未发布" in html and "2024-07-01 至 2024-07-05（5 个工作日）" in html and "否 → 是" in html
    level_row = html.split('id="publish-levels"')[1].split("</table>")[0]
    assert '<td>初级</td><td class="num">4</td><td class="num">2</td><td class="num">1</td>' in level_row
    data = {"start_date": "2024-07-01", "working_days": "5"}
    resp = secretariat.post(f"/results/{rnd.code}/publish", data=data, headers={"Accept": "application/json"})
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "confirmation_required"
    assert secretariat.post(f"/results/{rnd.code}/publish", data=data).status_code == 302
    db.session.expire_all()
    assert db.session.execute(db.select(PublicityPeriod)).first() is None and audits("results.publish") == []
    resp = secretariat.post(f"/results/{rnd.code}/publish", data={**data, "acknowledge": "y", "reason": "按期公示"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert [e.reason for e in audits("results.publish")] == ["按期公示"]
    # a second publication shows the old period struck through
    html = secretariat.get(f"/results/{rnd.code}/publish?start_date=2024-07-08&working_days=5").get_data(as_text=True)
    assert '<span class="old">2024-07-01 至 2024-07-05（5 个工作日）</span>' in html and "是 → 是" in html


def test_preview_draws_the_distribution_with_the_cut_line(ctx, jl, secretariat):
    rnd, cands, missing = jl
    html = secretariat.get(f"/results/{rnd.code}/preview?level=初级&ratio=0.6").get_data(as_text=True)
    chart = html.split('id="distribution"')[1].split("</section>")[0]
    assert "<svg" in chart and 'role="img"' in chart and 'id="chart-cut"' in chart and "分数线 80.00" in chart
    assert chart.count('class="bar"') == 10
    summary = chart.split('id="distribution-summary">')[1].split("</p>")[0]
    assert "有效考生 3 人" in summary and "达到分数线 2 人" in summary and "70–80 分 1 人" in summary
