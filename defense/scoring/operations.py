"""State changes of live defense scoring. Each function validates, changes, flushes and audits; never commits.

Callers (socket handlers, routes, CLI, tests) commit once at the edge (the unit of work). Every change a room
screen shows queues the panel push (``defense.scoring.live.queue_panel_push``), sent once per panel after the commit, so
every connected member gets their own fresh view.

Case life cycle: waiting → checked_in → in_progress (called in; timer phases run) → scoring (defense ended) →
[flagged, when all sheets are in and a flag is raised] → finalised. ``absent`` is recorded for a no-show.
A finalised or absent case is locked; only the secretariat can reopen it, with a reason.
"""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import joinedload

from certify.audit import audit
from certify.clock import iso_utc, utcnow
from certify.domain import SECRETARIAT
from certify.errors import DomainError
from certify.extensions import db
from certify.models import Candidate, ComponentScore, Round, User
from certify.scores import record_component

from ..models import Conflict, DefenseAssignment, Panel, Panelist, PanelMember
from ..services import machines, views
from ..services.aggregation import validate_points
from ..services.states import COMPONENT_ABSENT, DONE_SHEET_STATUSES, CaseState, SheetStatus
from .live import load_snapshot, queue_panel_push, snap_rubric, snap_sheet
from .models import (
    CASE_STATE_LABELS,
    DEFAULT_CRITERIA,
    DEFAULT_OUTLIER_THRESHOLD,
    DEFAULT_PHASES,
    DEFAULT_SPREAD_THRESHOLD,
    SCORE_STEP,
    DefenseCase,
    Rubric,
    RubricCriterion,
    ScoreSheet,
    ScoreSheetRevision,
)


class ScoringError(DomainError):
    """A refused scoring action (a ``DomainError``): ``code``, the Chinese message shown to the user, a status."""

    code = "refused"
    status = 400

    def __init__(self, message: str, code: str | None = None, status: int | None = None, **extra):
        super().__init__(code, message, status, **extra)


class Forbidden(ScoringError):
    code = "forbidden"
    status = 403

    def __init__(self, message: str = "无权进行此操作"):
        super().__init__(message)


class StaleSheet(ScoringError):
    """The device's sheet version is older than the server's: the server state wins. The refusal carries the
    server's sheet (``extra["sheet"]``): nothing of it has changed when this is raised."""

    code = "stale"
    status = 409

    def __init__(self, sheet: ScoreSheet):
        super().__init__("该评分表已在其他设备上更新，已载入服务器上的最新内容", sheet=sheet_view(sheet))
        self.sheet = sheet


# ------------------------------------------------------------------ rubric

def default_rubric(round_id: int) -> Rubric:
    """The default rubric (DOMAIN.md), not added to the session (a read shows it as it would be created)."""
    rubric = Rubric(round_id=round_id, spread_threshold=DEFAULT_SPREAD_THRESHOLD,
                    outlier_threshold=DEFAULT_OUTLIER_THRESHOLD, min_scorers=3,
                    phases=[dict(p) for p in DEFAULT_PHASES])
    for position, (name, max_points, descriptors) in enumerate(DEFAULT_CRITERIA, start=1):
        rubric.criteria.append(RubricCriterion(position=position, name=name, max_points=max_points,
                                               descriptors=descriptors))
    return rubric


def create_default_rubric(round_id: int) -> Rubric:
    rubric = default_rubric(round_id)
    db.session.add(rubric)
    db.session.flush()
    return rubric


def find_rubric(round_id: int) -> Rubric | None:
    return db.session.execute(db.select(Rubric).filter_by(round_id=round_id)).scalar_one_or_none()


def get_rubric(round_id: int) -> Rubric:
    """The round's rubric, created with the defaults (DOMAIN.md) on first use (a write: POSTs, events, CLI)."""
    return find_rubric(round_id) or create_default_rubric(round_id)


def rubric_for_read(round_id: int) -> Rubric:
    """The round's rubric for a page that only reads: the stored one, else the defaults without inserting."""
    return find_rubric(round_id) or default_rubric(round_id)


