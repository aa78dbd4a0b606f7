"""State changes of defense organisation: panelists, panels, conflicts, defense days, the schedule.

Each function validates, changes, flushes and writes the audit entry; none commits (routes, CLI and the
background job commit at the edge). Live scoring state changes are in ``defense.scoring.operations``; the panelist
import is in ``panelist_import``.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from sqlalchemy.orm import joinedload, selectinload

from certify.accounts import create_user, issue_generated_password
from certify.audit import audit
from certify.clock import display_timezone, from_local, to_local, utcnow
from certify.domain import PANELIST
from certify.errors import DomainError
from certify.extensions import db
from certify.models import Candidate, Round, User

from ..models import Conflict, DefenseAssignment, DefenseDay, DefenseSchedule, Panel, Panelist, PanelMember
from ..scoring.live import queue_panel_push
from ..scoring.models import DefenseCase
from ..services import scheduling as sched
from ..services.scheduling import norm_unit
from ..services.states import CaseState

PANEL_MIN, PANEL_MAX = 3, 5


class DefenseError(DomainError):
    """A refused action of defense organisation (a ``DomainError``); ``messages`` are shown to the user (Chinese)."""

    code = "refused"
    status = 400

    def __init__(self, *messages: str, code: str | None = None, status: int | None = None, **extra):
        super().__init__(code, [m for m in messages if m], status, **extra)


# ------------------------------------------------------------------ queries

def round_panels(rnd: Round) -> list[Panel]:
    """With members and their panelists loaded (every caller lists them: one query each, not one per member)."""
    return list(db.session.execute(db.select(Panel).filter_by(round_id=rnd.id).order_by(Panel.id).options(
        selectinload(Panel.members).selectinload(PanelMember.panelist))).scalars())


def round_panelists(rnd: Round) -> list[Panelist]:
    return list(db.session.execute(db.select(Panelist).filter_by(round_id=rnd.id).order_by(Panelist.name,
                                                                                             Panelist.id)).scalars())


def round_days(rnd: Round) -> list[DefenseDay]:
    return list(db.session.execute(db.select(DefenseDay).filter_by(round_id=rnd.id).order_by(DefenseDay.day)).scalars())


def round_conflicts(rnd: Round) -> list[Conflict]:
    return list(db.session.execute(db.select(Conflict).join(Panelist, Conflict.panelist_id == Panelist.id)
                                   .where(Panelist.round_id == rnd.id).order_by(Conflict.id)).scalars())


def defense_candidates(rnd: Round) -> list[Candidate]:
    """Candidates whose scheme has a defense (defense_weight > 0)."""
    levels = [s.level for s in rnd.schemes if s.has_defense]
    if not levels:
        return []
    return list(db.session.execute(db.select(Candidate).where(Candidate.round_id == rnd.id,
                                                              Candidate.level.in_(levels))
                                   .order_by(Candidate.ticket)).scalars())


def round_assignments(rnd: Round) -> list[DefenseAssignment]:
    return list(db.session.execute(db.select(DefenseAssignment).filter_by(round_id=rnd.id)
                                   .order_by(DefenseAssignment.panel_id, DefenseAssignment.start_at)).scalars())


def defense_candidate_rows(rnd: Round) -> list:
    """``defense_candidates`` as plain rows (id, ticket, name, work_unit), for pages that only list them."""
    levels = [s.level for s in rnd.schemes if s.has_defense]
    if not levels:
        return []
    return list(db.session.execute(db.select(Candidate.id, Candidate.ticket, Candidate.name, Candidate.work_unit)
                                   .where(Candidate.round_id == rnd.id, Candidate.level.in_(levels))
                                   .order_by(Candidate.ticket)).all())


def panel_counts(rnd: Round) -> dict[int, int]:
    """{panel id: how many candidates it has} (panels without any are absent)."""
    return dict(db.session.execute(db.select(DefenseAssignment.panel_id, db.func.count(DefenseAssignment.id))
                                   .where(DefenseAssignment.round_id == rnd.id)
                                   .group_by(DefenseAssignment.panel_id)).all())


def assigned_candidate_ids(rnd: Round) -> set[int]:
    return set(db.session.execute(db.select(DefenseAssignment.candidate_id).filter_by(round_id=rnd.id)).scalars())


def assignments_page(rnd: Round, page: int, per_page: int):
    """One page of the round's assignments in ``round_assignments`` order, their candidates loaded with them."""
    stmt = (db.select(DefenseAssignment).filter_by(round_id=rnd.id)
            .order_by(DefenseAssignment.panel_id, DefenseAssignment.start_at, DefenseAssignment.id)
            .options(joinedload(DefenseAssignment.candidate)))
    return db.paginate(stmt, page=page, per_page=per_page, max_per_page=per_page, error_out=False)


