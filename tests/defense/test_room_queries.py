"""The cost of the live room: one panelist autosave, the commit and the post-commit push of every member's view
take the same bounded number of SQL statements whatever the size of the panel and its queue."""
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from certify.extensions import db
from defense.scoring import operations as ops
from tests.defense.conftest_scoring import restore_socketio, scoring_panel, sio_clients  # noqa: F401

NS = "/defense"


@contextmanager
def counting():
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if not statement.startswith("BEGIN"):  # SQLite's BEGIN IMMEDIATE for socket writes: control, not a query
            statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def autosave_cost(scoring_panel, sio_clients, members: int, candidates: int, prefix: str) -> tuple[int, list]:
    setup = scoring_panel(members=members, candidates=candidates, prefix=prefix, round_code=f"2024-{prefix}",
                          panel_name=f"{prefix}组")
    ops.ensure_cases(setup.panel)
    db.session.commit()
    pid = setup.panel.id
    clients = [sio_clients(f"{prefix}{i}", pid) for i in range(members)]
    panelist = clients[1]
    state = panelist.emit("state", {"panel_id": pid}, namespace=NS, callback=True)["state"]
    case = state["cases"][candidates // 2]
    criterion = str(state["rubric"]["criteria"][0]["id"])
    for c in clients:
        c.get_received(NS)
    db.session.expire_all()
    with counting() as statements:
        ack = panelist.emit("save_draft", {"sheet_id": case["my_sheet"]["id"], "scores": {criterion: "12.5"},
                                           "version": case["my_sheet"]["version"]}, namespace=NS, callback=True)
    assert ack["ok"], ack
    # the push reached every member, each with their own view
    for i, c in enumerate(clients):
        pushed = [e["args"][0] for e in c.get_received(NS) if e["name"] == "state"]
        assert len(pushed) == 1, (i, len(pushed))
        assert pushed[0]["me"]["is_chair"] == (i == 0)
        assert len(pushed[0]["cases"]) == candidates
    return len(statements), statements


@pytest.mark.parametrize("members,candidates", [(5, 20), (5, 60), (9, 20), (9, 60)])
def test_autosave_and_push_cost_a_bounded_number_of_statements(scoring_panel, sio_clients, members, candidates):
    n, statements = autosave_cost(scoring_panel, sio_clients, members, candidates, f"q{members}x{candidates}-")
    print(f"\n{members} panelists × {candidates} candidates: {n} SQL statements")
    assert n <= BOUND, "\n".join(statements)
    COUNTS[(members, candidates)] = n
    if len(COUNTS) == 4:
        assert len(set(COUNTS.values())) == 1, COUNTS  # independent of the panel's size and queue


COUNTS: dict = {}
# 8 statements for the autosave itself (user, sheet, panelist, case, membership, rubric, criteria, update) and
# 7 for the push of every member's view (panel, members, panelists, rubric, criteria, cases+candidates, sheets).
# Before the snapshot, the push recomputed the room per member: 406 / 1166 / 658 / 1898 statements.
BOUND = 15