# ------------------------------------------------------------------ who is who

def _norm_unit(text: str | None) -> str:
    return "".join((text or "").split()).lower()


def conflict_reason(panelist: Panelist, candidate: Candidate) -> str:
    """Why a panelist may not score a candidate ('' when they may)."""
    if _norm_unit(panelist.work_unit) and _norm_unit(panelist.work_unit) == _norm_unit(candidate.work_unit):
        return "回避：与考生同一工作单位"
    for c in db.session.execute(db.select(Conflict).filter_by(panelist_id=panelist.id)).scalars():
        if c.candidate_id == candidate.id:
            return "回避：已申报的利益冲突"
        if c.work_unit and _norm_unit(c.work_unit) == _norm_unit(candidate.work_unit):
            return "回避：已申报回避该工作单位"
    return ""


def membership(panel: Panel, user: User) -> PanelMember | None:
    """The user's membership of the panel (None when they are not on it)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return db.session.execute(
        db.select(PanelMember).join(Panelist, PanelMember.panelist_id == Panelist.id)
        .where(PanelMember.panel_id == panel.id, Panelist.user_id == user.id)).scalar_one_or_none()


def panels_of(user: User) -> list[Panel]:
    return list(db.session.execute(
        db.select(Panel).join(PanelMember, PanelMember.panel_id == Panel.id)
        .join(Panelist, PanelMember.panelist_id == Panelist.id)
        .where(Panelist.user_id == user.id).order_by(Panel.round_id.desc(), Panel.name)).scalars())


def require_member(panel: Panel, user: User) -> PanelMember:
    member = membership(panel, user)
    if member is None:
        raise Forbidden("您不是该答辩组的成员")
    return member


def require_chair(panel: Panel, user: User) -> PanelMember:
    member = require_member(panel, user)
    if not member.is_chair:
        raise Forbidden("只有组长可以进行此操作")
    return member


def require_own_sheet(sheet: ScoreSheet, user: User) -> ScoreSheet:
    panelist = db.session.get(Panelist, sheet.panelist_id)
    if panelist is None or panelist.user_id != user.id:
        raise Forbidden("这不是您的评分表")
    case = sheet.case
    if db.session.execute(db.select(PanelMember).filter_by(panel_id=case.panel_id, panelist_id=panelist.id)
                          ).scalar_one_or_none() is None:
        raise Forbidden("您已不是该答辩组的成员")
    return sheet


# ------------------------------------------------------------------ cases and sheets

def ensure_cases(panel: Panel) -> list[DefenseCase]:
    """One case per scheduled candidate of the panel, each with one sheet per member; in queue order.

    A write: called when the schedule is published or changed, when a panel's members change and when a member
    opens the live room (the socket ``join``); pages that only read never create cases."""
    get_rubric(panel.round_id)
    assignments = list(db.session.execute(
        db.select(DefenseAssignment).filter_by(panel_id=panel.id)
        .order_by(DefenseAssignment.queue_position, DefenseAssignment.start_at, DefenseAssignment.id)).scalars())
    cases = {c.assignment_id: c for c in db.session.execute(
        db.select(DefenseCase).filter_by(panel_id=panel.id)).scalars()}
    # A candidate moved to another panel: its unfinished case follows the assignment.
    for a in assignments:
        if a.id not in cases:
            existing = db.session.execute(db.select(DefenseCase).filter_by(assignment_id=a.id)).scalar_one_or_none()
            if existing is not None and not existing.locked and existing.panel_id != panel.id:
                queue_panel_push(existing.panel_id)
                existing.panel_id = panel.id
                cases[a.id] = existing
                queue_panel_push(panel.id)
    next_order = max((c.queue_order for c in cases.values()), default=0)
    for a in assignments:
        if a.id not in cases:
            next_order += 1
            case = DefenseCase(round_id=a.round_id, assignment_id=a.id, candidate_id=a.candidate_id,
                               panel_id=panel.id, queue_order=next_order, state=CaseState.WAITING, timer_log=[],
                               flags=[])
            db.session.add(case)
            cases[a.id] = case
            queue_panel_push(panel.id)
    db.session.flush()
    members = list(panel.members)
    for case in cases.values():
        if case.panel_id == panel.id:
            _ensure_sheets(case, members)
    return sorted((c for c in cases.values() if c.panel_id == panel.id), key=lambda c: (c.queue_order, c.id))


def _ensure_sheets(case: DefenseCase, members: list[PanelMember]) -> None:
    if case.locked:
        return
    have = {s.panelist_id for s in case.sheets}
    candidate = db.session.get(Candidate, case.candidate_id)
    for m in members:
        if m.panelist_id in have:
            continue
        reason = conflict_reason(m.panelist, candidate)
        sheet = ScoreSheet(case_id=case.id, candidate_id=case.candidate_id, panelist_id=m.panelist_id, scores={},
                           status=SheetStatus.RECUSED if reason else SheetStatus.DRAFT, recuse_reason=reason)
        case.sheets.append(sheet)
        queue_panel_push(case.panel_id)
    db.session.flush()


def _member_sheets(case: DefenseCase) -> list[ScoreSheet]:
    """Sheets of the panel's current members (a sheet of someone who left the panel no longer counts)."""
    member_ids = {m.panelist_id for m in db.session.execute(
        db.select(PanelMember).filter_by(panel_id=case.panel_id)).scalars()}
    return [s for s in case.sheets if s.panelist_id in member_ids]


