"""Demo step of the core: staff accounts and a Chongqing round (both levels) plus a Jilin round."""
from __future__ import annotations

from .accounts import create_user
from .domain import SECRETARIAT, SUPERVISOR
from .extensions import db
from .models import Round, User
from .rounds import create_round

DEMO_PASSWORD = "demo12345"


def demo_accounts(context: dict) -> None:
    for username, role, name, label in (("mishu", SECRETARIAT, "秘书处演示账号", "秘书处"),
                                        ("jiandu", SUPERVISOR, "监督委员会演示账号", "监督委员会")):
        if db.session.execute(db.select(User).filter_by(username=username)).scalar_one_or_none() is None:
            create_user(username, role, password=DEMO_PASSWORD, display_name=name, generated=False)
        context["logins"].append((label, username, DEMO_PASSWORD, ""))
    rnd = db.session.execute(db.select(Round).filter_by(code="demo-cq")).scalar_one_or_none()
    if rnd is None:
        rnd = create_round("demo-cq", "重庆", 2024, "2024年重庆市青少年科技辅导员专业水平认证（演示）")
    context["round"] = rnd
    if db.session.execute(db.select(Round).filter_by(code="demo-jl")).scalar_one_or_none() is None:
        create_round("demo-jl", "吉林", 2024, "2024年吉林省初级青少年科技辅导员专业水平认证（演示）")
