"""Demo step (order 80): work-record scores for the demo-jl round's candidates, so results can be run at once.
Nothing is confirmed."""
from __future__ import annotations

from decimal import Decimal

from certify.demo_core import note_change
from certify.domain import RECORD
from certify.extensions import db
from certify.models import Candidate, Round
from certify.scores import component_scores, record_component


def demo_score(index: int) -> Decimal:
    """A spread of plausible scores (deterministic), with a tie every seventh candidate."""
    base = 95 - (index * 37 % 31)
    frac = Decimal((index * 13) % 4) * Decimal("0.25")
    if index % 7 == 6:
        return demo_score(index - 1)
    return Decimal(base) + frac


def demo_records(context: dict) -> None:
    rnd = db.session.execute(db.select(Round).filter_by(code="demo-jl")).scalar_one_or_none()
    if rnd is None:
        return
    candidates = db.session.execute(
        db.select(Candidate).filter_by(round_id=rnd.id).order_by(Candidate.ticket)).scalars().all()
    recorded = component_scores(c.id for c in candidates)
    changed = 0
    for i, cand in enumerate(candidates):
        before = recorded.get(cand.id, {}).get(RECORD)
        if before is None or before.status != "scored" or Decimal(before.score) != demo_score(i):
            record_component(cand, RECORD, demo_score(i), source="演示数据")
            changed += 1
    if changed:
        note_change(context, f"演示：已为 {rnd.code} 的 {changed} 名考生录入业绩成果得分（未确认；"
                             f"运行 certify results --round {rnd.code} 查看排名）")
    elif candidates:
        context["print"](f"演示：{rnd.code} 的 {len(candidates)} 名考生已有业绩成果得分")
