from decimal import Decimal

from certify.extensions import db
from certify.models import ComponentScore
from certify.results import operations as ops
from certify.results.demo import demo_records


def test_demo_step_gives_demo_jl_candidates_work_record_scores_without_confirming(ctx, make_round, make_candidate):
    rnd = make_round("demo-jl", "吉林")
    cands = [make_candidate(rnd) for _ in range(8)]
    printed = []
    demo_records({"print": printed.append, "logins": []})
    db.session.commit()
    scores = {row.candidate_id: row.score for row in db.session.execute(db.select(ComponentScore)).scalars()}
    assert set(scores) == {c.id for c in cands}
    assert all(Decimal(0) <= Decimal(s) <= Decimal(100) for s in scores.values())
    assert ops.result_set_for(rnd, "初级") is None and printed
    comp = ops.compute(rnd, "初级")
    assert comp.eligible == 8 and not comp.missing
