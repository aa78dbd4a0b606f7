"""Exponential back-off for failed logins (pure: no Flask, no storage).

A bucket (an account, an address, an account on one trusted browser) remembers its failures and the time of
the last one. The first ``free`` failures cost nothing; after that, each failure makes the next attempt wait
``base · 2^(failures − free)`` seconds (1, 2, 4, … capped at ``cap``). Attempts refused while waiting are not
checked and not counted, so hammering gains nothing and costs the attacker no more than waiting. A bucket is
forgotten ``period`` seconds after its wait ends without a new failure. There is no hard lockout.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    free: int  # failures allowed before waits begin
    period: float  # seconds of quiet (after the current wait) before the failures are forgotten
    base: float = 1.0
    cap: float = 900.0


def wait_after(failures: int, policy: Policy) -> float:
    """Seconds to wait after the last of ``failures`` failures before the next attempt."""
    if failures < policy.free:
        return 0.0
    exponent = min(failures - policy.free, 40)
    return min(policy.base * (2 ** exponent), policy.cap)


def remaining_wait(failures: int, last_failure_at: float, now: float, policy: Policy) -> float:
    """Seconds until the next attempt is allowed (0: allowed now)."""
    return max(0.0, last_failure_at + wait_after(failures, policy) - now)


def memory_seconds(failures: int, policy: Policy) -> float:
    """How long a bucket must be kept after its last failure."""
    return wait_after(failures, policy) + policy.period