def _touch(case: DefenseCase) -> None:
    """A change the room shows: bump the case version and push the panel once this transaction commits."""
    case.version = (case.version or 0) + 1
    case.updated_at = utcnow()
    queue_panel_push(case.panel_id)


# ------------------------------------------------------------------ the state machines (defense/services/machines.py)

def _machine(obj) -> machines.Machine:
    return machines.CASE if isinstance(obj, DefenseCase) else machines.SHEET


def _state(obj) -> str:
    return obj.state if isinstance(obj, DefenseCase) else obj.status


def require(obj: DefenseCase | ScoreSheet, action: str) -> str:
    """The state ``action`` leads to from the case's (sheet's) state; refused (409) when the table has no edge."""
    try:
        return machines.next_state(_machine(obj), _state(obj), action)
    except machines.TransitionRefused as err:
        raise ScoringError(err.message, "wrong_state", 409) from None


def transition(obj: DefenseCase | ScoreSheet, action: str, actor: User | None = None, reason: str = "",
               **detail) -> DefenseCase | ScoreSheet:
    """The one way a case or a sheet changes state: check the table, set the state, stamp (versions, the room's
    push) and audit (the action's entry, with the states before and after)."""
    machine = _machine(obj)
    before = _state(obj)
    after = require(obj, action)
    if isinstance(obj, DefenseCase):
        case = obj
        case.state = after
    else:
        case = obj.case
        obj.status = after
        obj.version += 1
        obj.updated_at = utcnow()
    _touch(case)
    name = machine.transitions[action].audit
    if name:
        if after != before:
            detail[f"{machine.name}_state"] = {"from": str(before), "to": str(after)}
        audit(name, target=case, reason=reason, actor=actor, **detail)
    return obj


def _settle(case: DefenseCase, target: CaseState) -> None:
    """The rules' own moves between scoring and flagged (no audit: the flags are part of the case)."""
    if case.state == target:
        return
    case.state = require(case, "flag" if target == CaseState.FLAGGED else "unflag")


def _rubric_for(case: DefenseCase) -> Rubric:
    return get_rubric(case.round_id)


def case_aggregate(case: DefenseCase):
    """(all sheets in?, Aggregate) for the case's current member sheets (the same rule the room shows)."""
    return views.case_aggregate([snap_sheet(s) for s in _member_sheets(case)], snap_rubric(_rubric_for(case)))


def _names(case: DefenseCase) -> dict:
    ids = [s.panelist_id for s in case.sheets]
    return {p.id: p.name for p in db.session.execute(db.select(Panelist).where(Panelist.id.in_(ids))).scalars()}


