"""Password rules, generated one-time passwords and the hash parameters (pure: no Flask, no database).

Hashing is Werkzeug's (``generate_password_hash``); nothing here is home-made crypto. Two parameter choices,
measured on the 2-core development machine (``python -m certify.services.passwords`` and
``bench/slip_passwords.py`` print them again; first figure idle, second at load average 9):

- Passwords people choose (staff, candidates after their first login) use scrypt (N=2^15, r=8, p=1, Werkzeug's
  default, named explicitly): ~150 / ~400 ms per hash. A person chooses a password once; the cost is for the
  attacker who steals the table.
- Generated one-time passwords (admission slips, resets, new staff and panelists) are 12 characters drawn by
  ``secrets`` from a 55-character alphabet: 12·log2(55) ≈ 69 bits. Guessing one offline takes ~2^68 tries
  whatever the KDF, so a light PBKDF2 (SHA-256, 1,000 iterations: ~0.45 / ~1.2 ms per hash) is enough: a
  5,000-candidate slip batch hashes in ~2–6 s (the whole batch, committed: ~11 s at load 9) instead of
  12–35 minutes with scrypt (or ~45 s with PBKDF2 at 20,000 iterations). They must be changed at first login,
  when the account moves to scrypt.
"""
from __future__ import annotations

import math
import secrets

# No 0/O/1/l/I: printed on admission slips and typed by hand.
ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789"
GENERATED_LENGTH = 12
GENERATED_BITS = GENERATED_LENGTH * math.log2(len(ALPHABET))
GENERATED_HASH_METHOD = "pbkdf2:sha256:1000"
CHOSEN_HASH_METHOD = "scrypt"  # Werkzeug's default, named so a Werkzeug upgrade cannot weaken it silently
# An account whose password was never issued (a roster import before the slips are printed): matches nothing.
UNUSABLE_HASH = "!unissued"

MIN_LENGTH = 10
MAX_LENGTH = 128
MIN_ZXCVBN_SCORE = 3


def generate_password(length: int = GENERATED_LENGTH) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def password_problems(password: str, *, username: str = "", other_inputs: tuple[str, ...] = ()) -> list[str]:
    """Why a chosen password is refused (Chinese messages), or [] when it is acceptable.

    Length 10–128, not the account name, not in zxcvbn's common-password list (30,000 passwords from the
    leaked-password corpora zxcvbn ships, MIT licence) and not guessable by zxcvbn's pattern search (score ≥ 3:
    no keyboard walks, repeats, dates, names with a digit…).
    """
    password = password or ""
    if len(password) < MIN_LENGTH:
        return [f"密码至少 {MIN_LENGTH} 位"]
    if len(password) > MAX_LENGTH:
        return [f"密码最多 {MAX_LENGTH} 位"]
    lowered = password.lower()
    if username and lowered == username.strip().lower():
        return ["密码不能与账号相同"]
    from zxcvbn import zxcvbn
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    if lowered in _common_passwords(FREQUENCY_LISTS):
        return ["这是常见密码，容易被猜中，请换一个"]
    inputs = [v for v in (username, *other_inputs) if v]
    if zxcvbn(password[:100], user_inputs=inputs)["score"] < MIN_ZXCVBN_SCORE:
        return ["密码太容易被猜中（如键盘顺序、重复字符、日期或含账号姓名），请换一个更长、更不规则的密码"]
    return []


_COMMON: frozenset[str] | None = None


def _common_passwords(lists) -> frozenset[str]:
    global _COMMON
    if _COMMON is None:
        _COMMON = frozenset(lists["passwords"])
    return _COMMON


def measure(n_generated: int = 200, n_chosen: int = 5) -> dict[str, float]:
    """Seconds per hash of each method (for the numbers in the module docstring)."""
    import time

    from werkzeug.security import generate_password_hash

    out = {}
    for method, n in ((GENERATED_HASH_METHOD, n_generated), (CHOSEN_HASH_METHOD, n_chosen)):
        start = time.perf_counter()
        for _ in range(n):
            generate_password_hash(generate_password(), method=method)
        out[method] = (time.perf_counter() - start) / n
    return out


if __name__ == "__main__":  # pragma: no cover
    for method, seconds in measure().items():
        print(f"{method:<22} {seconds * 1000:8.2f} ms per hash; 5,000 accounts: {seconds * 5000:7.1f} s")
    print(f"generated passwords: {GENERATED_LENGTH} of {len(ALPHABET)} characters = {GENERATED_BITS:.1f} bits")
