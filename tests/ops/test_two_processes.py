"""Two web processes of the production shape (DEPLOYMENT.md) on PostgreSQL and Redis: what one process does, the
other shows, and killing one loses nothing that was acknowledged.

The deployment: a scratch PostgreSQL database next to TEST_DATABASE_URL's, migrated (``certify init-db``) and filled
with a round, an exam session open now with papers, a panel (chair + three panelists) with a scheduled candidate and a
secretariat account (SETUP below); processes A
and B started with ``gunicorn -c python:certify.gunicorn_conf certify.wsgi:app``, each on its own port, sharing
SECRET_KEY, DATABASE_URL, REDIS_URL and a SOCKETIO_CHANNEL unique to the run. Clients are plain ``requests`` and
``python-socketio`` clients, as a browser would be behind nginx's ``ip_hash`` (one client, one process) — except that
here a client is moved between processes on purpose.

Runs only with TEST_DATABASE_URL (PostgreSQL) and TEST_REDIS_URL set; ``-m "not multiprocess"`` leaves it out.
The measured timings are printed at the end of the module (setup, start-up, save round trip, fan-out latencies).
"""
from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

import pytest

from tests.ops.cluster import PASSWORD, Deployment, ScratchDatabase, cookie_header, socket_auth, staff_login

pytestmark = [pytest.mark.multiprocess, pytest.mark.redis]

