"""Demo step (order 50): a blueprint per exam level of demo-cq and a session per level, open from the start of the
current hour for 25 hours with entry allowed for the first 24 (so a newcomer can start a full 60-minute paper at
any time in the next day), every demo candidate of the level assigned, papers generated. The instructions are
written from the session's own settings, so they always say the truth. ``certify demo --reset`` moves the
window to now (the same edit a secretariat makes; attempts already made are kept) and takes back the absences
recorded when the old window closed. Runs after the demo candidates (20) and the demo bank (30); if the bank cannot
fill the blueprint the demo stops with the reason."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from certify.audit import audit
from certify.clock import display_timezone, to_local, utcnow
from certify.demo_core import DemoError as CoreDemoError
from certify.demo_core import demo_exam_window, note_change
from certify.domain import EXAM, MC_POLICIES
from certify.extensions import db
from certify.models import ComponentScore, Round

from .authoring.papers import ExamAdminError, check_against_bank, save_blueprint
from .authoring.sessions import FIELDS, create_session, update_session
from .models import PER_CANDIDATE, Attempt, Blueprint, ExamSession, real_sessions

DEMO_ROUND = "demo-cq"
# single choice per category 10/8/7/5 × 2 = 60, multiple choice 10 × 2 = 20, true/false 20 × 1 = 20
DEMO_ROWS = [
    {"category": "科学素养", "type": "single", "count": 10, "points": Decimal(2)},
    {"category": "科学教育理论", "type": "single", "count": 8, "points": Decimal(2)},
    {"category": "活动组织", "type": "single", "count": 7, "points": Decimal(2)},
    {"category": "安全规范", "type": "single", "count": 5, "points": Decimal(2)},
    {"category": "", "type": "multiple", "count": 10, "points": Decimal(2)},
    {"category": "", "type": "truefalse", "count": 20, "points": Decimal(1)},
]
DEMO_DURATION = 60
DEMO_WARNING_THRESHOLD = 5


def _minutes_text(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} 分钟"
    return f"{hours} 小时" + (f" {rest} 分钟" if rest else "")


def _local_text(value: datetime, tz: str) -> str:
    zone = "北京时间" if tz == "Asia/Shanghai" else tz
    return f"{to_local(value, tz):%Y-%m-%d %H:%M}（{zone}）"


def session_instructions(*, opens_at: datetime, closes_at: datetime, duration_minutes: int,
                         late_entry_minutes: int, mc_policy: str, event_warning_threshold: int | None,
                         tz: str) -> str:
    """Candidate instructions written from a session's settings (window, duration, late entry, the round's
    multiple-choice rule, the integrity warning threshold)."""
    last_entry = min(opens_at + timedelta(minutes=late_entry_minutes), closes_at)
    lines = [
        f"本场考试限时 {duration_minutes} 分钟，从进入考试时开始计时，时间到自动交卷；"
        f"本场于 {_local_text(closes_at, tz)}结束，届时未交的答卷一律自动交卷。",
        f"入场时间：{_local_text(opens_at, tz)}至 {_local_text(last_entry, tz)}"
        f"（开考后 {_minutes_text(late_entry_minutes)}内可入场）。",
        "每道题作答后自动保存，刷新页面或更换设备不会丢失答案。",
        f"多选题：{MC_POLICIES.get(mc_policy, mc_policy)}。",
        "请独立作答，考试期间切换窗口、复制粘贴会被记录"
        + (f"，累计 {event_warning_threshold} 次时系统会提醒。" if event_warning_threshold else "。"),
    ]
    return "\n".join(f"{i}. {line}" for i, line in enumerate(lines, 1))


def demo_session_name(rnd: Round, level: str) -> str:
    return f"{rnd.year}年{level}笔试（演示）"


class DemoError(CoreDemoError):
    pass


def _demo_session(scheme) -> ExamSession | None:
    """The demo session of a scheme, whatever year its name carries."""
    return db.session.execute(real_sessions().filter_by(scheme_id=scheme.id)
                              .where(ExamSession.name.like(f"%{scheme.level}笔试（演示）"))
                              .order_by(ExamSession.id)).scalars().first()


def _window_settings(rnd: Round, now: datetime) -> dict:
    opens, closes, late = demo_exam_window(now)
    settings = {"opens_at": opens, "closes_at": closes, "duration_minutes": DEMO_DURATION,
                "late_entry_minutes": late, "event_warning_threshold": DEMO_WARNING_THRESHOLD}
    settings["instructions"] = session_instructions(mc_policy=rnd.mc_policy, tz=display_timezone(), **settings)
    return settings


def _renew(session: ExamSession, rnd: Round, scheme, now: datetime, context: dict) -> None:
    """Move a demo session's window to now (the secretariat's edit operation: checked and audited), and take
    back the absences the sweeper recorded when the old window closed (they are no longer true)."""
    wanted = dict(_window_settings(rnd, now), name=demo_session_name(rnd, scheme.level))
    current = {f: getattr(session, f) for f in FIELDS}
    if all(current[f] == v for f, v in wanted.items()):
        context["print"](f"演示笔试场次已是最新：{session.name}")
        return
    try:
        update_session(session, **dict(current, **wanted))
    except ExamAdminError as err:
        raise DemoError(f"无法更新{scheme.level}演示笔试场次：{err}") from err
    withdrawn = 0
    if session.absentees_recorded_at is not None:
        source = f"exam_session:{session.id}"
        for row in db.session.execute(select(ComponentScore).filter_by(component=EXAM, status="absent",
                                                                       source=source)).scalars():
            audit("demo.reset.absence_withdrawn", target_type="Candidate", target_id=row.candidate_id,
                  round_id=rnd.id, session_id=session.id, component=EXAM)
            db.session.delete(row)
            withdrawn += 1
        session.absentees_recorded_at = None
    sat = db.session.execute(select(Attempt.id).filter_by(session_id=session.id)).all()
    note_change(context, f"演示笔试场次已移到今天：{session.name}，{_local_text(session.opens_at, display_timezone())}"
                         f"起 {_minutes_text(session.late_entry_minutes)}内可入场"
                         + (f"；已作答的 {len(sat)} 份答卷保留" if sat else "")
                         + (f"；撤回旧场次结束时记录的 {withdrawn} 条缺考" if withdrawn else ""))


def demo_exam_sessions(context: dict) -> None:
    rnd = db.session.execute(select(Round).filter_by(code=DEMO_ROUND)).scalar_one_or_none()
    if rnd is None:
        raise DemoError(f"演示笔试场次需要演示轮次 {DEMO_ROUND}（核心演示步骤未运行）")
    now = context.get("now") or utcnow()
    tz = display_timezone()
    for scheme in rnd.schemes:
        if not scheme.has_exam:
            continue
        existing = _demo_session(scheme)
        if existing is not None:
            context.setdefault("exam_sessions", []).append(existing)
            if context.get("reset"):
                _renew(existing, rnd, scheme, now, context)
            else:
                last_entry = existing.opens_at + timedelta(minutes=existing.late_entry_minutes)
                context["print"](f"演示笔试场次已存在：{existing.name}，{_local_text(last_entry, tz)}前可入场")
                if last_entry <= now or existing.opens_at > now:
                    context.setdefault("stale", []).append(f"{existing.name}现在不能入场")
            continue
        name = demo_session_name(rnd, scheme.level)
        blueprint = db.session.execute(select(Blueprint).filter_by(scheme_id=scheme.id,
                                                                   name=f"{scheme.level}演示组卷方案")).scalar_one_or_none()
        try:
            if blueprint is None:
                blueprint = save_blueprint(scheme, name=f"{scheme.level}演示组卷方案", mode=PER_CANDIDATE,
                                           rows=[dict(r, difficulty_min=1, difficulty_max=5) for r in DEMO_ROWS])
            problems = check_against_bank(blueprint)
            if problems:
                raise DemoError(f"演示题库无法满足{scheme.level}演示组卷方案：" + "；".join(problems))
            session = create_session(rnd, scheme, name=name, blueprint_id=blueprint.id, assign_all=True,
                                     seed=20240 + (1 if scheme.level == "初级" else 2),
                                     **_window_settings(rnd, now))
        except ExamAdminError as err:
            raise DemoError(f"无法创建{scheme.level}演示笔试场次：{err}") from err
        context.setdefault("exam_sessions", []).append(session)
        entry = _minutes_text(session.late_entry_minutes)
        note_change(context, f"演示笔试场次：{name}，{len(session.assignments)} 名考生，已生成试卷，"
                             f"{_local_text(session.opens_at, tz)}起 {entry}内可入场")
