"""Device check operations: store what a candidate's browser measured with the verdict of
``services.device_check``, and the secretariat's view of who has checked (per real session, with counts)."""
from __future__ import annotations

from sqlalchemy import func, select

from certify.audit import audit
from certify.extensions import db
from certify.models import Candidate

from ..models import DEVICE_VERDICTS, DeviceCheck, ExamSession, SessionCandidate, real_sessions
from ..services import device_check as dc
from .base import ExamError

LIMITS = {"clock_offset_ms": 10 ** 9, "latency_ms": 10 ** 7, "screen_width": 100_000, "screen_height": 100_000}


def _int(data: dict, name: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ExamError("invalid_field", f"检测结果字段 {name} 不是数字", 400, field=name)
    value = int(value)
    bound = LIMITS[name]
    if name in ("latency_ms", "screen_width", "screen_height") and value < 0:
        raise ExamError("invalid_field", f"检测结果字段 {name} 不能为负数", 400, field=name)
    return max(-bound, min(bound, value))


def measurements_from(data, user_agent: str) -> dc.Measurements:
    """The browser's report (JSON object) as ``Measurements``; the browser is read from the user agent."""
    if not isinstance(data, dict):
        raise ExamError("invalid_json", "请求内容不是有效的 JSON 对象", 400)
    browser, version = dc.parse_browser(user_agent)
    return dc.Measurements(browser=browser, browser_version=version,
                           clock_offset_ms=_int(data, "clock_offset_ms"), latency_ms=_int(data, "latency_ms"),
                           websocket_ok=data.get("websocket_ok") is True, storage_ok=data.get("storage_ok") is True,
                           screen_width=_int(data, "screen_width"), screen_height=_int(data, "screen_height"))


def record_device_check(candidate: Candidate, data, user_agent: str) -> tuple[DeviceCheck, dc.Verdict]:
    m = measurements_from(data, user_agent)
    verdict = dc.verdict(m)
    row = DeviceCheck(candidate_id=candidate.id, user_agent=(user_agent or "")[:400], browser=m.browser,
                      browser_version=m.browser_version, clock_offset_ms=m.clock_offset_ms, latency_ms=m.latency_ms,
                      websocket_ok=m.websocket_ok, storage_ok=m.storage_ok, screen_width=m.screen_width,
                      screen_height=m.screen_height, verdict=verdict.level, problems=verdict.problems)
    db.session.add(row)
    db.session.flush()
    audit("exam.device_check", target=row, round_id=candidate.round_id, candidate_id=candidate.id,
          verdict=verdict.level)
    return row, verdict


def latest_check(candidate_id: int) -> DeviceCheck | None:
    return db.session.execute(select(DeviceCheck).filter_by(candidate_id=candidate_id)
                              .order_by(DeviceCheck.id.desc()).limit(1)).scalar_one_or_none()


def _latest_of(candidate_ids) -> dict[int, DeviceCheck]:
    ids = list(candidate_ids)
    out: dict[int, DeviceCheck] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        newest = (select(func.max(DeviceCheck.id)).where(DeviceCheck.candidate_id.in_(chunk))
                  .group_by(DeviceCheck.candidate_id))
        for row in db.session.scalars(select(DeviceCheck).where(DeviceCheck.id.in_(newest))):
            out[row.candidate_id] = row
    return out


def _counts(checks: list[DeviceCheck | None]) -> dict:
    counts = {"assigned": len(checks), "checked": sum(1 for c in checks if c is not None)}
    counts["unchecked"] = counts["assigned"] - counts["checked"]
    for verdict in DEVICE_VERDICTS:
        counts[verdict] = sum(1 for c in checks if c is not None and c.verdict == verdict)
    return counts


def round_overview(round_id: int) -> list[dict]:
    """Each real session of the round with its counts: assigned, checked, unchecked, pass / warn / fail."""
    sessions = list(db.session.scalars(real_sessions().filter_by(round_id=round_id)
                                       .order_by(ExamSession.opens_at, ExamSession.id)))
    pairs = db.session.execute(select(SessionCandidate.session_id, SessionCandidate.candidate_id)
                               .where(SessionCandidate.session_id.in_([s.id for s in sessions]))).all()
    latest = _latest_of({p.candidate_id for p in pairs})
    by_session: dict[int, list] = {}
    for p in pairs:
        by_session.setdefault(p.session_id, []).append(latest.get(p.candidate_id))
    return [{"session": s, "counts": _counts(by_session.get(s.id, []))} for s in sessions]


def session_checks(session: ExamSession) -> tuple[list[dict], dict]:
    """The session's candidates (by ticket) with their newest check, and the counts."""
    pairs = list(db.session.scalars(select(Candidate).join(SessionCandidate, SessionCandidate.candidate_id ==
                                                           Candidate.id)
                                    .where(SessionCandidate.session_id == session.id).order_by(Candidate.ticket)))
    latest = _latest_of(c.id for c in pairs)
    rows = [{"candidate": c, "check": latest.get(c.id)} for c in pairs]
    return rows, _counts([r["check"] for r in rows])
