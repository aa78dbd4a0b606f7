"""Wires live defense scoring into the app: the room blueprint, the Socket.IO namespace, nav, export, demo."""
from __future__ import annotations


def init_scoring(app) -> None:
    from certify.domain import PANELIST, SECRETARIAT, SUPERVISOR
    from certify.registry import register_demo_step, register_export
    from certify.templating import add_nav

    from .events import init_events
    from .room import bp
    from .scoring_reports import write_defense_export

    app.register_blueprint(bp)
    init_events()
    add_nav([PANELIST], "答辩评分", "defense_room.my_panels")
    add_nav([SECRETARIAT, SUPERVISOR], "答辩成绩", "defense_room.cases")
    add_nav([SECRETARIAT, SUPERVISOR], "评审质量", "defense_room.quality")
    register_export("defense", write_defense_export)
    register_demo_step(60, "defense.rubric", demo_rubric)


def demo_rubric(context: dict) -> None:
    """Demo: the default rubric (认识理解 30 · 科技素养 30 · 组织策划能力 40) for the demo round demo-cq."""
    from .scoring_operations import get_rubric

    rnd = context.get("round")
    if rnd is not None:
        get_rubric(rnd.id)
