"""``certify notices deliver|status|contact``."""
from __future__ import annotations

import click
from flask.cli import with_appcontext

from certify.extensions import db


@click.group("notices", help="通知：发送队列与联系方式。")
def notices_group():
    pass


@notices_group.command("deliver", help="立即发送到期的通知（后台进程 certify worker 已定时发送；本命令供手动补发）。")
@click.option("--limit", default=500, show_default=True, type=int, help="本次最多发送的条数")
@with_appcontext
def deliver_command(limit):
    from .delivery import deliver_due

    try:
        counts = deliver_due(limit=limit)
    finally:
        db.session.remove()
    click.echo(f"已发送 {counts['sent']} 条；待重试 {counts['retry']} 条；失败 {counts['failed']} 条；"
               f"被其他进程领取 {counts['skipped']} 条")


@notices_group.command("status", help="按渠道和状态统计发送队列，并列出失败的发送。")
@with_appcontext
def status_command():
    from . import operations as ops
    from .services.delivery import CHANNEL_LABELS, CHANNELS, STATE_LABELS, STATES

    counts = ops.delivery_counts()
    for channel in CHANNELS:
        parts = "  ".join(f"{STATE_LABELS[s]} {counts[(channel, s)]}" for s in STATES)
        click.echo(f"{CHANNEL_LABELS[channel]}：{parts}")
    for d in ops.problem_deliveries(50):
        click.echo(f"  #{d.id} {CHANNEL_LABELS[d.channel]} {d.address} [{STATE_LABELS[d.state]}, "
                   f"{d.attempts} 次] {d.last_error}")
    db.session.rollback()


@notices_group.command("contact", help="设置一个账号（考生为准考证号）的通知邮箱和手机号码。")
@click.argument("username")
@click.option("--email", default="", help="电子邮箱")
@click.option("--mobile", default="", help="手机号码")
@with_appcontext
def contact_command(username, email, mobile):
    from certify import uow

    from . import operations as ops

    user = ops.find_person(username)
    if user is None:
        raise click.ClickException(f"没有账号「{username}」")
    try:
        ops.set_contact(user, email=email, mobile=mobile)
    except ops.NoticeError as err:
        db.session.rollback()
        raise click.ClickException("；".join(err.messages)) from None
    uow.commit()
    click.echo(f"已保存 {username} 的联系方式")