def _new_schedule(rnd: Round) -> DefenseSchedule:
    return DefenseSchedule(round_id=rnd.id, status="draft", job_state="idle", job_progress=0, job_message="")


def get_schedule(rnd: Round, *, create: bool = True) -> DefenseSchedule | None:
    """The round's schedule row; ``create`` (a write) adds it on first use."""
    row = db.session.execute(db.select(DefenseSchedule).filter_by(round_id=rnd.id)).scalar_one_or_none()
    if row is None and create:
        row = _new_schedule(rnd)
        db.session.add(row)
        db.session.flush()
    return row


def schedule_for_read(rnd: Round) -> DefenseSchedule:
    """The round's schedule row for a page that only reads: the stored one, else a fresh draft (not inserted)."""
    return get_schedule(rnd, create=False) or _new_schedule(rnd)


def is_published(rnd: Round) -> bool:
    s = get_schedule(rnd, create=False)
    return s is not None and s.status == "published"


# ------------------------------------------------------------------ panelists

def panelist_key(name: str, work_unit: str, phone: str) -> str:
    phone = re.sub(r"\D", "", phone or "")
    if phone:
        return f"phone:{phone}"
    return f"name:{''.join((name or '').split())}|{norm_unit(work_unit)}"


def _new_username(rnd: Round) -> str:
    n = db.session.execute(db.select(db.func.count(Panelist.id)).filter_by(round_id=rnd.id)).scalar() or 0
    base = re.sub(r"[^A-Za-z0-9-]", "", rnd.code) or f"r{rnd.id}"
    while True:
        n += 1
        name = f"zj-{base}-{n:02d}"
        if db.session.execute(db.select(User.id).filter_by(username=name)).first() is None:
            return name


def create_panelist(rnd: Round, *, name: str, work_unit: str, expertise: str = "", phone: str = "",
                    password: str | None = None, issue: bool = True) -> Panelist:
    """A panelist with their login (role panelist; generated password, changed at first login). ``issue=False``
    (a large import run by the worker, which has nobody to show it to): no usable password yet; it is issued
    later with ``issue_panelist_passwords``."""
    name, work_unit = (name or "").strip(), (work_unit or "").strip()
    problems = []
    if not name:
        problems.append("姓名不能为空")
    if not work_unit:
        problems.append("工作单位不能为空")
    key = panelist_key(name, work_unit, phone)
    if name and work_unit and db.session.execute(
            db.select(Panelist.id).filter_by(round_id=rnd.id, import_key=key)).first():
        problems.append(f"本轮已有相同的专家（{'手机 ' + phone if phone else name + ' · ' + work_unit}）")
    if problems:
        raise DefenseError(*problems)
    user, initial = create_user(_new_username(rnd), PANELIST, password=password, display_name=name, issue=issue)
    db.session.flush()
    p = Panelist(round_id=rnd.id, user_id=user.id, name=name, work_unit=work_unit, expertise=(expertise or "").strip(),
                 phone=(phone or "").strip(), import_key=key, initial_password=None if password else initial)
    db.session.add(p)
    db.session.flush()
    audit("defense.panelist_create", target=p, round_id=rnd.id, name=name, work_unit=work_unit)
    return p


