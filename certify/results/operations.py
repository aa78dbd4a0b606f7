"""State changes of the results: confirm (freeze), reopen, publish, complaints. Each validates, flushes and
audits; none commits (routes and CLI commit at the edge). Also the read model the pages and exports share.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import insert
from sqlalchemy.orm import selectinload

from certify.audit import audit
from certify.clock import to_local, utcnow
from certify.domain import COMPONENTS, half_up, validate_ratio
from certify.errors import DomainError
from certify.extensions import db
from certify.models import Candidate, Round, Scheme
from certify.scores import component_scores, record_component

from .models import (
    ABSENT,
    CERTIFIED,
    DISMISSED,
    DRAFT,
    NOT_CERTIFIED,
    OPEN,
    UPHELD,
    Complaint,
    PublicityPeriod,
    ResultEntry,
    ResultSet,
)
from .services.publicity import in_period, publicity_end
from .services.ranking import Outcome, rank_and_certify
from .services.states import ResultSetAction, ResultSetState, TransitionRefused, next_state
from .services.totals import MISSING, SCORED, ComponentValue, Total, compute_total


class ResultsError(DomainError):
    """A refused state change of the results: ``headline`` says what was refused, ``items`` (e.g. the candidates
    still missing a component) are listed after it in the message (the first 20) and in full in ``extra``."""

    code = "results_refused"
    MAX_ITEMS_IN_MESSAGE = 20

    def __init__(self, message: str, items: list[str] | None = None, *, code: str | None = None,
                 status: int | None = None):
        self.headline = message
        self.items = list(items or [])
        text = message + ("：" + "；".join(self.items[:self.MAX_ITEMS_IN_MESSAGE]) if self.items else "")
        super().__init__(code, text, status, **({"items": self.items} if self.items else {}))


def local_today() -> date:
    return to_local(utcnow()).date()


# ------------------------------------------------------------------ read model

@dataclass
class Line:
    candidate: Candidate
    components: dict[str, Decimal | None]
    status: str  # scored / absent / missing
    total: Decimal | None
    missing: list[str]
    rank: int | None = None
    outcome: str | None = None  # certified / not_certified / absent; None while a component is missing
    revoked: bool = False
    revoked_reason: str = ""

    @property
    def final_outcome(self) -> str | None:
        return NOT_CERTIFIED if self.revoked else self.outcome


@dataclass
class Computation:
    round: Round
    scheme: Scheme
    ratio: Decimal
    min_total: Decimal | None
    lines: list[Line]
    eligible: int
    quota: int
    certified: int
    cut_line: Decimal | None
    confirmed: bool = False
    result_set: ResultSet | None = None
    missing: list[Line] = field(default_factory=list)

    @property
    def level(self) -> str:
        return self.scheme.level

    def around_cut(self, width: int = 3) -> list[Line]:
        """The candidates just above and just below the cut line (eligible, in rank order)."""
        ranked = [ln for ln in self.lines if ln.rank is not None]
        n = sum(1 for ln in ranked if ln.outcome == CERTIFIED or ln.revoked)
        return ranked[max(0, n - width): n + width]


def _scheme(rnd: Round, level: str) -> Scheme:
    scheme = rnd.scheme_for(level)
    if scheme is None:
        raise ResultsError(f"轮次 {rnd.code} 没有「{level}」级别", code="no_such_level", status=404)
    return scheme


def result_set_for(rnd: Round, level: str) -> ResultSet | None:
    return db.session.execute(db.select(ResultSet).filter_by(round_id=rnd.id, level=level)).scalar_one_or_none()


def _weights(scheme: Scheme) -> dict[str, Decimal]:
    return {c: Decimal(scheme.weight(c)) for c in COMPONENTS}


LOADING, AGGREGATING, RANKING, WRITING = "读取成分成绩", "汇总总分", "排名认定", "写入结果"
PHASES = (LOADING, AGGREGATING, RANKING, WRITING)


def _no_progress(phase: str) -> None:
    return None


def compute(rnd: Round, level: str, *, ratio: Decimal | None = None, min_total: Decimal | None = None,
            override_min: bool = False, progress=_no_progress) -> Computation:
    """The live computation from current component scores (nothing written).

    ``ratio`` defaults to the scheme's; the minimum total is the scheme's unless ``override_min`` is set, in
    which case ``min_total`` (possibly None: no minimum) is used. ``progress(phase)`` is called as each phase
    begins (the results job reports it; it may stop the job there)."""
    scheme = _scheme(rnd, level)
    ratio = Decimal(scheme.ratio) if ratio is None else Decimal(ratio)
    problems = validate_ratio(ratio)
    if problems:
        raise ResultsError(problems[0])
    if not override_min:
        min_total = None if scheme.min_total is None else Decimal(scheme.min_total)
    weights = _weights(scheme)
    progress(LOADING)
    candidates = db.session.execute(
        db.select(Candidate).filter_by(round_id=rnd.id, level=level).order_by(Candidate.ticket)).scalars().all()
    scores = component_scores(c.id for c in candidates)
    progress(AGGREGATING)
    lines: list[Line] = []
    for cand in candidates:
        rows = scores.get(cand.id, {})
        values = {comp: ComponentValue(row.status, None if row.score is None else Decimal(row.score))
                  for comp, row in rows.items()}
        total: Total = compute_total(weights, values)
        lines.append(Line(cand, {c: (values[c].score if c in values and weights[c] > 0 else None)
                                 for c in COMPONENTS}, total.status, total.total, total.missing))
    progress(RANKING)
    outcome: Outcome = rank_and_certify([(ln.candidate.id, ln.total) for ln in lines if ln.status == SCORED],
                                        ratio, min_total)
    placed = outcome.by_key()
    for ln in lines:
        p = placed.get(ln.candidate.id)
        if p is not None:
            ln.rank, ln.outcome = p.rank, CERTIFIED if p.certified else NOT_CERTIFIED
        elif ln.status != MISSING:
            ln.outcome = ABSENT
    order = {p.key: i for i, p in enumerate(outcome.placed)}
    lines.sort(key=lambda ln: (0, order[ln.candidate.id]) if ln.candidate.id in order else (
        1 if ln.status == MISSING else 2, ln.candidate.ticket))
    return Computation(rnd, scheme, ratio, min_total, lines, outcome.eligible, outcome.quota, outcome.certified,
                       outcome.cut_line, missing=[ln for ln in lines if ln.status == MISSING])


def frozen(result_set: ResultSet) -> Computation:
    """The confirmed results as stored (later component changes do not alter them)."""
    rnd = result_set.round
    lines = []
    entries = db.session.execute(
        db.select(ResultEntry).filter_by(result_set_id=result_set.id).order_by(ResultEntry.position)
        .options(selectinload(ResultEntry.candidate))).scalars().all()
    for e in entries:
        lines.append(Line(e.candidate, {"exam": e.exam, "defense": e.defense, "record": e.record},
                          ABSENT if e.outcome == ABSENT else SCORED, e.total, [], e.rank, e.outcome, e.revoked,
                          e.revoked_reason))
    certified = sum(1 for ln in lines if ln.outcome == CERTIFIED)
    return Computation(rnd, _scheme(rnd, result_set.level), Decimal(result_set.ratio),
                       None if result_set.min_total is None else Decimal(result_set.min_total), lines,
                       result_set.eligible, result_set.quota, certified,
                       None if result_set.cut_line is None else Decimal(result_set.cut_line), confirmed=True,
                       result_set=result_set)


def drift(result_set: ResultSet) -> list[tuple[Candidate, str, Decimal | None, str]]:
    """Component scores that changed after confirmation: (candidate, component, frozen value, current text).
    The frozen results stay as they are; the secretariat decides whether to reopen."""
    scheme = _scheme(result_set.round, result_set.level)
    entries = db.session.execute(db.select(ResultEntry).filter_by(result_set_id=result_set.id)
                                 .options(selectinload(ResultEntry.candidate))).scalars().all()
    scores = component_scores(e.candidate_id for e in entries)
    out = []
    for e in entries:
        rows = scores.get(e.candidate_id, {})
        for comp in scheme.components:
            row = rows.get(comp)
            now = None if row is None or row.status != "scored" or row.score is None else Decimal(row.score)
            was = e.component(comp)
            if (was is None) != (now is None) or (was is not None and Decimal(was) != now):
                if row is not None and row.status == "absent":
                    label = "缺考"
                else:
                    label = "无" if now is None else str(half_up(now))
                out.append((e.candidate, comp, was, label))
    return out


def current(rnd: Round, level: str) -> Computation:
    """Frozen results when the level is confirmed, otherwise the live computation with the scheme's settings."""
    rs = result_set_for(rnd, level)
    if rs is not None and rs.confirmed:
        return frozen(rs)
    return compute(rnd, level)


