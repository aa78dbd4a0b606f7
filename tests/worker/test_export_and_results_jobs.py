"""Whole-round exports and the confirmation of results as background jobs (``certify.export_job``,
``certify.results.job``): above the thresholds the page queues a job instead of doing the work in the request;
the job reports its phases, can be cancelled, leaves nothing half done when it does not succeed (no file served,
the previous results intact), and the file it stores equals the direct export's, fetched only by the roles that
may fetch the original export. At or below the thresholds everything stays immediate."""
from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, update

from certify import export_job
from certify.clock import utcnow
from certify.extensions import db
from certify.jobs import queue
from certify.jobs.models import CANCELLED, FAILED, RUNNING, SUCCEEDED, Job
from certify.models import AuditEntry
from certify.results import job as results_job
from certify.results import operations as ops
from certify.results.exports import results_sheet
from certify.results.models import ResultEntry
from certify.scores import record_component
from certify.tabular import export_bytes
from tests.conftest import login


@pytest.fixture
def scored_round(make_round, make_candidate):
    """A junior level of 5 candidates with all three components (no missing one)."""
    rnd = make_round("2024-cq", "重庆")
    for n in range(5):
        cand = make_candidate(rnd, "初级", name=f"考生{n}")
        for component in ("exam", "defense", "record"):
            record_component(cand, component, Decimal(60 + 7 * n % 40), source="test")
    db.session.commit()
    return rnd


@pytest.fixture
def thresholds(app):
    """Rounds (levels) of more than 3 candidates go to the worker."""
    saved = {k: app.config[k] for k in ("EXPORT_JOB_MIN_CANDIDATES", "RESULTS_JOB_MIN_CANDIDATES")}
    app.config.update(EXPORT_JOB_MIN_CANDIDATES=3, RESULTS_JOB_MIN_CANDIDATES=3)
    yield
    app.config.update(saved)


def _latest(kind: str) -> Job:
    db.session.expire_all()
    return db.session.execute(select(Job).where(Job.kind == kind).order_by(Job.id.desc())).scalars().first()


def _start_export(client, path: str) -> Job:
    """GET the export (the offer page), then POST its form, as the staff member does; returns the queued job."""
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    html = page.get_data(as_text=True)
    action = re.search(r'<form method="post" action="([^"]+)" id="export-start">', html).group(1)
    data = dict(re.findall(r'name="(p_[a-z_]+)" value="([^"]*)"', html))
    resp = client.post(action, data=data)
    assert resp.status_code == 302 and re.search(r"/jobs/\d+$", resp.headers["Location"]), resp.status_code
    return _latest(export_job.KIND)


def _download_url(client, job: Job) -> str:
    html = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    return re.search(r'href="(/exports/file/[^"]+)"', html).group(1)


def test_small_round_exports_at_once_and_large_round_goes_to_the_worker(app, client, login_as, scored_round):
    rnd = scored_round
    login_as("secretariat")
    direct = client.get(f"/results/{rnd.code}/export/results.csv")
    assert direct.status_code == 200 and direct.headers["Content-Disposition"].startswith("attachment")
    assert db.session.scalar(select(db.func.count(Job.id))) == 0
    saved = app.config["EXPORT_JOB_MIN_CANDIDATES"]
    app.config["EXPORT_JOB_MIN_CANDIDATES"] = 3
    try:
        offer = client.get(f"/results/{rnd.code}/export/results.csv")
        assert offer.status_code == 200 and "生成导出文件" in offer.get_data(as_text=True)
        assert db.session.scalar(select(db.func.count(Job.id))) == 0  # a GET queues nothing
    finally:
        app.config["EXPORT_JOB_MIN_CANDIDATES"] = saved


