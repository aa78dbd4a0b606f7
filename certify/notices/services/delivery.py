"""Delivery rules of the notice outbox (pure: plain values in, plain values out).

A delivery (one notice on one channel) is tried by the worker; a failure is retried after an exponential
back-off: ``base · 2^(attempts − 1)`` seconds, capped at ``cap``; after ``max_attempts`` tries it is ``failed``
for good (the secretariat sees it with its last error and may retry it by hand).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
STATES = (PENDING, SENDING, SENT, FAILED)
STATE_LABELS = {PENDING: "待发送", SENDING: "发送中", SENT: "已发送", FAILED: "发送失败"}

EMAIL, SMS = "email", "sms"
CHANNELS = (EMAIL, SMS)
CHANNEL_LABELS = {EMAIL: "电子邮件", SMS: "短信"}

EXAM, DEFENSE, RESULTS, PUBLICITY = "exam", "defense", "results", "publicity"
KINDS = (EXAM, DEFENSE, RESULTS, PUBLICITY)
KIND_LABELS = {EXAM: "笔试安排", DEFENSE: "答辩安排", RESULTS: "成绩发布", PUBLICITY: "结果公示"}


@dataclass(frozen=True)
class RetryPolicy:
    base: float = 60.0  # seconds before the second try
    cap: float = 6 * 3600.0  # longest wait between two tries
    max_attempts: int = 8


def retry_delay(attempts: int, policy: RetryPolicy = RetryPolicy()) -> float:
    """Seconds to wait after the ``attempts``-th failed try (attempts ≥ 1) before the next one."""
    exponent = min(max(attempts, 1) - 1, 60)
    return min(policy.base * (2 ** exponent), policy.cap)


def after_failure(attempts: int, now: datetime, policy: RetryPolicy = RetryPolicy()) -> tuple[str, datetime | None]:
    """The state and next try time of a delivery whose ``attempts``-th try just failed at ``now``."""
    if attempts >= policy.max_attempts:
        return FAILED, None
    return PENDING, now + timedelta(seconds=retry_delay(attempts, policy))


def short_error(err: BaseException | str, limit: int = 500) -> str:
    """A one-line error text for the secretariat (never a stack trace)."""
    text = err if isinstance(err, str) else (f"{type(err).__name__}: {err}" if str(err) else type(err).__name__)
    return " ".join(text.split())[:limit]


def sms_text(title: str, body: str, limit: int = 300) -> str:
    """The text of an SMS: 【title】body on one line, cut at ``limit`` characters."""
    text = f"【{' '.join(title.split())}】" + " ".join(body.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"