def _refresh(case: DefenseCase) -> None:
    """Recompute flags after a sheet changed; a new submission needs a new confirmation of flags."""
    if case.state not in (CaseState.SCORING, CaseState.FLAGGED, CaseState.IN_PROGRESS):
        return
    all_in, agg = case_aggregate(case)
    if not all_in:
        case.flags = []
        if case.state == CaseState.FLAGGED:
            _settle(case, CaseState.SCORING)
        return
    names = _names(case)
    case.flags = [f.as_dict(names) for f in agg.flags]
    if case.state == CaseState.IN_PROGRESS:
        return  # the chair ends the defense; flags are shown from then on
    _settle(case, CaseState.FLAGGED if case.flags and case.flags_resolved_at is None else CaseState.SCORING)


# ------------------------------------------------------------------ the chair's queue

def check_in(case: DefenseCase) -> DefenseCase:
    transition(case, "check_in", candidate_id=case.candidate_id)
    case.checked_in_at = utcnow()
    db.session.flush()
    return case


def mark_absent(case: DefenseCase) -> DefenseCase:
    """A no-show: the case is locked without a score and the defense component is recorded as absent."""
    transition(case, "absent", candidate_id=case.candidate_id)
    case.finalised_at = utcnow()
    case.score = None
    record_component(case.candidate, "defense", None, status=COMPONENT_ABSENT, source=f"defense:case {case.id}")
    db.session.flush()
    return case


def carry_over(case: DefenseCase) -> DefenseCase:
    """A late candidate goes to the end of the panel's queue (the state stays; the case is marked carried over)."""
    require(case, "carry_over")
    last = db.session.execute(db.select(db.func.max(DefenseCase.queue_order))
                              .where(DefenseCase.panel_id == case.panel_id)).scalar() or 0
    before = case.queue_order
    case.queue_order, case.carried_over = last + 1, True
    transition(case, "carry_over", candidate_id=case.candidate_id, before=before, after=case.queue_order)
    db.session.flush()
    return case


def current_case(panel_id: int) -> DefenseCase | None:
    return db.session.execute(db.select(DefenseCase).filter_by(panel_id=panel_id, state=CaseState.IN_PROGRESS.value)
                              .order_by(DefenseCase.queue_order)).scalars().first()


def call_next(panel: Panel) -> DefenseCase:
    """Call the next checked-in candidate (queue order) into the room."""
    running = current_case(panel.id)
    if running is not None:
        raise ScoringError(f"请先结束当前考生（{running.candidate.name}）的答辩")
    case = db.session.execute(db.select(DefenseCase).filter_by(panel_id=panel.id, state=CaseState.CHECKED_IN.value)
                              .order_by(DefenseCase.queue_order, DefenseCase.id)).scalars().first()
    if case is None:
        raise ScoringError("没有已签到、等待答辩的考生")
    transition(case, "call", candidate_id=case.candidate_id)
    case.called_at = utcnow()
    db.session.flush()
    return case


def _stop_running_phase(case: DefenseCase, rubric: Rubric) -> None:
    if case.phase_index is None or case.phase_started_at is None:
        return
    now = utcnow()
    phases = rubric.phases or []
    name = phases[case.phase_index]["name"] if case.phase_index < len(phases) else f"阶段{case.phase_index + 1}"
    log = list(case.timer_log or [])
    log.append({"phase": case.phase_index, "name": name, "started_at": iso_utc(case.phase_started_at),
                "stopped_at": iso_utc(now), "seconds": int((now - case.phase_started_at).total_seconds())})
    case.timer_log = log
    case.phase_index, case.phase_started_at = None, None


def start_phase(case: DefenseCase, index: int) -> DefenseCase:
    rubric = _rubric_for(case)
    phases = rubric.phases or []
    if not isinstance(index, int) or not (0 <= index < len(phases)):
        raise ScoringError("没有这个计时阶段")
    require(case, "start_phase")
    if case.state == CaseState.CHECKED_IN:
        running = current_case(case.panel_id)
        if running is not None and running.id != case.id:
            raise ScoringError(f"请先结束当前考生（{running.candidate.name}）的答辩")
        case.called_at = case.called_at or utcnow()
    transition(case, "start_phase", phase=phases[index]["name"])
    _stop_running_phase(case, rubric)
    case.phase_index, case.phase_started_at = index, utcnow()
    db.session.flush()
    return case


