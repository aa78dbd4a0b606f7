"""Practice exam (模拟练习) operations: the secretariat's practice paper per round and level, and the candidate's
practice attempts in the same room and through the same API as the real exam.

A practice session is an ``ExamSession`` with ``practice=True``: one per round and scheme, open for a year from
its last edit (late entry covers the whole window, so a candidate may start any time), one fixed paper of the
chosen items (a new paper on every change of the set; attempts keep the paper they sat). A candidate is assigned
when they first open it; repeating deletes their closed practice attempt and starts afresh on the newest paper.
Grading skips the exam component (``delivery.grade``), and every consumer of sessions and attempts reads
``models.real_sessions`` / ``real_attempts``, so practice is never counted.
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import delete, func, select

from certify.audit import audit
from certify.clock import utcnow
from certify.extensions import db
from certify.models import Candidate, Round, Scheme
from question_bank.models import ACTIVE, Item, ItemVersion

from ..models import (
    CLOSED_STATES,
    IN_PROGRESS,
    Answer,
    Attempt,
    AttemptEvent,
    ExamSession,
    Paper,
    PaperItem,
    SessionCandidate,
    real_attempts,
)
from . import payload
from .base import ExamError

PRACTICE_DAYS = 365
PRACTICE_DURATION = 20  # minutes
MAX_PRACTICE_ITEMS = 50
PRACTICE_INSTRUCTIONS = ("1. 模拟练习用于熟悉考试界面和操作，成绩不计入认证结果，可反复练习。\n"
                         f"2. 每次练习限时 {PRACTICE_DURATION} 分钟，作答后自动保存，交卷后显示练习得分。\n"
                         "3. 正式考试开始作答后，模拟练习即关闭。")


class PracticeError(ExamError):
    pass


def practice_name(scheme: Scheme) -> str:
    return f"{scheme.level}模拟练习"


def practice_session(round_id: int, scheme_id: int) -> ExamSession | None:
    return db.session.execute(select(ExamSession).filter_by(round_id=round_id, scheme_id=scheme_id, practice=True)
                              .order_by(ExamSession.id)).scalars().first()


def practice_for(candidate: Candidate) -> ExamSession | None:
    scheme = db.session.execute(select(Scheme).filter_by(round_id=candidate.round_id, level=candidate.level)
                                ).scalars().first()
    if scheme is None or not scheme.has_exam:
        return None
    return practice_session(candidate.round_id, scheme.id)


def current_paper(session: ExamSession) -> Paper | None:
    return db.session.execute(select(Paper).filter_by(session_id=session.id).order_by(Paper.id.desc())
                              ).scalars().first()


def chosen_item_ids(session: ExamSession | None) -> list[int]:
    """The bank item ids of the practice paper now offered, in paper order."""
    paper = current_paper(session) if session is not None else None
    if paper is None:
        return []
    return list(db.session.scalars(select(ItemVersion.item_id).join(PaperItem, PaperItem.item_version_id ==
                                                                    ItemVersion.id)
                                   .where(PaperItem.paper_id == paper.id).order_by(PaperItem.position)))


def eligible_items(level: str) -> list:
    """Active items whose current version a scheme of ``level`` may use (the level's own and 通用)."""
    return list(db.session.execute(
        select(Item, ItemVersion).join(ItemVersion, ItemVersion.id == Item.current_version_id)
        .where(Item.status == ACTIVE, ItemVersion.level.in_((level, "通用"))).order_by(Item.code)).all())


def _points(n: int) -> list[Decimal]:
    """``n`` points per item totalling 100 (two places; the remainder goes to the first items)."""
    base = (Decimal(100) / n).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
    rest = int((Decimal(100) - base * n) / Decimal("0.01"))
    return [base + (Decimal("0.01") if i < rest else 0) for i in range(n)]


def set_practice_items(rnd: Round, scheme: Scheme, item_ids, *, actor=None, now=None) -> ExamSession:
    """Choose the practice paper of a round and level (creating its practice session on first use); the window
    is renewed for a year. Refused: no exam at this level, no items, too many, or an item not usable."""
    now = now or utcnow()
    if not scheme.has_exam:
        raise PracticeError("no_exam", f"{scheme.level}不设笔试，无需模拟练习", 409)
    wanted = []
    for raw in item_ids:
        value = int(raw)
        if value not in wanted:
            wanted.append(value)
    if not wanted:
        raise PracticeError("no_items", "请至少选择一道题", 400)
    if len(wanted) > MAX_PRACTICE_ITEMS:
        raise PracticeError("too_many_items", f"模拟练习最多 {MAX_PRACTICE_ITEMS} 道题", 400)
    usable = {item.id: version for item, version in eligible_items(scheme.level)}
    missing = [i for i in wanted if i not in usable]
    if missing:
        raise PracticeError("item_not_usable", f"有 {len(missing)} 道题不存在、已停用或不适用于{scheme.level}", 400)
    session = practice_session(rnd.id, scheme.id)
    if session is None:
        session = ExamSession(round_id=rnd.id, scheme_id=scheme.id, scheme=scheme, name=practice_name(scheme),
                              practice=True, assign_all=False, seed=0, instructions=PRACTICE_INSTRUCTIONS,
                              duration_minutes=PRACTICE_DURATION)
        db.session.add(session)
    session.opens_at = now.replace(microsecond=0)
    session.closes_at = session.opens_at + timedelta(days=PRACTICE_DAYS)
    session.late_entry_minutes = PRACTICE_DAYS * 24 * 60  # entry stays open for the whole window
    db.session.flush()
    lines = [(position, points, list(range(len(usable[item_id].options or []))), usable[item_id].id)
             for position, (item_id, points) in enumerate(zip(wanted, _points(len(wanted))), 1)]
    paper = Paper(session_id=session.id, candidate_id=None, seed=0, created_at=now,
                  payload_json=payload.render(lines, {usable[i].id: payload.version_of(usable[i]) for i in wanted}))
    db.session.add(paper)
    db.session.flush()
    for position, points, order, version_id in lines:
        db.session.add(PaperItem(paper_id=paper.id, position=position, item_version_id=version_id,
                                 blueprint_row=None, points=points, option_order=order))
    session.papers_generated_at = now
    db.session.flush()
    audit("exam.practice.items", target=session, round_id=rnd.id, actor=actor, level=scheme.level,
          items=len(wanted), paper_id=paper.id)
    return session


def has_real_attempt(candidate: Candidate) -> bool:
    return db.session.execute(real_attempts(Attempt.id).where(Attempt.candidate_id == candidate.id).limit(1)
                              ).first() is not None


def practice_attempt(session: ExamSession, candidate: Candidate) -> Attempt | None:
    return db.session.execute(select(Attempt).filter_by(session_id=session.id, candidate_id=candidate.id)
                              ).scalar_one_or_none()


def open_practice(candidate: Candidate) -> ExamSession:
    """Get the candidate into the practice room: assign them (on the newest paper); a closed practice attempt is
    removed so they practise again; one in progress is resumed. Refused once their real exam has started."""
    session = practice_for(candidate)
    if session is None:
        raise PracticeError("no_practice", "秘书处尚未设置模拟练习", 404)
    if has_real_attempt(candidate):
        raise PracticeError("real_exam_started", "您已开始正式考试，模拟练习已关闭", 409)
    paper = current_paper(session)
    if paper is None:  # pragma: no cover - a practice session is made with its paper
        raise PracticeError("no_practice", "秘书处尚未设置模拟练习", 404)
    now = utcnow()
    if now >= session.closes_at:
        raise PracticeError("practice_closed", "模拟练习已过期，请联系秘书处", 409)
    sc = db.session.execute(select(SessionCandidate).filter_by(session_id=session.id, candidate_id=candidate.id)
                            ).scalar_one_or_none()
    attempt = practice_attempt(session, candidate)
    if attempt is not None and attempt.state == IN_PROGRESS and attempt.deadline_at > now:
        return session
    if attempt is not None:  # closed (or out of time): start over
        db.session.execute(delete(Answer).where(Answer.attempt_id == attempt.id))
        db.session.execute(delete(AttemptEvent).where(AttemptEvent.attempt_id == attempt.id))
        db.session.delete(attempt)
        db.session.flush()
    if sc is None:
        sc = SessionCandidate(session_id=session.id, candidate_id=candidate.id)
        db.session.add(sc)
    sc.paper_id = paper.id
    db.session.flush()
    return session


def practice_summary(candidate: Candidate) -> dict:
    """What the candidate's home and practice page show: the practice session, its size, the last attempt."""
    session = practice_for(candidate)
    if session is None:
        return {"session": None, "attempt": None, "items": 0, "closed_by_exam": False}
    paper = current_paper(session)
    items = db.session.scalar(select(func.count()).select_from(PaperItem)
                              .where(PaperItem.paper_id == paper.id)) if paper is not None else 0
    attempt = practice_attempt(session, candidate)
    return {"session": session, "attempt": attempt, "items": items or 0,
            "finished": attempt is not None and attempt.state in CLOSED_STATES,
            "closed_by_exam": has_real_attempt(candidate)}


# ------------------------------------------------------------------------------------------------ demo step

DEMO_PRACTICE = {"single": 3, "multiple": 2, "truefalse": 2}


def demo_practice_items(level: str) -> list[int]:
    """The demo bank's practice items of a level: the first easy items of each type (by code)."""
    picked, counts = [], dict.fromkeys(DEMO_PRACTICE, 0)
    for item, version in eligible_items(level):
        if version.type in counts and counts[version.type] < DEMO_PRACTICE[version.type] and version.difficulty <= 3:
            counts[version.type] += 1
            picked.append(item.id)
    return picked


def demo_practice(context: dict) -> None:
    """Demo step (order 55): a practice paper per exam level of the demo round, from the demo bank (after the bank,
    30, and the exam sessions, 50). A window that is not open now or ends within 30 days is renewed (with or
    without ``--reset``; a current one is left alone, so re-running changes nothing)."""
    from certify.demo_core import DemoError, note_change

    from ..demo import DEMO_ROUND

    rnd = db.session.execute(select(Round).filter_by(code=DEMO_ROUND)).scalar_one_or_none()
    if rnd is None:
        raise DemoError(f"演示模拟练习需要演示轮次 {DEMO_ROUND}（核心演示步骤未运行）")
    now = context.get("now") or utcnow()
    for scheme in rnd.schemes:
        if not scheme.has_exam:
            continue
        existing = practice_session(rnd.id, scheme.id)
        if existing is not None and existing.opens_at <= now and existing.closes_at > now + timedelta(days=30):
            context["print"](f"演示模拟练习已存在：{existing.name}")
            continue
        ids = chosen_item_ids(existing) or demo_practice_items(scheme.level)
        if not ids:
            raise DemoError(f"演示题库没有适用于{scheme.level}的练习题")
        session = set_practice_items(rnd, scheme, ids, now=now)
        note_change(context, f"演示模拟练习：{session.name}，{len(ids)} 道题，考生可在正式考试前反复练习")
