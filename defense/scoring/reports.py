"""Read-only reports of defense scoring: the panel quality report and the defense export (DOMAIN.md columns)."""
from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy.orm import selectinload

from certify.clock import to_local
from certify.domain import half_up, mask_id_number
from certify.extensions import db
from certify.models import Candidate, ComponentScore, Round
from certify.tabular import Sheet

from ..models import DefenseAssignment, Panel, Panelist, PanelMember
from ..services import rater_stats
from ..services.states import COMPONENT_ABSENT, CaseState, SheetStatus
from .models import CASE_STATE_LABELS, SHEET_STATUS_LABELS, DefenseCase, ScoreSheet
from .operations import round_cases, rubric_for_read

ID_COLUMNS = ["准考证号", "姓名", "证件号", "工作单位", "认证级别"]


def id_cells(c: Candidate, full_id: bool = False) -> list:
    """The ID_COLUMNS of one candidate; the ID number masked unless ``full_id``."""
    return [c.ticket, c.name, c.id_number if full_id else mask_id_number(c.id_number), c.work_unit, c.level]


def _q2(value) -> Decimal | None:
    return half_up(value)


def panel_quality(rnd: Round) -> list[dict]:
    """Per panel: members' severity, ICC(3,1)/(3,k)/(2,1), Kendall's W, reopen and discrepancy counts.

    Computed over finalised cases (the round's scores as they stand); no score is ever adjusted."""
    # Plain rows, grouped by panel and by case, in three queries: loading every case and then its sheets one
    # case at a time made a 5,000-candidate round's report take seconds.
    cases_by_panel: dict[int, list] = defaultdict(list)
    for c in db.session.execute(db.select(DefenseCase.id, DefenseCase.panel_id, DefenseCase.state,
                                          DefenseCase.flags, DefenseCase.reopen_count)
                                .where(DefenseCase.round_id == rnd.id)
                                .order_by(DefenseCase.panel_id, DefenseCase.queue_order)):
        cases_by_panel[c.panel_id].append(c)
    sheets_by_case: dict[int, list] = defaultdict(list)
    for s in db.session.execute(db.select(ScoreSheet.case_id, ScoreSheet.panelist_id, ScoreSheet.total,
                                          ScoreSheet.status, ScoreSheet.reopened_count)
                                .join(DefenseCase, DefenseCase.id == ScoreSheet.case_id)
                                .where(DefenseCase.round_id == rnd.id).order_by(ScoreSheet.id)):
        sheets_by_case[s.case_id].append(s)
    out = []
    for panel in db.session.execute(db.select(Panel).filter_by(round_id=rnd.id).order_by(Panel.name).options(
            selectinload(Panel.members).selectinload(PanelMember.panelist))).scalars():
        members = sorted(panel.members, key=lambda m: m.id)
        names = {m.panelist_id: m.panelist.name for m in members}
        chair = {m.panelist_id for m in members if m.is_chair}
        panel_cases = cases_by_panel.get(panel.id, [])
        ratings = {}
        for c in panel_cases:
            if c.state != CaseState.FINALISED:
                continue
            ratings[c.id] = {s.panelist_id: s.total for s in sheets_by_case.get(c.id, ())
                             if s.status == SheetStatus.SUBMITTED}
        sev = rater_stats.severity(ratings)
        scored_counts = {pid: sum(1 for r in ratings.values() if pid in r) for pid in names}
        iccs = rater_stats.icc(ratings)
        w = rater_stats.kendalls_w(ratings)
        sheets = [s for c in panel_cases for s in sheets_by_case.get(c.id, ())]
        out.append({
            "panel": panel,
            "members": [{"name": names[pid], "chair": pid in chair, "scored": scored_counts.get(pid, 0),
                         "severity": sev.get(pid),
                         "reopened": sum(s.reopened_count for s in sheets if s.panelist_id == pid),
                         "recused": sum(1 for s in sheets if s.panelist_id == pid and s.status == SheetStatus.RECUSED)}
                        for pid in names],
            "icc": iccs, "kendall_w": w,
            "cases": len(panel_cases),
            "finalised": sum(1 for c in panel_cases if c.state == CaseState.FINALISED),
            "absent": sum(1 for c in panel_cases if c.state == CaseState.ABSENT),
            "discrepancies": sum(1 for c in panel_cases if c.flags),
            "sheet_reopens": sum(s.reopened_count for s in sheets),
            "case_reopens": sum(c.reopen_count for c in panel_cases),
        })
    return out


def _status(case: DefenseCase | None, component: ComponentScore | None, scheduled: bool = False) -> str:
    if component is not None and component.status == COMPONENT_ABSENT:
        return "缺考"
    if case is None:
        return CASE_STATE_LABELS[CaseState.WAITING] if scheduled else "未安排答辩"
    return CASE_STATE_LABELS.get(case.state, case.state)