FANOUT_BOUND = 5.0  # seconds: a notice made on one process reaches a client of the other within this
TIMINGS: dict[str, str] = {}


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _spread(values: list[float]) -> str:
    values = sorted(values)
    if not values:
        return "n/a"
    median = values[len(values) // 2]
    return f"n={len(values)} min {_ms(values[0])} · median {_ms(median)} · max {_ms(values[-1])}"


# ---------------------------------------------------------------------------------------------------- deployment

# ``certify init-db``, then the data of the scenarios from the operations the demo and the test factories use
# (tests/exam/conftest.py make_exam_session, tests/defense/conftest_scoring.py build_panel): a round, the demo
# bank, an exam session open now with papers for two candidates, a panel of a chair and three panelists with one
# scheduled candidate, a secretariat account. Seven accounts, so seven password hashes: the full ``certify demo``
# hashes ~35 and runs the scheduler, which made the set-up 40-60 s on a loaded 2-core machine.
SETUP = r"""
import json
from datetime import timedelta

from certify import create_app
from certify.cli import upgrade_database
from certify.extensions import db

app = create_app()
with app.app_context():
    upgrade_database()
    from certify.accounts import create_user
    from certify.clock import utcnow
    from certify.domain import JUNIOR, SECRETARIAT
    from certify.models import Candidate
    from certify.rounds import create_round
    from exam.demo import DEMO_ROWS
    from exam.models import PER_CANDIDATE
    from exam.authoring.papers import save_blueprint
    from exam.authoring.sessions import create_session
    from question_bank.operations import load_demo_bank
    from tests.conftest import TEST_PASSWORD
    from tests.defense.conftest_scoring import build_panel

    rnd = create_round("2024-cq", "重庆", 2024)
    create_user("mishu", SECRETARIAT, password=TEST_PASSWORD, display_name="秘书处", generated=False)
    load_demo_bank()
    candidates = []
    for n in (1, 2):
        user, _ = create_user(f"2024501{n:04d}", "candidate", password=TEST_PASSWORD, display_name=f"考生{n}",
                              generated=False)
        candidates.append(Candidate(round_id=rnd.id, user=user, ticket=user.username, name=f"考生{n}",
                                    id_number=f"50010319880412{n:04d}", work_unit="测试单位", district="渝中区",
                                    level=JUNIOR))
    db.session.add_all(candidates)
    db.session.flush()
    scheme = rnd.scheme_for(JUNIOR)
    blueprint = save_blueprint(scheme, name="初级组卷方案", mode=PER_CANDIDATE,
                               rows=[dict(r, difficulty_min=1, difficulty_max=5) for r in DEMO_ROWS])
    opens = utcnow().replace(microsecond=0)
    session = create_session(rnd, scheme, name="2024年初级笔试", blueprint_id=blueprint.id, opens_at=opens,
                             closes_at=opens + timedelta(hours=4), duration_minutes=60, late_entry_minutes=60,
                             instructions="两进程测试场次：按时作答。", assign_all=False,
                             candidate_ids=[c.id for c in candidates], event_warning_threshold=None, seed=7)
    assert len(session.assignments) == 2
    setup = build_panel(members=4, candidates=1, round_code="2024-cq")  # commits everything
    members = [{"username": u.username, "name": p.name} for u, p in zip(setup.users, setup.panelists)]
    print(json.dumps({"session_id": session.id, "tickets": [c.ticket for c in candidates],
                      "panel_id": setup.panel.id, "chair": members[0], "panelists": members[1:]}))
"""


@pytest.fixture(scope="module")
def deployment(request, tmp_path_factory):
    db_url = os.environ.get("TEST_DATABASE_URL", "")
    redis_url = os.environ.get("TEST_REDIS_URL", "")
    if not db_url.startswith("postgresql"):
        pytest.skip("needs TEST_DATABASE_URL pointing at PostgreSQL (the database of a deployment with several "
                    "web processes)")
    if not redis_url:
        pytest.skip("needs TEST_REDIS_URL (Socket.IO notices cross processes through Redis pub/sub)")
    pytest.importorskip("socketio")
    pytest.importorskip("requests")
    import psycopg

    started = time.monotonic()
    database = ScratchDatabase(db_url, f"mp{os.getpid()}")
    try:
        database.create()
    except psycopg.Error as err:
        pytest.skip(f"cannot create a scratch database next to TEST_DATABASE_URL: {err}")
    dep = Deployment(database, redis_url, tmp_path_factory.mktemp("two-processes"))
    try:
        # the processes boot (imports, app) while the set-up fills the database: they read no table to start
        a, b = dep.start_web("A"), dep.start_web("B")
        dep.ids = dep.run_python(SETUP)
        TIMINGS["set-up: migrations + data (processes booting meanwhile)"] = _ms(time.monotonic() - started)
        dep.wait_healthy(a)
        dep.wait_healthy(b)
        TIMINGS["set-up + start-up: both processes answer /healthz"] = _ms(time.monotonic() - started)
        yield dep
    finally:
        dep.stop_all()
        database.drop()
        TIMINGS["whole module"] = _ms(time.monotonic() - started)
        _report(request.config)


def _report(config) -> None:
    """Print the timings past pytest's output capture (they are the point of running this)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        reporter.write_line("")
        reporter.write_line("two processes on PostgreSQL + Redis: timings")
        for key, value in TIMINGS.items():
            reporter.write_line(f"  {key}: {value}")


def _pair(deployment) -> tuple:
    a, b = deployment.processes[:2]
    if not (a.alive() and b.alive()):
        pytest.skip("needs both processes running (the kill test runs last)")
    return a, b


# ---------------------------------------------------------------------------------------------------- clients

class Listener:
    """A python-socketio client of one namespace, logged in as a staff user; keeps every event with its arrival
    time (time.monotonic) and lets a test wait for a condition over them."""

    def __init__(self, base: str, username: str | None, namespace: str, events: tuple[str, ...], *, http=None,
                 csrf: str = ""):
        """``username``: a staff user logged in through the login page; or ``http`` and ``csrf``: the session and
        token of a client already logged in (a candidate's exam page, after the API login)."""
        import socketio

        self.namespace = namespace
        self.received: list[tuple[float, str, dict]] = []
        self.cond = threading.Condition()
        self.http = http if http is not None else staff_login(base, username)
        self.client = socketio.Client(reconnection=False)
        for name in events:
            self.client.on(name, self._handler(name), namespace=namespace)
        auth = {"csrf_token": csrf} if csrf else socket_auth(base, self.http)
        self.client.connect(base, namespaces=[namespace], headers={"Cookie": cookie_header(self.http)}, auth=auth,
                            transports=["websocket"], wait_timeout=10)

    def _handler(self, name):
        def handle(payload):
            with self.cond:
                self.received.append((time.monotonic(), name, payload))
                self.cond.notify_all()
        return handle

    def call(self, event: str, data: dict) -> dict:
        return self.client.call(event, data, namespace=self.namespace, timeout=10)

    def wait_for(self, predicate, timeout: float = 10.0):
        """The first truthy predicate(received) within timeout, else None."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = predicate(self.received)
                if found:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.cond.wait(remaining)

    def close(self):
        if self.client.connected:
            self.client.disconnect()


@dataclass
class Save:
    position: int
    seq: int
    letters: str
    sent: float
    ack: dict | None = None  # the 200 answer's body; None: not acknowledged (error or no answer)
    answered: float = 0.0  # when the answer arrived (time.monotonic)
    failure: str = ""


class CandidateClient:
    """The exam client's HTTP calls (static/js/exam): API login, start, save with a sequence number, reload, submit."""

    def __init__(self, ticket: str):
        import requests

        self.ticket = ticket
        self.http = requests.Session()
        self.csrf = ""
        self.token = ""
        self.attempt_id = None
        self.seq = itertools.count(1)

    def login(self, base: str) -> None:
        resp = self.http.post(f"{base}/api/login", json={"username": self.ticket, "password": PASSWORD},
                              timeout=10)
        assert resp.status_code == 200, resp.text[:300]
        self.csrf = resp.json()["csrf_token"]

    def headers(self) -> dict:
        return {"X-CSRFToken": self.csrf, "X-Attempt-Token": self.token}

    def start(self, base: str, session_id: int) -> dict:
        resp = self.http.post(f"{base}/api/exam/sessions/{session_id}/attempt", headers={"X-CSRFToken": self.csrf},
                              timeout=10)
        assert resp.status_code == 200, resp.text[:300]
        body = resp.json()
        self.token, self.attempt_id = body["client_token"], body["attempt_id"]
        return body

    def save(self, base: str, position: int, letters: str, seq: int | None = None, http=None) -> Save:
        seq = next(self.seq) if seq is None else seq
        save = Save(position, seq, letters, time.monotonic())
        try:
            resp = (http or self.http).put(f"{base}/api/exam/attempts/{self.attempt_id}/answers/{position}",
                                           json={"response": list(letters), "seq": seq, "time_spent_ms": 1000},
                                           headers=self.headers(), timeout=10)
        except Exception as err:  # noqa: BLE001 - a dead server: connection refused or reset
            save.failure = type(err).__name__
            return save
        save.answered = time.monotonic()
        if resp.status_code == 200:
            save.ack = resp.json()
        else:
            save.failure = f"{resp.status_code} {resp.text[:200]}"
        return save

    def view(self, base: str) -> dict:
        resp = self.http.get(f"{base}/api/exam/attempts/{self.attempt_id}", headers=self.headers(), timeout=10)
        assert resp.status_code == 200, resp.text[:300]
        return resp.json()

    def submit(self, base: str) -> dict:
        resp = self.http.post(f"{base}/api/exam/attempts/{self.attempt_id}/submit", headers=self.headers(),
                              timeout=10)
        assert resp.status_code == 200, resp.text[:300]
        return resp.json()


# ---------------------------------------------------------------------------------------------------- the paper

def _paper(database: ScratchDatabase, attempt_id: int) -> dict[int, tuple[str, str, Decimal]]:
    """position → (type, key letters, points) of the attempt's paper, read from the database of record."""
    with database.connect() as conn:
        rows = conn.execute(
            "SELECT pi.position, iv.type, iv.answer, pi.points FROM exam_attempts a "
            "JOIN exam_paper_items pi ON pi.paper_id = a.paper_id JOIN item_versions iv ON iv.id = pi.item_version_id "
            "WHERE a.id = %s ORDER BY pi.position", (attempt_id,)).fetchall()
    return {position: (kind, key, Decimal(points)) for position, kind, key, points in rows}


def _choices(paper: dict, position: int) -> tuple[str, str]:
    """(right, wrong) one-letter answers of a single-choice or true/false position."""
    kind, key, _ = paper[position]
    letters = "AB" if kind == "truefalse" else "ABCD"
    return key, next(x for x in letters if x != key)


def _one_letter_positions(paper: dict) -> list[int]:
    """Single-choice and true/false positions: their points are all or nothing, whatever the multiple-choice policy."""
    return [p for p, (kind, _, _) in paper.items() if kind in ("single", "truefalse")]


def _final(saves: list[Save]) -> dict[int, Save]:
    """The save that decides each position: the highest sequence number acknowledged for it."""
    out: dict[int, Save] = {}
    for s in saves:
        if s.ack is not None and (s.position not in out or s.seq > out[s.position].seq):
            out[s.position] = s
    return out


def _assert_graded(database: ScratchDatabase, attempt_id: int, paper: dict, final: dict[int, Save]) -> Decimal:
    """Every acknowledged save is in the graded answers: the deciding save's response and sequence number are stored
    for its position, graded against the key; untouched positions are empty with 0 points; the score is the sum."""
    with database.connect() as conn:
        state, score, graded_at = conn.execute("SELECT state, score, graded_at FROM exam_attempts WHERE id = %s",
                                               (attempt_id,)).fetchone()
        rows = {p: (r, s, pts) for p, r, s, pts in conn.execute(
            "SELECT position, response, seq, points FROM exam_answers WHERE attempt_id = %s", (attempt_id,))}
    assert state == "submitted" and graded_at is not None and score is not None
    assert set(rows) == set(paper), "grading writes a row for every position"
    earned = Decimal(0)
    for position, (_kind, key, points) in paper.items():
        response, seq, got = rows[position]
        save = final.get(position)
        if save is None:
            assert (response, got) == ("", Decimal(0)), (position, rows[position])
            continue
        assert (response, seq) == (save.letters, save.seq), \
            f"position {position}: stored {response!r} seq {seq}, acknowledged {save.letters!r} seq {save.seq}"
        assert got == (points if save.letters == key else Decimal(0)), (position, response, key, got)
        earned += got
    total = sum(points for _, _, points in paper.values())
    assert total == 100 and Decimal(score) == earned, (score, earned, total)
    return earned


def _progress_keys(saves: list[Save]) -> Counter:
    """What the monitor must receive for these saves: (answered_count, last_seen_at = the save's server time)."""
    return Counter((s.ack["answered_count"], s.ack["server_time"]) for s in saves if s.ack and s.ack["applied"])


def _progress_arrivals(monitor: Listener, attempt_id: int, saves: list[Save]):
    """Wait until the monitor holds a progress notice for every applied save; returns each save's fan-out latency
    (notice received − request sent), or None when some never arrived."""
    wanted = _progress_keys(saves)

    def complete(received):
        got = Counter((p["answered_count"], p["last_seen_at"]) for _, name, p in received
                      if name == "progress" and p["attempt_id"] == attempt_id)
        return all(got[k] >= n for k, n in wanted.items())

    if not monitor.wait_for(complete, timeout=FANOUT_BOUND):
        return None
    first_seen = {}
    for at, name, p in monitor.received:
        if name == "progress" and p["attempt_id"] == attempt_id:
            first_seen.setdefault((p["answered_count"], p["last_seen_at"]), at)
    return [first_seen[(s.ack["answered_count"], s.ack["server_time"])] - s.sent
            for s in saves if s.ack and s.ack["applied"]]


# ---------------------------------------------------------------------------------------------------- the tests

def _add_time_on(base: str, staff: Listener, database: ScratchDatabase, attempt_id: int, minutes: int) -> None:
    """The monitor's "+N minutes" button (a form post through ``base``) for the candidate of ``attempt_id``."""
    from tests.ops.cluster import csrf_from

    with database.connect() as conn:
        (assignment_id,) = conn.execute(
            "SELECT sc.id FROM exam_session_candidates sc JOIN exam_attempts a ON a.session_id = sc.session_id "
            "AND a.candidate_id = sc.candidate_id WHERE a.id = %s", (attempt_id,)).fetchone()
    token = csrf_from(staff.http.get(f"{base}/", timeout=10).text)
    resp = staff.http.post(f"{base}/exam/monitor/assignments/{assignment_id}/add-time", allow_redirects=False,
                           data={"csrf_token": token, "minutes": str(minutes), "reason": "两进程测试：设备故障补时"},
                           timeout=10)
    assert resp.status_code == 302, resp.text[:300]


def test_candidate_moves_from_a_to_b_and_the_monitor_on_a_sees_saves_made_on_b(deployment):
    """1. A candidate logs in and starts on A, saves on A, continues on B with the same cookies, saves more and
    submits on B: every acknowledged save is graded; the secretariat's monitor on A receives B's notices. The exam
    page's own socket moves too: reconnected to B, it receives the extra time the secretariat gives on A."""
    a, b = _pair(deployment)
    ids = deployment.ids
    monitor = Listener(a.base, "mishu", "/exam", events=("progress", "row"))
    page = None
    try:
        assert monitor.call("join_session", {"session_id": ids["session_id"]})["ok"]
        cand = CandidateClient(ids["tickets"][0])
        cand.login(a.base)
        started = cand.start(a.base, ids["session_id"])
        page = Listener(a.base, None, "/exam", events=("deadline", "closed"), http=cand.http, csrf=cand.csrf)
        assert page.call("join_attempt", {"attempt_id": cand.attempt_id})["ok"]
        paper = _paper(deployment.database, cand.attempt_id)
        positions = _one_letter_positions(paper)
        on_a = [cand.save(a.base, p, _choices(paper, p)[i % 2]) for i, p in enumerate(positions[:4])]
        assert all(s.ack and s.ack["applied"] for s in on_a), [s.failure for s in on_a]

        # the same browser (cookies, attempt token) now reaches B: the reloaded page shows A's saves
        page.close()
        view = cand.view(b.base)
        shown = {item["position"]: "".join(item["response"]) for item in view["items"]}
        assert {s.position: shown[s.position] for s in on_a} == {s.position: s.letters for s in on_a}
        assert view["answered_count"] == 4 and view["last_seq"] == on_a[-1].seq
        page = Listener(b.base, None, "/exam", events=("deadline", "closed"), http=cand.http, csrf=cand.csrf)
        assert page.call("join_attempt", {"attempt_id": cand.attempt_id})["ok"]

        # the secretariat, on A, gives five more minutes: the page on B is told the new deadline
        sent = time.monotonic()
        _add_time_on(a.base, monitor, deployment.database, cand.attempt_id, 5)
        told = page.wait_for(lambda rs: [(at, p) for at, n, p in rs if n == "deadline"], FANOUT_BOUND)
        assert told, f"the page on B never heard of the extra time given on A\n{deployment.logs()}"
        deadline_seen_at, notice = told[0]
        assert notice["attempt_id"] == cand.attempt_id and notice["deadline_at"] != started["deadline_at"]
        assert cand.view(b.base)["deadline_at"] == notice["deadline_at"]
        TIMINGS["extra time on A → the candidate's page on B (form posted → notice received)"] = \
            _ms(deadline_seen_at - sent)

        changed = positions[1]  # a position answered on A, answered differently on B
        plan = [(p, _choices(paper, p)[0]) for p in positions[4:7]] + [(changed, _choices(paper, changed)[0])]
        on_b = [cand.save(b.base, p, letters) for p, letters in plan]
        assert all(s.ack and s.ack["applied"] for s in on_b), [s.failure for s in on_b]
        latencies = _progress_arrivals(monitor, cand.attempt_id, on_b)
        assert latencies is not None, \
            f"the monitor on A missed B's progress notices: {monitor.received}\n{deployment.logs()}"

        closed = cand.submit(b.base)
        assert closed["state"] == "submitted"
        assert page.wait_for(lambda rs: [p for _, n, p in rs if n == "closed"], FANOUT_BOUND), \
            "the page on B was not told its attempt closed"
        row = monitor.wait_for(lambda rs: [p for _, n, p in rs if n == "row" and p.get("attempt_id") ==
                                           cand.attempt_id and p.get("status") == "submitted"], FANOUT_BOUND)
        assert row, "the monitor on A never saw the submission made on B"
        _assert_graded(deployment.database, cand.attempt_id, paper, _final(on_a + on_b))
        TIMINGS["save round trip (PUT answer, on A then on B)"] = _spread([s.answered - s.sent for s in on_a + on_b])
        TIMINGS["exam fan-out B → monitor on A (request sent → notice received)"] = _spread(latencies)
    finally:
        monitor.close()
        if page is not None:
            page.close()


def test_chair_on_a_sees_a_sheet_submitted_on_b_within_the_bound(deployment):
    """2. The chair's room on A shows, live, each panelist's sheet submitted through B; the latency is measured."""
    a, b = _pair(deployment)
    ids = deployment.ids
    chair = Listener(a.base, ids["chair"]["username"], "/defense", events=("state",))
    panelists = []
    try:
        joined = chair.call("join", {"panel_id": ids["panel_id"]})
        assert joined["ok"], joined
        case = next(c for c in joined["state"]["cases"] if c["state"] == "waiting")
        for action in ("check_in", "call_next"):
            ack = chair.call("chair", {"panel_id": ids["panel_id"], "action": action, "case_id": case["id"]})
            assert ack["ok"], (action, ack)

        latencies = []
        for member in ids["panelists"]:
            panelist = Listener(b.base, member["username"], "/defense", events=("state",))
            panelists.append(panelist)
            joined = panelist.call("join", {"panel_id": ids["panel_id"]})
            assert joined["ok"], joined
            state = joined["state"]
            mine = next(c for c in state["cases"] if c["id"] == case["id"])
            assert mine["state"] == "in_progress" and mine["my_sheet"]["status"] == "draft", mine
            scores = {str(c["id"]): str(int(Decimal(c["max"]) * Decimal("0.8"))) for c in state["rubric"]["criteria"]}

            def submitted(received, since, name=member["name"]):
                for at, _, st in received:
                    if at < since:
                        continue
                    seen = next(c for c in st["cases"] if c["id"] == case["id"])
                    if any(m["name"] == name and m["status"] == "submitted" for m in seen.get("members", [])):
                        return at
                return None

            sent = time.monotonic()
            ack = panelist.call("submit", {"sheet_id": mine["my_sheet"]["id"], "scores": scores,
                                           "version": mine["my_sheet"]["version"]})
            acked = time.monotonic()
            assert ack["ok"], ack
            seen_at = chair.wait_for(lambda rs, f=submitted, t=sent: f(rs, since=t), timeout=FANOUT_BOUND)
            assert seen_at, f"the chair on A did not see {member['name']}'s sheet within {FANOUT_BOUND} s\n" \
                            f"{deployment.logs()}"
            latencies.append((seen_at - sent, acked - sent))

        names = {m["name"] for m in ids["panelists"]}

        def everyone_in(received):
            for _, _, st in reversed(received):
                seen = next(c for c in st["cases"] if c["id"] == case["id"])
                if {m["name"] for m in seen["members"] if m["status"] == "submitted"} == names:
                    return seen
            return None

        last = chair.wait_for(everyone_in, timeout=FANOUT_BOUND)
        assert last, "the chair's state never showed every panelist's sheet as submitted"
        assert all("total" not in m for m in last["members"]), "the chair has not submitted: no totals yet"
        TIMINGS["panel fan-out: sheet submitted on B → chair's state on A"] = _spread([x for x, _ in latencies])
        TIMINGS["panel submit acknowledgement on B"] = _spread([y for _, y in latencies])
    finally:
        for client in [chair, *panelists]:
            client.close()


def test_killing_b_mid_exam_loses_no_acknowledged_save(deployment):
    """3. SIGKILL to process B (master and worker) while a candidate saves through it: every save B acknowledged is
    there when the candidate continues on A; what was unanswered is resent to A (as the exam client does); the
    submission on A grades all of it."""
    a, b = _pair(deployment)
    ids = deployment.ids
    import requests

    monitor = Listener(a.base, "mishu", "/exam", events=("progress", "row"))
    try:
        assert monitor.call("join_session", {"session_id": ids["session_id"]})["ok"]
        cand = CandidateClient(ids["tickets"][1])
        cand.login(b.base)
        cand.start(b.base, ids["session_id"])
        paper = _paper(deployment.database, cand.attempt_id)
        positions = _one_letter_positions(paper)[:18]
        lock = threading.Lock()
        saves: list[Save] = []
        stop = threading.Event()

        def next_seq() -> int:
            with lock:
                return next(cand.seq)

        def typist(mine: list[int]) -> None:
            """One stream of saves to B (own connection), cycling over its positions and changing answers, until
            B stops answering."""
            http = requests.Session()
            http.cookies.update(cand.http.cookies)
            for lap in itertools.count():
                for position in mine:
                    if stop.is_set():
                        return
                    save = cand.save(b.base, position, _choices(paper, position)[lap % 2], seq=next_seq(), http=http)
                    with lock:
                        saves.append(save)
                    if save.ack is None:
                        return

        threads = [threading.Thread(target=typist, args=(positions[i::3],), daemon=True) for i in range(3)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while sum(1 for s in list(saves) if s.ack) < 12 and time.monotonic() < deadline:
            time.sleep(0.005)
        killed_at = time.monotonic()
        b.kill_hard()  # mid-exam: the typists are still saving through B
        stop.set()
        for t in threads:
            t.join(timeout=15)
        assert not any(t.is_alive() for t in threads)
        acked = [s for s in saves if s.ack]
        unanswered = [s for s in saves if s.ack is None]
        assert len(acked) >= 12, [s.failure for s in saves][-5:]
        assert all(s.ack["applied"] for s in acked)
        assert not b.alive()

        # the candidate's page, reloaded on A (same cookies, same attempt token), shows every acknowledged save
        # (or the candidate's own later answer to that position, if B committed it before dying unanswered)
        view = cand.view(a.base)
        shown = {item["position"]: ("".join(item["response"]), item["seq"]) for item in view["items"]}
        for position, save in _final(acked).items():
            letters, seq = shown[position]
            later = [s for s in unanswered if s.position == position and s.seq > save.seq]
            assert (letters, seq) == (save.letters, save.seq) or any((letters, seq) == (s.letters, s.seq)
                                                                     for s in later), (position, shown[position], save)

        # the client resends what B never confirmed, to A, with the same sequence numbers, then carries on there
        resent = [cand.save(a.base, s.position, s.letters, seq=s.seq) for s in unanswered]
        assert all(s.ack for s in resent), [s.failure for s in resent]
        recovered = time.monotonic() - killed_at
        more = [cand.save(a.base, p, _choices(paper, p)[0]) for p in _one_letter_positions(paper)[18:21]]
        assert all(s.ack and s.ack["applied"] for s in more)
        assert _progress_arrivals(monitor, cand.attempt_id, more) is not None, "the monitor on A missed A's saves"

        assert cand.submit(a.base)["state"] == "submitted"
        earned = _assert_graded(deployment.database, cand.attempt_id, paper, _final(acked + resent + more))
        health = requests.get(f"{a.base}/healthz", timeout=5)
        assert health.status_code == 200 and health.json() == {"database": "ok", "redis": "ok"}
        TIMINGS["kill test: saves acknowledged by B before SIGKILL"] = str(len(acked))
        TIMINGS["kill test: saves in flight at the kill (resent to A)"] = \
            f"{len(unanswered)} ({sum(1 for s in resent if not s.ack['applied'])} had been committed by B)"
        TIMINGS["kill test: SIGKILL → view on A + resends confirmed"] = _ms(recovered)
        TIMINGS["kill test: graded score"] = str(earned)
    finally:
        monitor.close()
