"""``certify demo``: a demo round with candidates of both levels, panelists, a supervisor and the demo bank."""
from __future__ import annotations

from .extensions import db
from .registry import demo_steps
from .uow import commit


def run_demo(echo) -> dict:
    """Run every installed area's demo step in order inside one transaction, then print the logins."""
    context: dict = {"logins": [], "print": echo}
    for _order, _name, step in demo_steps():
        step(context)
        db.session.flush()
    commit()
    echo("演示数据已创建。演示账号（首次登录无需改密）：")
    for role_label, username, password, note in context["logins"]:
        echo(f"  {role_label:<8} 账号 {username:<16} 密码 {password}  {note}")
    return context