def levels_with_candidates(rnd: Round) -> list[str]:
    present = set(db.session.execute(
        db.select(Candidate.level).filter_by(round_id=rnd.id).distinct()).scalars())
    return [lvl for lvl in rnd.levels if lvl in present]


# ------------------------------------------------------------------ state changes

_REFUSED = {  # action -> (code, message) when the state does not allow it
    ResultSetAction.CONFIRM: ("already_confirmed", "{round} {level}成绩已确认；如需重新计算，请先填写理由重新开放"),
    ResultSetAction.REOPEN: ("not_confirmed", "{round} {level}成绩尚未确认，无需重新开放"),
}
_REASON_MISSING = {ResultSetAction.REOPEN: "重新开放须填写理由"}


def check_transition(rnd: Round, level: str, state: str | None, action: str, reason: str = "") -> ResultSetState:
    """The state ``action`` leads to (``TRANSITIONS``), or a ResultsError saying why it is refused."""
    try:
        return next_state(state, action, reason)
    except TransitionRefused as err:
        if err.missing_reason:
            raise ResultsError(_REASON_MISSING[err.action], code="reason_required") from None
        code, message = _REFUSED[err.action]
        raise ResultsError(message.format(round=rnd.code, level=level), code=code, status=409) from None


def transition(result_set: ResultSet, action: str, *, actor=None, reason: str = "", **detail) -> ResultSet:
    """The one way a result set changes state: check the move against the table, stamp who/when, audit it
    (``results.<action>`` with ``detail``). The caller has prepared the set's content (entries) for the new state."""
    rnd = result_set.round or db.session.get(Round, result_set.round_id)
    new = check_transition(rnd, result_set.level, result_set.state, action, reason)
    result_set.state = new
    if new == ResultSetState.CONFIRMED:
        result_set.confirmed_at, result_set.confirmed_by_id = utcnow(), actor.id if actor else None
    else:
        result_set.confirmed_at, result_set.confirmed_by_id = None, None
    db.session.flush()
    audit(f"results.{ResultSetAction(action)}", target=result_set, round_id=result_set.round_id, actor=actor,
          reason=(reason or "").strip(), level=result_set.level, **detail)
    return result_set