@pytest.mark.parametrize("path, fmt", [
    ("/results/{code}/export/results.{fmt}", "xlsx"),
    ("/results/{code}/export/results.{fmt}", "csv"),
    ("/exam/admin/rounds/{code}/export.{fmt}?full=1", "csv"),
    ("/defense/export/{code}.{fmt}?full=1", "csv"),
    ("/defense/admin/{code}/schedule.{fmt}", "xlsx"),
])
def test_the_job_file_equals_the_direct_export(app, client, login_as, scored_round, thresholds, monkeypatch,
                                               path, fmt):
    rnd = scored_round
    url = path.format(code=rnd.code, fmt=fmt)
    login_as("secretariat")
    # The direct export of the same round, with the threshold out of the way (xlsx carries a timestamp: fixed)
    monkeypatch.setattr("openpyxl.writer.excel.ExcelWriter.write_properties", lambda self: None, raising=False)
    app.config["EXPORT_JOB_MIN_CANDIDATES"] = 10_000
    direct = client.get(url)
    assert direct.status_code == 200
    app.config["EXPORT_JOB_MIN_CANDIDATES"] = 3
    seen = []
    original = queue.JobContext.progress
    monkeypatch.setattr(queue.JobContext, "progress",
                        lambda self, done=None, total=None, phase=None, message=None:
                        (seen.append(phase), original(self, done, total, phase, message))[1])
    job = _start_export(client, url)
    assert queue.run_pending() == [job.id]
    job = _latest(export_job.KIND)
    assert job.state == SUCCEEDED, job.message
    assert seen[:3] == list(export_job.PHASES) and job.done == job.total == 3
    resp = client.get(_download_url(client, job))
    assert resp.status_code == 200
    assert resp.headers["Content-Disposition"] == direct.headers["Content-Disposition"]
    assert resp.headers["Content-Type"] == direct.headers["Content-Type"]
    if fmt == "csv":
        assert resp.data == direct.data
    else:
        from io import BytesIO

        from openpyxl import load_workbook

        def cells(data):
            wb = load_workbook(BytesIO(data))
            return [[[c.value for c in row] for row in ws.iter_rows()] for ws in wb.worksheets]

        assert cells(resp.data) == cells(direct.data)


def test_download_access_follows_the_original_export(app, client, make_user, make_candidate, make_round,
                                                     scored_round, thresholds):
    rnd = scored_round
    other = make_round("2024-jl", "吉林")
    users = {role: make_user(role) for role in ("secretariat", "supervisor", "panelist")}
    cand = make_candidate(rnd, "初级").user
    other_cand = make_candidate(other, "初级").user
    login(client, users["secretariat"].username)
    full = _start_export(client, f"/results/{rnd.code}/export/results.csv")  # whole ID numbers
    assert full.args["params"] == {"masked": False}
    queue.run_pending()
    full_url = _download_url(client, full)
    client.post("/logout")
    login(client, users["supervisor"].username)
    masked = _start_export(client, f"/results/{rnd.code}/export/results.csv")  # a supervisor's: masked
    assert masked.args["params"] == {"masked": True}
    queue.run_pending()
    masked_url = _download_url(client, masked)
    assert client.get(full_url).status_code == 403  # the secretariat's full-ID file is not the supervisor's
    assert client.get(masked_url).status_code == 200
    client.post("/logout")
    for user in (users["panelist"], cand, other_cand):
        login(client, user.username)
        assert client.get(masked_url).status_code == 403
        assert client.get(full_url).status_code == 403
        assert client.post(f"/exports/{rnd.code}/results.results.csv").status_code == 403
        client.post("/logout")
    login(client, users["supervisor"].username)
    # a supervisor cannot queue the full-ID file by posting the parameter either
    assert client.post(f"/exports/{rnd.code}/results.results.csv", data={"p_masked": "0"}).status_code == 403
    assert client.get("/exports/file/" + "x" * 32).status_code == 404
    client.post("/logout")
    login(client, users["secretariat"].username)
    assert client.get(full_url).status_code == 200
    # only the exporter's declared parameters reach it, with values of their kind
    assert client.post(f"/exports/{rnd.code}/results.results.csv", data={"p_masked": "yes"}).status_code == 400
    assert client.post(f"/exports/{rnd.code}/results.publicity.csv", data={"p_full": "1"}).status_code == 302
    assert _latest(export_job.KIND).args["params"] == {}
    assert client.post(f"/exports/{rnd.code}/defense.scores.csv", data={"p_part": "../x"}).status_code == 400
    fetched = db.session.execute(select(AuditEntry).where(AuditEntry.action == "export.download")).scalars().all()
    assert len(fetched) == 2  # the two successful fetches are audited, the refused ones are not


def test_full_id_defense_download_is_audited_like_the_direct_one(app, client, login_as, scored_round, thresholds):
    rnd = scored_round
    login_as("secretariat")
    job = _start_export(client, f"/defense/export/{rnd.code}.csv?full=1")
    assert job.args["params"] == {"full": True, "part": "main"}
    queue.run_pending()
    assert not db.session.execute(select(AuditEntry).where(AuditEntry.action == "defense.export_full")).first()
    assert client.get(_download_url(client, job)).status_code == 200
    assert db.session.execute(select(AuditEntry).where(AuditEntry.action == "defense.export_full")).first()