def stop_phase(case: DefenseCase) -> DefenseCase:
    require(case, "stop_phase")
    if case.phase_index is None:
        raise ScoringError("计时器未在运行")
    _stop_running_phase(case, _rubric_for(case))
    transition(case, "stop_phase")
    db.session.flush()
    return case


def end_defense(case: DefenseCase) -> DefenseCase:
    """The candidate leaves the room; panelists finish and submit their sheets."""
    require(case, "end")
    _stop_running_phase(case, _rubric_for(case))
    transition(case, "end")
    case.ended_at = utcnow()
    _refresh(case)
    db.session.flush()
    return case


# ------------------------------------------------------------------ sheets

def _validated_scores(rubric: Rubric, scores: dict, *, complete: bool) -> tuple[dict, Decimal | None]:
    """{criterion_id: "points"} checked against the rubric; raises ScoringError naming every bad field."""
    if not isinstance(scores, dict):
        raise ScoringError("评分数据格式错误")
    known = {str(c.id): c for c in rubric.criteria}
    errors, clean = [], {}
    for key in scores:
        if str(key) not in known:
            errors.append(f"未知的评分项 {key}")
    for cid, criterion in known.items():
        raw = scores.get(cid, scores.get(int(cid)) if cid.isdigit() else None)
        if raw is None or str(raw).strip() == "":
            if complete:
                errors.append(f"「{criterion.name}」：请填写分数")
            continue
        try:
            clean[cid] = str(validate_points(raw, Decimal(criterion.max_points), SCORE_STEP))
        except ValueError as err:
            errors.append(f"「{criterion.name}」：{err}")
    if errors:
        raise ScoringError("；".join(errors), "invalid")
    total = sum((Decimal(v) for v in clean.values()), Decimal(0)) if len(clean) == len(known) else None
    return clean, total


def _check_version(sheet: ScoreSheet, base_version) -> None:
    if base_version is None or int(base_version) != sheet.version:
        raise StaleSheet(sheet)


def _require_open_case(case: DefenseCase, refusal: str) -> None:
    if case.locked:
        raise ScoringError(refusal, "locked", 409)


def save_draft(sheet: ScoreSheet, scores: dict, base_version: int) -> ScoreSheet:
    """Autosave: store a (possibly partial) draft; a stale device (older version) is refused."""
    case = sheet.case
    _require_open_case(case, "该考生的答辩成绩已确定，评分表已锁定")
    require(sheet, "save_draft")
    _check_version(sheet, base_version)
    clean, total = _validated_scores(_rubric_for(case), scores, complete=False)
    if clean != (sheet.scores or {}):
        sheet.scores = clean
        sheet.total = total
        sheet.version += 1
        sheet.updated_at = utcnow()
        db.session.flush()
        queue_panel_push(case.panel_id)  # the panelist's other devices follow
    return sheet


SUBMITTABLE_CASE_STATES = frozenset({CaseState.IN_PROGRESS, CaseState.SCORING, CaseState.FLAGGED})


def submit_sheet(sheet: ScoreSheet, scores: dict, base_version: int) -> ScoreSheet:
    case = sheet.case
    _require_open_case(case, "该考生的答辩成绩已确定，评分表已锁定")
    require(sheet, "submit")
    if case.state not in SUBMITTABLE_CASE_STATES:
        raise ScoringError(f"考生当前状态为「{CASE_STATE_LABELS[case.state]}」，尚不能提交评分", "wrong_state", 409)
    _check_version(sheet, base_version)
    clean, total = _validated_scores(_rubric_for(case), scores, complete=True)
    now = utcnow()
    reason = sheet.reopen_reason if sheet.status == SheetStatus.REOPENED else ""
    sheet.scores, sheet.total, sheet.submitted_at = clean, total, now
    sheet.revision += 1
    transition(sheet, "submit", panelist_id=sheet.panelist_id, revision=sheet.revision, scores=clean, total=total)
    sheet.revisions.append(ScoreSheetRevision(revision=sheet.revision, scores=dict(clean), total=total,
                                              submitted_at=now, reason=reason))
    case.flags_resolved_at, case.flags_resolved_by_id = None, None
    _refresh(case)
    db.session.flush()
    return sheet