def issue_panelist_passwords(rnd: Round) -> list[Panelist]:
    """One-time passwords for the round's panelists whose accounts have none yet (made by a large import run by
    the worker): set on each returned panelist's ``initial_password``, to be shown once; never stored in clear.
    One audit entry names the accounts."""
    issued = []
    for p in round_panelists(rnd):
        user = p.user
        if user is None or user.has_usable_password or not user.is_active_account:
            continue
        p.initial_password = issue_generated_password(user)
        issued.append(p)
    if issued:
        audit("defense.panelist_passwords", target=rnd, round_id=rnd.id, count=len(issued),
              usernames=[p.user.username for p in issued])
    db.session.flush()
    return issued


def update_panelist(p: Panelist, *, name: str, work_unit: str, expertise: str = "", phone: str = "") -> Panelist:
    name, work_unit = (name or "").strip(), (work_unit or "").strip()
    if not name or not work_unit:
        raise DefenseError("姓名和工作单位不能为空")
    key = panelist_key(name, work_unit, phone)
    clash = db.session.execute(db.select(Panelist.id).where(Panelist.round_id == p.round_id,
                                                            Panelist.import_key == key, Panelist.id != p.id)).first()
    if clash:
        raise DefenseError("本轮已有相同手机号或相同姓名与工作单位的专家")
    before = {"name": p.name, "work_unit": p.work_unit, "expertise": p.expertise, "phone": p.phone}
    p.name, p.work_unit, p.expertise, p.phone, p.import_key = name, work_unit, (expertise or "").strip(), \
        (phone or "").strip(), key
    if p.user is not None:
        p.user.display_name = name
    check_assignments_still_valid(db.session.get(Round, p.round_id))
    db.session.flush()
    audit("defense.panelist_update", target=p, round_id=p.round_id, before=before,
          after={"name": name, "work_unit": work_unit, "expertise": p.expertise, "phone": p.phone})
    return p


def delete_panelist(p: Panelist) -> None:
    if p.memberships:
        raise DefenseError(f"专家 {p.name} 仍是答辩组成员，请先从答辩组中移除")
    audit("defense.panelist_delete", target=p, round_id=p.round_id, name=p.name)
    user = p.user
    db.session.delete(p)
    db.session.flush()
    if user is not None:
        user.is_active_account = False


# ------------------------------------------------------------------ panels

def save_panel(rnd: Round, panel: Panel | None, *, name: str, room: str = "", meeting_link: str = "",
               member_ids: list[int], chair_id: int | None) -> Panel:
    """Create or edit a panel: 3–5 members of this round, exactly one chair among them, a room or a link."""
    name = (name or "").strip()
    member_ids = list(dict.fromkeys(int(i) for i in member_ids))
    problems = []
    if not name:
        problems.append("答辩组名称不能为空")
    elif db.session.execute(db.select(Panel.id).where(Panel.round_id == rnd.id, Panel.name == name,
                                                      Panel.id != (panel.id if panel else -1))).first():
        problems.append(f"本轮已有名为「{name}」的答辩组")
    if not (PANEL_MIN <= len(member_ids) <= PANEL_MAX):
        problems.append(f"答辩组须有 {PANEL_MIN}–{PANEL_MAX} 名专家（现为 {len(member_ids)} 名）")
    if chair_id is None or int(chair_id) not in member_ids:
        problems.append("须从组员中指定一名组长")
    members = [db.session.get(Panelist, i) for i in member_ids]
    if any(m is None or m.round_id != rnd.id for m in members):
        problems.append("所选专家不属于本轮")
    if (room or "").strip() == "" and (meeting_link or "").strip() == "":
        problems.append("请填写答辩地点（教室）或线上会议链接")
    if problems:
        raise DefenseError(*problems)
    created = panel is None
    if created:
        panel = Panel(round_id=rnd.id, name=name)
        db.session.add(panel)
    before = None if created else {"name": panel.name, "room": panel.room, "meeting_link": panel.meeting_link,
                                   "members": sorted(m.panelist_id for m in panel.members),
                                   "chair": panel.chair.id if panel.chair else None}
    panel.name, panel.room, panel.meeting_link = name, (room or "").strip(), (meeting_link or "").strip()
    keep = {m.panelist_id: m for m in panel.members}
    for pid, m in list(keep.items()):
        if pid not in member_ids:
            panel.members.remove(m)
    for pid in member_ids:
        m = keep.get(pid)
        if m is None:
            m = PanelMember(panelist_id=pid)
            panel.members.append(m)
        m.is_chair = pid == int(chair_id)
    db.session.flush()
    check_assignments_still_valid(rnd)
    audit("defense.panel_create" if created else "defense.panel_update", target=panel, round_id=rnd.id,
          before=before, name=name, members=member_ids, chair=int(chair_id))
    return panel


