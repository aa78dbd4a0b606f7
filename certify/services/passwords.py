"""Password rules, generated one-time passwords and the hash policy (pure: no Flask, no database).

Hashing is Werkzeug's (``generate_password_hash`` / ``check_password_hash``); nothing here is home-made crypto.
Every stored hash names its KDF and parameters in front (``scrypt:32768:8:1$salt$…``,
``pbkdf2:sha256:1000$salt$…``), so verification always uses the KDF the hash was made with, whatever the policy
says today; ``needs_rehash`` tells the login when a hash made under an older policy should be replaced.

The policy (``hash_method``), argued from what the attacker who steals the table must pay:

- **Passwords people choose** (everyone after their first login) and **every staff account** (secretariat,
  supervisor, panelist: one-time passwords included) use scrypt N=2^15, r=8, p=1 (32 MiB per hash; Werkzeug's
  default, named so a Werkzeug upgrade cannot weaken it silently). A human-chosen password may have 20–40 bits
  of real entropy even after the zxcvbn rules, so the per-guess cost is the only defence; and staff accounts
  are few and powerful, so their one-time passwords get it too (a staff reset costs one scrypt, once).
- **Candidates' generated one-time passwords** (admission slips, resets) are 12 characters drawn by ``secrets``
  from a 54-character alphabet (``ALPHABET``): 12·log2(54) = 69.1 bits (``GENERATED_BITS``). They use
  PBKDF2-HMAC-SHA256 with 1,000 iterations and a per-hash random salt (16 characters). Offline, an attacker needs
  2^68.1 ≈ 3·10^20 guesses on average per password; at 1,000 HMAC pairs per guess a high-end GPU manages at most
  ~10^7 guesses a second, so one password costs ≥ 3·10^13 GPU-seconds, about a million GPU-years — and it is
  valid only until the candidate's first login (a forced change). At 60 bits it would still be ~1,800 GPU-years.
  scrypt would multiply a cost already out of reach, while making each password check of the exam-morning storm
  (5,000 candidates in a few minutes, most on their slip password) ~440× dearer in CPU (a whole login ~28×) and a
  5,000-slip batch take 9–33 minutes instead of 1–2 s.

Measured per verification (``python -m certify.services.passwords``: medians of 21, wall / CPU of the thread;
2-core development machine shared with other work, load average 10, 2026-12-02): scrypt N=2^15 404 ms wall,
106 ms CPU; PBKDF2-SHA256-1000 0.24 ms wall, 0.24 ms CPU (at load 1.8: scrypt 210 ms wall, PBKDF2 0.23 ms).
A whole candidate login in-process (``bench/login_cpu.py``) costs ~3.6 ms CPU with a one-time password and
~102 ms with a chosen one. The login runs the check outside any database connection and at most
``LOGIN_HASH_CONCURRENCY`` at a time (``certify.login_gate``).
"""
from __future__ import annotations

import math
import secrets
import statistics
import time

from ..domain import CANDIDATE

# No 0/O/1/l/I: printed on admission slips and typed by hand.
ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789"
GENERATED_LENGTH = 12
GENERATED_BITS = GENERATED_LENGTH * math.log2(len(ALPHABET))
GENERATED_HASH_METHOD = "pbkdf2:sha256:1000"
# Werkzeug's scrypt default spelled out (N, r, p), so a Werkzeug upgrade cannot weaken it silently.
CHOSEN_HASH_METHOD = "scrypt:32768:8:1"
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


def hash_method(role: str, *, generated: bool) -> str:
    """The KDF for a new password of an account of ``role``: the light one only for a candidate's generated
    one-time password (see the module docstring), the strong one for everything else."""
    return GENERATED_HASH_METHOD if generated and role == CANDIDATE else CHOSEN_HASH_METHOD


def _cost(method: str) -> tuple[str, tuple[int, ...]] | None:
    """``("scrypt", (n, r, p))`` or ``("pbkdf2", (iterations,))`` for a stored hash's method, None if unknown."""
    parts = method.split(":")
    try:
        if parts[0] == "scrypt":
            return "scrypt", tuple(int(x) for x in parts[1:4]) if len(parts) >= 4 else (2 ** 15, 8, 1)
        if parts[0] == "pbkdf2" and len(parts) >= 2 and parts[1] in ("sha256", "sha512"):
            return "pbkdf2", (int(parts[2]) if len(parts) >= 3 else 600_000,)
    except ValueError:
        return None
    return None


def stored_method(password_hash: str) -> str:
    """The method part of a stored Werkzeug hash (``scrypt:32768:8:1``), '' for an unusable one."""
    return password_hash.split("$", 1)[0] if (password_hash or "").count("$") >= 2 else ""


def needs_rehash(password_hash: str, wanted: str) -> bool:
    """Whether a hash that just verified should be replaced by one made with ``wanted`` (``hash_method``).

    Upgrades only, never a downgrade: a weaker scrypt or any PBKDF2 where scrypt is wanted, a PBKDF2 with fewer
    iterations (or another digest) where PBKDF2 is wanted; a hash stronger than the policy asks for is kept.
    """
    have, want = _cost(stored_method(password_hash)), _cost(wanted)
    if have is None or want is None:
        return have is None and want is not None
    if have[0] == "scrypt":
        return want[0] == "scrypt" and any(h < w for h, w in zip(have[1], want[1], strict=True))
    # PBKDF2: always below scrypt; below the wanted iteration count otherwise
    return want[0] == "scrypt" or have[1][0] < want[1][0]


def measure(runs: int = 21) -> dict[str, dict[str, float]]:
    """Milliseconds per hash and per verification of each method, wall and CPU of this thread (median of ``runs``;
    for the module docstring). Wall grows with the machine's load; CPU is what a login storm spends."""
    from werkzeug.security import check_password_hash, generate_password_hash

    out = {}
    for method in (GENERATED_HASH_METHOD, CHOSEN_HASH_METHOD):
        made, checked, cpu = [], [], []
        for _ in range(runs):
            password = generate_password()
            start = time.perf_counter()
            stored = generate_password_hash(password, method=method)
            made.append(time.perf_counter() - start)
            start, start_cpu = time.perf_counter(), time.thread_time()
            check_password_hash(stored, password + "x")
            checked.append(time.perf_counter() - start)
            cpu.append(time.thread_time() - start_cpu)
        out[method] = {"hash_ms": statistics.median(made) * 1000, "verify_ms": statistics.median(checked) * 1000,
                       "verify_cpu_ms": statistics.median(cpu) * 1000}
    return out


if __name__ == "__main__":  # pragma: no cover
    for method, ms in measure().items():
        print(f"{method:<22} hash {ms['hash_ms']:8.2f} ms, verify {ms['verify_ms']:8.2f} ms wall / "
              f"{ms['verify_cpu_ms']:8.2f} ms CPU (medians of 21); 5,000 hashes: {ms['hash_ms'] * 5:7.1f} s")
    print(f"generated passwords: {GENERATED_LENGTH} of {len(ALPHABET)} characters = {GENERATED_BITS:.1f} bits")
