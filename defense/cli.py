"""Defense commands: ``certify import-panelists`` and ``certify schedule``."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import click
from flask.cli import with_appcontext

from certify.cli import fail, fail_import, round_or_fail
from certify.tabular import ImportFailed


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        fail(f"无法读取文件 {path}：{err.strerror}")


@click.command("import-panelists",
               help="导入评审专家名单（.xlsx 或 .csv）；回避关系可在第二个工作表或 --conflicts 文件中。"
                    "超过 PANELIST_JOB_MIN_ROWS 行的名单与网页一样作为后台任务在前台运行并显示进度"
                    "（新建账号尚无密码，在「评审专家」页生成初始密码并导出）。")
@click.option("--round", "round_code", required=True, help="轮次代码")
@click.option("--conflicts", "conflicts_path", default=None, help="回避关系文件（专家姓名 · 回避对象）")
@click.argument("path")
@with_appcontext
def import_panelists_command(round_code, conflicts_path, path):
    from certify import uow
    from certify.extensions import db
    from certify.jobs.cli import run_with_progressbar
    from certify.jobs.queue import JobError

    from .schedule import panelist_job
    from .schedule.operations import DefenseError
    from .schedule.panelist_import import check_file, import_panelists

    rnd = round_or_fail(round_code)
    if panelist_job.active_panelist_job(rnd.id) is not None:
        fail("本轮评审专家正在后台导入，请在该任务结束后再导入")
    data = _read(path)
    cdata = _read(conflicts_path) if conflicts_path else None
    cname = Path(conflicts_path).name if conflicts_path else None
    try:
        checked = check_file(rnd, data, Path(path).name, cdata, cname)  # every row error before anything is queued
        if len(checked.rows) > panelist_job.job_threshold():  # the web page's job, run here in the foreground
            token = panelist_job.stage(data, checked.file, len(checked.rows), cdata, cname)
            try:
                job = panelist_job.enqueue_import(rnd, token, checked.file, len(checked.rows))
                uow.commit()
            except JobError as err:
                db.session.rollback()
                panelist_job.discard(token)
                fail(err.message)
            del checked, data, cdata
            run_with_progressbar(job)
            return
        result = import_panelists(rnd, data, Path(path).name, cdata, cname)
    except ImportFailed as err:
        db.session.rollback()
        fail_import(err)
    except DefenseError as err:
        db.session.rollback()
        fail("导入失败，未写入任何数据：\n  " + "\n  ".join(err.messages))
    uow.commit()
    click.echo(f"导入完成：新增专家 {result.created} 名，更新 {result.updated} 名，未变 {result.unchanged} 名；"
               f"新建答辩组 {result.panels_created} 个，调整答辩组 {result.panels_changed} 个；"
               f"新增回避 {result.conflicts_added} 条")
    for name, username, password in result.credentials:
        click.echo(f"  {name}  账号 {username}  初始密码 {password}（首次登录须修改）")


def _parse_days(text: str) -> list[date]:
    out = []
    for part in (text or "").replace("，", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            out.append(date.fromisoformat(part))
        except ValueError:
            fail(f"日期「{part}」格式应为 YYYY-MM-DD")
    return out


@click.command("schedule", help="为本轮答辩考生排定答辩组与时段（保存为草稿）；无解时说明原因并以非零状态退出。")
@click.option("--round", "round_code", required=True, help="轮次代码")
@click.option("--days", default=None, help="答辩日，逗号分隔，如 2026-12-01,2026-12-02（不填则用已设置的答辩日）")
@click.option("--slot-minutes", default=20, show_default=True, type=int, help="每名考生的时段长度（分钟）")
@click.option("--start", default="08:30", show_default=True, help="每天开始时间")
@click.option("--end", default="17:30", show_default=True, help="每天结束时间")
@click.option("--breaks", default="12:00-13:30", show_default=True, help="休息时段，逗号分隔")
@click.option("--time-limit", default=8.0, show_default=True, type=float, help="求解时间上限（秒）")
@with_appcontext
def schedule_command(round_code, days, slot_minutes, start, end, breaks, time_limit):
    from certify import uow
    from certify.extensions import db

    from .schedule import operations as ops

    rnd = round_or_fail(round_code)
    try:
        if days:
            ops.set_days(rnd, _parse_days(days), start=start, end=end, slot_minutes=slot_minutes, breaks=breaks)
        result = ops.run_schedule(rnd, time_limit=time_limit)
    except ops.DefenseError as err:
        db.session.rollback()
        fail("无法排程：\n  " + "\n  ".join(err.messages), 2)
    if not result.ok:
        db.session.rollback()
        fail("无法排程：\n  " + "\n  ".join(result.reasons), 2)
    uow.commit()
    click.echo(f"已为 {len(result.placements)} 名考生排定答辩（草稿，{result.seconds:.2f} 秒，{result.status}）：")
    for panel in ops.round_panels(rnd):
        rows = ops.panel_timetable(panel)
        members = "、".join(m.panelist.name + ("（组长）" if m.is_chair else "") for m in panel.members)
        when = (f"{ops.local(rows[0].start_at):%m-%d %H:%M} 至 {ops.local(rows[-1].end_at):%m-%d %H:%M}"
                if rows else "无")
        units = len({a.candidate.work_unit for a in rows})
        click.echo(f"  {panel.name}：{len(rows)} 名考生（来自 {units} 个单位），{when}；专家 {members}")
    click.echo("确认无误后在网页「答辩安排」中发布。")


COMMANDS = (import_panelists_command, schedule_command)
