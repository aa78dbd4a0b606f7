"""The ``certify`` command line: a Flask CLI group. Areas declare their commands in ``area()`` (``certify.area``)."""
from __future__ import annotations

import os
import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from .errors import DomainError
from .tabular import ImportFailed


def _create_app():
    from . import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False, add_default_commands=False,
             help="青少年科技辅导员专业水平认证平台 — 命令行工具")
def main():
    pass


def fail(message: str, code: int = 1):
    click.echo(message, err=True)
    sys.exit(code)


def round_or_fail(code: str):
    """The round with this code, or exit non-zero naming the unknown code (every ``--round CODE`` option)."""
    from .rounds import RoundError, get_round

    try:
        return get_round(code)
    except RoundError as err:
        fail(str(err))


def fail_import(err: ImportFailed):
    click.echo(f"导入失败，共 {len(err.errors)} 处错误，未写入任何数据：", err=True)
    for e in err.errors:
        click.echo(f"  {e}", err=True)
    sys.exit(1)


def upgrade_database() -> None:
    from flask_migrate import upgrade

    upgrade(directory=current_app.extensions["migrate"].directory)


@click.command("init-db", help="创建或升级数据库结构（Alembic 迁移）。")
@with_appcontext
def init_db_command():
    upgrade_database()
    click.echo(f"数据库已就绪：{_safe_url(current_app.config['SQLALCHEMY_DATABASE_URI'])}")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def run_server(host: str, port: int) -> None:
    """Serve the app with Socket.IO (websocket and long-polling) on gunicorn, the production server (one gthread
    worker, certify/gunicorn_conf.py), in this process: never Werkzeug's development server. The process
    re-executes itself into a fresh interpreter first (same pid, so Ctrl+C and service managers keep working), so
    gunicorn's master holds neither this app nor its database connections when it forks the worker."""

    from .config import shared_secret_problem
    from .extensions import db

    problem = shared_secret_problem(environ={k: v for k, v in os.environ.items()
                                             if k not in ("CERTIFY_ENV", "DATABASE_URL")})
    if problem:  # REDIS_URL set: other processes will share this deployment
        fail(problem)
    db.engine.dispose()
    sys.stdout.flush()
    sys.stderr.flush()
    os.environ.pop("FLASK_RUN_FROM_CLI", None)
    code = f"from certify.gunicorn_conf import run_embedded; run_embedded({host!r}, {int(port)})"
    os.execv(sys.executable, [sys.executable, "-c", code])


@click.command("serve", help="启动网页服务（含 Socket.IO）。")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@with_appcontext
def serve_command(host, port):
    upgrade_database()
    click.echo(f"打开 http://{host}:{port}/ 登录（按 Ctrl+C 停止）")
    run_server(host, port)


@click.command("demo", help="创建演示轮次、考生、专家、监督员与演示题库，并打印演示账号；已有演示时说明其状态。")
@click.option("--reset", is_flag=True, help="更新已有演示：年度改为今年，笔试场次从现在起开放，答辩日移到今后的工作日"
                                           "（只动演示轮次）")
@click.option("--serve", "then_serve", is_flag=True, help="创建后立即启动网页服务")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@with_appcontext
def demo_command(reset, then_serve, host, port):
    from .demo import run_demo
    from .demo_core import DemoError

    upgrade_database()
    try:
        run_demo(click.echo, reset=reset)
    except DemoError as err:
        fail(f"演示数据未能{'更新' if reset else '创建'}（未写入任何数据）：{err}")
    if then_serve:
        click.echo(f"\n打开 http://{host}:{port}/ 用上面的账号登录（按 Ctrl+C 停止）")
        run_server(host, port)


