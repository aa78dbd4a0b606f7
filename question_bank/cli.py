"""``certify import-bank FILE [--dry-run]`` and ``certify export-bank FILE [--format …]``: spreadsheets and the
interchange formats (Moodle XML, GIFT, Aiken, QTI 2.1)."""
from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy.exc import IntegrityError

from certify.cli import fail, fail_import
from certify.extensions import db
from certify.jobs.cli import run_with_progressbar
from certify.jobs.queue import JobError
from certify.tabular import ImportFailed, format_for_path
from certify.uow import commit

from . import bank_job
from . import operations as ops
from .services import interchange
from .staging import UPLOADS


def echo_plan(plan, echo=click.echo) -> None:
    s = plan.summary()
    echo(f"新增 {s['added']} 题 · 更新 {s['updated']} 题（生成新版本） · 未变 {s['unchanged']} 题"
         f" · 拒绝 {s['rejected']} 行")
    if plan.warnings:
        echo(f"提示（{len(plan.warnings)} 条，不影响导入）：")
        for w in plan.warnings:
            echo(f"  {w}")


@click.command("import-bank", help="导入题库：.xlsx 或 .csv（UTF-8、UTF-8 BOM 或 GB18030），或 Moodle XML（.xml）、"
                                  "GIFT（.gift/.txt）、Aiken（.txt）、QTI 2.1（.xml 或内容包 .zip）。"
                                  "超过 BANK_JOB_MIN_ROWS 行的文件与网页一样作为后台任务在前台运行并显示进度。")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="只检查并报告，不写入数据库")
@click.option("--category", default="", help="交换格式文件未给出分类时使用的分类")
@click.option("--difficulty", default="", help="交换格式文件未给出难度时使用的难度（1–5 或 易/中/难）")
@click.option("--level", default="", help="交换格式文件未给出适用级别时使用的级别（初级/中级/通用）")
@with_appcontext
def import_bank_command(path, dry_run, category, difficulty, level):
    file = Path(path)
    if not file.is_file():
        fail(f"找不到文件：{path}")
    defaults = interchange.Defaults(category=category, difficulty=difficulty, level=level)
    plan = ops.plan_file(file.read_bytes(), file.name, defaults)
    if not plan.ok:
        echo_plan(plan)
        fail_import(ImportFailed(plan.errors))
    if dry_run:
        echo_plan(plan)
        click.echo("（试运行：未写入任何数据）")
        return
    if bank_job.active_bank_job() is not None:
        fail("题库正在后台导入，请在该任务结束后再导入")
    rows = bank_job.plan_rows(plan)
    if rows > bank_job.job_threshold():  # the web page's job, run here in the foreground
        echo_plan(plan)
        token = UPLOADS.stage(file.read_bytes(), file.name)
        try:
            job = bank_job.enqueue_import(token, file.name, plan.fingerprint(), rows, defaults=defaults)
            commit()
        except JobError as err:
            db.session.rollback()
            UPLOADS.discard(token)
            fail(err.message)
        del plan
        run_with_progressbar(job)
        return
    try:
        ops.apply_plan(plan)
        commit()
    except ImportFailed as err:
        fail_import(err)
    except IntegrityError:
        fail("题库同时被其他操作修改，未导入任何题目，请重新运行")
    echo_plan(plan)
    click.echo("导入完成。")


@click.command("export-bank", help="导出题库（当前版本）：按扩展名 .xlsx 或 .csv，或用 --format 导出为 Moodle XML、"
                                  "GIFT、Aiken（仅单选题）或 QTI 2.1 内容包。")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(sorted(interchange.FORMATS)), default=None,
              help="交换格式：moodle / gift / aiken / qti")
@with_appcontext
def export_bank_command(path, fmt):
    if fmt is None:
        try:
            format_for_path(path)
        except ValueError as err:
            fail(str(err))
    skipped: list[int] = []
    try:
        n = ops.export_all(path, fmt, left_out=skipped)
    except OSError as err:
        fail(f"无法写入文件 {path}：{err.strerror}")
    note = (f"（{interchange.FORMATS[fmt]} 只能容纳单选题，另有 {skipped[0]} 道未导出）"
            if skipped and skipped[0] else "")
    click.echo(f"已导出 {n} 道题目 → {path}{note}")


COMMANDS = (import_bank_command, export_bank_command)
