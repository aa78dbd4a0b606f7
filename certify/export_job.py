"""Whole-round exports as a background job (kind ``export.file``), run by ``certify worker``.

An export page of a round with more than ``EXPORT_JOB_MIN_CANDIDATES`` candidates does not build the file inside
the GET: it shows a button that queues this job (a POST), and the job page (``/jobs/<id>``) follows it and then links
to the file. Smaller rounds download at once, as before. The job builds the file with the very function the
immediate download uses (an *exporter*, registered by the area that owns the export with ``register_exporter``:
``build(round, **params) -> [Sheet]``), so both give the same bytes.

The file goes to ``instance/exports/<token>.<ext>`` (written under a temporary name, renamed when complete), with
``<token>.json`` beside it: file name, MIME type, round, exporter, parameters, job and the roles that may fetch it
(those of the original export, narrowed to the secretariat when the file carries whole ID numbers). The download
route (``/exports/file/<token>``) serves a file only while its job is ``succeeded`` and the file is younger than
``EXPORT_MAX_AGE_SECONDS`` (24 h; older files are deleted whenever a new export is made), refuses any role outside
its meta, and audits the download the way the original route does (``on_download``). A job that does not succeed
(cancelled, failed, its worker gone) leaves no file: ``on_finish`` deletes whatever it wrote.

``certify export KIND --round CODE FILE`` runs the same job in the foreground with a progress bar above the same
threshold (``run_cli_export``); the file is then written where the command says, as ``tabular.write_file`` writes it.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from flask import (
    Blueprint,
    abort,
    after_this_request,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user

from .access import allow
from .audit import audit
from .domain import SECRETARIAT, SUPERVISOR
from .extensions import db
from .jobs import queue
from .jobs.models import SUCCEEDED, Job
from .models import Candidate, Round
from .tabular import Sheet, export_bytes, write_file

KIND = "export.file"
DEFAULT_JOB_MIN_CANDIDATES = 1000
DEFAULT_MAX_AGE_SECONDS = 24 * 3600
FORMATS = ("xlsx", "csv")
BUILDING, ENCODING, SAVING = "读取数据", "生成文件", "保存文件"
PHASES = (BUILDING, ENCODING, SAVING)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


@dataclass(frozen=True)
class Exporter:
    """One whole-round export. ``build(rnd, **params)`` returns its sheets (the same call the immediate download
    makes); ``roles(params)`` who may fetch the file; ``filename(rnd, params, fmt)`` the download name without the
    extension; ``on_download(rnd, params, fmt)`` audits a download as the original route does (inside a request)."""

    name: str
    title: str
    build: Callable[..., list[Sheet]]
    filename: Callable[[Round, dict, str], str]
    roles: Callable[[dict], tuple[str, ...]] = lambda params: (SECRETARIAT, SUPERVISOR)
    on_download: Callable[[Round, dict, str], None] | None = None
    # the parameters a page may post (name -> default; booleans posted as "0"/"1", text among ``choices``)
    params: dict = field(default_factory=dict)
    choices: dict = field(default_factory=dict)
    # ``certify export KIND``: the kind and the parameters the command has always used
    cli_kind: str | None = None
    cli_params: dict = field(default_factory=dict)


EXPORTERS: dict[str, Exporter] = {}


def register_exporter(exporter: Exporter) -> Exporter:
    EXPORTERS[exporter.name] = exporter
    return exporter


def exporter_for_cli(kind: str) -> Exporter | None:
    return next((e for e in EXPORTERS.values() if e.cli_kind == kind), None)


# ------------------------------------------------------------------------------------------------ thresholds

def job_threshold() -> int:
    return int(current_app.config.get("EXPORT_JOB_MIN_CANDIDATES", DEFAULT_JOB_MIN_CANDIDATES))


def max_age_seconds() -> float:
    return float(current_app.config.get("EXPORT_MAX_AGE_SECONDS", DEFAULT_MAX_AGE_SECONDS))


def round_size(rnd: Round) -> int:
    return db.session.scalar(db.select(db.func.count(Candidate.id)).where(Candidate.round_id == rnd.id)) or 0


def is_large(rnd: Round) -> bool:
    """Whether a whole-round export of this round goes to the worker."""
    return round_size(rnd) > job_threshold()


# ------------------------------------------------------------------------------------------------ stored files

def folder() -> Path:
    path = Path(current_app.instance_path) / "exports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def clean_expired(now: float | None = None) -> int:
    """Delete stored exports older than the maximum age (and stray partial files); returns how many files went."""
    cutoff = (now or time.time()) - max_age_seconds()
    removed = 0
    for path in folder().iterdir():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except OSError:
            pass
    return removed


def read_meta(token: str) -> dict | None:
    if not _TOKEN.match(token or ""):
        return None
    try:
        meta = json.loads((folder() / f"{token}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def file_path(token: str, fmt: str) -> Path:
    return folder() / f"{token}.{fmt}"


def discard(token: str) -> None:
    if not _TOKEN.match(token or ""):
        return
    for path in folder().glob(f"{token}.*"):
        path.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------------ the job

def dedupe_key(name: str, round_id: int, fmt: str, params: dict) -> str:
    flags = ",".join(f"{k}={params[k]}" for k in sorted(params))
    return f"{KIND}:{name}:{round_id}:{fmt}:{flags}"[:120]


def enqueue_export(rnd: Round, name: str, fmt: str, params: dict | None = None, *, created_by=None,
                   path: str | None = None) -> Job:
    """Queue an export (flushed; the caller's unit of work commits). Refused (409) while the same export of this
    round is queued or running. ``path``: the CLI's output file (written there rather than kept for download)."""
    exporter = EXPORTERS.get(name)
    if exporter is None or fmt not in FORMATS:
        raise queue.JobError("unknown_export", "未知的导出类型", 404)
    params = dict(params or {})
    args = {"round_id": rnd.id, "name": name, "fmt": fmt, "params": params,
            "token": secrets.token_urlsafe(24)}
    if path:
        args["path"] = path
    title = f"{exporter.title} · {rnd.code} · {fmt}"
    return queue.enqueue(KIND, args, title=title, created_by=created_by, round_id=rnd.id,
                         dedupe_key=None if path else dedupe_key(name, rnd.id, fmt, params))


def run(ctx: queue.JobContext, round_id: int, name: str, fmt: str, token: str, params: dict | None = None,
        path: str | None = None, **_ignored) -> dict:
    rnd = db.session.get(Round, round_id)
    if rnd is None:
        raise queue.JobFailed("该轮次已不存在")
    exporter = EXPORTERS.get(name)
    if exporter is None:
        raise queue.JobFailed(f"本进程不认识导出类型「{name}」")
    params = dict(params or {})
    total = len(PHASES)
    ctx.progress(0, total, phase=BUILDING)
    try:
        sheets = exporter.build(rnd, **params)
    except ValueError as err:
        raise queue.JobFailed(str(err)) from None
    rows = sum(len(s.rows) for s in sheets)
    ctx.progress(1, total, phase=ENCODING, message=f"已读取 {rows} 行")
    if path:  # the CLI: written where the command says, extra CSV sheets beside it, as write_file always did
        write_file(path, sheets)
        ctx.progress(total, total, phase=SAVING)
        return {"message": f"已导出 {rows} 行 → {path}", "rows": rows}
    content, mimetype = export_bytes(fmt, sheets)
    ctx.progress(2, total, phase=SAVING)
    clean_expired()
    target = file_path(token, fmt)
    partial = folder() / f"{token}.{fmt}.part"
    partial.write_bytes(content)
    meta = {"filename": f"{exporter.filename(rnd, params, fmt)}.{fmt}", "mimetype": mimetype, "round_id": rnd.id,
            "name": name, "fmt": fmt, "params": params, "job_id": ctx.job_id,
            "roles": list(exporter.roles(params)), "bytes": len(content), "rows": rows}
    (folder() / f"{token}.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    os.replace(partial, target)
    ctx.progress(total, total, phase=SAVING)  # a cancel asked for meanwhile still stops it (and on_finish cleans)
    return {"message": f"文件已生成：{meta['filename']}（{rows} 行），24 小时内可下载", "rows": rows,
            "token": token}


def on_finish(job: Job) -> None:
    """A job that did not succeed leaves no file (its worker may have written part of one before it stopped)."""
    args = job.args or {}
    if job.state != SUCCEEDED:
        discard(args.get("token") or "")
        folder_path = folder()
        for stray in folder_path.glob(f"{args.get('token')}.*.part"):
            stray.unlink(missing_ok=True)


def _result_url(job: Job) -> str | None:
    args = job.args or {}
    if args.get("path") or not args.get("token"):
        return None
    return url_for("exports.download", token=args["token"])


def register() -> None:
    queue.register_kind(KIND, "导出文件", run, retry_on_crash=True, max_attempts=2, on_finish=on_finish,
                        result_url=_result_url)


def run_cli_export(rnd: Round, kind: str, path: str) -> bool:
    """``certify export``: above the threshold, run the export job in the foreground with a progress bar (True);
    False when the command should write the file at once, as it always did."""
    exporter = exporter_for_cli(kind)
    if exporter is None or not is_large(rnd):
        return False
    from . import uow
    from .jobs.cli import run_with_progressbar

    job = enqueue_export(rnd, exporter.name, path.rsplit(".", 1)[-1].lower(), exporter.cli_params,
                         path=os.path.abspath(path))
    uow.commit()
    run_with_progressbar(job)
    return True


# ------------------------------------------------------------------------------------------------ web

bp = Blueprint("exports", __name__, url_prefix="/exports")


def latest_job(rnd: Round, name: str, fmt: str, params: dict) -> Job | None:
    return db.session.execute(db.select(Job).where(Job.kind == KIND,
                                                   Job.dedupe_key == dedupe_key(name, rnd.id, fmt, params))
                              .order_by(Job.id.desc()).limit(1)).scalar()


def send_or_offer(rnd: Round, name: str, fmt: str, params: dict | None = None, *, size: int | None = None):
    """What an export route answers: the file at once for a small round; for a large one, a page offering to
    build it in the background (and the state of the last such job). Reads only (a GET). ``size``: the rows the
    export holds when it is not the whole round's candidates (a session's)."""
    from .downloads import send_table

    exporter = EXPORTERS[name]
    params = dict(params or {})
    if (round_size(rnd) if size is None else size) <= job_threshold():
        return send_table(exporter.filename(rnd, params, fmt), fmt, exporter.build(rnd, **params))
    job = latest_job(rnd, name, fmt, params)
    ready = None
    if job is not None and job.state == SUCCEEDED and _fresh(job):
        ready = _result_url(job)
    return render_template("exports/offer.html", rnd=rnd, exporter=exporter, fmt=fmt, params=params, job=job,
                           ready=ready, size=round_size(rnd) if size is None else size, threshold=job_threshold(),
                           filename=f"{exporter.filename(rnd, params, fmt)}.{fmt}")


def _fresh(job: Job) -> bool:
    token = (job.args or {}).get("token") or ""
    meta = read_meta(token)
    if meta is None:
        return False
    path = file_path(token, meta.get("fmt", ""))
    try:
        return time.time() - path.stat().st_mtime <= max_age_seconds()
    except OSError:
        return False


def _params_from_form(exporter: Exporter) -> dict:
    """The exporter's declared parameters from the posted form (defaults for the missing ones); anything else is
    ignored, and a value outside its kind is refused (400)."""
    params = {}
    for key, default in exporter.params.items():
        raw = request.form.get(f"p_{key}")
        if raw is None:
            params[key] = default
        elif isinstance(default, bool):
            if raw not in ("0", "1"):
                abort(400)
            params[key] = raw == "1"
        elif isinstance(default, int):
            if not raw.isdigit() or len(raw) > 12:
                abort(400)
            params[key] = int(raw)
        elif raw in exporter.choices.get(key, (default,)):
            params[key] = raw
        else:
            abort(400)
    return params


@bp.route("/<round:rnd>/<name>.<any(xlsx, csv):fmt>", methods=["POST"])
@allow(SECRETARIAT, SUPERVISOR, supervisor_writes=True)
def start(rnd: Round, name: str, fmt: str):
    """Queue a large export; the roles allowed are the file's own (the same as the export's route)."""
    exporter = EXPORTERS.get(name)
    if exporter is None:
        abort(404)
    params = _params_from_form(exporter)
    if current_user.role not in exporter.roles(params):
        abort(403)
    try:
        job = enqueue_export(rnd, name, fmt, params, created_by=current_user)
    except queue.JobError as err:
        if err.code == "job_running" and (existing := queue.active_job(dedupe_key(name, rnd.id, fmt, params))):
            flash("该导出正在生成中", "info")
            return redirect(url_for("jobs.show", job_id=existing.id))
        raise
    flash("导出任务已提交，完成后可在本页下载", "info")
    return redirect(url_for("jobs.show", job_id=job.id))


@bp.route("/file/<token>")
@allow(SECRETARIAT, SUPERVISOR)
def download(token: str):
    """A stored export: only for the roles in its meta, only while its job succeeded and the file is fresh."""
    meta = read_meta(token)
    if meta is None:
        abort(404)
    if current_user.role not in (meta.get("roles") or ()):
        abort(403)
    job = db.session.get(Job, meta.get("job_id") or 0)
    fmt = meta.get("fmt")
    path = file_path(token, fmt) if fmt in FORMATS else None
    if job is None or job.state != SUCCEEDED or (job.args or {}).get("token") != token or path is None:
        abort(404)
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        abort(404)
    if age > max_age_seconds():
        abort(410)
    rnd = db.session.get(Round, meta.get("round_id") or 0)
    exporter = EXPORTERS.get(meta.get("name") or "")
    if rnd is None or exporter is None:
        abort(404)
    if exporter.on_download is not None:
        exporter.on_download(rnd, dict(meta.get("params") or {}), fmt)
    _audit_fetch(rnd.id, meta.get("name"), fmt, token)
    return send_file(path, mimetype=meta.get("mimetype"), as_attachment=True, download_name=meta.get("filename"))


def _audit_fetch(round_id: int, name: str, fmt: str, token: str) -> None:
    """Who fetched which stored export (its own transaction after the response, as a GET never writes)."""
    from . import uow

    @after_this_request
    def _record(response):
        if response.status_code == 200:
            try:
                audit("export.download", round_id=round_id, export=name, fmt=fmt, file=token[:8])
                uow.commit()
            except Exception:
                db.session.rollback()
                current_app.logger.exception("audit of an export download failed")
        return response
