"""Live scoring's contribution to the app declared in ``defense.area()``: the demo rubric step."""
from __future__ import annotations


def demo_rubric(context: dict) -> None:
    """Demo: the default rubric (认识理解 30 · 科技素养 30 · 组织策划能力 40) for the demo round demo-cq."""
    from .operations import get_rubric

    rnd = context.get("round")
    if rnd is not None:
        get_rubric(rnd.id)