def delete_panel(panel: Panel) -> None:
    if db.session.execute(db.select(DefenseAssignment.id).filter_by(panel_id=panel.id)).first():
        raise DefenseError(f"{panel.name} 已排有考生，请先重新排程或调出考生")
    audit("defense.panel_delete", target=panel, round_id=panel.round_id, name=panel.name)
    db.session.delete(panel)
    db.session.flush()


def check_assignments_still_valid(rnd: Round) -> None:
    """An edit (member, unit, conflict) must not put a panelist in front of a candidate they must avoid."""
    problems = []
    inputs = None
    for a in round_assignments(rnd):
        if inputs is None:
            inputs = _service_panels(rnd)
        sp = inputs.get(a.panel_id)
        if sp is None:
            continue
        blockers = sched.panel_blockers(sp, _service_candidate(a.candidate))
        if blockers:
            problems.append(f"考生 {a.candidate.name}（{a.candidate.ticket}）已排在 {sp.name}，而 " + "、".join(
                f"{m.name}（{why}）" for m, why in blockers) + " 须回避；请先调整该考生的安排")
    if problems:
        raise DefenseError(*problems)


# ------------------------------------------------------------------ conflicts

def resolve_conflict_target(rnd: Round, target: str) -> tuple[Candidate | None, str]:
    """A 证件号 / 准考证号 of a candidate of the round, or a work unit name (of a candidate or panelist)."""
    target = (target or "").strip()
    if not target:
        raise DefenseError("回避对象不能为空")
    cand = db.session.execute(db.select(Candidate).where(
        Candidate.round_id == rnd.id,
        db.or_(Candidate.id_number == target.upper(), Candidate.id_number == target, Candidate.ticket == target))
    ).scalars().first()
    if cand is not None:
        return cand, ""
    unit = norm_unit(target)
    units = {norm_unit(u): u for (u,) in db.session.execute(
        db.select(Candidate.work_unit).filter_by(round_id=rnd.id).distinct())}
    if unit in units:
        return None, units[unit]
    raise DefenseError(f"回避对象「{target}」既不是本轮考生的证件号或准考证号，也不是本轮考生的工作单位")


def add_conflict(panelist: Panelist, target: str) -> Conflict:
    rnd = db.session.get(Round, panelist.round_id)
    cand, unit = resolve_conflict_target(rnd, target)
    existing = find_conflict(panelist, cand, unit)
    if existing is not None:
        return existing
    c = Conflict(panelist_id=panelist.id, candidate_id=cand.id if cand else None, work_unit=unit)
    db.session.add(c)
    db.session.flush()
    check_assignments_still_valid(rnd)
    audit("defense.conflict_add", target=c, round_id=rnd.id, panelist=panelist.name,
          candidate=cand.ticket if cand else None, work_unit=unit)
    return c


def find_conflict(panelist: Panelist, cand: Candidate | None, unit: str) -> Conflict | None:
    for c in db.session.execute(db.select(Conflict).filter_by(panelist_id=panelist.id)).scalars():
        if cand is not None and c.candidate_id == cand.id:
            return c
        if cand is None and c.candidate_id is None and norm_unit(c.work_unit) == norm_unit(unit):
            return c
    return None


