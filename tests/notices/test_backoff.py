"""The delivery back-off (pure), against an independent oracle: the wait doubles from the base up to the cap."""
from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from certify.notices.services.delivery import FAILED, PENDING, RetryPolicy, after_failure, retry_delay, sms_text

policies = st.builds(RetryPolicy, base=st.floats(1, 600), cap=st.floats(1, 86400),
                     max_attempts=st.integers(1, 20))


def oracle_delay(attempts: int, policy: RetryPolicy) -> float:
    wait = policy.base
    for _ in range(attempts - 1):
        wait *= 2
        if wait >= policy.cap:
            return policy.cap
    return min(wait, policy.cap)


@given(st.integers(1, 200), policies)
def test_retry_delay_doubles_up_to_the_cap(attempts, policy):
    assert retry_delay(attempts, policy) == oracle_delay(attempts, policy)
    assert 0 < retry_delay(attempts, policy) <= policy.cap
    assert retry_delay(attempts + 1, policy) >= retry_delay(attempts, policy)


@given(st.integers(1, 40), policies, st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1)))
def test_after_failure_waits_then_gives_up(attempts, policy, now):
    state, next_try = after_failure(attempts, now, policy)
    if attempts >= policy.max_attempts:
        assert (state, next_try) == (FAILED, None)
    else:
        assert state == PENDING and next_try == now + timedelta(seconds=oracle_delay(attempts, policy))
        assert next_try > now


def test_default_policy_waits_one_two_four_minutes():
    assert [retry_delay(n) for n in (1, 2, 3)] == [60, 120, 240]
    assert retry_delay(50) == 6 * 3600


@given(st.text(max_size=50), st.text(max_size=1000))
def test_sms_text_is_one_line_and_bounded(title, body):
    text = sms_text(title, body, limit=300)
    assert len(text) <= 300 and "\n" not in text and "\r" not in text
    if len(f"【{title}】{body}") <= 300 and title == " ".join(title.split()) and body == " ".join(body.split()):
        assert text == f"【{title}】{body}"
