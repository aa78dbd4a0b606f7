"""Password verification for the login, bounded so a login storm queues instead of failing.

A password check is CPU-bound (scrypt ~150–400 ms on a busy core, ``services.passwords``). Two rules keep a storm
of them from hurting everything else:

- **No database connection is held while hashing.** ``accounts.authenticate`` reads the account's id and hash,
  ends that read (the connection goes back to the pool: ``uow.release_connection``), verifies here, then opens a
  fresh short transaction to record the login. Holding a pooled connection through the hash made other requests
  wait past ``DB_POOL_TIMEOUT`` (BENCHMARKS.md, "Load": 312 × 503 in a 500-login storm).
- **At most ``LOGIN_HASH_CONCURRENCY`` checks run at once per process** (default: the cores this process may use),
  because more cannot finish sooner and would starve the answer saves of CPU. Hashing releases the GIL, so one
  check per core runs in parallel. A login that finds them all busy waits its turn (roughly first come, first
  served) for up to ``LOGIN_HASH_WAIT_SECONDS`` (10), then gets 503 + ``Retry-After`` (``LoginBusy``, code
  ``unavailable``, as a pool timeout would) — never a 500, and without a connection held while it waits.

Unknown accounts (and disabled or never-issued ones) are checked against a dummy hash made once per process with
the candidates' one-time KDF (``dummy_verify``), so a mistyped ticket number costs what the exam morning's usual
login costs (~0.25 ms). A dummy scrypt would hide which names have a chosen password, but would hand anyone ~100 ms
of CPU per request for a made-up name on a 2-core server during the login storm; account names (ticket numbers,
staff logins) are not secrets, and the login throttle bounds guessing either way.
"""
from __future__ import annotations

import logging
import os
import threading
import time

from flask import Flask, current_app
from werkzeug.security import check_password_hash, generate_password_hash

from .errors import DomainError
from .services.passwords import GENERATED_HASH_METHOD, generate_password

EXTENSION = "certify_login_gate"
log = logging.getLogger(__name__)


class LoginBusy(DomainError):
    """Every password check slot stayed busy for ``LOGIN_HASH_WAIT_SECONDS``: 503 + ``Retry-After``."""

    code = "unavailable"
    status = 503

    def __init__(self, retry_after: int):
        self.retry_after = max(1, int(retry_after))
        super().__init__(messages=f"登录人数较多，请 {self.retry_after} 秒后再试", retry_after=self.retry_after)


def default_concurrency() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


class Gate:
    """A process's password-check slots (one ``threading.BoundedSemaphore``) and its dummy hash."""

    def __init__(self, slots: int, wait_seconds: float, retry_after: int):
        self.slots = max(1, int(slots))
        self.wait_seconds = float(wait_seconds)
        self.retry_after = int(retry_after)
        self._sem = threading.BoundedSemaphore(self.slots)
        self._dummy: str | None = None
        self._dummy_lock = threading.Lock()
        self.waited = 0  # logins that found every slot busy (for tests and the log)
        self.refused = 0

    def run(self, fn, *args):
        """``fn(*args)`` in a slot; raises ``LoginBusy`` when none frees up within ``wait_seconds``."""
        if not self._sem.acquire(blocking=False):
            self.waited += 1
            start = time.monotonic()
            if not self._sem.acquire(timeout=self.wait_seconds):
                self.refused += 1
                log.warning("login: every password check slot (%d) busy for %.1f s; answering 503",
                            self.slots, time.monotonic() - start)
                raise LoginBusy(self.retry_after)
        try:
            return fn(*args)
        finally:
            self._sem.release()

    def dummy_hash(self) -> str:
        with self._dummy_lock:
            if self._dummy is None:
                self._dummy = generate_password_hash(generate_password(), method=GENERATED_HASH_METHOD)
            return self._dummy


def gate(app: Flask | None = None) -> Gate:
    app = app or current_app._get_current_object()
    existing = app.extensions.get(EXTENSION)
    if existing is None:
        config = app.config
        made = Gate(int(config.get("LOGIN_HASH_CONCURRENCY") or 0) or default_concurrency(),
                    float(config.get("LOGIN_HASH_WAIT_SECONDS") or 10), int(config.get("RETRY_AFTER_SECONDS", 5)))
        existing = app.extensions.setdefault(EXTENSION, made)  # two first logins at once still share one gate
    return existing


def verify(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (the KDF named in the hash), in a slot of the gate."""
    return bool(gate().run(check_password_hash, password_hash, password))


def verify_and_rehash(password_hash: str, password: str, new_method: str | None) -> tuple[bool, str | None]:
    """``(matches, new hash or None)``: when it matches and ``new_method`` is given, the password is hashed again
    with it in the same slot (a policy change applied at a successful login)."""
    def work():
        if not check_password_hash(password_hash, password):
            return False, None
        return True, (generate_password_hash(password, method=new_method) if new_method else None)

    return gate().run(work)


def dummy_verify(password: str) -> bool:
    """The cost of checking a chosen password, for an account that does not exist or cannot log in. Always False."""
    g = gate()
    g.run(check_password_hash, g.dummy_hash(), password)
    return False
