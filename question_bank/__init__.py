"""The question bank area: items and their versions, import with preview, search, edit, statistics, export."""


def demo_step(context: dict) -> None:
    from .operations import load_demo_bank

    plan = load_demo_bank()
    s = plan.summary()
    context["print"](f"演示题库：{s['added'] + s['updated'] + s['unchanged']} 道题目"
                     f"（新增 {s['added']}，更新 {s['updated']}，未变 {s['unchanged']}）")


def area():
    from certify.area import Area, Step, nav
    from certify.domain import SECRETARIAT, SUPERVISOR

    from . import models  # noqa: F401  (registers the tables)
    from .cli import COMMANDS
    from .routes import bp

    return Area(name="question_bank", blueprints=[bp], cli_commands=COMMANDS,
                nav=[nav((SECRETARIAT, SUPERVISOR), "题库", "bank.index")],
                demo_steps=[Step(30, "question_bank.demo", demo_step)])
