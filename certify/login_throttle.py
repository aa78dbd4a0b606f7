"""One login limit for every way in (``/login`` and ``/api/login`` both authenticate through
``certify.accounts.authenticate``, which asks this module first).

Why it is shaped this way: the exam room puts 50–200 candidates behind one NAT address, so a limit keyed on the
address alone, or a hard lockout of the account, would let one neighbour lock everybody (or one candidate) out.

- **Back-off, not lockout** (``services.backoff``): a few free failures, then waits of 1, 2, 4 … s (capped at
  ``LOGIN_BACKOFF_MAX_SECONDS``). While a bucket waits, attempts are refused *without checking the password*
  (429 + ``Retry-After``), so guessing faster gains nothing.
- **Per account** (``LOGIN_RATE_LIMIT``, e.g. ``10 per minute``: 10 free failures, forgotten a minute after the
  last wait) and **per address** (``LOGIN_IP_RATE_LIMIT``, default ten times the account allowance, so a room
  of people mistyping is not slowed).
- **Trusted browsers**: a successful login leaves a signed, HttpOnly cookie naming the account on that browser.
  An attempt from a browser trusted for that account is counted in its own bucket (account × browser) and is
  neither slowed by, nor counted in, the account's and the address's buckets. So a neighbour guessing a
  candidate's password slows only the untrusted browsers: the candidate, on a browser they logged in with
  before (their first login changes the one-time password, so in practice every browser they use), still gets
  in at once. The remaining case — a first login ever while someone is guessing that very account — waits at
  most ``LOGIN_BACKOFF_MAX_SECONDS``, and a secretariat reset clears the account's bucket.
- **Addresses**: ``request.remote_addr``; ``X-Forwarded-For`` is believed only behind ``TRUSTED_PROXIES``
  proxies (Werkzeug's ``ProxyFix``, installed by ``install_proxy_fix``), so a client cannot pick its address.
- **Storage**: Redis (``REDIS_URL``) when several processes serve, else process memory (the embedded default);
  with Redis out of reach, process memory until it answers again (``RedisStore``), never a 500.
"""
from __future__ import annotations

import logging
import math
import os
import secrets
import threading
import time
from dataclasses import dataclass

from flask import Flask, after_this_request, current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from .services.backoff import Policy, memory_seconds, remaining_wait

DEVICE_COOKIE = "certify_device"
DEVICE_MAX_AGE = 400 * 24 * 3600
DEVICE_MAX_ACCOUNTS = 8
EXTENSION = "certify_login_throttle"
log = logging.getLogger(__name__)


# ---------------------------------------------------------------- storage

