"""SIGKILL under load loses no acknowledged save.

``certify serve`` (gunicorn, the embedded SQLite default) serves candidates saving answers from several threads;
every save the server answered 200 goes into a ledger (attempt, position, seq). The whole server (master and
worker) is SIGKILLed twice mid-run and restarted on the same database; the clients retry what was not answered,
as the exam page does, and go on. Then the database is read directly: every acknowledged save must be there with
a stored seq at least the acknowledged one (a later save of the same position may have overwritten it).
"""
from __future__ import annotations

import random
import sqlite3
import threading
import time

import pytest
import requests

from tests.faults.harness import FIGURES, Candidate, base_env, demo_tickets, serve_command

pytestmark = pytest.mark.faults

CLIENTS = 8
KILL_AFTER = (50, 130)  # kill when this many saves have been acknowledged in total
FINISH_AFTER = 210
DEADLINE_SECONDS = 150


class Ledger:
    def __init__(self):
        self.lock = threading.Lock()
        self.acked: dict[tuple[int, int], int] = {}  # (attempt, position) -> highest acknowledged seq
        self.acks = 0
        self.unanswered = 0  # requests cut by the kill (connection refused / reset): never acknowledged
        self.errors: list[str] = []

    def ack(self, attempt_id: int, position: int, seq: int) -> None:
        with self.lock:
            key = (attempt_id, position)
            self.acked[key] = max(self.acked.get(key, 0), seq)
            self.acks += 1


def _client_loop(cand: Candidate, ledger: Ledger, stop: threading.Event, rng: random.Random) -> None:
    try:
        _retrying(lambda: cand.login(), stop, ledger)
        _retrying(lambda: _start(cand), stop, ledger)
        while not stop.is_set():
            item = cand.item(rng.randrange(60))  # random positions: some are overwritten by later saves
            cand.seq += 1
            letters = [rng.choice(item["options"])["id"]]
            resp = _retrying(lambda seq=cand.seq, pos=item["position"], letters=letters: cand.save(pos, letters, seq),
                             stop, ledger)
            if resp is None:
                return
            if resp.status_code != 200:
                ledger.errors.append(f"{cand.ticket} save {resp.status_code}: {resp.text[:300]}")
                return
            body = resp.json()
            ledger.ack(cand.attempt["attempt_id"], body["position"], body["seq"])
    except Exception as err:  # reported by the test, never swallowed
        ledger.errors.append(f"{cand.ticket}: {type(err).__name__}: {err}")


def _start(cand: Candidate) -> requests.Response:
    cand.start()
    return _Ok()


class _Ok:
    status_code = 200


def _retrying(call, stop: threading.Event, ledger: Ledger):
    """Send until the server answers something other than 'unavailable': a refused/reset connection or a 503 is
    retried with the same content (the same seq), as the exam page's save queue does."""
    while not stop.is_set():
        try:
            resp = call()
        except requests.RequestException:  # refused, reset, or the answer cut mid-body: not acknowledged
            with ledger.lock:
                ledger.unanswered += 1
            time.sleep(0.2)
            continue
        if resp.status_code == 503:
            time.sleep(0.2)
            continue
        return resp
    return None


def test_sigkill_under_load_loses_no_acknowledged_save(sqlite_copy, tmp_path, start_server):
    env = base_env(tmp_path, DATABASE_URL=f"sqlite:///{sqlite_copy}")
    with sqlite3.connect(sqlite_copy) as conn:
        tickets = demo_tickets(conn)[:CLIENTS]
    assert len(tickets) == CLIENTS
    server = start_server(serve_command, env)
    ledger, stop = Ledger(), threading.Event()
    clients = [Candidate(server.base, t) for t in tickets]
    threads = [threading.Thread(target=_client_loop, args=(c, ledger, stop, random.Random(i)), daemon=True)
               for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + DEADLINE_SECONDS
    acked_at_kill = []
    try:
        for threshold in (*KILL_AFTER, FINISH_AFTER):
            while ledger.acks < threshold and not ledger.errors:
                assert time.monotonic() < deadline, f"only {ledger.acks} saves acknowledged; {server.log()[-2000:]}"
                time.sleep(0.05)
            assert not ledger.errors, ledger.errors[:5]
            if threshold == FINISH_AFTER:
                break
            server.sigkill()  # mid-run: other clients' saves are in flight
            acked_at_kill.append(ledger.acks)
            server.start()
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
        server.stop()
    assert not ledger.errors, ledger.errors[:5]
    assert all(not t.is_alive() for t in threads)

    found = lost = 0
    missing = []
    with sqlite3.connect(sqlite_copy) as conn:
        stored = {(a, p): s for a, p, s in conn.execute("SELECT attempt_id, position, seq FROM exam_answers")}
    for key, seq in ledger.acked.items():
        if stored.get(key, 0) >= seq:
            found += 1
        else:
            lost += 1
            missing.append((key, seq, stored.get(key)))
    FIGURES["saves acknowledged"] += ledger.acks
    FIGURES["acknowledged positions checked"] += len(ledger.acked)
    FIGURES["acknowledged positions found"] += found
    FIGURES["acknowledged positions lost"] += lost
    FIGURES["requests cut by SIGKILL (retried)"] += ledger.unanswered
    print(f"\nSIGKILL: {len(acked_at_kill)} kills at {acked_at_kill} acks; saves acknowledged {ledger.acks}, "
          f"positions {len(ledger.acked)}, found {found}, lost {lost}, cut and retried {ledger.unanswered}")
    assert len(acked_at_kill) == len(KILL_AFTER) and server.starts == len(KILL_AFTER) + 1
    assert ledger.acks >= FINISH_AFTER
    assert lost == 0, missing[:10]
    assert "Traceback" not in server.log(), server.log()[-3000:]