def confirm_plan(rnd: Round, level: str, *, ratio: Decimal | None = None, min_total: Decimal | None = None,
                 override_min: bool = False, progress=_no_progress) -> Computation:
    """What confirming would freeze (nothing written), or the ResultsError confirming would raise."""
    rs = result_set_for(rnd, level)
    check_transition(rnd, level, rs.state if rs else None, ResultSetAction.CONFIRM)
    comp = compute(rnd, level, ratio=ratio, min_total=min_total, override_min=override_min, progress=progress)
    if not comp.lines:
        raise ResultsError(f"{rnd.code} {level}没有考生")
    if comp.missing:
        from certify.domain import COMPONENT_LABELS

        items = [f"{ln.candidate.ticket} {ln.candidate.name}：缺少" + "、".join(COMPONENT_LABELS[c] for c in ln.missing)
                 for ln in comp.missing]
        raise ResultsError(f"{len(comp.missing)} 名考生尚缺成分成绩（既无成绩也未标记缺考），不能确认", items,
                           code="components_missing", status=409)
    return comp


def confirm(rnd: Round, level: str, *, ratio: Decimal | None = None, min_total: Decimal | None = None,
            override_min: bool = False, actor=None, reason: str = "", progress=_no_progress) -> ResultSet:
    """Freeze a level's results. Refused while any candidate has a missing component. Everything is written after
    the last ``progress`` call, in the caller's one transaction: a stop before it leaves the previous state."""
    comp = confirm_plan(rnd, level, ratio=ratio, min_total=min_total, override_min=override_min, progress=progress)
    progress(WRITING)
    rs = db.session.execute(db.select(ResultSet).filter_by(round_id=rnd.id, level=level)
                            .execution_options(populate_existing=True)).scalar_one_or_none()
    # the state again: a progress report commits, and someone may have confirmed the level meanwhile
    check_transition(rnd, level, rs.state if rs else None, ResultSetAction.CONFIRM)
    if rs is None:
        rs = ResultSet(round_id=rnd.id, round=rnd, level=level, state=DRAFT)
        db.session.add(rs)
    rs.ratio, rs.min_total = comp.ratio, comp.min_total
    rs.eligible, rs.quota, rs.cut_line = comp.eligible, comp.quota, comp.cut_line
    upheld = {c.candidate_id: c for c in db.session.execute(
        db.select(Complaint).filter_by(round_id=rnd.id, status=UPHELD)).scalars()}
    db.session.flush()  # the set's id
    rows = []
    for position, ln in enumerate(comp.lines, start=1):
        row = {"result_set_id": rs.id, "candidate_id": ln.candidate.id, "position": position,
               "exam": ln.components["exam"], "defense": ln.components["defense"],
               "record": ln.components["record"], "total": ln.total, "rank": ln.rank, "outcome": ln.outcome,
               "revoked": False, "revoked_reason": ""}
        complaint = upheld.get(ln.candidate.id)
        if complaint is not None and ln.outcome == CERTIFIED:
            row["revoked"], row["revoked_reason"] = True, f"投诉 #{complaint.id} 属实：{complaint.outcome_note}"
        rows.append(row)
    # one multi-row insert per chunk: appending 5,000 entries to the ORM collection of a set that was loaded
    # before (a reopened draft) cost minutes in the collection's change tracking
    for start in range(0, len(rows), 1000):
        db.session.execute(insert(ResultEntry), rows[start:start + 1000])
    db.session.expire(rs, ["entries"])
    return transition(rs, ResultSetAction.CONFIRM, actor=actor, reason=reason, ratio=comp.ratio,
                      min_total=comp.min_total, eligible=comp.eligible, quota=comp.quota, cut_line=comp.cut_line,
                      certified=comp.certified, candidates=len(comp.lines))


