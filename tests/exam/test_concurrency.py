"""Attempt writes are serialised: several threads hammer saves (over the real API, each its own client and
database connection) against a submit and the sweeper. Runs on SQLite and, with TEST_DATABASE_URL set, on
PostgreSQL.

Invariants: every acknowledged save is in the graded answers (a save is never acknowledged after the attempt
closed); the stored score equals a regrade of the stored answers; no 500s, no deadlock (every thread ends)."""
from __future__ import annotations

import itertools
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from certify.clock import utcnow
from certify.extensions import db
from exam.delivery import operations as ops
from exam.delivery.sweeper import sweep_once
from exam.models import CLOSED_STATES, Answer, Attempt
from tests.exam.test_api import api_login, start

SAVERS = 4


def _hammer(client, attempt, positions, seqs, stop, acked, statuses, errors):
    try:
        headers = {"X-Attempt-Token": attempt["client_token"]}
        for round_ in itertools.count():
            if stop.is_set():
                return
            for position in positions:
                response = ["A"] if (round_ + position) % 2 else ["B"]
                seq = next(seqs)
                resp = client.put(f"/api/exam/attempts/{attempt['attempt_id']}/answers/{position}",
                                  json={"response": response, "seq": seq}, headers=headers)
                statuses.append(resp.status_code)
                body = resp.get_json()
                if resp.status_code == 200:
                    if body["applied"]:
                        acked.append((position, seq, "".join(response)))
                elif resp.status_code == 409 and body["error"]["code"] in ("attempt_closed", "deadline_passed"):
                    return
                else:
                    errors.append((resp.status_code, body))
                    return
    except Exception as exc:  # noqa: BLE001 - reported by the test
        errors.append(repr(exc))


def _sweeper(app, stop, results, errors):
    try:
        while not stop.is_set():
            results.extend(sweep_once(app)["closed"])
            time.sleep(0.01)
    except Exception as exc:  # noqa: BLE001
        errors.append(repr(exc))


def _run(app, session, *, submit_after: float | None, deadline_in: float | None):
    cand = session.candidates_made[0]
    client = app.test_client()
    api_login(client, cand.ticket)
    attempt = start(client, session.id)
    positions = [item["position"] for item in attempt["items"]]
    seqs = itertools.count(1)
    stop, acked, statuses, errors, swept = threading.Event(), [], [], [], []
    clients = [app.test_client() for _ in range(SAVERS)]
    for c in clients:  # logged in before the race (password hashing is slow)
        api_login(c, cand.ticket)
    if deadline_in is not None:
        db.session.execute(update(Attempt).where(Attempt.id == attempt["attempt_id"])
                           .values(deadline_at=utcnow() + timedelta(seconds=deadline_in)))
        db.session.commit()
    threads = [threading.Thread(target=_hammer, args=(clients[i], attempt, positions[i::SAVERS], seqs, stop,
                                                      acked, statuses, errors)) for i in range(SAVERS)]
    threads.append(threading.Thread(target=_sweeper, args=(app, stop, swept, errors)))
    for t in threads:
        t.start()
    submitted = None
    if submit_after is not None:
        waited = time.monotonic()
        while len(acked) < 20 and time.monotonic() - waited < 30:  # let the saves get going
            time.sleep(0.01)
        time.sleep(submit_after)
        submitted = client.post(f"/api/exam/attempts/{attempt['attempt_id']}/submit",
                                headers={"X-Attempt-Token": attempt["client_token"]})
    else:
        time.sleep(deadline_in + 1.0)
    for t in threads[:SAVERS]:
        t.join(timeout=60)
    stop.set()
    threads[-1].join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread never finished (deadlock?)"
    assert not errors, errors[:5]
    assert 500 not in statuses
    return attempt, acked, statuses, submitted, swept


def _check_invariants(attempt_id, acked):
    db.session.expire_all()
    attempt = db.session.get(Attempt, attempt_id)
    assert attempt.state in CLOSED_STATES
    stored = {a.position: a for a in db.session.execute(select(Answer).filter_by(attempt_id=attempt_id)).scalars()}
    last = {}
    for position, seq, response in acked:
        if seq > last.get(position, (0, ""))[0]:
            last[position] = (seq, response)
    for position, (seq, response) in last.items():  # every acknowledged save is in the graded answers
        assert stored[position].seq == seq and stored[position].response == response, position
        assert stored[position].points is not None
    assert attempt.score == ops.compute_grade(attempt).score  # graded score = a regrade of the stored answers
    assert attempt.answered_count == sum(1 for a in stored.values() if a.response)
    return attempt


@pytest.fixture
def fast_grace(app):
    before = app.config.get("EXAM_SAVE_GRACE_SECONDS")
    app.config["EXAM_SAVE_GRACE_SECONDS"] = 0
    yield
    if before is None:
        app.config.pop("EXAM_SAVE_GRACE_SECONDS", None)
    else:
        app.config["EXAM_SAVE_GRACE_SECONDS"] = before


def test_saves_racing_a_submit_and_the_sweeper(app, make_exam_session):
    session = make_exam_session(candidates=1)
    attempt, acked, statuses, submitted, swept = _run(app, session, submit_after=0.2, deadline_in=None)
    assert submitted.status_code == 200 and submitted.get_json()["state"] == "submitted"
    assert len(acked) > SAVERS and statuses.count(409) >= 1  # saves were refused once it closed
    assert swept == []
    _check_invariants(attempt["attempt_id"], acked)


def test_saves_racing_the_deadline_and_the_sweeper(app, make_exam_session, fast_grace):
    session = make_exam_session(candidates=1)
    attempt, acked, statuses, _, swept = _run(app, session, submit_after=None, deadline_in=1.5)
    assert acked and statuses.count(409) >= 1
    stored = _check_invariants(attempt["attempt_id"], acked)
    assert stored.state == "auto_submitted"
    assert swept in ([], [attempt["attempt_id"]])  # closed by the sweep or by a late save, exactly once


def test_the_save_path_stays_lean(make_exam_session):
    """One locking header statement, one guarded upsert, one bookkeeping update (a stale save: no update)."""
    from sqlalchemy import event

    session = make_exam_session(candidates=1)
    attempt, token = ops.start_attempt(session, session.candidates_made[0])
    db.session.commit()
    attempt_id = attempt.id
    ops.save_answer(attempt_id, token=token, position=1, response=["A"], seq=1)  # warms the paper-shape cache
    db.session.commit()
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement.split()[0].upper())

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert ops.save_answer(attempt_id, token=token, position=2, response=["A"], seq=2)["applied"]
        applied, statements[:] = list(statements), []
        assert not ops.save_answer(attempt_id, token=token, position=2, response=["B"], seq=2)["applied"]
        stale = list(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    db.session.commit()
    assert [s for s in applied if s not in ("BEGIN", "SAVEPOINT")] == ["UPDATE", "INSERT", "UPDATE"]
    assert [s for s in stale if s not in ("BEGIN", "SAVEPOINT")] == ["UPDATE", "INSERT"]
