"""Publishing the results (the publicity period opens) notifies every candidate of the round."""
from __future__ import annotations

from datetime import date

from certify.extensions import db
from certify.notices.models import Notice
from certify.results import operations as ops


def test_publication_tells_every_candidate_of_the_round(make_round, scored):
    rnd = make_round()
    a = scored(rnd, "中级", exam=80, defense=80, record=80)
    b = scored(rnd, "中级", exam=60, defense=60, record=60)
    ops.confirm(rnd, "中级")
    db.session.commit()
    assert db.session.scalar(db.select(db.func.count()).select_from(Notice)) == 0  # confirming tells nobody
    ops.publish(rnd, date(2026, 12, 7), 5)
    db.session.commit()
    for cand in (a, b):
        [notice] = db.session.scalars(db.select(Notice).filter_by(user_id=cand.user_id)).all()
        assert notice.kind == "publicity" and rnd.title in notice.title
        assert "2026-12-07 至 2026-12-11" in notice.body
