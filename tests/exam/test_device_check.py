"""The device check's verdict (exam/services/device_check.py) against an independent oracle, and its properties."""
from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exam.services import device_check as dc
from exam.services.device_check import FAIL, PASS, WARN, Measurements

# ------------------------------------------------------------------------------------------------ the oracle
# Written from the rules as stated (not from the code): each check's level by bands, the verdict the worst.
_RANK = [PASS, WARN, FAIL]


def _band(value, bands):
    """bands: [(upper bound inclusive, level)…, (None, level)] -> the first band the value falls in."""
    for bound, level in bands:
        if bound is None or value <= bound:
            return level
    raise AssertionError


def oracle(m: Measurements) -> dict[str, str]:
    levels = {}
    minimum = {"chrome": 90, "edge": 90, "firefox": 90, "safari": 14}.get(m.browser)
    if minimum is None or m.browser_version is None:
        levels["browser"] = WARN
    else:
        levels["browser"] = FAIL if m.browser_version < minimum else PASS
    levels["clock"] = FAIL if m.clock_offset_ms is None else _band(abs(m.clock_offset_ms),
                                                                   [(30_000, PASS), (120_000, WARN), (None, FAIL)])
    levels["latency"] = FAIL if m.latency_ms is None else _band(m.latency_ms,
                                                               [(500, PASS), (2_000, WARN), (None, FAIL)])
    levels["websocket"] = PASS if m.websocket_ok else WARN
    levels["storage"] = PASS if m.storage_ok else FAIL
    levels["screen"] = WARN if m.screen_width is None else _band(m.screen_width,
                                                                 [(359, FAIL), (767, WARN), (None, PASS)])
    return levels


measurements = st.builds(
    Measurements,
    browser=st.sampled_from(["chrome", "edge", "firefox", "safari", "other"]),
    browser_version=st.none() | st.integers(0, 200),
    clock_offset_ms=st.none() | st.integers(-10 ** 9, 10 ** 9)
    | st.sampled_from([0, 30_000, 30_001, -30_001, 120_000, 120_001, -120_001]),
    latency_ms=st.none() | st.integers(0, 60_000) | st.sampled_from([500, 501, 2_000, 2_001]),
    websocket_ok=st.booleans(),
    storage_ok=st.booleans(),
    screen_width=st.none() | st.integers(0, 8000) | st.sampled_from([359, 360, 767, 768]),
    screen_height=st.none() | st.integers(0, 8000),
)


@given(measurements)
def test_each_check_and_the_verdict_match_the_oracle(m):
    v = dc.verdict(m)
    expected = oracle(m)
    assert {c.check: c.level for c in v.checks} == expected
    assert v.level == max(expected.values(), key=_RANK.index)


@given(measurements)
def test_every_check_that_is_not_passed_says_in_chinese_what_to_do(m):
    v = dc.verdict(m)
    assert [c.check for c in v.checks] == list(dc.CHECKS)
    for c in v.checks:
        if c.level == PASS:
            assert c.advice == ""
        else:
            assert c.advice and any("\u4e00" <= ch <= "\u9fff" for ch in c.advice)
    assert {p["check"] for p in v.problems} == {c.check for c in v.checks if c.level != PASS}


@given(measurements, st.integers(0, 60_000))
def test_a_faster_network_or_a_closer_clock_never_makes_the_verdict_worse(m, better):
    v = dc.verdict(m)
    if m.latency_ms is not None:
        faster = replace(m, latency_ms=min(m.latency_ms, better))
        assert _RANK.index(dc.verdict(faster).level) <= _RANK.index(v.level)
    if m.clock_offset_ms is not None:
        closer = replace(m, clock_offset_ms=m.clock_offset_ms // 2)
        assert _RANK.index(dc.verdict(closer).level) <= _RANK.index(v.level)


def test_a_good_device_passes():
    m = Measurements("chrome", 120, 150, 80, True, True, 1366, 768)
    assert dc.verdict(m).level == PASS and dc.verdict(m).problems == []


@pytest.mark.parametrize("ua, expected", [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
     "Safari/537.36", ("chrome", 120)),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
     "Safari/537.36 Edg/120.0.2210.61", ("edge", 120)),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", ("firefox", 121)),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.1 Mobile/15E148 Safari/604.1", ("safari", 17)),
    ("Mozilla/5.0 (Windows NT 6.1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/49.0.2623.112 Safari/537.36",
     ("chrome", 49)),
    ("curl/8.0", ("other", None)),
    ("", ("other", None)),
])
def test_the_browser_is_read_from_the_user_agent(ua, expected):
    assert dc.parse_browser(ua) == expected
