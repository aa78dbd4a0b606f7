"""The stored paper payload against an independent oracle: the builder startAttempt and getAttempt used before the
payload was stored (ORM rows of the paper's items and bank versions, one response model per item, ``jsonify``).

- pure: random papers and answers (Hypothesis), the rendered text with the answers filled in equals the oracle's
  items encoded as the API encodes JSON;
- through the API: random papers of a generated session, every start and getAttempt (after random saves and flags)
  answers exactly the bytes the old builder gives for the same attempt at the same instant; also for the practice
  paper and for a paper stored without a payload (rendered on the fly; a GET never stores it, a start does);
- a start is one attempt insert, the reads of a few small rows and the audit entry, and the audit trail's lock is
  taken last, by the commit.
"""
from __future__ import annotations

import json
import random
from datetime import UTC
from decimal import Decimal
from types import SimpleNamespace

import pytest
import time_machine
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select, update

from certify.clock import iso_utc, utcnow
from certify.extensions import db
from exam.delivery import schemas
from exam.models import ATTEMPT_STATE_LABELS, IN_PROGRESS, Answer, Attempt, Paper, PaperItem
from exam.services import paper_payload, timing
from question_bank.models import TYPE_LABELS, ItemVersion
from tests.exam.test_api import api_login

LETTERS = "ABCDEFGH"


# ------------------------------------------------------------------------------------------------- the oracle

def oracle_items(rows, answers) -> list[schemas.PaperItem]:
    """The old ``_paper_items``: ``rows`` are (paper item, version) pairs in position order, ``answers`` by position."""
    items = []
    for paper_item, version in rows:
        answer = answers.get(paper_item.position)
        order = paper_item.option_order or list(range(len(version.options)))
        items.append(schemas.PaperItem(
            position=paper_item.position, item_id=version.item_id, item_version_id=version.id,
            version=version.version, type=version.type, type_label=TYPE_LABELS[version.type], stem=version.stem,
            points=str(paper_item.points), options=[schemas.Option(id=LETTERS[w], text=version.options[w]) for w in order],
            response=list(answer.response) if answer else [], flagged=bool(answer.flagged) if answer else False,
            seq=answer.seq if answer else 0, time_spent_ms=answer.time_spent_ms if answer else 0))
    return items


def oracle_body(app, attempt: Attempt, now, token: str | None = None) -> bytes:
    """The old ``attempt_payload`` + ``jsonify`` of a stored attempt, reading the paper's rows through the ORM."""
    from exam.delivery.base import grace_seconds, token_tag

    session = attempt.session
    released = session.scores_released(now)
    state = timing.shown_state(now, attempt.state, attempt.deadline_at, grace_seconds())
    items = []
    if state == IN_PROGRESS:
        answers = {a.position: a for a in db.session.scalars(select(Answer).filter_by(attempt_id=attempt.id))}
        rows = db.session.execute(select(PaperItem, ItemVersion).join(ItemVersion, ItemVersion.id ==
                                                                      PaperItem.item_version_id)
                                  .where(PaperItem.paper_id == attempt.paper_id).order_by(PaperItem.position)).all()
        items = oracle_items(rows, answers)
    fields = dict(
        attempt_id=attempt.id, session_id=attempt.session_id, session_name=session.name, state=state,
        state_label=ATTEMPT_STATE_LABELS[state], started_at=iso_utc(attempt.started_at),
        deadline_at=iso_utc(attempt.deadline_at),
        remaining_seconds=timing.remaining_seconds(now, attempt.deadline_at) if state == IN_PROGRESS else 0,
        server_time=iso_utc(now), server_time_ms=int(now.replace(tzinfo=UTC).timestamp() * 1000),
        last_seq=attempt.last_seq, answered_count=attempt.answered_count,
        event_warning_threshold=session.event_warning_threshold, submitted_at=iso_utc(attempt.submitted_at),
        score=str(attempt.score) if released and attempt.score is not None else None, scores_released=released,
        items=items)
    if state == IN_PROGRESS:  # the signed attempt pass (exam.services.attempt_pass; its own tests) rides along
        from exam.delivery.api import issue_pass

        fields["attempt_pass"] = issue_pass(attempt, attempt.candidate.user_id)
    model = (schemas.StartedAttempt(**fields, client_token=token, token_tag=token_tag(token)) if token
             else schemas.Attempt(**fields))
    with app.test_request_context():
        return app.json.response(schemas.dump(model)).get_data()