def reopen(rnd: Round, level: str, reason: str, *, actor=None) -> ResultSet:
    """Unfreeze a confirmed level (reason required). Withdraws the publication of the round if any."""
    rs = result_set_for(rnd, level)
    check_transition(rnd, level, rs.state if rs else None, ResultSetAction.REOPEN, reason)
    reason = reason.strip()
    before = {"ratio": rs.ratio, "min_total": rs.min_total, "quota": rs.quota, "cut_line": rs.cut_line,
              "certified": sum(1 for e in rs.entries if e.outcome == CERTIFIED)}
    rs.entries.clear()
    publication = publication_for(rnd)
    if publication is not None:
        db.session.delete(publication)
        audit("results.unpublish", target=rnd, round_id=rnd.id, actor=actor, reason=reason,
              start=publication.start_date.isoformat(), end=publication.end_date.isoformat())
    return transition(rs, ResultSetAction.REOPEN, actor=actor, reason=reason, before=before)


def publication_for(rnd: Round) -> PublicityPeriod | None:
    return db.session.execute(db.select(PublicityPeriod).filter_by(round_id=rnd.id)).scalar_one_or_none()


def publish_plan(rnd: Round, start: date, working_days: int | None = None) -> PublishPlan:
    """What publishing would do (nothing written), or the ResultsError publishing would raise."""
    working_days = working_days or rnd.publicity_working_days or 5
    if working_days < 1 or working_days > 60:
        raise ResultsError("公示工作日数须在 1 到 60 之间")
    levels = levels_with_candidates(rnd)
    if not levels:
        raise ResultsError(f"{rnd.code} 没有考生")
    unconfirmed = [lvl for lvl in levels if not ((rs := result_set_for(rnd, lvl)) and rs.confirmed)]
    if unconfirmed:
        raise ResultsError(f"{'、'.join(unconfirmed)}成绩尚未确认，不能发布公示", code="not_confirmed", status=409)
    counts = []
    for lvl in levels:
        entries = result_set_for(rnd, lvl).entries
        counts.append((lvl, len(entries), sum(1 for e in entries if e.final_outcome == CERTIFIED),
                       sum(1 for e in entries if e.outcome == ABSENT)))
    return PublishPlan(start, publicity_end(start, working_days), working_days, publication_for(rnd), counts)


