"""Wires the item analysis into the app: blueprint, nav for the secretariat and supervisors, export "items"."""
from __future__ import annotations


def init_analysis(app) -> None:
    from certify.domain import SECRETARIAT, SUPERVISOR
    from certify.registry import register_export
    from certify.templating import add_nav

    from .analysis import write_items_export
    from .analysis_routes import bp

    app.register_blueprint(bp)
    add_nav([SECRETARIAT, SUPERVISOR], "试题分析", "exam_analysis.index")
    register_export("items", write_items_export)
