"""Rate limits on writes that need no password: a candidate's saves, flags and integrity events per attempt, and
Socket.IO events per connection. Over the limit the caller raises ``RateLimited`` (a ``DomainError``): the one
error handler answers 429 with ``Retry-After`` (JSON ``{"error": {"code": "rate_limited", "retry_after"}}`` for the
API), and a socket event is acknowledged ``{"ok": false, "code": "rate_limited", "retry_after"}``.

- **Limits** are ``limits`` strings in the settings (``EXAM_SAVE_RATE_LIMIT`` … ``SOCKET_EVENT_RATE_LIMIT``), counted
  over a sliding window (``limits.SlidingWindowCounterRateLimiter``: two counters per key, O(1) per hit on Redis and
  in memory, no burst of twice the limit at a window edge). The defaults are far above what a person does (a
  candidate answering one question every half second saves 120 times a minute). ``""`` or ``"0"`` turns one off.
- **Keys**: per attempt *and* user (``hit("exam_save", attempt_id, user_id)``), so a candidate naming somebody
  else's attempt in the URL spends only their own allowance, never the owner's; per socket connection (``sid``).
- **Storage**: the login limiter's (``certify.login_throttle``): Redis (``LOGIN_THROTTLE_STORAGE_URL`` or
  ``REDIS_URL``) when several processes serve, else process memory. With Redis out of reach the count goes on in
  process memory (and Redis is tried again after ``RETRY_SECONDS``), never a 500: a limit is a guard, not a
  dependency.
"""
from __future__ import annotations

import logging
import math
import time

from flask import Flask, current_app

from .errors import DomainError

log = logging.getLogger(__name__)
EXTENSION = "certify_rate_limits"

# name -> (setting, default); a setting of "" or "0" turns that limit off
LIMITS = {
    "exam_save": ("EXAM_SAVE_RATE_LIMIT", "120 per minute"),
    "exam_flag": ("EXAM_FLAG_RATE_LIMIT", "120 per minute"),
    "exam_event": ("EXAM_EVENT_RATE_LIMIT", "60 per minute"),
    "socket_event": ("SOCKET_EVENT_RATE_LIMIT", "300 per minute"),
}


class RateLimited(DomainError):
    """Too many writes of one kind: try again after ``retry_after`` seconds (429 + ``Retry-After``)."""

    code = "rate_limited"
    status = 429

    def __init__(self, retry_after: int):
        self.retry_after = max(1, int(retry_after))
        super().__init__(messages=f"操作过于频繁，请 {self.retry_after} 秒后再试", retry_after=self.retry_after)


class Limiter:
    """A sliding-window limiter on ``limits`` storage, falling back to process memory while Redis does not answer."""

    RETRY_SECONDS = 5.0

    def __init__(self, url: str | None, prefix: str):
        from limits.storage import MemoryStorage, RedisStorage
        from limits.strategies import SlidingWindowCounterRateLimiter

        self._memory = SlidingWindowCounterRateLimiter(MemoryStorage())
        self._redis = None
        self._down_until = 0.0
        if url:
            import redis

            storage = RedisStorage(url, key_prefix=prefix, socket_timeout=1, socket_connect_timeout=1)
            self._redis = SlidingWindowCounterRateLimiter(storage)
            self._errors = (redis.RedisError, OSError)

    @property
    def using_redis(self) -> bool:
        return self._redis is not None and time.monotonic() >= self._down_until

    def _limiter(self):
        return self._redis if self.using_redis else self._memory

    def hit(self, item, *key: str) -> int:
        """Count one hit; 0 when allowed, else the whole seconds until the next one would be."""
        for _ in range(2):  # Redis, then (if it fails) memory
            limiter = self._limiter()
            try:
                if limiter.hit(item, *key):
                    return 0
                reset = limiter.get_window_stats(item, *key).reset_time
                return max(1, math.ceil(reset - time.time()))
            except Exception as err:  # noqa: BLE001 (only Redis' own errors are caught, the rest re-raised)
                if limiter is self._memory or not isinstance(err, self._errors):
                    raise
                self._down_until = time.monotonic() + self.RETRY_SECONDS
                log.warning("rate limits: redis unreachable (%s); counting in process memory", type(err).__name__)
        raise AssertionError("unreachable")

    def reset(self) -> None:
        self._memory.storage.reset()
        if self._redis is not None:
            try:
                self._redis.storage.reset()
            except self._errors:
                pass


def limiter(app: Flask | None = None) -> Limiter:
    app = app or current_app._get_current_object()
    existing = app.extensions.get(EXTENSION)
    if existing is None:
        url = app.config.get("LOGIN_THROTTLE_STORAGE_URL") or app.config.get("REDIS_URL")
        prefix = f"{app.config.get('SOCKETIO_CHANNEL') or 'certify'}:rate-limit"
        existing = app.extensions[EXTENSION] = Limiter(url, prefix)
    return existing


def reset(app: Flask | None = None) -> None:
    """Forget every count (tests, or an operator after an incident)."""
    limiter(app).reset()


def _item(name: str):
    from limits import parse

    setting, default = LIMITS[name]
    value = current_app.config.get(setting, default)
    if not value or str(value).strip() == "0":
        return None
    return parse(str(value))


def hit(name: str, *key) -> None:
    """Count one ``name`` write for ``key``; raises ``RateLimited`` over the limit."""
    item = _item(name)
    if item is None:
        return
    wait = limiter().hit(item, name, *map(str, key))
    if wait:
        raise RateLimited(wait)