@dataclass
class PublishPlan:
    start: date
    end: date
    working_days: int
    previous: PublicityPeriod | None
    levels: list[tuple[str, int, int, int]]  # level, candidates, certified (after complaints), absent


def publish(rnd: Round, start: date, working_days: int | None = None, *, actor=None,
            reason: str = "") -> PublicityPeriod:
    """Publish the round's results (every level with candidates confirmed) with its publicity period."""
    plan = publish_plan(rnd, start, working_days)
    working_days, end = plan.working_days, plan.end
    period = publication_for(rnd)
    before = None
    if period is None:
        period = PublicityPeriod(round_id=rnd.id)
        db.session.add(period)
    else:
        before = {"start": period.start_date.isoformat(), "end": period.end_date.isoformat()}
    period.start_date, period.end_date, period.working_days = start, end, working_days
    period.published_at, period.published_by_id = utcnow(), actor.id if actor else None
    db.session.flush()
    audit("results.publish", target=rnd, round_id=rnd.id, actor=actor, reason=(reason or "").strip(),
          start=start.isoformat(),
          end=end.isoformat(), working_days=working_days, before=before)
    _announce_publicity(rnd, period)
    return period


def _announce_publicity(rnd: Round, period: PublicityPeriod) -> None:
    """Every candidate of the round: their result is out and the publicity period runs (certify.notices)."""
    from certify.notices import operations as notices
    from certify.notices.services import texts
    from certify.notices.services.delivery import PUBLICITY

    user_ids = db.session.scalars(db.select(Candidate.user_id).where(Candidate.round_id == rnd.id,
                                                                     Candidate.user_id.is_not(None)))
    title, body = texts.publicity_notice(rnd.title, period.start_date.isoformat(), period.end_date.isoformat())
    notices.notify(list(user_ids), PUBLICITY, title, body, round_id=rnd.id)


def released_entry(candidate: Candidate) -> ResultEntry | None:
    """A candidate's own result once released (their level confirmed and the round published), else None."""
    if publication_for(candidate.round) is None:
        return None
    return _entry_of(candidate)


def _entry_of(candidate: Candidate) -> ResultEntry | None:
    """A candidate's frozen entry (their level confirmed), released or not."""
    rs = result_set_for(candidate.round, candidate.level)
    if rs is None or not rs.confirmed:
        return None
    return db.session.execute(
        db.select(ResultEntry).filter_by(result_set_id=rs.id, candidate_id=candidate.id)).scalar_one_or_none()


def find_candidate(rnd: Round, key: str) -> Candidate | None:
    key = (key or "").strip()
    if not key:
        return None
    return db.session.execute(db.select(Candidate).where(
        Candidate.round_id == rnd.id,
        (Candidate.ticket == key) | (db.func.upper(Candidate.id_number) == key.upper()))).scalars().first()


def record_complaint(rnd: Round, candidate_key: str, content: str, *, complainant: str = "", actor=None,
                     today: date | None = None, late_reason: str = "") -> Complaint:
    """A supervisor records a complaint lodged during the publicity period, or after it with a reason (a later
    finding, e.g. discipline: deciding it upheld still revokes the certification, and the exports show it)."""
    today = today or local_today()
    period = publication_for(rnd)
    if period is None:
        raise ResultsError("本轮成绩尚未公示，不能登记投诉")
    if today < period.start_date:
        raise ResultsError(f"公示期尚未开始（{period.start_date} 至 {period.end_date}），不能登记投诉")
    late_reason = (late_reason or "").strip()
    late = not in_period(today, period.start_date, period.end_date)
    if late and not late_reason:
        raise ResultsError(f"公示期（{period.start_date} 至 {period.end_date}）已结束：公示期后登记投诉须填写理由"
                           "（将记入审计日志）", code="late_reason_required")
    content = (content or "").strip()
    if not content:
        raise ResultsError("请填写投诉内容")
    candidate = find_candidate(rnd, candidate_key)
    if candidate is None:
        raise ResultsError(f"本轮没有准考证号或证件号为「{candidate_key}」的考生")
    if _entry_of(candidate) is None:
        raise ResultsError(f"考生 {candidate.name} 的成绩未确认")
    complaint = Complaint(round_id=rnd.id, candidate_id=candidate.id, lodged_on=today,
                          complainant=(complainant or "").strip()[:100], content=content,
                          recorded_by_id=actor.id if actor else None, late_reason=late_reason if late else "")
    db.session.add(complaint)
    db.session.flush()
    audit("results.complaint", target=complaint, round_id=rnd.id, actor=actor, candidate=candidate.ticket,
          complainant=complaint.complainant, content=content, after_publicity=late,
          reason=late_reason if late else "")
    return complaint


