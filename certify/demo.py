"""``certify demo``: a demo round with candidates of both levels, panelists, a supervisor and the demo bank.

The demo lives relative to now: the rounds are of the current year, the exam sessions open today and the defense
days are the next working days. ``certify demo`` on an existing demo changes nothing and says so (and what is out
of date); ``certify demo --reset`` renews it: the demo rounds' year, exam windows and defense days move to now.
Only the demo rounds (``demo_core.DEMO_ROUNDS``) are touched, never a real round."""
from __future__ import annotations

from .clock import utcnow
from .extensions import db
from .registry import demo_steps
from .uow import commit


def run_demo(echo, *, reset: bool = False) -> dict:
    """Run every installed area's demo step in order inside one transaction, then print the logins."""
    context: dict = {"logins": [], "print": echo, "reset": reset, "now": utcnow(), "changes": [], "stale": []}
    for _order, _name, step in demo_steps():
        step(context)
        db.session.flush()
    commit()
    if not context.get("existing"):
        echo("演示数据已创建。")
    elif reset:
        echo(f"演示数据已更新（{len(context['changes'])} 项变更）。" if context["changes"]
             else "演示数据已是最新，未作改动。")
    else:
        echo(f"演示数据已存在，补齐了缺少的 {len(context['changes'])} 项。" if context["changes"]
             else "演示数据已存在，未作改动。")
        if context["stale"]:
            echo("已过时：" + "；".join(context["stale"]) + "。运行 certify demo --reset 把演示移到今天起。")
    echo("演示账号（首次登录无需改密）：")
    for role_label, username, password, note in context["logins"]:
        echo(f"  {role_label:<8} 账号 {username:<16} 密码 {password}  {note}")
    return context
