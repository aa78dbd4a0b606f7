"""The device check's verdict (设备检测): pure, from what the candidate's browser measured.

Each check is ``pass``, ``warn`` (the exam works, with a risk the candidate should know) or ``fail`` (fix it before
the exam), and every check that is not ``pass`` carries plain Chinese advice. The verdict is the worst level.

- browser: a known engine at or above its minimum version (older: fail; unknown engine or version: warn);
- clock: the offset from the server clock (the room counts down on the server's time, but a clock far off
  confuses the candidate): within 30 s pass, within 2 min warn, beyond (or not measured) fail;
- latency: the round trip to the server: up to 500 ms pass, up to 2 s warn, beyond (or none) fail;
- websocket: the live notices (extra time, takeover); saving works without them: warn when unreachable;
- storage: localStorage keeps unsent answers through a network drop: fail when not writable;
- screen: the viewport width: below 360 px fail, below 768 px warn (a phone works, a larger screen is easier).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

PASS, WARN, FAIL = "pass", "warn", "fail"
LEVEL_ORDER = {PASS: 0, WARN: 1, FAIL: 2}
CHECKS = ("browser", "clock", "latency", "websocket", "storage", "screen")
CHECK_LABELS = {"browser": "浏览器版本", "clock": "电脑时间", "latency": "网络延迟", "websocket": "实时连接",
                "storage": "本地存储", "screen": "屏幕尺寸"}
MIN_VERSIONS = {"chrome": 90, "edge": 90, "firefox": 90, "safari": 14}
BROWSER_LABELS = {"chrome": "Chrome", "edge": "Edge", "firefox": "Firefox", "safari": "Safari", "other": "其他"}
CLOCK_PASS_MS, CLOCK_WARN_MS = 30_000, 120_000
LATENCY_PASS_MS, LATENCY_WARN_MS = 500, 2_000
SCREEN_MIN, SCREEN_COMFORT = 360, 768


@dataclass(frozen=True)
class Measurements:
    browser: str = "other"
    browser_version: int | None = None
    clock_offset_ms: int | None = None   # server − client; None: not measured
    latency_ms: int | None = None        # round trip; None: the server did not answer
    websocket_ok: bool = False
    storage_ok: bool = False
    screen_width: int | None = None
    screen_height: int | None = None


@dataclass(frozen=True)
class Check:
    check: str
    level: str
    advice: str = ""


@dataclass(frozen=True)
class Verdict:
    level: str
    checks: tuple[Check, ...]

    @property
    def problems(self) -> list[dict]:
        return [{"check": c.check, "label": CHECK_LABELS[c.check], "level": c.level, "advice": c.advice}
                for c in self.checks if c.level != PASS]


def parse_browser(user_agent: str) -> tuple[str, int | None]:
    """The engine and major version from a user agent (Edge, Firefox, Chrome, Safari; else ``other``)."""
    ua = user_agent or ""
    for name, pattern in (("edge", r"Edg(?:e|A|iOS)?/(\d+)"), ("firefox", r"(?:Firefox|FxiOS)/(\d+)"),
                          ("chrome", r"(?:Chrome|CriOS)/(\d+)")):
        m = re.search(pattern, ua)
        if m and not (name == "chrome" and re.search(r"OPR/|SamsungBrowser/", ua)):
            return name, int(m.group(1)[:6])
    m = re.search(r"Version/(\d+)[.\d]* (?:Mobile/\S+ )?Safari/", ua)
    if m:
        return "safari", int(m.group(1)[:6])
    return "other", None


def _browser(m: Measurements) -> Check:
    minimum = MIN_VERSIONS.get(m.browser)
    if minimum is None or m.browser_version is None:
        return Check("browser", WARN, "未能识别您的浏览器，建议使用最新版 Chrome、Edge、Firefox 或 Safari 参加考试。")
    if m.browser_version < minimum:
        return Check("browser", FAIL, f"您的 {BROWSER_LABELS[m.browser]} 版本（{m.browser_version}）过旧，"
                                      f"请升级到 {minimum} 以上版本，或改用最新版 Chrome、Edge。")
    return Check("browser", PASS)


def _clock(m: Measurements) -> Check:
    if m.clock_offset_ms is None:
        return Check("clock", FAIL, "无法与服务器对时，请检查网络连接后重新检测。")
    off = abs(m.clock_offset_ms)
    if off <= CLOCK_PASS_MS:
        return Check("clock", PASS)
    seconds = round(off / 1000)
    advice = (f"您电脑的时间与北京时间相差约 {seconds} 秒，请在系统设置中打开“自动设置时间”。"
              "考试以服务器时间为准，倒计时不受影响。")
    return Check("clock", WARN if off <= CLOCK_WARN_MS else FAIL, advice)


def _latency(m: Measurements) -> Check:
    if m.latency_ms is None:
        return Check("latency", FAIL, "服务器没有响应，请检查网络连接（关闭代理或 VPN）后重新检测。")
    if m.latency_ms <= LATENCY_PASS_MS:
        return Check("latency", PASS)
    advice = (f"网络延迟约 {m.latency_ms} 毫秒，"
              + ("答案保存可能较慢，建议靠近无线路由器或改用有线网络。" if m.latency_ms <= LATENCY_WARN_MS
                 else "网络很不稳定，请更换网络（如改用有线网络或手机热点）后重新检测。"))
    return Check("latency", WARN if m.latency_ms <= LATENCY_WARN_MS else FAIL, advice)


def _websocket(m: Measurements) -> Check:
    if m.websocket_ok:
        return Check("websocket", PASS)
    return Check("websocket", WARN, "实时连接不可用，答案仍会保存，但考务通知（如延长时间）会延迟显示。"
                                    "请关闭代理、广告拦截插件，或更换网络后重试。")


def _storage(m: Measurements) -> Check:
    if m.storage_ok:
        return Check("storage", PASS)
    return Check("storage", FAIL, "浏览器无法在本地保存数据，断网时答案可能丢失。请退出“无痕/隐私模式”，"
                                  "并允许网站保存数据（Cookie 与网站数据）。")


def _screen(m: Measurements) -> Check:
    if m.screen_width is None:
        return Check("screen", WARN, "未能获取屏幕尺寸，建议使用电脑或平板参加考试。")
    if m.screen_width < SCREEN_MIN:
        return Check("screen", FAIL, f"屏幕宽度只有 {m.screen_width} 像素，题目难以完整显示，"
                                     "请改用电脑或平板，或将浏览器窗口放大。")
    if m.screen_width < SCREEN_COMFORT:
        return Check("screen", WARN, "屏幕较小（如手机）也可以作答，但建议使用电脑或平板，以便查看题目和答题卡。")
    return Check("screen", PASS)


def verdict(m: Measurements) -> Verdict:
    checks = (_browser(m), _clock(m), _latency(m), _websocket(m), _storage(m), _screen(m))
    level = max((c.level for c in checks), key=LEVEL_ORDER.__getitem__)
    return Verdict(level, checks)
