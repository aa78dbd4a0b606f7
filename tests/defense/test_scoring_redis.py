"""Two real server processes sharing a SQLite file and a Redis message queue: the chair connected to process A
sees, live, a panelist's submission made through process B. Skipped only when TEST_REDIS_URL is unset."""
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.redis
ROOT = Path(__file__).resolve().parents[2]

SETUP = r'''
import json, os
from certify import create_app
from certify.extensions import db
app = create_app({"SQLALCHEMY_DATABASE_URI": os.environ["DATABASE_URL"], "EXAM_SWEEPER_ENABLED": False})
with app.app_context():
    db.create_all()
    from tests.defense.conftest_scoring import build_panel
    from defense.scoring import operations as ops
    setup = build_panel(members=3, candidates=1)
    cases = ops.ensure_cases(setup.panel)
    ops.check_in(cases[0]); ops.call_next(setup.panel)
    db.session.commit()
    print(json.dumps({"panel_id": setup.panel.id, "case_id": cases[0].id}))
'''

SERVER = r'''
import os, sys
from certify import create_app
from certify.extensions import socketio
app = create_app({"SQLALCHEMY_DATABASE_URI": os.environ["DATABASE_URL"], "REDIS_URL": os.environ["REDIS_URL"],
                  "EXAM_SWEEPER_ENABLED": False, "LOGIN_RATE_LIMIT": "1000 per minute"})
socketio.run(app, host="127.0.0.1", port=int(sys.argv[1]), allow_unsafe_werkzeug=True, use_reloader=False,
             log_output=False)
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def login_session(base: str, username: str):
    """A requests.Session logged in through the login page (as a browser does)."""
    import requests

    session = requests.Session()
    page = session.get(f"{base}/login", timeout=5).text
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)
    resp = session.post(f"{base}/login", data={"username": username, "password": "test-pass-123",
                                               "csrf_token": token}, allow_redirects=False, timeout=5)
    assert resp.status_code == 302, resp.text[:300]
    return session


def login_cookie(base: str, username: str) -> str:
    return "; ".join(f"{k}={v}" for k, v in login_session(base, username).cookies.items())


def socket_login(base: str, username: str) -> dict:
    """Keyword arguments for ``socketio.Client.connect``: the session cookie of ``username`` and, in ``auth``, the
    page's CSRF token (what a browser page sends at connect)."""
    session = login_session(base, username)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', session.get(f"{base}/", timeout=5).text).group(1)
    cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())  # after the page: it may refresh the session
    return {"headers": {"Cookie": cookie}, "auth": {"csrf_token": token}}


def wait_up(base: str, proc) -> None:
    import requests

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if requests.get(f"{base}/login", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.1)
    raise AssertionError("server did not start")


def test_chair_on_one_process_sees_submission_made_on_another(tmp_path):
    redis_url = os.environ.get("TEST_REDIS_URL")
    if not redis_url:
        pytest.skip("TEST_REDIS_URL is unset")
    import socketio

    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}", "REDIS_URL": redis_url,
           "SECRET_KEY": "two-process-test", "CERTIFY_INSTANCE": str(tmp_path / "instance"),
           "PYTHONPATH": str(ROOT), "EXAM_SWEEPER_ENABLED": "0"}
    out = subprocess.run([sys.executable, "-c", SETUP], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    ids = json.loads(out.stdout.strip().splitlines()[-1])
    ports = [free_port(), free_port()]
    procs = [subprocess.Popen([sys.executable, "-c", SERVER, str(p)], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for p in ports]
    clients = []
    try:
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        for base, proc in zip(bases, procs):
            wait_up(base, proc)
        seen = threading.Event()
        received = []

        def on_state(state):
            received.append(state)
            case = next(c for c in state["cases"] if c["id"] == ids["case_id"])
            if any(m["name"] == "专家p1" and m["status"] == "submitted" for m in case.get("members", [])):
                seen.set()

        chair = socketio.Client()
        chair.on("state", on_state, namespace="/defense")
        chair.connect(bases[0], namespaces=["/defense"], **socket_login(bases[0], "p0"), transports=["websocket"])
        clients.append(chair)
        assert chair.call("join", {"panel_id": ids["panel_id"]}, namespace="/defense", timeout=10)["ok"]

        panelist = socketio.Client()
        panelist.connect(bases[1], namespaces=["/defense"], **socket_login(bases[1], "p1"),
                         transports=["websocket"])
        clients.append(panelist)
        joined = panelist.call("join", {"panel_id": ids["panel_id"]}, namespace="/defense", timeout=10)
        assert joined["ok"], joined
        state = joined["state"]
        sheet = next(c for c in state["cases"] if c["id"] == ids["case_id"])["my_sheet"]
        scores = dict(zip([str(c["id"]) for c in state["rubric"]["criteria"]], ["25", "26.5", "33"]))
        ack = panelist.call("submit", {"sheet_id": sheet["id"], "scores": scores, "version": sheet["version"]},
                            namespace="/defense", timeout=10)
        assert ack["ok"], ack
        assert seen.wait(10), f"the chair on process A never saw the submission (got {len(received)} pushes)"
        # independence holds across processes too: the chair has not submitted, so no totals
        last = next(c for c in received[-1]["cases"] if c["id"] == ids["case_id"])
        assert all("total" not in m for m in last["members"])
    finally:
        for c in clients:
            c.disconnect()
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
