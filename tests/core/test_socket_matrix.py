"""The route × role matrix, extended to Socket.IO: every event of every namespace any area registers, every role.

``MATRIX`` names, per ``(namespace, event)``, the roles that may send it (aimed at one fixed target: the owner's
attempt, the panel and a panel member's sheet). The events are read from the registered handlers, so an event added
without a matrix entry fails ``test_every_registered_event_has_a_matrix_entry``. For each event and each role:

- a role outside the entry is refused: the connection itself (anonymous: the namespaces admit logged-in users
  only), or an ack ``{"ok": false}`` with ``forbidden`` / ``not_found`` (nothing is revealed about others' objects);
- a role inside it is never refused for access (its ack may still refuse for the rules, e.g. an incomplete sheet);
- nobody ever gets ``server_error``.

The chair's event is checked once per action (``defense.scoring.events.CHAIR_ACTIONS`` and the two it handles itself).
"""
from __future__ import annotations

import pytest

from certify.area import EXTENSION
from certify.extensions import socketio
from defense.scoring.events import CHAIR_ACTIONS
from tests.conftest import login, socket_client
from tests.defense.conftest_scoring import build_panel, restore_socketio  # noqa: F401
from tests.exam.conftest import make_bank, make_exam_session, make_item  # noqa: F401
from tests.exam.test_api import api_login, start

ROLES = ("anonymous", "candidate", "other_candidate", "panelist", "chair", "other_panel_panelist", "supervisor",
         "secretariat")
ACCESS_REFUSALS = {"forbidden", "not_found"}

# (namespace, event) -> roles that may send it to the fixture's target
MATRIX = {
    ("/exam", "join_session"): {"supervisor", "secretariat"},
    ("/exam", "join_attempt"): {"candidate"},  # the attempt's own candidate only
    ("/exam", "heartbeat"): {"candidate"},
    ("/defense", "join"): {"panelist", "chair"},  # members of the panel only
    ("/defense", "state"): {"panelist", "chair"},
    ("/defense", "save_draft"): {"panelist"},  # the sheet's own panelist only (not even the chair)
    ("/defense", "submit"): {"panelist"},
    ("/defense", "recuse"): {"panelist"},
    ("/defense", "chair"): {"chair"},
}
CONNECTION_EVENTS = {"connect", "disconnect"}


def registered_events(app) -> set[tuple[str, str]]:
    """Every (namespace, event) this app handles: the ``on_<event>`` methods of the areas' namespaces, and any
    handler registered with ``@socketio.on``."""
    found = set()
    for area in app.extensions[EXTENSION].areas:
        for namespace in area.namespaces:
            found |= {(namespace.namespace, name[3:]) for name in dir(namespace)
                      if name.startswith("on_") and callable(getattr(namespace, name))}
    for namespace, handlers in (socketio.server.handlers or {}).items():
        found |= {(namespace, event) for event in handlers}
    return {(ns, event) for ns, event in found if event not in CONNECTION_EVENTS}


def test_every_registered_event_has_a_matrix_entry(app):
    events = registered_events(app)
    assert {("/exam", "join_session"), ("/defense", "chair")} <= events
    assert events - set(MATRIX) == set(), "Socket.IO events without a matrix entry (add them to MATRIX)"
    assert set(MATRIX) - events == set(), "matrix entries for events nobody registers"


def verdict(ack: dict | None, allowed: bool) -> str | None:
    """What is wrong with an answer (None: nothing). ``ack`` None: the connection was refused."""
    if ack is not None and ack.get("code") == "server_error":
        return "server error"
    refused = ack is None or (not ack.get("ok") and ack.get("code") in ACCESS_REFUSALS)
    if allowed and refused:
        return "refused, but the role may send it"
    if not allowed and not refused:
        return "expected a refusal (forbidden / not_found)"
    return None


@pytest.fixture
def world(app, make_user, make_exam_session):
    setup = build_panel(members=3, candidates=2)  # p0 chair, p1 and p2 panelists
    build_panel(members=1, candidates=0, panel_name="第二答辩组", prefix="q")  # q0: another panel's panelist
    session = make_exam_session(candidates=2, duration=60)
    owner, other = session.candidates_made
    api_client = app.test_client()
    api_login(api_client, owner.ticket)
    attempt = start(api_client, session.id)
    usernames = {"candidate": owner.ticket, "other_candidate": other.ticket, "panelist": "p1", "chair": "p0",
                 "other_panel_panelist": "q0", "supervisor": make_user("supervisor").username,
                 "secretariat": make_user("secretariat").username}
    return {"panel": setup.panel.id, "session": session.id, "attempt": attempt, "usernames": usernames}


def test_every_event_refuses_every_role_outside_its_entry(app, world, restore_socketio):
    connections: dict[tuple[str, str], object] = {}

    def connect(role: str, namespace: str):
        key = (role, namespace)
        if key not in connections:
            flask_client = app.test_client()
            if role != "anonymous":
                assert login(flask_client, world["usernames"][role]).status_code == 302
            connections[key] = socket_client(app, namespace, flask_client)
        return connections[key]

    def send(role, namespace, event, payload):
        client = connect(role, namespace)
        if not client.is_connected(namespace):
            return None  # the connection was refused
        return client.emit(event, payload, namespace=namespace, callback=True)

    # the sheets exist once the room has been opened; p1's sheet of the first case is the target
    joined = send("panelist", "/defense", "join", {"panel_id": world["panel"]})
    assert joined["ok"], joined
    case = joined["state"]["cases"][0]
    sheet_id = case["my_sheet"]["id"]
    attempt = world["attempt"]
    payloads = {
        ("/exam", "join_session"): [{"session_id": world["session"]}],
        ("/exam", "join_attempt"): [{"attempt_id": attempt["attempt_id"]}],
        ("/exam", "heartbeat"): [{"attempt_id": attempt["attempt_id"], "token": attempt["client_token"], "tab": "t1"}],
        ("/defense", "join"): [{"panel_id": world["panel"]}],
        ("/defense", "state"): [{"panel_id": world["panel"]}],
        ("/defense", "save_draft"): [{"sheet_id": sheet_id, "scores": {}, "version": case["my_sheet"]["version"]}],
        ("/defense", "submit"): [{"sheet_id": sheet_id, "scores": {}, "version": case["my_sheet"]["version"]}],
        ("/defense", "recuse"): [{"sheet_id": sheet_id, "reason": ""}],
        ("/defense", "chair"): [{"panel_id": world["panel"], "action": action, "case_id": case["id"],
                                 "sheet_id": sheet_id, "reason": ""}
                                for action in ("call_next", "reopen_sheet", *CHAIR_ACTIONS)],
    }
    assert set(payloads) == set(MATRIX)
    problems, checked = [], 0
    for (namespace, event), allowed in MATRIX.items():
        # refused roles first, so a permitted change made below cannot mask a refusal
        for role in sorted(ROLES, key=lambda r: r in allowed):
            for payload in payloads[(namespace, event)]:
                ack = send(role, namespace, event, payload)
                checked += 1
                problem = verdict(ack, role in allowed)
                if problem:
                    problems.append(f"{namespace} {event} {payload.get('action', '')} as {role}: {ack}: {problem}")
    for client in connections.values():
        for namespace in ("/exam", "/defense"):
            if client.is_connected(namespace):
                client.disconnect(namespace=namespace)
    assert checked >= len(MATRIX) * len(ROLES)
    assert problems == [], "\n".join(problems)
    print(f"socket matrix: {len(MATRIX)} events ({checked // len(ROLES)} with the chair's actions) × {len(ROLES)} roles"
          f" = {checked} checks")
