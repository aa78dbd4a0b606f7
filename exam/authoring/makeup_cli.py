"""``certify session makeup``: a make-up session (补考) from the command line, through
``makeup.create_makeup`` (the same rules as the secretariat's page). Without ``--yes`` it lists who would sit
the make-up and writes nothing."""
from __future__ import annotations

from datetime import datetime

import click
from flask.cli import with_appcontext

from certify.cli import fail

TIME_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M")


def _local_time(value: str | None, option: str) -> datetime | None:
    from certify.clock import display_timezone, from_local

    if value is None or not value.strip():
        fail(f"缺少选项 {option}（YYYY-MM-DD HH:MM，{display_timezone()} 时间）")
    for fmt in TIME_FORMATS:
        try:
            return from_local(datetime.strptime(value.strip(), fmt), display_timezone())
        except ValueError:
            continue
    fail(f"选项 {option} 的值「{value}」无效：时间格式应为 YYYY-MM-DD HH:MM（{display_timezone()} 时间）")


@click.command("makeup", help="为已结束场次中缺考或作答中断的考生安排补考：certify session makeup --session ID "
                              "--candidates 准考证号,… --opens 'YYYY-MM-DD HH:MM' --closes … --reason 理由 --yes"
                              "（不加 --yes 只列出将补考的考生）。")
@click.option("--session", "session_id", type=int, required=True, help="原场次编号")
@click.option("--candidates", default="", help="补考考生的准考证号，逗号分隔")
@click.option("--opens", default=None, help="补考开考时间（北京时间）")
@click.option("--closes", default=None, help="补考结束时间（北京时间）")
@click.option("--minutes", type=int, default=None, help="考试时长（分钟；默认同原场次）")
@click.option("--name", default="", help="补考场次名称（默认：原场次名称加「（补考）」）")
@click.option("--reason", default="", help="补考理由（记入审计日志）")
@click.option("--yes", is_flag=True, help="确认建立补考场次")
@with_appcontext
def makeup_command(session_id, candidates, opens, closes, minutes, name, reason, yes):
    from certify import uow
    from certify.extensions import db

    from ..models import ExamSession
    from .makeup import create_makeup, makeup_rows
    from .papers import ExamAdminError

    original = db.session.get(ExamSession, session_id)
    if original is None:
        fail(f"选项 --session：场次 {session_id} 不存在")
    rows = {r["candidate"].ticket: r for r in makeup_rows(original)}
    tickets = [t.strip() for t in candidates.replace("，", ",").split(",") if t.strip()]
    if not tickets:
        fail("缺少选项 --candidates（补考考生的准考证号，逗号分隔）")
    unknown = [t for t in tickets if t not in rows]
    if unknown:
        fail(f"选项 --candidates：{'、'.join(unknown)} 不在场次「{original.name}」中")
    opens_at, closes_at = _local_time(opens, "--opens"), _local_time(closes, "--closes")
    for t in tickets:
        r = rows[t]
        click.echo(f"{t} {r['candidate'].name}：{r['status']}" + ("" if r["eligible"] else f"（{r['why']}）"))
    if not yes:
        click.echo("未写入任何数据；确认无误后加 --yes 与 --reason 再次执行")
        return
    try:
        session = create_makeup(original, candidate_ids=[rows[t]["candidate"].id for t in tickets], name=name,
                                opens_at=opens_at, closes_at=closes_at, duration_minutes=minutes, reason=reason)
    except ExamAdminError as err:
        db.session.rollback()
        fail("未建立补考场次：" + "；".join(err.errors))
    uow.commit()
    click.echo(f"已建立补考场次「{session.name}」（编号 {session.id}），已为 {len(tickets)} 名考生重新组卷")
