"""Shared fixtures of the exam tests: a question-bank factory and a session-with-papers factory.

Stable API (add, don't change):
- ``make_item(category=…, type=…, difficulty=…, level=…, answer=…, n_options=…, status=…)`` → ItemVersion
- ``make_bank(spec=None)`` → list[ItemVersion]; ``spec`` is a list of (category, type, difficulty, level, n);
  the default (``DEFAULT_BANK``) fills ``DEMO_ROWS`` for both levels with room to spare.
- ``make_exam_session(rnd=None, level="初级", candidates=3, mode="per_candidate", rows=DEMO_ROWS,
  opens_at=None, closes_at=None, duration=60, late_entry=30, seed=7, extra={cand_index: minutes}, bank=True)``
  → ExamSession with every candidate assigned and papers generated (opens now, closes in 24 h by default).
  ``session.candidates_made`` lists the Candidate objects created (in order).
"""
from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from certify.clock import utcnow
from certify.extensions import db
from exam.demo import DEMO_ROWS  # the demo blueprint: 10/8/7/5 single, 10 multiple, 20 true/false
from tests.defense.conftest_scoring import restore_socketio  # noqa: F401  (the sockets fixture uses it)

CATEGORIES = ("科学素养", "科学教育理论", "活动组织", "安全规范")
# (category, type, difficulty, level, n): per category 15 single (3 per difficulty), 4 multiple, 7 true/false
DEFAULT_BANK = [(c, "single", d, "通用", 3) for c in CATEGORIES for d in range(1, 6)] + \
    [(c, "multiple", d, "通用", 1) for c in CATEGORIES for d in (1, 2, 4, 5)] + \
    [(c, "truefalse", d, "通用", 1) for c in CATEGORIES for d in range(1, 6)] + \
    [(c, "truefalse", 3, "通用", 2) for c in CATEGORIES]

_counter = itertools.count(1)


@pytest.fixture
def make_item(ctx):
    from question_bank.models import ACTIVE, Item, ItemVersion

    def factory(category: str = "科学素养", type: str = "single", difficulty: int = 3, level: str = "通用", *,
                answer: str | None = None, n_options: int = 4, status: str = ACTIVE, facility=None,
                facility_n=None, stem: str | None = None, commit: bool = True):
        n = next(_counter)
        if type == "truefalse":
            options, answer = ["正确", "错误"], answer or "A"
        else:
            options = [f"选项{chr(65 + i)}-{n}" for i in range(n_options)]
            answer = answer or ("B" if type == "single" else "AC")
        item = Item(code=f"TQ{n:06d}", stem_key=f"k{n:08d}", status=status, facility=facility,
                    facility_n=facility_n)
        db.session.add(item)
        db.session.flush()
        version = ItemVersion(item_id=item.id, version=1, type=type, stem=stem or f"测试题干 {n}（{category}）",
                              options=options, answer=answer, category=category, difficulty=difficulty,
                              level=level)
        db.session.add(version)
        db.session.flush()
        item.current_version_id = version.id
        if commit:
            db.session.commit()
        return version

    return factory


@pytest.fixture
def make_bank(make_item):
    def factory(spec=None):
        made = []
        for category, type_, difficulty, level, n in (DEFAULT_BANK if spec is None else spec):
            for _ in range(n):
                made.append(make_item(category, type_, difficulty, level, commit=False))
        db.session.commit()
        return made

    return factory


@pytest.fixture
def make_exam_session(ctx, make_round, make_candidate, make_bank):
    from certify.models import Round
    from exam.authoring.papers import save_blueprint
    from exam.authoring.sessions import create_session, set_extra_time

    def factory(rnd=None, level: str = "初级", candidates: int = 3, mode: str = "per_candidate", rows=None,
                opens_at=None, closes_at=None, duration: int = 60, late_entry: int = 30, seed: int = 7,
                extra: dict | None = None, bank: bool = True, name: str | None = None):
        if rnd is None:
            rnd = db.session.execute(db.select(Round).filter_by(code="2024-cq")).scalar_one_or_none() or \
                make_round("2024-cq", "重庆", 2024)
        if bank and not factory.bank_made:
            make_bank()
            factory.bank_made = True
        scheme = rnd.scheme_for(level)
        made = [make_candidate(rnd, level=level) for _ in range(candidates)]
        blueprint = save_blueprint(scheme, name=f"{level}测试方案{next(_counter)}", mode=mode,
                                   rows=[dict(r, difficulty_min=r.get("difficulty_min", 1),
                                              difficulty_max=r.get("difficulty_max", 5))
                                         for r in (rows or DEMO_ROWS)])
        opens = opens_at or utcnow().replace(microsecond=0)
        session = create_session(rnd, scheme, name=name or f"{level}测试场次{next(_counter)}",
                                 blueprint_id=blueprint.id, opens_at=opens,
                                 closes_at=closes_at or opens + timedelta(hours=24), duration_minutes=duration,
                                 late_entry_minutes=late_entry, instructions="测试须知", assign_all=False,
                                 candidate_ids=[c.id for c in made], event_warning_threshold=None, seed=seed)
        for index, minutes in (extra or {}).items():
            set_extra_time(session, made[index].id, minutes, reason="考试便利安排")
        db.session.commit()
        session.candidates_made = made
        return session

    factory.bank_made = False
    return factory


@pytest.fixture
def sockets(app, restore_socketio):
    """Socket.IO test clients on /exam, each logged in as ``username`` (its Flask client kept on ``flask_client``);
    disconnected afterwards."""
    from tests.conftest import login, socket_client

    made = []

    def make(username):
        flask_client = app.test_client()
        assert login(flask_client, username).status_code == 302
        client = socket_client(app, "/exam", flask_client)
        assert client.is_connected("/exam")
        client.flask_client = flask_client
        made.append(client)
        return client

    yield make
    for c in made:
        if c.is_connected("/exam"):
            c.disconnect(namespace="/exam")