def decide_complaint(complaint: Complaint, status: str, note: str, *, actor=None) -> Complaint:
    """Record a complaint's outcome; found true (upheld) revokes the candidate's certification."""
    note = (note or "").strip()
    if status not in (UPHELD, DISMISSED):
        raise ResultsError("处理结果须为「属实」或「不属实」")
    if complaint.status != OPEN:
        raise ResultsError(f"投诉 #{complaint.id} 已处理", code="already_decided", status=409)
    if not note:
        raise ResultsError("请填写处理意见（将记入审计日志）")
    complaint.status, complaint.outcome_note = status, note
    complaint.decided_at, complaint.decided_by_id = utcnow(), actor.id if actor else None
    candidate = complaint.candidate
    audit("results.complaint_decided", target=complaint, round_id=complaint.round_id, actor=actor, reason=note,
          status=status, candidate=candidate.ticket)
    if status == UPHELD:
        entry = _entry_of(candidate)
        if entry is not None and entry.outcome == CERTIFIED and not entry.revoked:
            entry.revoked, entry.revoked_reason = True, f"投诉 #{complaint.id} 属实：{note}"
            period = publication_for(candidate.round)
            audit("results.revoke", target=candidate, round_id=complaint.round_id, actor=actor, reason=note,
                  complaint=complaint.id, level=candidate.level, total=entry.total, rank=entry.rank,
                  after_publicity=period is not None and local_today() > period.end_date)
    db.session.flush()
    return complaint


# ------------------------------------------------------------------ absences

@dataclass
class Absence:
    candidate: Candidate
    components: list[str]  # the required components with neither a score nor an absence


def absence_plan(rnd: Round, level: str) -> list[Absence]:
    """The candidates of a level still missing a component, and which: what ``mark_absent`` would record."""
    return [Absence(ln.candidate, list(ln.missing)) for ln in compute(rnd, level).missing]


def mark_absent(rnd: Round, level: str, reason: str, *, actor=None,
                candidate_ids: list[int] | None = None) -> list[Absence]:
    """Record 缺考 for every missing required component of the level's candidates (or only ``candidate_ids``),
    through ``certify.scores.record_component`` (each change audited with the reason). A component that has a
    score or is already absent is left alone. Refused for a confirmed level and without a reason."""
    reason = (reason or "").strip()
    if not reason:
        raise ResultsError("标记缺考须填写理由", code="reason_required")
    rs = result_set_for(rnd, level)
    if rs is not None and rs.confirmed:
        raise ResultsError(f"{rnd.code} {level}成绩已确认，不能再标记缺考（须先重新开放）", code="already_confirmed",
                           status=409)
    plan = absence_plan(rnd, level)
    if candidate_ids is not None:
        wanted = set(candidate_ids)
        plan = [a for a in plan if a.candidate.id in wanted]
    if not plan:
        raise ResultsError(f"{rnd.code} {level}没有尚缺成分成绩的考生", code="nothing_missing", status=409)
    for absence in plan:
        for component in absence.components:
            record_component(absence.candidate, component, None, status="absent", source="秘书处标记缺考",
                             reason=reason, actor=actor)
    db.session.flush()
    audit("results.mark_absent", target=rnd, round_id=rnd.id, actor=actor, reason=reason, level=level,
          candidates=[f"{a.candidate.ticket}:{'+'.join(a.components)}" for a in plan])
    return plan
