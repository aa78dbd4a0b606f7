"""Pages of live defense scoring: the panel room (chair and panelists), the score sheet, the secretariat's case
list (reopen a finalised case), the panel quality report and the defense export downloads.

Live actions go through the Socket.IO namespace (``defense/events.py``); these views render pages and handle
the few plain form posts (secretariat reopen)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from certify import export_job
from certify.access import allow
from certify.domain import PANELIST, SECRETARIAT, SUPERVISOR
from certify.downloads import send_table
from certify.extensions import db
from certify.forms import ConfirmActionForm
from certify.models import Round
from certify.web import (
    BadParameter,
    page_arg,
    refusals_go_to,
    require_confirmation,
    round_from_query,
    rounds_newest_first,
)

from ..models import Panel
from . import operations as ops
from .models import CASE_STATE_LABELS, DefenseCase
from .reports import audit_full_export, export_sheets, panel_quality

CASES_PER_PAGE = 200
bp = Blueprint("defense_room", __name__, url_prefix="/defense")


def _member_or_403(panel_id: int):
    panel = db.session.get(Panel, panel_id)
    if panel is None:
        abort(404)
    member = ops.membership(panel, current_user)
    if member is None:
        abort(403)
    return panel, member


@bp.route("/room")
@allow(PANELIST)
def my_panels():
    panels = ops.panels_of(current_user)
    if len(panels) == 1:
        return redirect(url_for("defense_room.room", panel_id=panels[0].id))
    return render_template("defense/room_list.html", panels=panels)


@bp.route("/room/<int:panel_id>")
@allow(PANELIST)
def room(panel_id: int):
    panel, member = _member_or_403(panel_id)
    rubric = ops.rubric_for_read(panel.round_id)  # the cases are created when the page joins the room (socket)
    return render_template("defense/room.html", panel=panel, member=member, rubric=rubric)


@bp.route("/room/<int:panel_id>/sheet/<int:case_id>")
@allow(PANELIST)
def sheet(panel_id: int, case_id: int):
    panel, member = _member_or_403(panel_id)
    case = db.session.get(DefenseCase, case_id)
    if case is None or case.panel_id != panel.id:
        abort(404)
    if ops.conflict_reason(member.panelist, case.candidate):
        abort(403)  # a panelist never scores a candidate they conflict with
    rubric = ops.rubric_for_read(panel.round_id)
    return render_template("defense/sheet.html", panel=panel, member=member, case=case, rubric=rubric,
                           rubric_view=ops.rubric_view(rubric))


def _chair_case(panel_id: int, case_id: int):
    panel, member = _member_or_403(panel_id)
    if not member.is_chair:
        abort(403)  # only the chair locks a score
    case = db.session.get(DefenseCase, case_id)
    if case is None or case.panel_id != panel.id:
        abort(404)
    return panel, case


@bp.route("/room/<int:panel_id>/finalise/<int:case_id>")
@allow(PANELIST)
def finalise_page(panel_id: int, case_id: int):
    """Step one of 确定成绩（锁定）: each member's total, which count, the score to be locked, the box and a reason."""
    panel, case = _chair_case(panel_id, case_id)
    back = url_for("defense_room.room", panel_id=panel.id)
    try:
        plan = ops.finalise_plan(case)
    except ops.ScoringError as err:
        flash(err.message, "error")
        return redirect(back)
    return render_template("defense/finalise.html", panel=panel, case=case, plan=plan, back=back,
                           labels=CASE_STATE_LABELS, form=ConfirmActionForm(formdata=None))


@bp.route("/room/<int:panel_id>/finalise/<int:case_id>", methods=["POST"])
@allow(PANELIST)
def finalise(panel_id: int, case_id: int):
    panel, case = _chair_case(panel_id, case_id)
    back = url_for("defense_room.room", panel_id=panel.id)
    form = ConfirmActionForm()
    if not form.validate_on_submit():
        abort(400)
    with refusals_go_to(back):
        ops.finalise_plan(case)
    reason = require_confirmation(form, url_for("defense_room.finalise_page", panel_id=panel.id, case_id=case.id))
    with refusals_go_to(back):
        ops.finalise(case, current_user, reason)
    flash(f"已确定 {case.candidate.name} 的答辩成绩：{case.score} 分（已锁定）", "success")
    return redirect(back)


def _has_defense(rnd: Round) -> bool:
    return any(s.has_defense for s in rnd.schemes)