def delete_conflict(conflict: Conflict) -> None:
    audit("defense.conflict_delete", target=conflict, round_id=conflict.panelist.round_id,
          panelist=conflict.panelist.name, candidate_id=conflict.candidate_id, work_unit=conflict.work_unit)
    db.session.delete(conflict)
    db.session.flush()


# ------------------------------------------------------------------ defense days

def save_day(rnd: Round, *, day: date, start: str, end: str, slot_minutes: int, breaks: str,
             existing: DefenseDay | None = None) -> DefenseDay:
    spec = sched.DaySpec(day, start.strip(), end.strip(), int(slot_minutes or 0), (breaks or "").strip())
    try:
        slots = sched.day_slots(spec)
    except ValueError as e:
        raise DefenseError(str(e)) from e
    if not slots:
        raise DefenseError(f"{day} 按所设时间没有任何完整的答辩时段")
    clash = db.session.execute(db.select(DefenseDay.id).where(
        DefenseDay.round_id == rnd.id, DefenseDay.day == day,
        DefenseDay.id != (existing.id if existing else -1))).first()
    if clash:
        raise DefenseError(f"{day} 已设为答辩日")
    row = existing or DefenseDay(round_id=rnd.id)
    row.day, row.start_time, row.end_time = day, spec.start, spec.end
    row.slot_minutes, row.breaks = spec.slot_minutes, spec.breaks
    db.session.add(row)
    db.session.flush()
    audit("defense.day_save", target=row, round_id=rnd.id, day=day.isoformat(), start=spec.start, end=spec.end,
          slot_minutes=spec.slot_minutes, breaks=spec.breaks, slots=len(slots))
    return row


def delete_day(row: DefenseDay) -> None:
    rnd = db.session.get(Round, row.round_id)
    begin = from_local(datetime.combine(row.day, datetime.min.time()), display_timezone())
    if db.session.execute(db.select(DefenseAssignment.id).where(
            DefenseAssignment.round_id == rnd.id, DefenseAssignment.start_at >= begin,
            DefenseAssignment.start_at < begin + timedelta(days=1))).first():
        raise DefenseError(f"{row.day} 已排有答辩，不能删除")
    audit("defense.day_delete", target=row, round_id=row.round_id, day=row.day.isoformat())
    db.session.delete(row)
    db.session.flush()


def set_days(rnd: Round, days: list[date], *, start: str, end: str, slot_minutes: int, breaks: str) -> None:
    """CLI: make these the round's defense days with one setting (replacing days without assignments)."""
    for row in round_days(rnd):
        if row.day not in days:
            delete_day(row)
    have = {row.day: row for row in round_days(rnd)}
    for d in days:
        save_day(rnd, day=d, start=start, end=end, slot_minutes=slot_minutes, breaks=breaks, existing=have.get(d))


def slot_grid(rnd: Round) -> list[tuple[datetime, datetime]]:
    """The round's slots as naive UTC (start, end), in order; the same for every panel."""
    specs = [sched.DaySpec(d.day, d.start_time, d.end_time, d.slot_minutes, d.breaks) for d in round_days(rnd)]
    tz = display_timezone()
    return [(from_local(s.start, tz), from_local(s.end, tz)) for s in sched.build_slots(specs)]


# ------------------------------------------------------------------ scheduling

def _service_candidate(c: Candidate) -> sched.SCandidate:
    return sched.SCandidate(c.id, c.name, c.work_unit, c.ticket)


def _service_panels(rnd: Round) -> dict[int, sched.SPanel]:
    conflicts: dict[int, list[Conflict]] = {}
    for c in round_conflicts(rnd):
        conflicts.setdefault(c.panelist_id, []).append(c)

    def sp(p: Panelist) -> sched.SPanelist:
        cs = conflicts.get(p.id, [])
        return sched.SPanelist(p.id, p.name, p.work_unit,
                               frozenset(c.candidate_id for c in cs if c.candidate_id),
                               frozenset(norm_unit(c.work_unit) for c in cs if c.work_unit))

    return {panel.id: sched.SPanel(panel.id, panel.name, tuple(sp(m.panelist) for m in panel.members))
            for panel in round_panels(rnd)}