def recuse(sheet: ScoreSheet, reason: str) -> ScoreSheet:
    case = sheet.case
    reason = (reason or "").strip()
    if not reason:
        raise ScoringError("请填写回避理由")
    _require_open_case(case, "该考生的答辩成绩已确定，不能回避")
    require(sheet, "recuse")
    sheet.recuse_reason = reason
    transition(sheet, "recuse", reason=reason, panelist_id=sheet.panelist_id)
    case.flags_resolved_at, case.flags_resolved_by_id = None, None
    _refresh(case)
    db.session.flush()
    return sheet


def reopen_sheet(sheet: ScoreSheet, reason: str) -> ScoreSheet:
    """The chair sends one panelist's submitted sheet back, with a reason; the original stays in revisions."""
    case = sheet.case
    reason = (reason or "").strip()
    if not reason:
        raise ScoringError("请填写退回重评的理由")
    _require_open_case(case, "该考生的答辩成绩已确定，只有秘书处可以重新开放")
    if not machines.allowed(machines.SHEET, sheet.status, "reopen"):
        raise ScoringError("只能退回已提交的评分表", "wrong_state", 409)
    sheet.reopen_reason = reason
    sheet.reopened_count += 1
    transition(sheet, "reopen", reason=reason, panelist_id=sheet.panelist_id, revision=sheet.revision,
               total=sheet.total)
    if sheet.revisions:
        sheet.revisions[-1].reopened_at = utcnow()
    case.flags_resolved_at, case.flags_resolved_by_id = None, None
    if case.state == CaseState.FLAGGED:
        _settle(case, CaseState.SCORING)
    _refresh(case)
    db.session.flush()
    return sheet


def confirm_flags(case: DefenseCase, comment: str, actor: User | None = None) -> DefenseCase:
    """The chair confirms the flagged scores as they are, with a comment (the "resolved" stamp)."""
    comment = (comment or "").strip()
    if not comment:
        raise ScoringError("请填写确认意见")
    transition(case, "confirm", reason=comment, flags=case.flags)
    case.flags_resolved_at = utcnow()
    case.flags_resolved_by_id = actor.id if actor else None
    case.chair_comment = comment
    db.session.flush()
    return case


def finalise_plan(case: DefenseCase) -> dict:
    """Step one of 确定成绩（锁定） (writes nothing): each member's sheet and total, which totals count, the score that
    will be locked. Refused as ``finalise`` would be."""
    require(case, "finalise")
    sheets = _member_sheets(case)
    names = _names(case)
    waiting = [s for s in sheets if s.status not in DONE_SHEET_STATUSES]
    if waiting:
        raise ScoringError("尚有专家未提交评分：" + "、".join(names.get(s.panelist_id, "?") for s in waiting))
    all_in, agg = case_aggregate(case)
    if agg.score is None:
        raise ScoringError(agg.error)
    if agg.flags and case.flags_resolved_at is None:
        raise ScoringError("评分存在较大分差，须由组长确认或退回重评后才能确定成绩")
    rows = [{"name": names.get(s.panelist_id, "?"), "status": s.status, "total": s.total,
             "counted": s.panelist_id in agg.counted,
             "dropped": "最高分（去掉）" if s.panelist_id == agg.dropped_high else (
                 "最低分（去掉）" if s.panelist_id == agg.dropped_low else "")} for s in sheets]
    return {"aggregate": agg, "sheets": rows}