def _defense_round() -> tuple[Round | None, bool, dict]:
    """The round a defense list page shows (``?round=``, else the newest with a defense), whether its schemes have
    no defense at all (the page then says so instead of showing an empty list), and the picker's rounds."""
    rnd = round_from_query(prefer=_has_defense)
    rounds = rounds_newest_first()
    picker = {"rounds": rounds, "defense_rounds": [r for r in rounds if _has_defense(r)]}
    return rnd, rnd is not None and not _has_defense(rnd), picker


@bp.route("/cases")
@allow(SECRETARIAT, SUPERVISOR)
def cases():
    rnd, no_defense, picker = _defense_round()
    shown = rnd is not None and not no_defense
    panels = {p.id: p for p in db.session.execute(db.select(Panel).filter_by(round_id=rnd.id)
                                                   .order_by(Panel.id)).scalars()} if shown else {}
    panel_id = _int_arg("panel")
    if panel_id is not None and panel_id not in panels:
        panel_id = None
    state = request.args.get("state") or ""
    state = state if state in CASE_STATE_LABELS else ""
    # A page of CASES_PER_PAGE cases with their candidates (a 5,000-candidate round's list in one page made a
    # candidate query per row and took seconds to render); a panel and a state narrow it.
    page = ops.round_cases_page(rnd, page_arg(), CASES_PER_PAGE, panel_id=panel_id, state=state) if shown else None
    return render_template("defense/room_cases.html", rnd=rnd, cases=page.items if page else [], page=page,
                           panels=panels, panel_id=panel_id, state=state, labels=CASE_STATE_LABELS,
                           no_defense=no_defense, **picker)


def _int_arg(name: str) -> int | None:
    """An optional id parameter (None when absent); anything else than digits is refused with 400."""
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 12:
        raise BadParameter(f"参数「{raw[:20]}」无效")
    return int(raw)


@bp.route("/cases/<int:case_id>/reopen", methods=["POST"])
@allow(SECRETARIAT)
def reopen_case(case_id: int):
    case = db.session.get(DefenseCase, case_id)
    if case is None:
        abort(404)
    rnd = db.session.get(Round, case.round_id)
    back = url_for("defense_room.cases", round=rnd.code)
    try:
        ops.secretariat_reopen(case, request.form.get("reason", ""), current_user)
    except ops.ScoringError as err:
        err.redirect_to = back
        raise
    flash(f"已重新开放考生 {case.candidate.name} 的答辩成绩，须由答辩组组长重新确定", "success")
    return redirect(back)


@bp.route("/quality")
@allow(SECRETARIAT, SUPERVISOR)
def quality():
    rnd, no_defense, picker = _defense_round()
    report = panel_quality(rnd) if rnd is not None and not no_defense else []
    return render_template("defense/quality.html", rnd=rnd, report=report, no_defense=no_defense, **picker)


@bp.route("/export/<round_code>.<fmt>")
@allow(SECRETARIAT, SUPERVISOR)
def export(round_code: str, fmt: str):
    if fmt not in ("xlsx", "csv"):
        abort(404)
    rnd = db.session.execute(db.select(Round).filter_by(code=round_code)).scalar_one_or_none()
    if rnd is None:
        abort(404)
    part = request.args.get("part", "main") if fmt == "csv" else "main"
    full = request.args.get("full") == "1" and current_user.role == SECRETARIAT  # full IDs: secretariat only
    params = {"full": full, "part": "sheets" if part == "sheets" else "main"}
    if export_job.is_large(rnd):  # built by the worker (certify.export_job); a full-ID download audited there
        return export_job.send_or_offer(rnd, "defense.scores", fmt, params)
    sheets = export_sheets(rnd, full_id=full)
    if full:
        audit_full_export(rnd, fmt)
    if part == "sheets":
        sheets = sheets[1:]
    name = f"{rnd.code}-答辩成绩" + ("-专家评分表" if part == "sheets" else "")
    return send_table(name, fmt, sheets)



@bp.route("/schedule")
@allow(PANELIST)
def my_schedule():
    """A panelist's own panels with their candidates and times (published schedules only)."""
    from ..schedule import operations as sched_ops

    panels = ops.panels_of(current_user)
    shown, notices = [], []
    for panel in panels:
        rnd = db.session.get(Round, panel.round_id)
        if sched_ops.is_published(rnd):
            shown.append((panel, sched_ops.panel_timetable(panel)))
            notices += sched_ops.change_notices(rnd, {panel.id})
    names = {p.id: p.name for p, _ in shown}
    for n in notices:
        if n["to_panel_id"] not in names:
            target = db.session.get(Panel, n["to_panel_id"])
            names[n["to_panel_id"]] = target.name if target else ""
    return render_template("defense/my_schedule.html", panels=shown, notices=notices, panel_names=names,
                           any_panel=bool(panels))