def schedule_problems(rnd: Round) -> list[str]:
    """Reasons the scheduler must not run now (not infeasibility: state)."""
    if is_published(rnd):
        return ["答辩安排已发布，不能整体重排；如需调整，请逐个调整考生的安排（调整会记录并通知相关人员）"]
    started = db.session.execute(db.select(DefenseCase).where(
        DefenseCase.round_id == rnd.id, DefenseCase.state != CaseState.WAITING.value)).scalars().first()
    if started is not None:
        return ["已有考生开始答辩或已定分，不能整体重排"]
    bad_panels = [p.name for p in round_panels(rnd)
                  if not (PANEL_MIN <= len(p.members) <= PANEL_MAX) or sum(m.is_chair for m in p.members) != 1]
    if bad_panels:
        return [f"答辩组 {'、'.join(bad_panels)} 须有 {PANEL_MIN}–{PANEL_MAX} 名专家且只有一名组长"]
    return []


def compute_schedule(rnd: Round, *, time_limit: float = 8.0, progress=None) -> tuple[sched.ScheduleResult, list]:
    problems = schedule_problems(rnd)
    if problems:
        return sched.ScheduleResult(False, reasons=problems, status="REFUSED"), []
    grid = slot_grid(rnd)
    panels = list(_service_panels(rnd).values())
    candidates = [_service_candidate(c) for c in defense_candidates(rnd)]
    result = sched.schedule(candidates, panels, grid, time_limit=time_limit, progress=progress)
    return result, grid


def save_schedule(rnd: Round, result: sched.ScheduleResult, grid: list) -> int:
    """Write the draft: one assignment per candidate (existing rows updated in place so live cases follow)."""
    if not result.ok:
        raise DefenseError(*result.reasons)
    existing = {a.candidate_id: a for a in round_assignments(rnd)}
    placed = {pl.candidate_id for pl in result.placements}
    for cid, a in existing.items():
        if cid not in placed:
            db.session.delete(a)
    # Park existing rows on unique far-past times first, so swapping slots never trips (panel, start) unique.
    parked = datetime(1900, 1, 1)
    for i, a in enumerate(existing.values()):
        a.start_at = a.end_at = parked + timedelta(minutes=i)
    db.session.flush()
    for pl in result.placements:
        start, end = grid[pl.slot_index]
        a = existing.get(pl.candidate_id)
        if a is None:
            a = DefenseAssignment(round_id=rnd.id, candidate_id=pl.candidate_id)
            db.session.add(a)
        a.panel_id, a.start_at, a.end_at, a.queue_position = pl.panel_id, start, end, pl.position
        a.changed_after_publication = False
    db.session.flush()
    for case in db.session.execute(db.select(DefenseCase).filter_by(round_id=rnd.id)).scalars():
        a = db.session.get(DefenseAssignment, case.assignment_id)
        if a is not None and case.panel_id != a.panel_id and not case.locked:
            case.panel_id = a.panel_id
    db.session.flush()
    s = get_schedule(rnd)
    s.status = "draft"
    audit("defense.schedule_save", target=s, round_id=rnd.id, candidates=len(result.placements),
          loads={str(k): v for k, v in result.loads.items()}, solver=result.status)
    return len(result.placements)


def run_schedule(rnd: Round, *, time_limit: float = 8.0, progress=None) -> sched.ScheduleResult:
    """Compute and save the draft (the CLI and the background job)."""
    result, grid = compute_schedule(rnd, time_limit=time_limit, progress=progress)
    if result.ok:
        save_schedule(rnd, result, grid)
    return result