# ------------------------------------------------------------------------------------------------- pure

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@st.composite
def papers(draw):
    n = draw(st.integers(1, 12))
    lines, rows, answers = [], [], {}
    positions = draw(st.permutations(range(1, n + 1)))
    for k, position in enumerate(positions):
        type_ = draw(st.sampled_from(["single", "multiple", "truefalse"]))
        options = draw(st.lists(text, min_size=2, max_size=8))
        order = draw(st.one_of(st.permutations(range(len(options))), st.just([])))
        points = Decimal(draw(st.integers(1, 9999))) / 100
        version = SimpleNamespace(item_id=1000 + k, id=5000 + k, version=draw(st.integers(1, 9)), type=type_,
                                  stem=draw(text), options=options)
        # what the database gives back for NUMERIC(6, 2): two places
        paper_item = SimpleNamespace(position=position, points=points.quantize(Decimal("0.01")), option_order=order)
        lines.append((position, points, order, version.id, version))
        rows.append((paper_item, version))
        if draw(st.booleans()):
            answers[position] = SimpleNamespace(
                response="".join(sorted(draw(st.sets(st.sampled_from(LETTERS[:len(options)]), max_size=3)))),
                flagged=draw(st.booleans()), seq=draw(st.integers(0, 2 ** 31 - 1)),
                time_spent_ms=draw(st.integers(0, 86_400_000)))
    rows.sort(key=lambda r: r[0].position)
    return lines, rows, answers


@settings(max_examples=150, deadline=None)
@given(papers())
def test_the_stored_payload_with_answers_is_the_old_builders_items(paper):
    lines, rows, answers = paper
    shown = {v.id: paper_payload.Version(v.item_id, v.id, v.version, v.type, TYPE_LABELS[v.type], v.stem,
                                         tuple(v.options)) for *_, v in lines}
    stored = paper_payload.render(paper_payload.item(pos, pts, order, shown[vid]) for pos, pts, order, vid, _ in lines)
    items = paper_payload.items_text(stored)
    got = paper_payload.with_answers(items, {p: paper_payload.Answer(a.response, a.flagged, a.seq, a.time_spent_ms)
                                             for p, a in answers.items()})
    expected = [schemas.dump(m) for m in oracle_items(rows, answers)]
    # the API's encoding: flask.json out of debug mode (ASCII, sorted keys, compact)
    assert got == json.dumps(expected, ensure_ascii=True, sort_keys=True, separators=(",", ":"))
    assert all(set(i) == set(schemas.PaperItem.model_fields) for i in json.loads(got))  # nothing else, no key
    assert paper_payload.with_answers(items, {}) is items
    assert paper_payload.items_text(stored.replace('"format":1', '"format":0')) is None  # another format: re-render
    assert paper_payload.items_text(None) is None


# ------------------------------------------------------------------------------------------------- through the API

def _start(client, session_id):
    resp = client.post(f"/api/exam/sessions/{session_id}/attempt")
    assert resp.status_code == 200, resp.get_json()
    return resp


def _get(client, body):
    resp = client.get(f"/api/exam/attempts/{body['attempt_id']}", headers={"X-Attempt-Token": body["client_token"]})
    assert resp.status_code == 200, resp.get_json()
    return resp


def _attempt(attempt_id) -> Attempt:
    db.session.expire_all()
    return db.session.get(Attempt, attempt_id)


def _scribble(client, body, rng):
    """Random saves and flags on the attempt's paper."""
    headers = {"X-Attempt-Token": body["client_token"]}
    for seq, item in enumerate(rng.sample(body["items"], k=min(8, len(body["items"]))), 1):
        letters = [o["id"] for o in item["options"]]
        choice = sorted(rng.sample(letters, 2)) if item["type"] == "multiple" else [rng.choice(letters)]
        r = client.put(f"/api/exam/attempts/{body['attempt_id']}/answers/{item['position']}",
                       json={"response": choice if seq % 4 else [], "seq": seq, "time_spent_ms": rng.randint(0, 9999)},
                       headers=headers)
        assert r.status_code == 200, r.get_json()
        if rng.random() < 0.4:
            r = client.put(f"/api/exam/attempts/{body['attempt_id']}/flags/{item['position']}",
                           json={"flagged": True}, headers=headers)
            assert r.status_code == 200, r.get_json()
    flag_only = rng.choice(body["items"])["position"]  # a flag on an item never answered: a row with no response
    assert client.put(f"/api/exam/attempts/{body['attempt_id']}/flags/{flag_only}", json={"flagged": True},
                      headers=headers).status_code == 200


@pytest.mark.parametrize("mode", ["per_candidate", "fixed"])
def test_start_and_get_attempt_answer_the_old_builders_bytes(app, make_exam_session, mode):
    session = make_exam_session(candidates=3, mode=mode, duration=90)
    rng = random.Random(mode)
    stored = db.session.scalars(select(Paper.payload_json).where(Paper.session_id == session.id)).all()
    assert len(stored) == 3 and all(paper_payload.items_text(s) for s in stored)  # rendered at generation
    for cand in session.candidates_made:
        client = app.test_client()
        api_login(client, cand.ticket)
        with time_machine.travel(utcnow(), tick=False):
            resp = _start(client, session.id)
            body = resp.get_json()
            assert resp.get_data() == oracle_body(app, _attempt(body["attempt_id"]), utcnow(), body["client_token"])
            assert resp.mimetype == "application/json"
        _scribble(client, body, rng)
        with time_machine.travel(utcnow(), tick=False):
            for call in (_get, _start):  # a reload, then a resume
                resp = call(client, body) if call is _get else call(client, session.id)
                got = resp.get_json()
                token = got.get("client_token")
                assert resp.get_data() == oracle_body(app, _attempt(body["attempt_id"]), utcnow(), token)
                assert any(i["response"] for i in got["items"]) and any(i["flagged"] for i in got["items"])


