"""Demo step (order 50): a blueprint per exam level of demo-cq and two sessions open for 24 hours from now
(entry allowed for the first 23 hours, so a newcomer can start a full 60-minute paper any time that day),
every demo candidate of the level assigned, papers generated. Runs after the demo candidates (20) and the
demo bank (30); if the bank cannot fill the blueprint the demo stops with the reason."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from certify.clock import utcnow
from certify.extensions import db
from certify.models import Round

from .models import PER_CANDIDATE, Blueprint, ExamSession
from .papers import ExamAdminError, check_against_bank, save_blueprint
from .sessions import create_session

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
DEMO_INSTRUCTIONS = ("1. 本场考试共 60 分钟，开考后 30 分钟内可入场。\n2. 每道题作答后自动保存，刷新页面或更换设备不会丢失答案。\n"
                     "3. 多选题少选得一半分，错选不得分。\n4. 请独立作答，考试期间切换窗口、复制粘贴会被记录。")


class DemoError(RuntimeError):
    pass


def demo_exam_sessions(context: dict) -> None:
    rnd = db.session.execute(select(Round).filter_by(code=DEMO_ROUND)).scalar_one_or_none()
    if rnd is None:
        raise DemoError(f"演示笔试场次需要演示轮次 {DEMO_ROUND}（核心演示步骤未运行）")
    now = utcnow().replace(second=0, microsecond=0)
    for scheme in rnd.schemes:
        if not scheme.has_exam:
            continue
        name = f"{rnd.year}年{scheme.level}笔试（演示）"
        existing = db.session.execute(select(ExamSession).filter_by(scheme_id=scheme.id, name=name)) \
            .scalar_one_or_none()
        if existing is not None:
            context["print"](f"演示笔试场次已存在：{name}")
            continue
        blueprint = db.session.execute(select(Blueprint).filter_by(scheme_id=scheme.id,
                                                                   name=f"{scheme.level}演示组卷方案")).scalar_one_or_none()
        try:
            if blueprint is None:
                blueprint = save_blueprint(scheme, name=f"{scheme.level}演示组卷方案", mode=PER_CANDIDATE,
                                           rows=[dict(r, difficulty_min=1, difficulty_max=5) for r in DEMO_ROWS])
            problems = check_against_bank(blueprint)
            if problems:
                raise DemoError(f"演示题库无法满足{scheme.level}演示组卷方案：" + "；".join(problems))
            session = create_session(rnd, scheme, name=name, blueprint_id=blueprint.id, opens_at=now,
                                     closes_at=now + timedelta(hours=24), duration_minutes=60,
                                     late_entry_minutes=23 * 60, instructions=DEMO_INSTRUCTIONS, assign_all=True,
                                     event_warning_threshold=5, seed=20240 + (1 if scheme.level == "初级" else 2))
        except ExamAdminError as err:
            raise DemoError(f"无法创建{scheme.level}演示笔试场次：{err}") from err
        context.setdefault("exam_sessions", []).append(session)
        context["print"](f"演示笔试场次：{name}，{len(session.assignments)} 名考生，已生成试卷，24 小时内可作答")
