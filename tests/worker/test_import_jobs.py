"""The bank, work-record scores and panelist imports as worker jobs (``question_bank.bank_job``,
``certify.results.records_job``, ``defense.schedule.panelist_job``), as the roster's (test_roster_job.py): above the
threshold the page checks the file and asks for a confirmation, which queues the job; the job reports rows done /
total per committed chunk, fails with every row error and nothing written, and a cancel or a dead worker mid-way
leaves the data as it was. At or below the threshold the page imports at once, as before; the CLI runs the same
job in the foreground."""
from __future__ import annotations

import io
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, update

from certify.clock import utcnow
from certify.extensions import db
from certify.jobs import queue
from certify.jobs.models import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, Job
from certify.models import AuditEntry, Candidate, ComponentScore, User
from certify.results import records_job
from defense.models import Conflict, Panel, Panelist, PanelMember
from defense.schedule import panelist_job
from question_bank import bank_job
from question_bank.models import Item, ItemVersion
from tests.defense.test_schedule_flow import HEADER as PANELIST_HEADER
from tests.defense.test_schedule_flow import xlsx as panelist_xlsx
from tests.question_bank.bank_files import row as bank_row
from tests.question_bank.bank_files import xlsx_bytes as bank_xlsx
from tests.results.results_files import csv_bytes as records_csv


@pytest.fixture
def small_jobs(app, monkeypatch):
    """Files of more than 3 rows go to the worker, which writes 2 rows per chunk."""
    keys = ("BANK_JOB_MIN_ROWS", "RECORDS_JOB_MIN_ROWS", "PANELIST_JOB_MIN_ROWS")
    before = {k: app.config.get(k) for k in keys}
    for key in keys:
        app.config[key] = 3
    for module in (bank_job, records_job, panelist_job):
        monkeypatch.setattr(module, "CHUNK", 2)
    yield
    for key, value in before.items():
        if value is None:
            app.config.pop(key, None)
        else:
            app.config[key] = value


def _count(model, *where) -> int:
    return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar()


def _watch_progress(monkeypatch, hook=None) -> list:
    seen = []
    original = queue.JobContext.progress

    def watched(self, done=None, total=None, phase=None, message=None):
        seen.append((done, total, phase))
        if hook is not None:
            hook(self, done)
        return original(self, done, total, phase, message)

    monkeypatch.setattr(queue.JobContext, "progress", watched)
    return seen


def _cancel_at(done_at: int):
    def hook(ctx, done):
        if done == done_at:  # the secretariat presses "cancel" while this chunk is being written
            db.session.execute(update(Job).where(Job.id == ctx.job_id).values(cancel_requested=True))
    return hook


def _killed_at(done_at: int):
    def hook(ctx, done):
        if done == done_at:
            raise KeyboardInterrupt  # stands for SIGKILL: nothing of the job's own handling runs
    return hook


def _reap(job: Job) -> None:
    """The worker died: its heartbeat is old; the reaper fails the job (not re-run) and its on_finish undoes it."""
    db.session.rollback()
    assert db.session.get(Job, job.id).state == RUNNING
    db.session.execute(update(Job).where(Job.id == job.id).values(heartbeat_at=utcnow() - timedelta(minutes=10)))
    db.session.commit()
    assert queue.reap_stale() == {"requeued": [], "failed": [job.id]}
    db.session.expire_all()
    assert db.session.get(Job, job.id).state == FAILED


def _job(kind: str) -> Job:
    return db.session.execute(select(Job).where(Job.kind == kind).order_by(Job.id.desc())).scalars().first()


def _staged(app, prefix: str, token: str) -> list[str]:
    return sorted(p.name for p in (Path(app.instance_path) / "uploads").glob(f"{prefix}-{token}.*"))


def _token(html: str) -> str:
    match = re.search(r'name="token"[^>]*value="([^"]+)"', html) or re.search(r'value="([^"]+)"[^>]*name="token"', html)
    assert match, "no confirmation form on the page"
    return match.group(1)


def _upload(client, url, data, name, field="file"):
    return client.post(url, data={field: (io.BytesIO(data), name)}, content_type="multipart/form-data")


# ================================================================================================ bank