@click.command("create-round", help="新建认证轮次（按地区预设各级别方案）。")
@click.option("--code", required=True, help="轮次代码，如 2024-cq")
@click.option("--region", required=True, type=click.Choice(["重庆", "吉林"]))
@click.option("--year", required=True, type=int)
@click.option("--name", default="", help="名称（可选）")
@with_appcontext
def create_round_command(code, region, year, name):
    from .rounds import RoundError, create_round
    from .uow import commit

    try:
        rnd = create_round(code, region, year, name)
    except RoundError as err:
        fail(str(err))
    commit()
    click.echo(f"已创建轮次 {rnd.code}（{rnd.region} {rnd.year}）")
    for s in rnd.schemes:
        click.echo(f"  {s.level}：笔试 {s.exam_weight} · 答辩 {s.defense_weight} · 业绩成果 {s.record_weight}"
                   f" · 认定比例 {s.ratio}")


@click.command("export", help="导出表格：certify export KIND --round CODE FILE（.xlsx 或 .csv）。"
                           "考生超过 EXPORT_JOB_MIN_CANDIDATES 名的轮次与网页一样作为后台任务在前台运行并显示进度。")
@click.argument("kind")
@click.option("--round", "round_code", required=True)
@click.argument("path")
@with_appcontext
def export_command(kind, round_code, path):
    from .registry import exports
    from .tabular import format_for_path

    EXPORTS = exports()

    if kind not in EXPORTS:
        fail(f"未知的导出类型「{kind}」，可选：{', '.join(sorted(EXPORTS)) or '（无）'}")
    try:
        format_for_path(path)
    except ValueError as err:
        fail(str(err))
    rnd = round_or_fail(round_code)
    from .export_job import run_cli_export
    from .jobs.queue import JobError

    try:  # a large round: the web's export job, in the foreground with a progress bar
        if run_cli_export(rnd, kind, path):
            click.echo(f"已导出 {kind} → {path}")
            return
    except JobError as err:
        fail(err.message)
    try:
        EXPORTS[kind](rnd, path)
    except (ValueError, DomainError) as err:
        fail(str(err))
    click.echo(f"已导出 {kind} → {path}")


@click.command("import-roster", help="导入考生名单：certify import-roster --round CODE FILE（.xlsx 或 .csv；"
                                    "UTF-8、带 BOM 的 UTF-8 或 GB18030）。有任何错误则不写入任何数据。"
                                    "超过 ROSTER_JOB_MIN_ROWS 行的文件与网页一样作为后台任务在前台运行并显示进度。")
@click.option("--round", "round_code", required=True, help="轮次代码，如 2024-cq")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def import_roster_command(round_code, path):

    from . import roster_job
    from .extensions import db
    from .jobs.cli import run_with_progressbar
    from .jobs.queue import JobError
    from .roster import import_rows, plan_import, read_roster
    from .uow import commit

    rnd = round_or_fail(round_code)
    if roster_job.active_roster_job(rnd.id) is not None:
        fail("本轮名单正在后台导入，请在该任务结束后再导入")
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        table = read_roster(data, os.path.basename(path))
        rows = [(r.number, r.values) for r in table.rows]
        if len(rows) > roster_job.job_threshold():  # the web page's job, run here in the foreground
            plan_import(rnd, rows, file=table.file, sheet=table.sheet)  # every row error before anything is queued
            del rows
            token = roster_job.stage(data, table.file, len(table.rows))
            try:
                job = roster_job.enqueue_import(rnd, token, table.file, len(table.rows))
                commit()
            except JobError as err:
                db.session.rollback()
                roster_job.discard(token)
                fail(err.message)
            del data, table
            run_with_progressbar(job)
            return
        result = import_rows(rnd, rows, file=table.file, sheet=table.sheet)
    except ImportFailed as err:
        fail_import(err)
    commit()
    click.echo(f"名单已导入 {rnd.code}：{result.summary}")
    if result.new_candidates:
        click.echo("新考生的初始密码印在准考证上（秘书处「认证轮次 → 准考证」页面可批量打印）。")


CORE_COMMANDS = (init_db_command, serve_command, demo_command, create_round_command, export_command,
                 import_roster_command)


if __name__ == "__main__":  # python -m certify.cli
    main()
