"""The question bank area: items and their versions, import with preview, search, edit, statistics, export."""


def demo_step(context: dict) -> None:
    from .operations import load_demo_bank

    plan = load_demo_bank()
    s = plan.summary()
    context["print"](f"演示题库：{s['added'] + s['updated'] + s['unchanged']} 道题目"
                     f"（新增 {s['added']}，更新 {s['updated']}，未变 {s['unchanged']}）")


def staff_panel(user):
    """Staff home: bank files uploaded and waiting for the secretariat's confirmation."""
    from datetime import UTC, datetime

    from flask import url_for

    from certify.clock import to_local
    from certify.domain import SECRETARIAT, SUPERVISOR
    from certify.staff_home import staff_panel as render

    from .staging import UPLOADS

    if user.role not in (SECRETARIAT, SUPERVISOR):
        return None
    rows = []
    for token, filename, staged_at in UPLOADS.pending():
        when = to_local(datetime.fromtimestamp(staged_at, UTC).replace(tzinfo=None))
        url = url_for("bank.import_preview", token=token) if user.role == SECRETARIAT else None
        rows.append((f"{filename}（题库导入，待确认）", url, f"上传于 {when:%m-%d %H:%M}"))
    return render("bank-imports", "待确认的导入", rows, empty="没有待确认的题库导入。")


def area():
    from certify.area import Area, Step, nav
    from certify.domain import SECRETARIAT, SUPERVISOR

    from . import models  # noqa: F401  (registers the tables)
    from .cli import COMMANDS
    from .routes import bp

    return Area(name="question_bank", blueprints=[bp], cli_commands=COMMANDS,
                nav=[nav((SECRETARIAT, SUPERVISOR), "题库", "bank.index")],
                demo_steps=[Step(30, "question_bank.demo", demo_step)],
                staff_panels=[Step(30, "question_bank.imports", staff_panel)], setup=_setup)


def _setup(app) -> None:
    from .bank_job import register

    register()  # a large bank import as a background job kind