def _bank_rows(numbers, *, code_prefix="", stem="题目"):
    return [bank_row(code=f"{code_prefix}{n}" if code_prefix else "", stem=f"{stem}{n}：下列说法正确的是（　）。",
                     options=(f"甲{n}", f"乙{n}", f"丙{n}", f"丁{n}")) for n in numbers]


def _bank_preview(client, data, name="题库.xlsx") -> tuple[str, dict]:
    """The preview's URL and its confirmation form (the plan's fingerprint and rows)."""
    resp = _upload(client, "/bank/import", data, name)
    assert resp.status_code == 302
    url = resp.headers["Location"]
    html = client.get(url).get_data(as_text=True)
    return url, {"fingerprint": re.search(r'name="fingerprint" type="hidden" value="([0-9a-f]+)"', html).group(1),
                 "rows": re.search(r'name="rows" type="hidden" value="(\d+)"', html).group(1)}


def _queue_bank(client, data) -> Job:
    url, form = _bank_preview(client, data)
    resp = client.post(url, data=form)
    assert resp.status_code == 302 and re.search(r"/jobs/\d+$", resp.headers["Location"]), resp.get_data(True)[:300]
    return _job(bank_job.KIND)


def test_bank_large_file_is_imported_by_the_worker_with_progress(app, client, login_as, small_jobs, monkeypatch):
    login_as("secretariat")
    url, form = _bank_preview(client, bank_xlsx(_bank_rows(range(1, 4))))  # 3 rows: at once
    assert "导入完成" in client.post(url, data=form).get_data(as_text=True)
    assert _count(Item) == 3 and _count(Job) == 0

    rows = _bank_rows(range(1, 3), code_prefix="Q00000") + _bank_rows(range(4, 7))  # 2 unchanged + 3 new
    rows[0] = bank_row(code="Q000001", stem="题目1：改过的题干（　）。", options=("甲1", "乙1", "丙1", "丁1"))
    url, _ = _bank_preview(client, bank_xlsx(rows))
    html = client.get(url).get_data(as_text=True)
    assert 'id="bank-large"' in html and "后台任务" in html
    job = _queue_bank(client, bank_xlsx(rows))
    assert job.state == QUEUED and job.args["rows"] == 5 and _count(Item) == 3
    assert "导入题库" in client.get(f"/jobs/{job.id}").get_data(as_text=True)

    seen = _watch_progress(monkeypatch)
    assert queue.run_pending() == [job.id]
    assert seen == [(0, 5, bank_job.CHECKING), (1, 5, bank_job.WRITING), (3, 5, bank_job.WRITING),
                    (4, 5, bank_job.WRITING), (5, 5, bank_job.WRITING)]
    status = client.get(f"/jobs/{job.id}.json").get_json()
    assert status["state"] == SUCCEEDED and (status["done"], status["total"], status["percent"]) == (5, 5, 100)
    assert (status["result"]["added"], status["result"]["updated"], status["result"]["unchanged"]) == (3, 1, 1)
    assert status["result_url"].endswith("/bank/")
    db.session.expire_all()
    assert _count(Item) == 6 and _count(ItemVersion) == 7
    item = db.session.execute(select(Item).filter_by(code="Q000001")).scalar_one()
    assert item.current.version == 2 and "改过的题干" in item.current.stem
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "bank.import")
                               .order_by(AuditEntry.id.desc())).scalars().first()
    assert entry.detail["job_id"] == job.id and entry.detail["added"] == ["Q000004", "Q000005", "Q000006"]
    assert entry.actor_id is not None
    job = db.session.get(Job, job.id)
    assert "undo" not in job.args and _staged(app, "bank", job.args["token"]) == []


def test_bank_job_fails_with_every_row_error_and_writes_nothing(app, client, login_as, small_jobs):
    user = login_as("secretariat")
    rows = _bank_rows(range(1, 5)) + [bank_row(stem="坏题", answer="Z"), bank_row(stem="坏题二", difficulty="9")]
    token = bank_job.UPLOADS.stage(bank_xlsx(rows), "坏.xlsx")
    job = bank_job.enqueue_import(token, "坏.xlsx", "", 6, created_by=user)
    db.session.commit()
    assert queue.run_pending() == [job.id]
    db.session.expire_all()
    job = db.session.get(Job, job.id)
    assert job.state == FAILED and "2 处错误" in job.message and "未导入任何题目" in job.message
    assert {(e["row"], e["column"]) for e in job.errors} == {(6, "答案"), (7, "难度")}
    assert _count(Item) == 0 and _staged(app, "bank", token) == []
    page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert "逐行错误（共 2 处）" in page


