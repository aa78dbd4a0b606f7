"""The staff home page (/home): what is next for the secretariat (imports and jobs pending, complaints open; the
exam's and the defense's sections are tested in their areas), the same read-only for supervisors, and the
panelist's own section; one broken section never takes the page down."""
from __future__ import annotations

from datetime import date

from certify.domain import PANELIST, SECRETARIAT, SUPERVISOR
from certify.extensions import db
from certify.jobs import queue
from certify.results.models import Complaint
from question_bank import staging


def _section(html: str, key: str) -> str:
    return html.split(f'id="panel-{key}"')[1].split("</section>")[0]


def test_secretariat_home_shows_imports_jobs_and_complaints_pending(app, client, login_as, make_round,
                                                                     make_candidate):
    user = login_as(SECRETARIAT)
    for token, _name, _at in staging.UPLOADS.pending():  # files other tests left in the shared instance folder
        staging.UPLOADS.discard(token)
    assert client.get("/").headers["Location"].endswith("/home")
    html = client.get("/home").get_data(as_text=True)
    for key, empty in (("exam-today", "今天没有笔试场次"), ("panels-live", "今天没有答辩"),
                       ("bank-imports", "没有待确认的题库导入"), ("complaints", "没有待处理的投诉"),
                       ("jobs", "没有排队、运行中或近一天失败的后台任务")):
        assert empty in _section(html, key)
    assert 'id="panel-next-slot"' not in html  # a panelist's section only

    token = staging.UPLOADS.stage(b"x", "新题库.xlsx", user_id=user.id)
    rnd = make_round()
    job = queue.enqueue("defense.schedule", {"round_id": rnd.id}, title="答辩自动排程 2024-cq", round_id=rnd.id)
    cand = make_candidate(rnd, "中级")
    db.session.add(Complaint(round_id=rnd.id, candidate_id=cand.id, lodged_on=date(2024, 7, 2), content="成绩有误"))
    db.session.commit()
    html = client.get("/home").get_data(as_text=True)
    assert f'href="/bank/import/{token}">新题库.xlsx（题库导入，待确认）</a>' in _section(html, "bank-imports")
    assert f'href="/jobs/{job.id}">答辩自动排程 2024-cq</a>' in _section(html, "jobs") and "排队中" in html
    assert 'href="/results/2024-cq/complaints">2024-cq：1 件待处理</a>' in _section(html, "complaints")
    assert "最早登记于 2024-07-02" in html

    client.post("/logout")
    login_as(SUPERVISOR)  # the same, read-only: no link to confirm an import
    html = client.get("/home").get_data(as_text=True)
    assert "新题库.xlsx（题库导入，待确认）" in html and f"/bank/import/{token}" not in html
    assert "2024-cq：1 件待处理" in html and "只读" in html
    staging.UPLOADS.discard(token)


def test_panelist_home_and_a_broken_section(app, client, login_as, monkeypatch):
    login_as(PANELIST)
    assert client.get("/").headers["Location"].endswith("/home")
    html = client.get("/home").get_data(as_text=True)
    assert "您目前不在任何答辩组中" in html and 'id="panel-jobs"' not in html and 'id="panel-complaints"' not in html
    from certify import registry
    from certify.area import Step

    def broken(user):
        raise RuntimeError("boom")

    panels = registry.staff_panels(app)
    monkeypatch.setattr(registry, "staff_panels", lambda app=None: [Step(1, "broken", broken), *panels])
    resp = client.get("/home")
    assert resp.status_code == 200 and "该部分暂时无法显示" in resp.get_data(as_text=True)
    assert "您目前不在任何答辩组中" in resp.get_data(as_text=True)


def test_a_candidate_still_goes_to_their_own_home(client, login_as):
    login_as("candidate")
    assert client.get("/").headers["Location"].endswith("/me")
    assert client.get("/home").status_code == 403
