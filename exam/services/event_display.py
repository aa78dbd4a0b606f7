"""How an integrity event's detail reads to a proctor: Chinese labels, times in the display zone, plain values.

Pure: no Flask, no database. The zone is passed in (``certify.clock.display_timezone()`` at the caller)."""
from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

DETAIL_LABELS = {
    "client_at": "浏览器时间",
    "what": "被拒绝的操作",
    "deadline_at": "截止时间",
    "late_seconds": "超时（秒）",
    "same_tab": "同一页面重新加载",
    "previous_seen_seconds_ago": "原页面最后活动距此（秒）",
    "how": "发现方式",
    "seconds_apart": "两端活动相隔（秒）",
}
VALUE_LABELS = {
    "what": {"answer": "保存答案", "flag": "标记题目"},
    "how": {"start": "另一页面或设备进入作答时，原页面仍在活动", "heartbeat": "已被接管的页面仍在线"},
}
TIME_KEYS = frozenset({"client_at", "deadline_at"})
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def local_time_text(value, tz: str) -> str | None:
    """An ISO-8601 time (``…Z``, ``+08:00`` or naive UTC) as local time text; None if it is not a time."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(tz)).strftime(TIME_FORMAT)


def detail_rows(detail: dict | None, tz: str) -> list[tuple[str, str]]:
    """[(label, text)] for an event's detail, known keys first in a fixed order, unknown keys as they are."""
    detail = detail if isinstance(detail, dict) else {}
    order = [k for k in DETAIL_LABELS if k in detail] + sorted(k for k in detail if k not in DETAIL_LABELS)
    rows = []
    for key in order:
        value = detail[key]
        text = None
        if key in TIME_KEYS:
            text = local_time_text(value, tz)
        if text is None and isinstance(value, bool):
            text = "是" if value else "否"
        if text is None:
            text = VALUE_LABELS.get(key, {}).get(value, None) if isinstance(value, str) else None
        if text is None:
            text = str(value)
        rows.append((DETAIL_LABELS.get(key, str(key)), text))
    return rows
