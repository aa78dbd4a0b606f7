"""The signed attempt pass: a short HMAC-signed string that lets the exam page's script write to one attempt (save an
answer, flag an item, record an integrity event) without the session cookie.

    p1.<attempt id>.<user id>.<candidate id>.<expires, unix seconds>.<signature>

The signature is HMAC-SHA256 (truncated to 18 bytes, base64url) under a key derived from the app's SECRET_KEY for
this one purpose, over the fields *and the attempt's client token* (the device's token, rotated when another device
takes the attempt over). The client token is not in the pass: the request carries it (``X-Attempt-Token``) as
every attempt write already does, and a pass verifies only together with the token it was issued for. So:

- a forged or altered pass, a pass for another attempt, or one past its expiry does not verify (the caller answers
  401 and writes nothing);
- a pass sent with another device's token does not verify either; a pass with its own, older token verifies, and
  the write's one guarded statement then finds the attempt's current token differs (409 ``taken_over``);
- the deadline is still checked by the write itself (the attempt row), whatever the pass's expiry says: the expiry
  (the attempt's deadline plus the save grace when issued) only bounds how long a leaked pass is worth anything;
- a logout or a password reset does not revoke a pass (the user is not loaded to check the session epoch); a start on
  another device does (the client token rotates), and so does changing SECRET_KEY.

Pure: no Flask, no database. ``exam.delivery.api`` issues passes (startAttempt, getAttempt) and verifies them.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

VERSION = "p1"
_PURPOSE = b"certify.exam.attempt-pass.v1"
_SIG_BYTES = 18
_MAX_LEN = 200
_keys: dict[str, bytes] = {}


@dataclass(frozen=True)
class AttemptPass:
    attempt_id: int
    user_id: int
    candidate_id: int
    expires: int


def derive_key(secret_key: str | bytes) -> bytes:
    """The pass key: HMAC(SECRET_KEY, purpose), so a pass never verifies as any other signed value of the app."""
    cache_key = secret_key if isinstance(secret_key, str) else secret_key.hex()
    key = _keys.get(cache_key)
    if key is None:
        raw = secret_key.encode() if isinstance(secret_key, str) else secret_key
        key = _keys[cache_key] = hmac.new(raw, _PURPOSE, hashlib.sha256).digest()
    return key


def _signature(key: bytes, body: str, client_token: str) -> str:
    mac = hmac.new(key, f"{body}.{client_token}".encode(), hashlib.sha256).digest()[:_SIG_BYTES]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def issue(key: bytes, *, attempt_id: int, user_id: int, candidate_id: int, client_token: str, expires: int) -> str:
    body = f"{VERSION}.{int(attempt_id)}.{int(user_id)}.{int(candidate_id)}.{int(expires)}"
    return f"{body}.{_signature(key, body, client_token)}"


def verify(key: bytes, value: str | None, *, client_token: str | None, attempt_id, now: float) -> AttemptPass | None:
    """The pass's claims, or None unless ``value`` is a pass signed with ``key`` for ``client_token`` and
    ``attempt_id``, not expired at ``now`` (unix seconds)."""
    if not value or not client_token or len(value) > _MAX_LEN or len(client_token) > _MAX_LEN:
        return None
    parts = value.split(".")
    if len(parts) != 6 or parts[0] != VERSION:
        return None
    if not all(p.isascii() and p.isdigit() and len(p) <= 12 for p in parts[1:5]):
        return None
    body = ".".join(parts[:5])
    if not hmac.compare_digest(parts[5], _signature(key, body, client_token)):
        return None
    claims = AttemptPass(*(int(p) for p in parts[1:5]))
    if str(claims.attempt_id) != str(attempt_id) or claims.expires <= now:
        return None
    return claims