def job_running(s: DefenseSchedule | None) -> bool:
    """A scheduling job of the round is queued or running (the job queue, ``defense.schedule.job``)."""
    from .job import active_schedule_job

    return s is not None and active_schedule_job(s.round_id) is not None


def start_schedule_job(rnd: Round, *, time_limit: float = 8.0, created_by: User | None = None):
    """Queue the scheduler as a background job run by ``certify worker`` (``defense.schedule.job``); returns the
    job, or None when one of the round is already queued or running. The caller's unit of work commits."""
    from .job import enqueue_schedule

    return enqueue_schedule(rnd, time_limit=time_limit, created_by=created_by)


def move_candidate(rnd: Round, candidate: Candidate, panel: Panel, start_at: datetime, *, reason: str = "",
                   actor: User | None = None) -> DefenseAssignment:
    """Place a candidate in a panel's slot by hand (same hard constraints). After publication: audited with a
    reason, the assignment marked changed so the candidate and both panels see a notice."""
    published = is_published(rnd)
    problems = []
    if candidate.round_id != rnd.id or panel.round_id != rnd.id:
        raise DefenseError("考生或答辩组不属于本轮")
    if candidate.id not in {c.id for c in defense_candidates(rnd)}:
        problems.append(f"考生 {candidate.name} 的认证级别没有答辩环节")
    if published and not (reason or "").strip():
        problems.append("答辩安排已发布，调整须填写理由")
    a = db.session.execute(db.select(DefenseAssignment).filter_by(candidate_id=candidate.id)).scalar_one_or_none()
    if a is not None:
        case = db.session.execute(db.select(DefenseCase).filter_by(assignment_id=a.id)).scalar_one_or_none()
        if case is not None and case.state != CaseState.WAITING:
            problems.append(f"考生 {candidate.name} 的答辩已开始或已结束，不能再调整")
    grid = slot_grid(rnd)
    starts = [s for s, _ in grid]
    index = starts.index(start_at) if start_at in starts else -1
    occupied = {}
    for other in db.session.execute(db.select(DefenseAssignment).filter_by(panel_id=panel.id)).scalars():
        if other.start_at in starts:
            occupied[starts.index(other.start_at)] = other.candidate_id
    sp = _service_panels(rnd)[panel.id]
    problems += sched.check_move(_service_candidate(candidate), sp, index, len(grid), occupied)
    if problems:
        raise DefenseError(*problems)
    before = None if a is None else {"panel_id": a.panel_id, "start_at": a.start_at}
    if a is None:
        a = DefenseAssignment(round_id=rnd.id, candidate_id=candidate.id)
        db.session.add(a)
    a.panel_id, a.start_at, a.end_at = panel.id, grid[index][0], grid[index][1]
    db.session.flush()
    _renumber(rnd)
    if published:
        a.changed_after_publication = True
    case = db.session.execute(db.select(DefenseCase).filter_by(assignment_id=a.id)).scalar_one_or_none()
    if case is not None and case.panel_id != panel.id:
        case.panel_id = panel.id
    db.session.flush()
    if published:  # the live rooms follow: the case (and its sheets) in the new panel, both rooms pushed
        from ..scoring.operations import ensure_cases

        ensure_cases(panel)
    queue_panel_push(panel.id)
    if before is not None:
        queue_panel_push(before["panel_id"])
    audit("defense.schedule_change" if published else "defense.schedule_move", target=a, round_id=rnd.id,
          reason=reason or "", actor=actor, candidate_id=candidate.id, candidate=candidate.name,
          from_panel_id=before["panel_id"] if before else None, from_start=before["start_at"] if before else None,
          to_panel_id=panel.id, to_start=a.start_at, published=published)
    if published:
        from .notices import announce_assignment

        announce_assignment(a, changed=True)
    return a


def _renumber(rnd: Round) -> None:
    """Queue positions follow the slot order within each panel."""
    by_panel: dict[int, list[DefenseAssignment]] = {}
    for a in round_assignments(rnd):
        by_panel.setdefault(a.panel_id, []).append(a)
    for rows in by_panel.values():
        for i, a in enumerate(sorted(rows, key=lambda a: a.start_at), start=1):
            a.queue_position = i