def test_bank_changed_after_the_preview_fails_the_job(client, login_as, small_jobs):
    login_as("secretariat")
    job = _queue_bank(client, bank_xlsx(_bank_rows(range(1, 6))))
    from question_bank import operations as ops

    ops.import_bank(bank_xlsx(_bank_rows([1])), "另一个.xlsx")  # the bank moved on after the confirmation
    db.session.commit()
    assert queue.run_pending() == [job.id]
    db.session.expire_all()
    job = db.session.get(Job, job.id)
    assert job.state == FAILED and "预览之后发生了变化" in job.message and _count(Item) == 1


def test_bank_cancel_mid_way_restores_the_bank(app, client, login_as, small_jobs, monkeypatch):
    login_as("secretariat")
    from question_bank import operations as ops

    ops.import_bank(bank_xlsx(_bank_rows(range(1, 4), code_prefix="K")), "旧.xlsx")
    db.session.commit()
    before = {(i.code, i.current_version_id, i.stem_key) for i in db.session.execute(select(Item)).scalars()}
    rows = ([bank_row(code=f"K{n}", stem=f"新题干{n}（　）。") for n in range(1, 4)]
            + _bank_rows(range(10, 14)))  # 3 updated, 4 new
    job = _queue_bank(client, bank_xlsx(rows))
    seen = _watch_progress(monkeypatch, _cancel_at(2))
    assert queue.run_pending() == [job.id]
    assert seen[-1] == (2, 7, bank_job.WRITING)  # stopped after the first committed chunk
    db.session.expire_all()
    job = db.session.get(Job, job.id)
    assert job.state == CANCELLED and job.done == 2
    assert {(i.code, i.current_version_id, i.stem_key) for i in db.session.execute(select(Item)).scalars()} == before
    assert _count(ItemVersion) == 3 and _staged(app, "bank", job.args["token"]) == []
    undo = db.session.execute(select(AuditEntry).where(AuditEntry.action == "bank.import.undo")).scalar_one()
    assert undo.detail["removed"] == 2 and undo.detail["restored"] == 3


def test_bank_dead_workers_job_is_undone(app, client, login_as, small_jobs, monkeypatch):
    login_as("secretariat")
    from question_bank import operations as ops

    ops.import_bank(bank_xlsx(_bank_rows([1], code_prefix="K")), "旧.xlsx")
    db.session.commit()
    job = _queue_bank(client, bank_xlsx([bank_row(code="K1", stem="改了（　）。")] + _bank_rows(range(2, 7))))
    _watch_progress(monkeypatch, _killed_at(4))
    with pytest.raises(KeyboardInterrupt):
        queue.run_pending()
    db.session.rollback()
    assert _count(Item) == 3  # the first chunk was committed
    _reap(job)
    assert _count(Item) == 1 and _count(ItemVersion) == 1
    assert db.session.execute(select(Item)).scalar_one().current.stem.startswith("题目1：")


def test_bank_cli_runs_the_job_in_the_foreground(app, ctx, small_jobs, tmp_path):
    from question_bank.cli import import_bank_command

    path = tmp_path / "题库.xlsx"
    path.write_bytes(bank_xlsx(_bank_rows(range(1, 6))))
    result = app.test_cli_runner().invoke(import_bank_command, [str(path)])
    assert result.exit_code == 0, result.output
    assert "已完成：题库已导入：新增 5 题" in result.output
    db.session.remove()
    job = _job(bank_job.KIND)
    assert job.state == SUCCEEDED and (job.done, job.total) == (5, 5) and _count(Item) == 5
    small = tmp_path / "小.xlsx"
    small.write_bytes(bank_xlsx(_bank_rows(range(6, 8))))
    result = app.test_cli_runner().invoke(import_bank_command, [str(small)])
    assert result.exit_code == 0 and "导入完成。" in result.output
    db.session.remove()
    assert _count(Job) == 1 and _count(Item) == 7


# ================================================================================================ work records

HEAD = ["准考证号", "业绩成果得分"]


@pytest.fixture
def jl(make_round, make_candidate):
    rnd = make_round("2024-jl", "吉林")  # 初级 has a work-record component
    return rnd, [make_candidate(rnd) for _ in range(7)]