def test_a_paper_without_a_stored_payload_is_rendered_and_a_start_keeps_it(app, client, make_exam_session):
    session = make_exam_session(candidates=1)
    cand = session.candidates_made[0]
    db.session.execute(update(Paper).where(Paper.session_id == session.id).values(payload_json=None))
    db.session.commit()
    api_login(client, cand.ticket)
    with time_machine.travel(utcnow(), tick=False):
        resp = _start(client, session.id)
        body = resp.get_json()
        assert resp.get_data() == oracle_body(app, _attempt(body["attempt_id"]), utcnow(), body["client_token"])
    stored = db.session.scalar(select(Paper.payload_json).where(Paper.session_id == session.id))
    assert paper_payload.items_text(stored)  # the start kept what it rendered
    db.session.execute(update(Paper).where(Paper.session_id == session.id).values(payload_json='{"format":0}'))
    db.session.commit()
    with time_machine.travel(utcnow(), tick=False):
        resp = _get(client, body)  # a GET renders it again and writes nothing (UOW_STRICT_READS would fail it)
        assert resp.get_data() == oracle_body(app, _attempt(body["attempt_id"]), utcnow())
    db.session.expire_all()
    assert db.session.scalar(select(Paper.payload_json).where(Paper.session_id == session.id)) == '{"format":0}'


def test_the_practice_paper_is_stored_with_its_payload(app, client, make_exam_session, make_candidate):
    from exam.delivery.practice import eligible_items, open_practice, set_practice_items

    session = make_exam_session(candidates=1)
    rnd, scheme = db.session.get(type(session.scheme.round), session.round_id), session.scheme
    ids = [item.id for item, _ in eligible_items(scheme.level)][:7]
    practice = set_practice_items(rnd, scheme, ids)
    db.session.commit()
    cand = session.candidates_made[0]
    open_practice(cand)
    db.session.commit()
    api_login(client, cand.ticket)
    with time_machine.travel(utcnow(), tick=False):
        resp = _start(client, practice.id)
        body = resp.get_json()
        assert len(body["items"]) == 7
        assert resp.get_data() == oracle_body(app, _attempt(body["attempt_id"]), utcnow(), body["client_token"])


# ------------------------------------------------------------------------------------------------- the start's cost

def test_a_start_is_one_insert_and_small_reads_and_takes_the_audit_lock_last(client, make_exam_session):
    session = make_exam_session(candidates=1)
    api_login(client, session.candidates_made[0].ticket)
    db.session.expire_all()
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        resp = _start(client, session.id)
        started = len(statements)
        _get(client, resp.get_json())
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    start, get = statements[:started], statements[started:]
    print("\n".join(["start:", *start, "getAttempt:", *get]))
    writes = [s for s in start if not s.startswith("SELECT")]
    audit = [s for s in start if "audit_entries" in s]
    # the user, candidate, session, assignment, attempt (none yet), scheme, the attempt INSERT, the paper's payload;
    # then the audit entry: the trail's lock (SQLite: the write lock; PostgreSQL: the advisory lock), its head, INSERT
    assert len(start) == 11, "\n".join(start)
    assert [s.split()[0:3] for s in writes if "audit_entries" not in s and "pg_advisory" not in s] == \
        [["INSERT", "INTO", "exam_attempts"]]
    assert not any("exam_paper_items" in s or "item_versions" in s for s in start + get)
    assert start[-3:] == ([s for s in start if "pg_advisory_xact_lock" in s] or audit[:1]) + audit[-2:]
    assert start[-1].startswith("INSERT INTO audit_entries")
    # getAttempt: the user, the attempt, its session, the paper's payload, the attempt's answers
    assert len(get) == 5, "\n".join(get)


def test_two_devices_starting_at_once_share_one_attempt_and_one_audit_entry(app, make_exam_session):
    """The INSERT … ON CONFLICT DO NOTHING: the device that loses the race resumes the winner's attempt."""
    import threading

    from certify.models import AuditEntry

    session = make_exam_session(candidates=1)
    cand = session.candidates_made[0]
    devices = 4
    clients = [app.test_client() for _ in range(devices)]
    for c in clients:
        api_login(c, cand.ticket)
    barrier = threading.Barrier(devices)
    results, errors = [], []
    url, candidate_id = f"/api/exam/sessions/{session.id}/attempt", cand.id  # no ORM objects in the threads

    def go(c):
        try:
            barrier.wait(timeout=30)
            r = c.post(url)
            results.append((r.status_code, r.get_json()))
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=go, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert [s for s, _ in results] == [200] * devices, results
    assert len({body["attempt_id"] for _, body in results}) == 1
    assert all(len(body["items"]) == len(results[0][1]["items"]) > 0 for _, body in results)
    db.session.remove()
    assert db.session.scalar(select(db.func.count()).select_from(Attempt).filter_by(candidate_id=candidate_id)) == 1
    assert db.session.scalar(select(db.func.count()).select_from(AuditEntry)
                             .filter_by(action="exam.attempt.start")) == 1