class MemoryStore:
    """Buckets in this process: ``{key: (failures, last_failure_at, expires_at)}``."""

    MAX_KEYS = 100_000

    def __init__(self):
        self._data: dict[str, tuple[int, float, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, now: float) -> tuple[int, float] | None:
        with self._lock:
            item = self._data.get(key)
            if item is None or item[2] <= now:
                self._data.pop(key, None)
                return None
            return item[0], item[1]

    def fail(self, key: str, now: float, policy: Policy) -> int:
        with self._lock:
            item = self._data.get(key)
            failures = (item[0] if item and item[2] > now else 0) + 1
            self._data[key] = (failures, now, now + memory_seconds(failures, policy))
            if len(self._data) > self.MAX_KEYS:
                for k in [k for k, v in self._data.items() if v[2] <= now]:
                    del self._data[k]
            return failures

    def clear(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def reset(self) -> None:
        with self._lock:
            self._data.clear()


class RedisStore:
    """Buckets in Redis hashes (``n`` failures, ``t`` last failure), expiring on their own.

    Redis out of reach never turns a login into a 500: while it is down (and for ``RETRY_SECONDS`` after each
    failure, so a dead Redis costs one short timeout, not one per login) failures are counted in this process's
    memory; a lookup takes the larger of both counts, so buckets filled during the outage keep slowing guesses
    after Redis returns, and Redis is used again as soon as it answers.
    """

    RETRY_SECONDS = 5.0

    def __init__(self, url: str, prefix: str):
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self._errors = (redis.RedisError, OSError)
        self._prefix = prefix
        self._memory = MemoryStore()
        self._down_until = 0.0

    def _call(self, fn, *args):
        """``fn(*args)`` against Redis, or None (and remember for a while) when Redis does not answer."""
        if time.monotonic() < self._down_until:
            return None
        try:
            return fn(*args)
        except self._errors as err:
            self._down_until = time.monotonic() + self.RETRY_SECONDS
            log.warning("login throttle: redis unreachable (%s); counting in process memory", type(err).__name__)
            return None

    def _get(self, key: str) -> tuple[int, float] | None:
        n, t = self._redis.hmget(self._prefix + key, "n", "t")
        return None if n is None or t is None else (int(n), float(t))

    def get(self, key: str, now: float) -> tuple[int, float] | None:
        states = [s for s in (self._call(self._get, key), self._memory.get(key, now)) if s is not None]
        return max(states) if states else None

    def _fail(self, key: str, now: float, policy: Policy) -> int:
        name = self._prefix + key
        pipe = self._redis.pipeline(transaction=True)
        pipe.hincrby(name, "n", 1)
        pipe.hset(name, "t", repr(now))
        failures = pipe.execute()[0]
        self._redis.expire(name, max(1, math.ceil(memory_seconds(failures, policy))))
        return failures

    def fail(self, key: str, now: float, policy: Policy) -> int:
        failures = self._call(self._fail, key, now, policy)
        return failures if failures is not None else self._memory.fail(key, now, policy)

    def clear(self, key: str) -> None:
        self._memory.clear(key)
        self._call(self._redis.delete, self._prefix + key)

    def reset(self) -> None:
        self._memory.reset()
        self._call(lambda: [self._redis.delete(n) for n in self._redis.scan_iter(match=self._prefix + "*")])


def store(app: Flask | None = None):
    app = app or current_app._get_current_object()
    existing = app.extensions.get(EXTENSION)
    if existing is None:
        url = app.config.get("LOGIN_THROTTLE_STORAGE_URL") or app.config.get("REDIS_URL")
        if url:
            prefix = f"{app.config.get('SOCKETIO_CHANNEL') or 'certify'}:login-throttle:"
            existing = RedisStore(url, prefix)
        else:
            existing = MemoryStore()
        app.extensions[EXTENSION] = existing
    return existing


def reset(app: Flask | None = None) -> None:
    """Forget every bucket (tests, or an operator after an incident)."""
    store(app).reset()


# ---------------------------------------------------------------- policies

def _parse(limit: str) -> tuple[int, float]:
    from limits import parse

    item = parse(limit)
    return item.amount, float(item.get_expiry())


def _setting(name: str, default=None):
    """App config first (tests, instance settings), then the environment variable of the same name."""
    value = current_app.config.get(name)
    return value if value not in (None, "") else os.environ.get(name) or default


def account_policy() -> Policy:
    free, period = _parse(_setting("LOGIN_RATE_LIMIT", "10 per minute"))
    return Policy(free=free, period=period, base=float(_setting("LOGIN_BACKOFF_BASE_SECONDS", 1)),
                  cap=float(_setting("LOGIN_BACKOFF_MAX_SECONDS", 900)))


def address_policy() -> Policy:
    account = account_policy()
    configured = _setting("LOGIN_IP_RATE_LIMIT")
    if configured:
        free, period = _parse(configured)
    else:
        free, period = account.free * 10, account.period
    return Policy(free=free, period=period, base=account.base, cap=account.cap)


# ---------------------------------------------------------------- the client

def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="certify-login-device")


def _device() -> dict:
    raw = request.cookies.get(DEVICE_COOKIE)
    if raw:
        try:
            data = _serializer().loads(raw, max_age=DEVICE_MAX_AGE)
            if isinstance(data, dict) and isinstance(data.get("d"), str) and isinstance(data.get("u"), list):
                return data
        except BadSignature:
            pass
    return {"d": "", "u": []}


def trusted_for(user_id: int | None) -> str | None:
    """This browser's id when it logged in to the account before (signed cookie), else None."""
    if user_id is None:
        return None
    device = _device()
    return device["d"] if device["d"] and user_id in device["u"] else None


def _remember_device(user_id: int) -> None:
    device = _device()
    device_id = device["d"] or secrets.token_urlsafe(16)
    accounts = [u for u in device["u"] if u != user_id and isinstance(u, int)][-(DEVICE_MAX_ACCOUNTS - 1):]
    value = _serializer().dumps({"d": device_id, "u": [*accounts, user_id]})

    @after_this_request
    def _set(response):
        response.set_cookie(DEVICE_COOKIE, value, max_age=DEVICE_MAX_AGE, httponly=True, samesite="Lax",
                            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))
        return response


@dataclass
class Attempt:
    """One login attempt's buckets: decided before the password is checked, settled after."""

    username_key: str
    user_id: int | None
    device_id: str | None
    address: str

    @property
    def buckets(self) -> list[tuple[str, Policy]]:
        if self.device_id:
            return [(f"dev:{self.user_id}:{self.device_id}", account_policy())]
        return [(f"acct:{self.username_key}", account_policy()), (f"ip:{self.address}", address_policy())]

    def wait(self) -> int:
        """Whole seconds until this attempt may be checked (0: now)."""
        now = time.time()
        s = store()
        longest = 0.0
        for key, policy in self.buckets:
            state = s.get(key, now)
            if state is not None:
                longest = max(longest, remaining_wait(state[0], state[1], now, policy))
        return math.ceil(longest)

    def failed(self) -> None:
        now = time.time()
        s = store()
        for key, policy in self.buckets:
            s.fail(key, now, policy)

    def succeeded(self) -> None:
        s = store()
        # The address bucket is kept: one valid account must not buy unlimited guesses at the others.
        s.clear(self.buckets[0][0])
        _remember_device(self.user_id)


def attempt_for(username: str, user_id: int | None) -> Attempt:
    key = (username or "").strip().lower()[:64]
    return Attempt(username_key=key, user_id=user_id, device_id=trusted_for(user_id),
                   address=request.remote_addr or "unknown")


def clear_account(username: str) -> None:
    """A secretariat reset: the account's untrusted bucket starts again."""
    store().clear(f"acct:{(username or '').strip().lower()[:64]}")


# ---------------------------------------------------------------- proxies

def install_proxy_fix(app: Flask) -> None:
    """Believe ``X-Forwarded-For``/``-Proto``/``-Host`` only from ``TRUSTED_PROXIES`` proxies (0: none)."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    hops = app.config.get("TRUSTED_PROXIES", os.environ.get("TRUSTED_PROXIES", "0"))
    try:
        hops = int(hops or 0)
    except (TypeError, ValueError):
        raise RuntimeError(f"TRUSTED_PROXIES must be a number of proxies, not {hops!r}") from None
    if hops > 0 and not getattr(app, "_certify_proxy_fix", False):
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
        app._certify_proxy_fix = True