def _record(cand):
    row = db.session.execute(select(ComponentScore).filter_by(candidate_id=cand.id, component="record")
                             ).scalar_one_or_none()
    return None if row is None else (row.status, None if row.score is None else Decimal(row.score), row.source)


def _queue_records(client, rnd, data) -> Job:
    resp = _upload(client, f"/results/{rnd.code}/records", data, "业绩.csv")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "确认后台导入" in html, html[:500]
    resp = client.post(f"/results/{rnd.code}/records/confirm", data={"token": _token(html)})
    assert resp.status_code == 302 and re.search(r"/jobs/\d+$", resp.headers["Location"])
    return _job(records_job.KIND)


def test_records_large_file_is_imported_by_the_worker_with_progress(app, client, login_as, jl, small_jobs,
                                                                    monkeypatch):
    rnd, people = jl
    login_as("secretariat")
    small = records_csv([HEAD] + [[c.ticket, "80"] for c in people[:3]])
    resp = _upload(client, f"/results/{rnd.code}/records", small, "小.csv")
    assert resp.status_code == 200 and "新增 3" in resp.get_data(as_text=True) and _count(Job) == 0

    data = records_csv([HEAD, [people[0].ticket, "81"], [people[1].ticket, "80"]]
                       + [[c.ticket, "缺考" if i == 0 else "70.5"] for i, c in enumerate(people[3:])])
    resp = _upload(client, f"/results/{rnd.code}/records", data, "业绩.csv")
    html = resp.get_data(as_text=True)
    assert "共 <b>6</b> 行" in html and "<b>4</b>将新增" in html and "<b>1</b>将更新" in html
    assert _count(ComponentScore) == 3  # nothing written by the check
    job = _queue_records(client, rnd, data)
    assert job.state == QUEUED and job.round_id == rnd.id
    busy = _upload(client, f"/results/{rnd.code}/records", small, "小.csv")
    assert busy.status_code == 422 and "正在后台导入" in busy.get_data(as_text=True)

    seen = _watch_progress(monkeypatch)
    assert queue.run_pending() == [job.id]
    assert seen == [(0, 6, records_job.CHECKING), (0, 6, records_job.WRITING), (2, 6, records_job.WRITING),
                    (4, 6, records_job.WRITING), (6, 6, records_job.WRITING)]
    status = client.get(f"/jobs/{job.id}.json").get_json()
    assert status["state"] == SUCCEEDED and status["percent"] == 100
    assert (status["result"]["added"], status["result"]["updated"], status["result"]["unchanged"]) == (4, 1, 1)
    assert status["result_url"].endswith(f"/results/{rnd.code}")
    db.session.expire_all()
    assert _record(people[0])[1] == Decimal("81") and _record(people[3])[0] == "absent"
    assert _record(people[6])[1] == Decimal("70.5")
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "results.import_records")
                               .order_by(AuditEntry.id.desc())).scalars().first()
    assert entry.detail["job_id"] == job.id and entry.detail["created"] == 4 and entry.actor_id is not None
    assert _staged(app, "records", db.session.get(Job, job.id).args["token"]) == []
    page = client.get(f"/results/{rnd.code}").get_data(as_text=True)
    assert f"#{job.id}" in page and "6 / 6 行" in page


def test_records_rows_that_became_wrong_fail_the_job_and_nothing_is_written(client, login_as, jl, small_jobs):
    rnd, people = jl
    login_as("secretariat")
    job = _queue_records(client, rnd, records_csv([HEAD] + [[c.ticket, "80"] for c in people[:5]]))
    for n in (0, 2):  # two tickets were corrected after the upload was confirmed
        db.session.execute(update(Candidate).where(Candidate.id == people[n].id).values(ticket=f"NEW{n}"))
    db.session.commit()
    assert queue.run_pending() == [job.id]
    db.session.expire_all()
    job = db.session.get(Job, job.id)
    assert job.state == FAILED and "2 处错误" in job.message and "未导入任何业绩成果得分" in job.message
    assert [(e["row"], e["column"]) for e in job.errors] == [(2, "准考证号"), (4, "准考证号")]
    assert _count(ComponentScore) == 0