def finalise(case: DefenseCase, actor: User | None = None, reason: str = "") -> DefenseCase:
    """Lock the case and hand the aggregate to results (``record_component``); audited with the reason."""
    agg = finalise_plan(case)["aggregate"]
    case.score, case.finalised_at = agg.score, utcnow()
    case.finalised_by_id = actor.id if actor else None
    record_component(case.candidate, "defense", agg.score, source=f"defense:case {case.id}", actor=actor,
                     reason=reason)
    transition(case, "finalise", actor=actor, reason=reason, score=agg.score, counted=list(agg.counted),
               dropped_high=agg.dropped_high, dropped_low=agg.dropped_low, flags=case.flags)
    db.session.flush()
    return case


def secretariat_reopen(case: DefenseCase, reason: str, actor: User) -> DefenseCase:
    """Reopen a finalised (or absent) case; its component score is withdrawn until it is finalised again."""
    if actor is None or actor.role != SECRETARIAT:
        raise Forbidden("只有秘书处可以重新开放已确定的成绩")
    reason = (reason or "").strip()
    if not reason:
        raise ScoringError("请填写重新开放的理由")
    require(case, "reopen")
    before = {"state": str(case.state), "score": case.score}
    row = db.session.execute(db.select(ComponentScore).filter_by(candidate_id=case.candidate_id,
                                                                  component="defense")).scalar_one_or_none()
    if row is not None:
        db.session.delete(row)
    case.score, case.finalised_at, case.finalised_by_id = None, None, None
    case.reopen_count += 1
    transition(case, "reopen", actor=actor, reason=reason, before=before,
               withdrawn_component=None if row is None else {"status": row.status, "score": row.score})
    db.session.flush()
    return case


# ------------------------------------------------------------------ views (what each user may see)
# Built by the pure defense.services.views from one snapshot of the panel (defense.scoring.live.load_snapshot).

def sheet_view(sheet: ScoreSheet) -> dict:
    return views.sheet_view(snap_sheet(sheet))


def rubric_view(rubric: Rubric) -> dict:
    return views.rubric_view(snap_rubric(rubric))


def room_state(panel: Panel, member: PanelMember, *, ensure: bool = True) -> dict:
    """The whole panel as one member may see it (``ensure``: a write, creating missing cases and sheets first)."""
    if ensure:
        ensure_cases(panel)
    return views.room_view(load_snapshot(panel.id), member.panelist_id)


def get_case(case_id) -> DefenseCase:
    case = db.session.get(DefenseCase, int(case_id)) if str(case_id).isdigit() else None
    if case is None:
        raise ScoringError("找不到该考生的答辩记录", "not_found", 404)
    return case


def get_sheet(sheet_id) -> ScoreSheet:
    sheet = db.session.get(ScoreSheet, int(sheet_id)) if str(sheet_id).isdigit() else None
    if sheet is None:
        raise ScoringError("找不到该评分表", "not_found", 404)
    return sheet


def ensure_round_cases(rnd: Round) -> None:
    """Cases and sheets for every scheduled candidate of the round (publication of the schedule)."""
    for panel in db.session.execute(db.select(Panel).filter_by(round_id=rnd.id)).scalars():
        ensure_cases(panel)


def round_cases_page(rnd: Round, page: int, per_page: int, *, panel_id: int | None = None, state: str = ""):
    """One page of the round's cases in ``round_cases`` order (optionally one panel's, or one state's), their
    candidates loaded with them: the case list of a 5,000-candidate round is read a page at a time."""
    stmt = db.select(DefenseCase).where(DefenseCase.round_id == rnd.id)
    if panel_id is not None:
        stmt = stmt.where(DefenseCase.panel_id == panel_id)
    if state:
        stmt = stmt.where(DefenseCase.state == state)
    stmt = stmt.order_by(DefenseCase.panel_id, DefenseCase.queue_order, DefenseCase.id).options(
        joinedload(DefenseCase.candidate))
    return db.paginate(stmt, page=page, per_page=per_page, max_per_page=per_page, error_out=False)


def round_cases(rnd: Round) -> list[DefenseCase]:
    """The round's cases as they stand (read only: a scheduled candidate whose room never opened has none)."""
    return list(db.session.execute(db.select(DefenseCase).filter_by(round_id=rnd.id)
                                   .order_by(DefenseCase.panel_id, DefenseCase.queue_order)).scalars())