def export_sheets(rnd: Round, *, full_id: bool = False) -> list[Sheet]:
    """Sheet 1: the defense component per candidate; sheet 2: every panelist's sheet per candidate."""
    cases = {c.candidate_id: c for c in round_cases(rnd)}
    rubric = rubric_for_read(rnd.id)
    scheduled = set(db.session.execute(db.select(DefenseAssignment.candidate_id).filter_by(round_id=rnd.id)).scalars())
    candidates = [c for c in db.session.execute(db.select(Candidate).filter_by(round_id=rnd.id)
                                                .order_by(Candidate.ticket)).scalars()
                  if c.id in cases or (c.scheme is not None and c.scheme.has_defense)]
    components = {row.candidate_id: row for row in db.session.execute(
        db.select(ComponentScore).where(ComponentScore.component == "defense",
                                        ComponentScore.candidate_id.in_([c.id for c in candidates]))).scalars()}

    def ident(c: Candidate) -> list:
        return id_cells(c, full_id)

    main_rows = []
    for c in candidates:
        comp = components.get(c.id)
        score = _q2(comp.score) if comp is not None and comp.status == "scored" else None
        main_rows.append(ident(c) + [score, _status(cases.get(c.id), comp, c.id in scheduled)])
    panels = {p.id: p.name for p in db.session.execute(db.select(Panel).filter_by(round_id=rnd.id)).scalars()}
    names = {p.id: p.name for p in db.session.execute(db.select(Panelist).filter_by(round_id=rnd.id)).scalars()}
    detail_rows = []
    for c in candidates:
        case = cases.get(c.id)
        if case is None:
            continue
        for s in sorted(case.sheets, key=lambda s: s.id):
            show = s.status == SheetStatus.SUBMITTED
            scores = [(_q2(s.scores.get(str(cr.id))) if s.status == SheetStatus.SUBMITTED and s.scores.get(str(cr.id))
                       else None) for cr in rubric.criteria]
            previous = (s.revisions[:-1] if s.status == SheetStatus.SUBMITTED
                        else (s.revisions if s.status == SheetStatus.REOPENED else []))
            earlier = "；".join(f"第{r.revision}次 {_q2(r.total)}" for r in previous)
            detail_rows.append(ident(c) + [panels.get(case.panel_id, ""), names.get(s.panelist_id, "")] + scores + [
                _q2(s.total) if s.status == SheetStatus.SUBMITTED else None,
                to_local(s.submitted_at).strftime("%Y-%m-%d %H:%M:%S") if s.submitted_at and show else "",
                SHEET_STATUS_LABELS[s.status] + (f"（{s.recuse_reason}）" if s.status == SheetStatus.RECUSED else ""),
                f"是（{s.reopened_count}次）" if s.reopened_count else "否", earlier])
    main = Sheet("答辩成绩", ID_COLUMNS + ["答辩成绩", "状态"], main_rows, number_formats={5: "0.00"})
    crit = [f"{cr.name}（{cr.max_points.normalize():f}分）" if isinstance(cr.max_points, Decimal) else cr.name
            for cr in rubric.criteria]
    detail = Sheet("专家评分表", ID_COLUMNS + ["答辩组", "专家"] + crit + ["总分", "提交时间", "评分表状态",
                                                                    "是否退回重评", "此前提交的总分"], detail_rows)
    return [main, detail]


def audit_full_export(rnd: Round, fmt: str) -> None:
    """Record a download with full ID numbers. The download is a GET, whose unit of work never writes; the entry is
    written in its own transaction once the read has ended (an access log, like a web server's)."""
    from flask import after_this_request, current_app

    from certify import uow
    from certify.audit import audit

    round_id = rnd.id

    @after_this_request
    def _record(response):
        if response.status_code == 200:
            try:
                audit("defense.export_full", target=db.session.get(Round, round_id), round_id=round_id, fmt=fmt)
                uow.commit()
            except Exception:  # the download itself has succeeded; the failure is logged
                db.session.rollback()
                current_app.logger.exception("audit of the full defense export failed")
        return response


def write_defense_export(rnd: Round, path: str) -> None:
    """``certify export defense --round CODE FILE``: ID numbers masked (the full list is the results export)."""
    from certify.tabular import write_file

    write_file(path, export_sheets(rnd, full_id=False))


__all__ = ["panel_quality", "export_sheets", "write_defense_export"]


def _defense_build(rnd: Round, full: bool = False, part: str = "main") -> list[Sheet]:
    sheets = export_sheets(rnd, full_id=bool(full))
    return sheets[1:] if part == "sheets" else sheets


def register_exporters() -> None:
    """The defense scores and the schedule as background-job exporters (``certify.export_job``): same sheets, same
    names; a full-ID file is the secretariat's only, and each download of it is audited as the direct one is."""
    from certify.domain import SECRETARIAT, SUPERVISOR
    from certify.export_job import Exporter, register_exporter

    from ..schedule.reports import schedule_sheets

    register_exporter(Exporter(
        name="defense.scores", title="答辩成绩导出", build=_defense_build,
        filename=lambda rnd, params, fmt: f"{rnd.code}-答辩成绩" + ("-专家评分表" if params.get("part") == "sheets"
                                                                   else ""),
        roles=lambda params: (SECRETARIAT,) if params.get("full") else (SECRETARIAT, SUPERVISOR),
        on_download=lambda rnd, params, fmt: audit_full_export(rnd, fmt) if params.get("full") else None,
        params={"full": False, "part": "main"}, choices={"part": ("main", "sheets")},
        cli_kind="defense", cli_params={"full": False}))
    register_exporter(Exporter(
        name="defense.schedule", title="答辩安排导出", build=lambda rnd: schedule_sheets(rnd),
        filename=lambda rnd, params, fmt: f"{rnd.code}-答辩安排", cli_kind="schedule"))
