"""``certify import-bank FILE [--dry-run]`` and ``certify export-bank FILE``."""
from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy.exc import IntegrityError

from certify.cli import fail, fail_import
from certify.uow import commit
from certify.tabular import ImportFailed, format_for_path

from . import operations as ops


def echo_plan(plan, echo=click.echo) -> None:
    s = plan.summary()
    echo(f"新增 {s['added']} 题 · 更新 {s['updated']} 题（生成新版本） · 未变 {s['unchanged']} 题 · 拒绝 {s['rejected']} 行")
    if plan.warnings:
        echo(f"提示（{len(plan.warnings)} 条，不影响导入）：")
        for w in plan.warnings:
            echo(f"  {w}")


@click.command("import-bank", help="导入题库（.xlsx 或 .csv；UTF-8、UTF-8 BOM 或 GB18030）。")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="只检查并报告，不写入数据库")
@with_appcontext
def import_bank_command(path, dry_run):
    file = Path(path)
    if not file.is_file():
        fail(f"找不到文件：{path}")
    plan = ops.plan_file(file.read_bytes(), file.name)
    if not plan.ok:
        echo_plan(plan)
        fail_import(ImportFailed(plan.errors))
    if dry_run:
        echo_plan(plan)
        click.echo("（试运行：未写入任何数据）")
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


@click.command("export-bank", help="导出题库（当前版本，导入格式；按扩展名 .xlsx 或 .csv）。")
@click.argument("path", type=click.Path(dir_okay=False))
@with_appcontext
def export_bank_command(path):
    try:
        format_for_path(path)
    except ValueError as err:
        fail(str(err))
    try:
        n = ops.export_all(path)
    except OSError as err:
        fail(f"无法写入文件 {path}：{err.strerror}")
    click.echo(f"已导出 {n} 道题目 → {path}")


COMMANDS = (import_bank_command, export_bank_command)
