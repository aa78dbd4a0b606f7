"""``certify import-records`` and ``certify results``."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path

import click
from flask.cli import with_appcontext

from certify.cli import fail, fail_import, round_or_fail
from certify.domain import COMPONENT_LABELS, LEVELS, half_up
from certify.extensions import db
from certify.jobs.cli import run_with_progressbar
from certify.jobs.queue import JobError
from certify.tabular import ImportFailed
from certify.uow import commit

from . import operations as ops
from . import records_job
from .models import OUTCOME_LABELS
from .records import check_file, import_records
from .services.formatting import ratio_percent


def _decimal(value, label):
    if value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        fail(f"{label}「{value}」不是数字")
    return number


@click.command("import-records", help="导入业绩成果得分（证件号或准考证号 · 业绩成果得分，.xlsx 或 .csv）。"
                                     "超过 RECORDS_JOB_MIN_ROWS 行的文件与网页一样作为后台任务在前台运行并显示进度。")
@click.option("--round", "round_code", required=True)
@click.argument("path", type=click.Path(dir_okay=False))
@with_appcontext
def import_records_command(round_code, path):
    rnd = round_or_fail(round_code)
    file = Path(path)
    if not file.exists():
        fail(f"文件不存在：{path}")
    if records_job.active_records_job(rnd.id) is not None:
        fail("本轮业绩成果得分正在后台导入，请在该任务结束后再导入")
    data = file.read_bytes()
    try:
        table, resolved = check_file(rnd, data, file.name)  # every row error before anything is queued
        if len(resolved) > records_job.job_threshold():  # the web page's job, run here in the foreground
            token = records_job.UPLOADS.stage(data, table.file, rows=len(resolved))
            try:
                job = records_job.enqueue_import(rnd, token, table.file, len(resolved))
                commit()
            except JobError as err:
                db.session.rollback()
                records_job.UPLOADS.discard(token)
                fail(err.message)
            del resolved, table, data
            run_with_progressbar(job)
            return
        summary = import_records(rnd, data, file.name)
    except ImportFailed as err:
        fail_import(err)
    commit()
    click.echo(f"已导入 {summary.rows} 条业绩成果得分：新增 {summary.created}，更新 {summary.updated}，"
               f"未变 {summary.unchanged}" + (f"（其中标记缺考 {summary.absent}）" if summary.absent else ""))


def _print_computation(comp: ops.Computation) -> None:
    state = "已确认" if comp.confirmed else "未确认（预览）"
    click.echo(f"【{comp.level}】{state} 认定比例 {ratio_percent(comp.ratio)}"
               + (f" · 最低总分 {comp.min_total}" if comp.min_total is not None else ""))
    absent = sum(1 for ln in comp.lines if ln.status == "absent")
    click.echo(f"  考生 {len(comp.lines)} · 有效 {comp.eligible} · 缺考 {absent} · 缺成绩 {len(comp.missing)}")
    click.echo(f"  名额 {comp.quota} · 分数线 {half_up(comp.cut_line) if comp.cut_line is not None else '—'}"
               f" · 认定 {comp.certified}")
    around = comp.around_cut()
    if around:
        click.echo("  分数线附近：")
        for ln in around:
            click.echo(f"    {ln.rank:>4}  {ln.candidate.ticket:<14} {ln.candidate.name:<8} "
                       f"{half_up(ln.total)}  {OUTCOME_LABELS[ln.final_outcome]}")
    for ln in comp.missing:
        click.echo(f"  缺成绩：{ln.candidate.ticket} {ln.candidate.name}（"
                   + "、".join(COMPONENT_LABELS[c] for c in ln.missing) + "）")


@click.command("results", help="计算排名与认定结果（按级别），可用 --confirm 确认并冻结。")
@click.option("--round", "round_code", required=True)
@click.option("--level", type=click.Choice(LEVELS), help="只处理一个级别")
@click.option("--ratio", help="认定比例（0–1），默认取方案设置")
@click.option("--min-total", "min_total", help="最低总分，低于此分不予认定，默认取方案设置")
@click.option("--confirm", is_flag=True, help="确认并冻结结果")
@click.option("--mark-absent", "mark_absent", is_flag=True,
              help="将尚缺成分成绩的考生标记为缺考（先列出将标记的考生与成分；须同时给出 --reason 与 --yes 才会写入）")
@click.option("--reason", default="", help="标记缺考的理由（记入审计日志）")
@click.option("--yes", is_flag=True, help="与 --mark-absent 同用：确认写入")
@with_appcontext
def results_command(round_code, level, ratio, min_total, confirm, mark_absent, reason, yes):
    rnd = round_or_fail(round_code)
    ratio_d, min_d = _decimal(ratio, "认定比例"), _decimal(min_total, "最低总分")
    levels = [level] if level else ops.levels_with_candidates(rnd)
    if not levels:
        fail(f"轮次 {rnd.code} 没有考生")
    if mark_absent:
        _mark_absent(rnd, levels, reason, yes)
        if not yes:
            return
    failed = False
    for lvl in levels:
        try:
            if confirm:
                ops.confirm(rnd, lvl, ratio=ratio_d, min_total=min_d, override_min=min_d is not None)
                comp = ops.current(rnd, lvl)
            else:
                rs = ops.result_set_for(rnd, lvl)
                if rs is not None and rs.confirmed and ratio_d is None and min_d is None:
                    comp = ops.frozen(rs)
                else:
                    comp = ops.compute(rnd, lvl, ratio=ratio_d, min_total=min_d, override_min=min_d is not None)
        except ops.ResultsError as err:
            failed = True
            click.echo(f"【{lvl}】{err.headline}", err=True)
            for item in err.items:
                click.echo(f"  {item}", err=True)
            continue
        _print_computation(comp)
    if failed:
        fail("未确认任何结果" if confirm else "计算失败")
    if confirm:
        commit()
        click.echo("已确认并冻结：" + "、".join(levels))


def _mark_absent(rnd, levels, reason: str, yes: bool) -> None:
    """List what would be marked 缺考; with ``--yes`` (and a reason) record it and commit."""
    plans = {lvl: ops.absence_plan(rnd, lvl) for lvl in levels}
    total = sum(len(p) for p in plans.values())
    if not total:
        click.echo("没有尚缺成分成绩的考生，无需标记缺考")
        return
    click.echo(f"将把以下 {total} 名考生尚缺的成分记为缺考（不具备认定资格）：")
    for lvl, plan in plans.items():
        for a in plan:
            click.echo(f"  【{lvl}】{a.candidate.ticket} {a.candidate.name}："
                       + "、".join(COMPONENT_LABELS[c] for c in a.components) + " → 缺考")
    if not yes:
        click.echo("未写入任何数据；确认无误后加 --yes 与 --reason 再次执行")
        return
    if not reason.strip():
        fail("标记缺考须用 --reason 填写理由（记入审计日志）")
    for lvl, plan in plans.items():
        if plan:
            try:
                ops.mark_absent(rnd, lvl, reason)
            except ops.ResultsError as err:
                fail(f"【{lvl}】{err.message}")
    commit()
    click.echo(f"已将 {total} 名考生标记为缺考")


COMMANDS = (import_records_command, results_command)