def test_a_cancelled_or_dead_export_leaves_no_file(app, client, login_as, scored_round, thresholds, monkeypatch):
    rnd = scored_round
    login_as("secretariat")
    folder = Path(app.instance_path) / "exports"
    # cancel requested while the file is being built: the job stops at its next report, nothing is served
    job = _start_export(client, f"/results/{rnd.code}/export/results.csv")
    original = queue.JobContext.progress

    def cancel_midway(self, done=None, total=None, phase=None, message=None):
        if phase == export_job.SAVING:
            db.session.execute(update(Job).where(Job.id == self.job_id).values(cancel_requested=True))
        return original(self, done, total, phase, message)

    monkeypatch.setattr(queue.JobContext, "progress", cancel_midway)
    queue.run_pending()
    monkeypatch.setattr(queue.JobContext, "progress", original)
    job = _latest(export_job.KIND)
    assert job.state == CANCELLED
    assert not list(folder.glob(f"{job.args['token']}*"))
    assert client.get(f"/exports/file/{job.args['token']}").status_code == 404
    # a worker that died after writing the file but before finishing: the reaper fails it, the file goes
    job = _start_export(client, f"/results/{rnd.code}/export/results.xlsx")
    claim = "dead-worker"
    assert queue.claim_next(claim) == job.id
    ctx = queue.JobContext(db.session.get(Job, job.id), claim)
    monkeypatch.setattr(queue.JobContext, "progress", lambda self, *a, **k: None)
    export_job.run(ctx, **job.args)
    db.session.commit()
    monkeypatch.setattr(queue.JobContext, "progress", original)
    assert (folder / f"{job.args['token']}.xlsx").exists()
    assert client.get(f"/exports/file/{job.args['token']}").status_code == 404  # still running: not served
    db.session.execute(update(Job).where(Job.id == job.id).values(heartbeat_at=utcnow() - timedelta(hours=1)))
    db.session.commit()
    # retry_on_crash: re-queued once, so the file of the dead run is not served; the second run makes a new one
    assert queue.reap_stale()["requeued"] == [job.id]
    assert client.get(f"/exports/file/{job.args['token']}").status_code == 404
    db.session.execute(update(Job).where(Job.id == job.id).values(state=RUNNING, claim=claim, attempts=2,
                                                                  heartbeat_at=utcnow() - timedelta(hours=1)))
    db.session.commit()
    assert queue.reap_stale()["failed"] == [job.id]
    assert _latest(export_job.KIND).state == FAILED
    assert not list(folder.glob(f"{job.args['token']}*"))


def test_expired_files_are_refused_and_cleaned(app, client, login_as, scored_round, thresholds):
    rnd = scored_round
    login_as("secretariat")
    job = _start_export(client, f"/results/{rnd.code}/export/results.csv")
    queue.run_pending()
    url = _download_url(client, job)
    saved = app.config["EXPORT_MAX_AGE_SECONDS"]
    app.config["EXPORT_MAX_AGE_SECONDS"] = -1
    try:
        assert client.get(url).status_code == 410
        assert export_job.clean_expired() >= 2  # the file and its meta
        assert client.get(url).status_code == 404
    finally:
        app.config["EXPORT_MAX_AGE_SECONDS"] = saved


def test_cli_export_runs_the_job_in_the_foreground_above_the_threshold(app, scored_round, thresholds, tmp_path):
    rnd = scored_round
    runner = app.test_cli_runner()
    out = tmp_path / "results.csv"
    result = runner.invoke(args=["export", "results", "--round", rnd.code, str(out)])
    assert result.exit_code == 0, result.output
    assert "生成文件" in result.output  # the phases on the progress bar
    assert _latest(export_job.KIND).state == SUCCEEDED
    assert out.read_bytes() == export_bytes("csv", [results_sheet(rnd, masked=False)])[0]


# ------------------------------------------------------------------------------------------------ results confirm

def _confirm(client, rnd, level="初级"):
    return client.post(f"/results/{rnd.code}/confirm", data={"level": level, "ratio": "0.4", "min_total": "",
                                                             "acknowledge": "y", "reason": "按 40% 认定"})


def test_a_small_level_is_confirmed_in_the_request(client, login_as, scored_round):
    rnd = scored_round
    login_as("secretariat")
    assert _confirm(client, rnd).status_code == 302
    assert ops.result_set_for(rnd, "初级").confirmed
    assert _latest(results_job.KIND) is None


def test_a_large_level_is_confirmed_by_the_worker_with_phases(client, login_as, scored_round, thresholds,
                                                               monkeypatch):
    rnd = scored_round
    login_as("secretariat")
    expected = ops.compute(rnd, "初级", ratio=Decimal("0.4"), override_min=True)
    resp = _confirm(client, rnd)
    assert resp.status_code == 302 and re.search(r"/jobs/\d+$", resp.headers["Location"])
    assert ops.result_set_for(rnd, "初级") is None  # nothing frozen inside the request
    assert "confirm-running" in client.get(f"/results/{rnd.code}/preview?level=初级").get_data(as_text=True)
    seen = []
    original = queue.JobContext.progress
    monkeypatch.setattr(queue.JobContext, "progress",
                        lambda self, done=None, total=None, phase=None, message=None:
                        (seen.append(phase), original(self, done, total, phase, message))[1])
    queue.run_pending()
    job = _latest(results_job.KIND)
    assert job.state == SUCCEEDED, job.message
    assert seen == list(ops.PHASES)
    rs = ops.result_set_for(rnd, "初级")
    assert rs.confirmed and [e.candidate_id for e in rs.entries] == [ln.candidate.id for ln in expected.lines]
    assert [e.rank for e in rs.entries] == [ln.rank for ln in expected.lines]
    assert job.result["candidates"] == 5