def test_records_cancel_mid_way_restores_the_old_scores(app, client, login_as, jl, small_jobs, monkeypatch):
    rnd, people = jl
    login_as("secretariat")
    _upload(client, f"/results/{rnd.code}/records", records_csv([HEAD] + [[c.ticket, "60"] for c in people[:2]]),
            "旧.csv")
    before = [_record(c) for c in people]
    job = _queue_records(client, rnd, records_csv([HEAD] + [[c.ticket, "90"] for c in people]))
    seen = _watch_progress(monkeypatch, _cancel_at(4))
    assert queue.run_pending() == [job.id]
    assert seen[-1] == (4, 7, records_job.WRITING)
    db.session.expire_all()
    assert db.session.get(Job, job.id).state == CANCELLED
    assert [_record(c) for c in people] == before and _count(ComponentScore) == 2
    undo = db.session.execute(select(AuditEntry).where(AuditEntry.action == "results.import_records.undo")
                              ).scalar_one()
    assert undo.detail["removed"] == 2 and undo.detail["restored"] == 2


def test_records_dead_workers_job_is_undone(client, login_as, jl, small_jobs, monkeypatch):
    rnd, people = jl
    login_as("secretariat")
    job = _queue_records(client, rnd, records_csv([HEAD] + [[c.ticket, "90"] for c in people]))
    _watch_progress(monkeypatch, _killed_at(4))
    with pytest.raises(KeyboardInterrupt):
        queue.run_pending()
    db.session.rollback()
    assert _count(ComponentScore) == 2
    _reap(job)
    assert _count(ComponentScore) == 0


def test_records_cli_runs_the_job_in_the_foreground(app, jl, tmp_path, small_jobs):
    from certify.results.cli import import_records_command

    rnd, people = jl
    code, tickets = rnd.code, [c.ticket for c in people]
    path = tmp_path / "业绩.csv"
    path.write_bytes(records_csv([HEAD] + [[t, "75"] for t in tickets]))
    result = app.test_cli_runner().invoke(import_records_command, ["--round", code, str(path)])
    assert result.exit_code == 0, result.output
    assert "已完成：已导入 7 条业绩成果得分：新增 7" in result.output
    db.session.remove()
    job = _job(records_job.KIND)
    assert job.state == SUCCEEDED and (job.done, job.total) == (7, 7) and _count(ComponentScore) == 7
    bad = tmp_path / "bad.csv"
    bad.write_bytes(records_csv([HEAD] + [[t, "75"] for t in tickets[:4]] + [["NOPE", "1"]]))
    result = app.test_cli_runner().invoke(import_records_command, ["--round", code, str(bad)])
    assert result.exit_code == 1
    db.session.remove()
    assert _count(Job) == 1  # refused before queueing


# ================================================================================================ panelists

def _panelist_rows(first: int, panels: int, size: int = 3, *, prefix="专家"):
    rows, k = [], first
    for p in range(panels):
        for m in range(size):
            rows.append([f"{prefix}{k}", f"单位{k}", "科学教育", f"1390000{k:04d}", f"{prefix}第{first + p}组",
                         "是" if m == 0 else "否"])
            k += 1
    return rows


def _panelists_file(rows, conflicts=None) -> bytes:
    sheets = [("评审专家", [PANELIST_HEADER] + rows)]
    if conflicts:
        sheets.append(("回避", [["专家姓名", "回避对象"]] + conflicts))
    return panelist_xlsx(*sheets)


def _queue_panelists(client, rnd, data) -> Job:
    resp = _upload(client, f"/defense/admin/{rnd.code}/panelists/import", data, "专家.xlsx")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "确认后台导入" in html, html[:800]
    resp = client.post(f"/defense/admin/{rnd.code}/panelists/import/confirm", data={"token": _token(html)})
    assert resp.status_code == 302 and re.search(r"/jobs/\d+$", resp.headers["Location"])
    return _job(panelist_job.KIND)


@pytest.fixture
def cq(make_round, make_candidate):
    rnd = make_round("2026-cq", "重庆", 2026)
    return rnd, [make_candidate(rnd, level="中级", work_unit=f"学校{i}") for i in range(3)]


