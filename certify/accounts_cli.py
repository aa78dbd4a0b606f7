"""``certify users …``: staff accounts from the command line (create, list, disable, enable, reset-password).

Each command calls the operation in ``certify.accounts`` (the same the secretariat's pages call) and commits at
this edge with ``certify.uow.commit()``. Passwords are read from a hidden prompt (twice) or from stdin, never
from the command line (it would end up in the shell history and the process list).
"""
from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from .domain import ROLE_LABELS


def _fail(message: str):
    click.echo(message, err=True)
    sys.exit(1)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    return click.prompt("密码", hide_input=True, confirmation_prompt="再次输入密码")


def _user_or_fail(username: str):
    from .accounts import user_by_username

    user = user_by_username(username)
    if user is None:
        _fail(f"没有账号「{username}」")
    return user


@click.group("users", help="账号管理：create / list / disable / enable / reset-password。")
def users():
    pass


@users.command("create", help="新建秘书处、监督委员会或评审专家账号（密码须至少 10 位且不常见）。")
@click.option("--role", required=True, type=click.Choice(["secretariat", "supervisor", "panelist"]))
@click.option("--username", required=True)
@click.option("--name", "display_name", default="", help="姓名（可选）")
@click.option("--password-stdin", is_flag=True, help="从标准输入读取密码（一行）")
@with_appcontext
def create_command(role, username, display_name, password_stdin):
    from . import uow
    from .accounts import create_staff
    from .errors import DomainError

    password = _read_password(password_stdin)
    try:
        user, _ = create_staff(username, role, display_name=display_name, password=password)
    except DomainError as err:
        _fail(f"未创建：{err.message}")
    uow.commit()
    click.echo(f"已创建{ROLE_LABELS[user.role]}账号 {user.username}")


@users.command("list", help="列出账号（默认不含考生）。")
@click.option("--role", type=click.Choice(["secretariat", "supervisor", "panelist", "candidate"]), default=None)
@with_appcontext
def list_command(role):
    from .accounts import STAFF_ROLES
    from .clock import to_local
    from .extensions import db
    from .models import User

    stmt = db.select(User).order_by(User.role, User.username)
    stmt = stmt.where(User.role == role) if role else stmt.where(User.role.in_(STAFF_ROLES))
    rows = db.session.execute(stmt).scalars().all()
    for u in rows:
        state = "启用" if u.is_active_account else "停用"
        first = "  须改密" if u.must_change_password else ""
        last = to_local(u.last_login_at).strftime("%Y-%m-%d %H:%M") if u.last_login_at else "从未登录"
        click.echo(f"{u.username:<20} {ROLE_LABELS.get(u.role, u.role):<6} {state}  {u.display_name}  "
                   f"最近登录 {last}{first}")
    click.echo(f"共 {len(rows)} 个账号")


@users.command("disable", help="停用账号并使其所有会话失效（最后一个启用的秘书处账号不能停用）。")
@click.argument("username")
@click.option("--reason", default="", help="原因（记入审计日志）")
@with_appcontext
def disable_command(username, reason):
    from . import uow
    from .accounts import disable_account
    from .errors import DomainError

    user = _user_or_fail(username)
    try:
        disable_account(user, reason=reason)
    except DomainError as err:
        _fail(f"未停用：{err.message}")
    uow.commit()
    click.echo(f"已停用账号 {user.username}")


@users.command("enable", help="重新启用账号。")
@click.argument("username")
@with_appcontext
def enable_command(username):
    from . import uow
    from .accounts import enable_account

    user = _user_or_fail(username)
    enable_account(user)
    uow.commit()
    click.echo(f"已启用账号 {user.username}")


@users.command("reset-password", help="重置密码：默认生成一次性密码（只显示这一次，首次登录须修改）；"
                                      "--password-stdin 则设为从标准输入读取的新密码。")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="从标准输入读取新密码（一行），不生成一次性密码")
@click.option("--reason", default="", help="原因（记入审计日志）")
@with_appcontext
def reset_password_command(username, password_stdin, reason):
    from . import uow
    from .accounts import change_password, reset_password
    from .errors import DomainError

    user = _user_or_fail(username)
    if password_stdin:
        try:
            change_password(user, _read_password(True))
        except DomainError as err:
            _fail(f"未修改：{err.message}")
        uow.commit()
        click.echo(f"已为 {user.username} 设置新密码，其所有会话已失效")
        return
    password = reset_password(user, reason=reason)
    uow.commit()
    click.echo(f"{user.username} 的一次性密码（只显示这一次，首次登录须修改）：{password}")
