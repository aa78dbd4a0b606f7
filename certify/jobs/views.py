"""Job pages: the list, one job's page (progress bar polling ``/jobs/<id>.json``) and the cancel button."""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, url_for
from flask_login import current_user

from certify.access import allow
from certify.clock import iso_utc, utcnow
from certify.domain import SECRETARIAT, SUPERVISOR
from certify.extensions import db

from . import queue
from .models import QUEUED, RUNNING, STATE_LABELS, Job

bp = Blueprint("jobs", __name__, url_prefix="/jobs")
QUEUED_HINT_SECONDS = 15
# Labels of result fields on the job page (a kind's result is JSON; unknown keys are shown as they are).
RESULT_LABELS = {"candidates": "已排定考生", "seconds": "用时（秒）", "solver": "求解状态", "loads": "各组人数",
                 "rows": "处理行数", "added": "新增", "updated": "更新", "unchanged": "未变", "papers": "已生成试卷",
                 "session_id": "场次编号", "certified": "认定人数"}


def eta_seconds(job: Job, now: datetime) -> int | None:
    """Time left, extrapolated from the rows done so far (None before the first report)."""
    if job.state != RUNNING or not job.total or not job.done or job.started_at is None:
        return None
    elapsed = (now - job.started_at).total_seconds()
    return max(0, round(elapsed * (job.total - job.done) / job.done))


def percent(job: Job) -> int:
    if job.state in ("succeeded",):
        return 100
    if not job.total:
        return 0
    return max(0, min(100, round(100 * job.done / job.total)))


def job_view(job: Job, now: datetime | None = None) -> dict:
    """What the page and its JSON show of a job."""
    now = now or utcnow()
    kind = queue.kind_of(job)
    result_url = None
    if kind is not None and kind.result_url is not None and job.state == "succeeded":
        result_url = kind.result_url(job)
    waiting = job.state == QUEUED and (now - job.created_at).total_seconds() > QUEUED_HINT_SECONDS
    return {
        "id": job.id, "kind": job.kind, "title": job.title, "state": job.state,
        "state_label": STATE_LABELS.get(job.state, job.state), "active": job.active,
        "done": job.done, "total": job.total, "percent": percent(job), "phase": job.phase,
        "message": job.message, "errors": job.errors or [], "result": job.result,
        "cancel_requested": job.cancel_requested, "eta_seconds": eta_seconds(job, now),
        "created_at": iso_utc(job.created_at), "started_at": iso_utc(job.started_at),
        "finished_at": iso_utc(job.finished_at), "result_url": result_url,
        "hint": "任务尚未开始：请确认后台进程（certify worker，或 certify serve 内置的后台线程）正在运行"
        if waiting else "",
    }


def _job(job_id: int) -> Job:
    job = db.session.get(Job, job_id)
    if job is None:
        abort(404)
    return job


@bp.route("/")
@allow(SECRETARIAT, SUPERVISOR)
def index():
    jobs = db.session.execute(db.select(Job).order_by(Job.id.desc()).limit(100)).scalars().all()
    return render_template("jobs/index.html", jobs=jobs)


@bp.route("/<int:job_id>")
@allow(SECRETARIAT, SUPERVISOR)
def show(job_id: int):
    job = _job(job_id)
    return render_template("jobs/job.html", job=job, view=job_view(job), result_labels=RESULT_LABELS,
                           can_cancel=current_user.role == SECRETARIAT and job.active)


@bp.route("/<int:job_id>.json")
@allow(SECRETARIAT, SUPERVISOR)
def status(job_id: int):
    return jsonify(job_view(_job(job_id)))


@bp.route("/<int:job_id>/cancel", methods=["POST"])
@allow(SECRETARIAT)
def cancel(job_id: int):
    job = queue.request_cancel(_job(job_id))
    flash("任务已取消" if job.state == "cancelled" else "已请求取消，任务将在当前步骤结束后停止", "info")
    return redirect(url_for("jobs.show", job_id=job.id))
