"""Wires the exam administration (part A) into the app: blueprint, navigation, export, demo step."""
from __future__ import annotations


def init_admin(app) -> None:
    from certify.domain import SECRETARIAT, SUPERVISOR
    from certify.registry import register_demo_step, register_export
    from certify.templating import add_nav

    from .admin import bp
    from .demo import demo_exam_sessions
    from .exports import export_exam

    app.register_blueprint(bp)
    add_nav((SECRETARIAT, SUPERVISOR), "笔试", "exam_admin.sessions")
    register_export("exam", export_exam)
    register_demo_step(50, "exam.sessions", demo_exam_sessions)