def test_panelists_large_file_is_imported_by_the_worker_and_passwords_issued_once(app, client, login_as, cq,
                                                                                   small_jobs, monkeypatch):
    rnd, people = cq
    login_as("secretariat")
    resp = _upload(client, f"/defense/admin/{rnd.code}/panelists/import", _panelists_file(_panelist_rows(1, 1)),
                   "小.xlsx")
    assert resp.status_code == 200 and "新增专家 3 名" in resp.get_data(as_text=True) and _count(Job) == 0

    data = _panelists_file(_panelist_rows(1, 1) + _panelist_rows(4, 1), conflicts=[["专家4", people[0].ticket]])
    job = _queue_panelists(client, rnd, data)
    assert job.state == QUEUED and _count(Panelist) == 3
    seen = _watch_progress(monkeypatch)
    assert queue.run_pending() == [job.id]
    assert seen == [(0, 6, panelist_job.CHECKING), (0, 6, panelist_job.WRITING), (2, 6, panelist_job.WRITING),
                    (4, 6, panelist_job.WRITING), (6, 6, panelist_job.WRITING), (6, 6, panelist_job.PANELS)]
    status = client.get(f"/jobs/{job.id}.json").get_json()
    assert status["state"] == SUCCEEDED and status["result"]["added"] == 3 and status["result"]["unchanged"] == 3
    assert status["result"]["conflicts_added"] == 1 and "尚无密码" in status["message"]
    assert status["result_url"].endswith(f"/defense/admin/{rnd.code}/panelists")
    db.session.expire_all()
    assert _count(Panelist) == 6 and _count(Panel) == 2 and _count(Conflict) == 1
    new_users = db.session.execute(select(User).join(Panelist, Panelist.user_id == User.id)
                                   .where(Panelist.name == "专家5")).scalars().all()
    assert len(new_users) == 1 and not new_users[0].has_usable_password

    page = client.get(f"/defense/admin/{rnd.code}/panelists").get_data(as_text=True)
    assert "3 个专家账号尚无密码" in page and f"#{job.id}" in page
    resp = client.post(f"/defense/admin/{rnd.code}/panelists/passwords.xlsx")
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    sheet = load_workbook(io.BytesIO(resp.data)).active
    issued = {r[0]: r[6] for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert set(issued) == {"专家4", "专家5", "专家6"} and all(issued.values())
    db.session.expire_all()
    user = db.session.execute(select(User).join(Panelist, Panelist.user_id == User.id)
                              .where(Panelist.name == "专家5")).scalar_one()
    assert user.check_password(issued["专家5"]) and user.must_change_password
    again = client.post(f"/defense/admin/{rnd.code}/panelists/passwords.xlsx", follow_redirects=True)
    assert "没有尚无密码的专家账号" in again.get_data(as_text=True)


def test_panelists_job_fails_with_every_row_error_and_writes_nothing(app, client, login_as, cq, small_jobs):
    rnd, _people = cq
    user = login_as("secretariat")
    rows = _panelist_rows(1, 2)
    rows[1][3] = "abc"  # a phone with letters
    rows[4][5] = "也许"  # 组长 not yes/no
    token = panelist_job.stage(_panelists_file(rows), "坏.xlsx", 6)
    job = panelist_job.enqueue_import(rnd, token, "坏.xlsx", 6, created_by=user)
    db.session.commit()
    assert queue.run_pending() == [job.id]
    db.session.expire_all()
    job = db.session.get(Job, job.id)
    assert job.state == FAILED and "未导入任何专家" in job.message
    assert {(e["row"], e["column"]) for e in job.errors} >= {(3, "手机"), (6, "组长")}
    assert _count(Panelist) == 0 and _count(Panel) == 0 and _staged(app, "panelists", token) == []


def _panelist_state():
    return ({(p.import_key, p.name, p.work_unit, p.user_id) for p in db.session.execute(select(Panelist)).scalars()},
            {(m.panel_id, m.panelist_id, m.is_chair) for m in db.session.execute(select(PanelMember)).scalars()},
            {(p.id, p.name) for p in db.session.execute(select(Panel)).scalars()},
            {(c.panelist_id, c.candidate_id, c.work_unit) for c in db.session.execute(select(Conflict)).scalars()},
            _count(User, User.role == "panelist"))


def _changing_file(people) -> bytes:
    """专家1 (same phone) moves to another unit, the existing panel gets another chair, 专家2 declares a conflict,
    and a second panel of three new panelists comes in."""
    rows = _panelist_rows(1, 1) + _panelist_rows(4, 1)
    rows[0][1] = "新单位"
    rows[0][5], rows[1][5] = "否", "是"
    return _panelists_file(rows, conflicts=[["专家2", people[0].ticket]])


def test_panelists_cancel_mid_way_restores_the_panelists(client, login_as, cq, small_jobs, monkeypatch):
    rnd, people = cq
    login_as("secretariat")
    _upload(client, f"/defense/admin/{rnd.code}/panelists/import", _panelists_file(_panelist_rows(1, 1)), "旧.xlsx")
    before = _panelist_state()
    job = _queue_panelists(client, rnd, _changing_file(people))
    seen = _watch_progress(monkeypatch, _cancel_at(4))
    assert queue.run_pending() == [job.id]
    assert seen[-1] == (4, 6, panelist_job.WRITING)
    db.session.expire_all()
    assert db.session.get(Job, job.id).state == CANCELLED
    assert _panelist_state() == before
    undo = db.session.execute(select(AuditEntry).where(AuditEntry.action == "defense.import_panelists.undo")
                              ).scalar_one()
    assert undo.detail["removed"] == 1 and undo.detail["restored"] == 1


def test_panelists_job_whose_worker_died_after_its_last_commit_is_undone(client, login_as, cq, small_jobs,
                                                                        monkeypatch):
    """Everything was written and committed (panels and conflicts included) but the worker died before it marked
    the job done: the reaper fails the job and its undo restores panels, members and conflicts too."""
    rnd, people = cq
    login_as("secretariat")
    _upload(client, f"/defense/admin/{rnd.code}/panelists/import", _panelists_file(_panelist_rows(1, 1)), "旧.xlsx")
    before = _panelist_state()
    job = _queue_panelists(client, rnd, _changing_file(people))

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(queue, "_finish", killed)
    with pytest.raises(KeyboardInterrupt):
        queue.run_pending()
    db.session.rollback()
    assert _count(Panelist) == 6 and _count(Panel) == 2 and _count(Conflict) == 1  # all of it committed
    monkeypatch.undo()
    _reap(job)
    assert _panelist_state() == before


def test_panelists_dead_workers_job_mid_way_is_undone(client, login_as, cq, small_jobs, monkeypatch):
    rnd, _people = cq
    login_as("secretariat")
    job = _queue_panelists(client, rnd, _panelists_file(_panelist_rows(1, 2)))
    _watch_progress(monkeypatch, _killed_at(4))
    with pytest.raises(KeyboardInterrupt):
        queue.run_pending()
    db.session.rollback()
    assert _count(Panelist) == 2
    _reap(job)
    assert _count(Panelist) == 0 and _count(User, User.role == "panelist") == 0 and _count(Panel) == 0


def test_panelists_cli_runs_the_job_in_the_foreground(app, cq, tmp_path, small_jobs):
    from defense.cli import import_panelists_command

    rnd, _people = cq
    code = rnd.code
    path = tmp_path / "专家.xlsx"
    path.write_bytes(_panelists_file(_panelist_rows(1, 2)))
    result = app.test_cli_runner().invoke(import_panelists_command, ["--round", code, str(path)])
    assert result.exit_code == 0, result.output
    assert "已完成：导入完成：新增专家 6 名" in result.output and "尚无密码" in result.output
    db.session.remove()
    job = _job(panelist_job.KIND)
    assert job.state == SUCCEEDED and (job.done, job.total) == (6, 6) and _count(Panelist) == 6


def test_bank_large_confirmation_queues_without_planning_the_file_again(client, login_as, small_jobs, monkeypatch):
    """The confirmation of a large file is a quick request whatever the file's size: the job plans it."""
    login_as("secretariat")
    url, form = _bank_preview(client, bank_xlsx(_bank_rows(range(1, 6))))
    from question_bank import operations as ops

    def not_here(*args, **kwargs):
        raise AssertionError("the confirmation planned the file")

    monkeypatch.setattr(ops, "plan_file", not_here)
    resp = client.post(url, data=form)
    assert resp.status_code == 302 and re.search(r"/jobs/\d+$", resp.headers["Location"])
    monkeypatch.undo()
    job = _job(bank_job.KIND)
    assert job.args["fingerprint"] == form["fingerprint"] and job.args["rows"] == 5
    assert queue.run_pending() == [job.id]
    db.session.expire_all()
    assert db.session.get(Job, job.id).state == SUCCEEDED and _count(Item) == 5