@pytest.mark.parametrize("stop_at", ["cancel", "crash"])
def test_a_stopped_confirmation_leaves_the_previous_results(client, login_as, scored_round, thresholds,
                                                            monkeypatch, stop_at):
    rnd = scored_round
    login_as("secretariat")
    # previous results: confirmed at 0.2, then reopened (a draft with no entries) and now confirmed again at 0.4
    ops.confirm(rnd, "初级", ratio=Decimal("0.2"))
    ops.reopen(rnd, "初级", "重新计算")
    db.session.commit()
    assert _confirm(client, rnd).status_code == 302
    original = queue.JobContext.progress

    def cancel(self, done=None, total=None, phase=None, message=None):
        if phase == ops.WRITING:
            db.session.execute(update(Job).where(Job.id == self.job_id).values(cancel_requested=True))
        return original(self, done, total, phase, message)

    def crash(*args, **kwargs):  # the entries are flushed by now; the process dies before the commit
        assert db.session.execute(select(ResultEntry)).first() is not None
        raise RuntimeError("worker killed while writing")

    if stop_at == "cancel":
        monkeypatch.setattr(queue.JobContext, "progress", cancel)
    else:
        monkeypatch.setattr(ops, "transition", crash)
    queue.run_pending()
    job = _latest(results_job.KIND)
    assert job.state == (CANCELLED if stop_at == "cancel" else FAILED)
    rs = ops.result_set_for(rnd, "初级")
    assert rs.state == "draft" and not db.session.execute(
        select(ResultEntry).where(ResultEntry.result_set_id == rs.id)).first()


def test_the_preview_lists_every_candidate_one_page_at_a_time(client, login_as, scored_round, monkeypatch):
    from certify.results import routes

    rnd = scored_round
    login_as("secretariat")
    monkeypatch.setattr(routes, "PREVIEW_PAGE_SIZE", 2)
    expected = [ln.candidate.ticket for ln in ops.compute(rnd, "初级", ratio=Decimal("0.4")).lines]
    tables = []
    for page in (1, 2, 3):
        html = client.get(f"/results/{rnd.code}/preview?level=初级&ratio=0.4&page={page}").get_data(as_text=True)
        table = html.split('id="all-lines"', 1)[1].split("</table>", 1)[0]
        tables.append(table)
        assert "全部考生（5）" in html and f"第 {page} / 3 页" in html
        if page < 3:  # the pager keeps the preview's parameters
            assert f"page={page + 1}" in html and "ratio=0.4" in html.split('class="pager"', 1)[1]
    # each candidate on exactly one page, in the computation's order
    assert [[t for t in expected if t in table] for table in tables] == [expected[:2], expected[2:4], expected[4:]]
    assert client.get(f"/results/{rnd.code}/preview?level=初级&page=x").status_code == 400


def test_a_large_session_export_goes_to_the_worker_with_the_same_content(app, client, login_as, make_exam_session,
                                                                         thresholds):
    session = make_exam_session(candidates=4)
    login_as("secretariat")
    url = f"/exam/admin/sessions/{session.id}/export.csv?full=1"
    app.config["EXPORT_JOB_MIN_CANDIDATES"] = 10_000
    direct = client.get(url)
    app.config["EXPORT_JOB_MIN_CANDIDATES"] = 3
    job = _start_export(client, url)
    assert job.args["params"] == {"session_id": session.id, "full": True}
    queue.run_pending()
    job = _latest(export_job.KIND)
    assert job.state == SUCCEEDED, job.message
    resp = client.get(_download_url(client, job))
    assert resp.data == direct.data
    assert resp.headers["Content-Disposition"] == direct.headers["Content-Disposition"]
    # the session must be the round's: another round's id fails the job, nothing stored
    other = client.post("/exports/2024-cq/exam.session.csv", data={"p_session_id": "999999"})
    assert other.status_code == 302
    queue.run_pending()
    assert _latest(export_job.KIND).state == FAILED
    # a session at or below the threshold downloads at once even when the round is large
    app.config["EXPORT_JOB_MIN_CANDIDATES"] = 4
    assert client.get(url).headers.get("Content-Disposition", "").startswith("attachment")
