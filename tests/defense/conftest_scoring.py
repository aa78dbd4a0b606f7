"""Fixtures for live scoring tests, built directly from Panel/PanelMember/Panelist/DefenseAssignment rows
(independent of the scheduler). Import the fixtures you need into a test module."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from certify.accounts import create_user
from certify.domain import INTERMEDIATE, PANELIST
from certify.extensions import db
from certify.models import Candidate, Round, User
from certify.rounds import create_round
from defense.models import DefenseAssignment, Panel, Panelist, PanelMember
from tests.conftest import TEST_PASSWORD, login, socket_client

# Valid mainland ID numbers are not needed here (the roster import checks them); any 18 characters will do.
ID_BASE = "50010119800101"


@dataclass
class PanelSetup:
    round: Round
    panel: Panel
    users: list[User]  # users[0] is the chair
    panelists: list[Panelist]
    candidates: list[Candidate]
    assignments: list[DefenseAssignment] = field(default_factory=list)

    @property
    def chair(self) -> User:
        return self.users[0]


def build_panel(*, members: int = 4, candidates: int = 2, round_code: str = "2024-cq", panel_name: str = "第一答辩组",
                prefix: str = "p", candidate_units: list[str] | None = None) -> PanelSetup:
    rnd = db.session.execute(db.select(Round).filter_by(code=round_code)).scalar_one_or_none() or \
        create_round(round_code, "重庆", 2024)
    db.session.flush()
    panel = Panel(round_id=rnd.id, name=panel_name, room="科技馆 301")
    db.session.add(panel)
    users, panelists = [], []
    for i in range(members):
        user, _ = create_user(f"{prefix}{i}", PANELIST, password=TEST_PASSWORD, display_name=f"专家{prefix}{i}",
                              generated=False)
        db.session.flush()
        p = Panelist(round_id=rnd.id, user_id=user.id, name=f"专家{prefix}{i}", work_unit=f"专家单位{prefix}{i}",
                     import_key=f"{prefix}{i}")
        db.session.add(p)
        db.session.flush()
        panel.members.append(PanelMember(panelist_id=p.id, is_chair=(i == 0)))
        users.append(user)
        panelists.append(p)
    db.session.flush()
    cands, assignments = [], []
    start = datetime(2024, 11, 2, 0, 30)
    existing = db.session.execute(db.select(db.func.count(Candidate.id))).scalar() or 0
    for j in range(candidates):
        n = existing + j + 1
        unit = (candidate_units[j] if candidate_units and j < len(candidate_units) else f"考生单位{n}")
        c = Candidate(round_id=rnd.id, ticket=f"T{n:05d}", id_number=f"{ID_BASE}{n:04d}", name=f"考生{n}",
                      work_unit=unit, level=INTERMEDIATE)
        db.session.add(c)
        db.session.flush()
        a = DefenseAssignment(round_id=rnd.id, candidate_id=c.id, panel_id=panel.id,
                              start_at=start + timedelta(minutes=20 * j), end_at=start + timedelta(minutes=20 * (j + 1)),
                              queue_position=j + 1)
        db.session.add(a)
        cands.append(c)
        assignments.append(a)
    db.session.commit()
    return PanelSetup(rnd, panel, users, panelists, cands, assignments)


@pytest.fixture
def scoring_panel(ctx):
    """Factory: build_panel(**kwargs) inside the test's app context."""
    return build_panel


@pytest.fixture
def restore_socketio(app):
    """SocketIOTestClient patches the server for good (packet senders, sync handlers); undo that after the test
    so a live server later in the session (browser tests) talks to real clients again."""
    from certify.extensions import socketio

    server = socketio.server
    saved = {name: server.__dict__.get(name, _MISSING) for name in ("_send_packet", "_send_eio_packet")}
    saved_async = (server.async_handlers, server.eio.async_handlers)
    yield
    for name, value in saved.items():
        if value is _MISSING:
            server.__dict__.pop(name, None)
        else:
            setattr(server, name, value)
    server.async_handlers, server.eio.async_handlers = saved_async


@pytest.fixture
def sio_clients(app, restore_socketio):
    """Factory: a Flask-SocketIO test client on /defense for a username (logged in through a Flask client)."""
    made = []

    def make(username: str, join_panel: int | None = None):
        flask_client = app.test_client()
        resp = login(flask_client, username)
        assert resp.status_code == 302
        client = socket_client(app, "/defense", flask_client)
        assert client.is_connected("/defense")
        made.append(client)
        if join_panel is not None:
            ack = client.emit("join", {"panel_id": join_panel}, namespace="/defense", callback=True)
            assert ack["ok"], ack
        client.flask_client = flask_client
        return client

    yield make
    for c in made:
        if c.is_connected("/defense"):
            c.disconnect(namespace="/defense")


_MISSING = object()