def publish_plan(rnd: Round) -> dict:
    """Step one of 发布答辩安排 (writes nothing): how many candidates in which panels, where and when. Refused
    when already published, nothing is scheduled, a candidate is unscheduled or a used panel has no place."""
    s = schedule_for_read(rnd)
    if s.status == "published":
        raise DefenseError("答辩安排已发布")
    assignments = round_assignments(rnd)
    assigned = {a.candidate_id for a in assignments}
    missing = [c for c in defense_candidates(rnd) if c.id not in assigned]
    problems = []
    if not assigned:
        problems.append("还没有答辩安排，请先排程")
    if missing:
        problems.append("以下考生尚未安排答辩：" + "、".join(f"{c.name}（{c.ticket}）" for c in missing[:20])
                        + (f" 等 {len(missing)} 人" if len(missing) > 20 else ""))
    used = {a.panel_id for a in assignments}
    panels = [p for p in round_panels(rnd) if p.id in used]
    unplaced = [p.name for p in panels if not p.room and not p.meeting_link]
    if unplaced:
        problems.append(f"答辩组 {'、'.join(unplaced)} 尚未填写答辩地点或线上会议链接")
    if problems:
        raise DefenseError(*problems)
    per_panel = []
    for p in panels:
        rows = [a for a in assignments if a.panel_id == p.id]
        per_panel.append({"panel": p, "candidates": len(rows), "first": min(a.start_at for a in rows),
                          "last": max(a.start_at for a in rows)})
    return {"assignments": assignments, "candidates": len(assigned), "panels": per_panel,
            "members": sum(len(p.members) for p in panels)}


def publish_schedule(rnd: Round, actor: User | None = None, reason: str = "") -> DefenseSchedule:
    plan = publish_plan(rnd)
    s, assignments = get_schedule(rnd), plan["assignments"]
    s.status, s.published_at = "published", utcnow()
    for a in assignments:
        a.changed_after_publication = False
    db.session.flush()
    from ..scoring.operations import ensure_round_cases

    ensure_round_cases(rnd)  # every scheduled candidate gets its case and sheets now, not when a page is read
    audit("defense.schedule_publish", target=s, round_id=rnd.id, actor=actor, reason=reason,
          candidates=plan["candidates"], panels=len(plan["panels"]))
    from .notices import announce_schedule

    announce_schedule(rnd, assignments)
    return s


# ------------------------------------------------------------------ read models

def panel_timetable(panel: Panel) -> list[DefenseAssignment]:
    return list(db.session.execute(db.select(DefenseAssignment).filter_by(panel_id=panel.id)
                                   .order_by(DefenseAssignment.start_at)).scalars())


def candidate_assignment(candidate: Candidate) -> DefenseAssignment | None:
    return db.session.execute(db.select(DefenseAssignment).filter_by(candidate_id=candidate.id)).scalar_one_or_none()


def change_notices(rnd: Round, panel_ids: set[int]) -> list[dict]:
    """Changes after publication that concern these panels (a candidate moved in or out)."""
    from certify.models import AuditEntry

    out = []
    for e in db.session.execute(db.select(AuditEntry).where(AuditEntry.round_id == rnd.id,
                                                            AuditEntry.action == "defense.schedule_change")
                                .order_by(AuditEntry.at.desc())).scalars():
        d = e.detail or {}
        if d.get("from_panel_id") in panel_ids or d.get("to_panel_id") in panel_ids:
            out.append({"at": e.at, "candidate": d.get("candidate"), "from_panel_id": d.get("from_panel_id"),
                        "to_panel_id": d.get("to_panel_id"), "to_start": d.get("to_start"), "reason": e.reason,
                        "moved_out": d.get("to_panel_id") not in panel_ids})
    return out


def local(dt: datetime | None) -> datetime | None:
    return None if dt is None else to_local(dt, display_timezone()).replace(tzinfo=None)
