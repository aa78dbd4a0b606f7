"""``certify job run KIND``: run a job in the foreground with a progress bar; ``certify job list``."""
from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from certify.extensions import db

job_group = AppGroup("job", help="后台任务：在前台运行任务、查看任务列表。")


def _parse_args(pairs: tuple[str, ...]) -> dict:
    args = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"参数须为 key=value：{pair}", param_hint="--arg")
        try:
            args[key] = json.loads(value)
        except ValueError:
            args[key] = value
    return args


@job_group.command("run", help="在前台运行一个任务并显示进度，例如：certify job run defense.schedule --round 2024-cq")
@click.argument("kind")
@click.option("--round", "round_code", default=None, help="轮次代码（按轮次运行的任务）")
@click.option("--arg", "pairs", multiple=True, help="任务参数 key=value（可多次）")
def run_command(kind, round_code, pairs):
    from certify.cli import fail, round_or_fail

    from . import queue

    if kind not in queue.KINDS:
        fail(f"未知的任务类型「{kind}」，可选：{', '.join(sorted(queue.KINDS)) or '（无）'}")
    args = _parse_args(pairs)
    rnd = round_or_fail(round_code) if round_code else None
    if rnd is not None:
        args.setdefault("round_id", rnd.id)
    try:
        job = queue.enqueue(kind, args, round_id=rnd.id if rnd else None,
                           dedupe_key=f"{kind}:{rnd.id}" if rnd else None)
        from certify import uow

        uow.commit()
    except queue.JobError as err:
        db.session.rollback()
        fail(err.message)
    run_with_progressbar(job)


def run_with_progressbar(job) -> None:
    """Run a just-enqueued (committed) job in the foreground with click's progress bar; its outcome and row errors
    are printed, and a job that did not succeed exits 1."""
    from . import queue
    from .models import SUCCEEDED

    with click.progressbar(length=100, label=job.title, show_percent=True) as bar:
        shown = {"pct": 0}

        def echo(j):
            pct = round(100 * j.done / j.total) if j.total else shown["pct"]
            bar.label = f"{job.title}：{j.phase}" if j.phase else job.title
            if pct > shown["pct"]:
                bar.update(pct - shown["pct"])
                shown["pct"] = pct

        state = queue.run_in_foreground(job, echo=echo)
        if state == SUCCEEDED and shown["pct"] < 100:
            bar.update(100 - shown["pct"])
    job = db.session.get(type(job), job.id)
    db.session.refresh(job)
    click.echo(f"任务 #{job.id} {job.state_label}：{job.message}")
    for e in job.errors or []:
        click.echo(f"  {e.get('message', e) if isinstance(e, dict) else e}", err=True)
    if state != SUCCEEDED:
        raise SystemExit(1)


@job_group.command("list", help="列出最近的后台任务。")
@click.option("--limit", default=20, show_default=True)
def list_command(limit):
    from .models import Job

    for job in db.session.execute(db.select(Job).order_by(Job.id.desc()).limit(limit)).scalars():
        total = f"{job.done}/{job.total}" if job.total else ""
        click.echo(f"#{job.id:<5} {job.state_label:<4} {total:>9}  {job.title}  {job.message[:60]}")
