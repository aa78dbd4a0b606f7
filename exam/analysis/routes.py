"""Pages of the item analysis: a round's sessions, a session's report, its .xlsx, storing measured facility."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from certify.access import allow
from certify.domain import SECRETARIAT, SUPERVISOR
from certify.downloads import send_table
from certify.extensions import db
from certify.forms import ConfirmActionForm
from certify.web import refusals_go_to, require_confirmation, round_from_query, rounds_newest_first

from ..models import CLOSED_STATES, Attempt, ExamSession
from ..services.item_analysis import LETTERS
from . import operations as analysis

bp = Blueprint("exam_analysis", __name__, url_prefix="/exam/analysis")

CHART_W, CHART_H, CHART_PAD = 560, 220, 30


def _cut_from_request() -> tuple[float | None, str]:
    text = (request.args.get("cut") or "").strip()
    if not text:
        return None, ""
    try:
        value = float(text)
    except ValueError:
        return None, f"划界分「{text}」不是数字，已按认定比例计算"
    if not 0 <= value <= 100:
        return None, f"划界分须在 0 到 100 之间（现为 {text}），已按认定比例计算"
    return value, ""


def histogram_chart(histogram) -> dict:
    """Bar geometry of the score histogram for the server-rendered SVG."""
    top = max((c for _, _, c in histogram), default=0) or 1
    inner_w, inner_h = CHART_W - 2 * CHART_PAD, CHART_H - 2 * CHART_PAD
    width = inner_w / max(len(histogram), 1)
    bars = []
    for i, (lo, hi, count) in enumerate(histogram):
        h = inner_h * count / top
        bars.append({"x": CHART_PAD + i * width + 2, "y": CHART_PAD + inner_h - h, "w": max(width - 4, 1), "h": h,
                     "count": count, "label": f"{lo:g}", "lx": CHART_PAD + i * width, "hi": f"{hi:g}"})
    return {"w": CHART_W, "h": CHART_H, "pad": CHART_PAD, "base": CHART_PAD + inner_h, "bars": bars, "top": top,
            "end_x": CHART_PAD + inner_w}


def category_chart(categories) -> dict:
    """Grouped bars (overall / upper / lower score rate) per category, 0–100 %."""
    inner_w, inner_h = CHART_W - 2 * CHART_PAD, CHART_H - 2 * CHART_PAD
    group_w = inner_w / max(len(categories), 1)
    bar_w = min(group_w / 4, 40)
    groups = []
    for i, c in enumerate(categories):
        bars = []
        for k, (kind, value) in enumerate((("all", c.facility), ("upper", c.upper_facility),
                                            ("lower", c.lower_facility))):
            v = value or 0.0
            h = inner_h * v
            bars.append({"kind": kind, "x": CHART_PAD + i * group_w + (group_w - 3 * bar_w) / 2 + k * bar_w,
                         "y": CHART_PAD + inner_h - h, "w": bar_w - 2, "h": h,
                         "value": None if value is None else value})
        groups.append({"label": c.category, "cx": CHART_PAD + (i + 0.5) * group_w, "bars": bars})
    ticks = [{"y": CHART_PAD + inner_h * (1 - t / 100), "label": f"{t}%"} for t in (0, 25, 50, 75, 100)]
    return {"w": CHART_W, "h": CHART_H, "pad": CHART_PAD, "base": CHART_PAD + inner_h, "groups": groups,
            "ticks": ticks, "end_x": CHART_PAD + inner_w}


@bp.route("/")
@allow(SECRETARIAT, SUPERVISOR)
def index():
    rounds = rounds_newest_first()
    rnd = round_from_query()
    rows = []
    if rnd is not None:
        for s in analysis.round_sessions(rnd):
            closed = db.session.scalar(db.select(db.func.count(Attempt.id)).where(
                Attempt.session_id == s.id, Attempt.state.in_(CLOSED_STATES)))
            rows.append({"session": s, "closed": closed})
    return render_template("exam/analysis/index.html", rounds=rounds, rnd=rnd, rows=rows)


@bp.route("/session/<id:session_id>")
@allow(SECRETARIAT, SUPERVISOR)
def session_report(session_id: int):
    session = db.get_or_404(ExamSession, session_id)
    cut, cut_error = _cut_from_request()
    if cut_error:
        flash(cut_error, "error")
    report = analysis.session_report(session, cut)
    erratum = "exam_grading.new_erratum" in current_app.view_functions
    detail = "exam_admin.session_detail" in current_app.view_functions
    return render_template("exam/analysis/report.html", session=session, report=report, test=report.analysis.test,
                           letters=LETTERS, histogram=histogram_chart(report.analysis.test.histogram),
                           categories=category_chart(report.analysis.categories), erratum_link=erratum,
                           detail_link=detail, flag_labels=analysis.FLAG_LABELS)


@bp.route("/session/<id:session_id>/items.xlsx")
@allow(SECRETARIAT, SUPERVISOR)
def session_export(session_id: int):
    session = db.get_or_404(ExamSession, session_id)
    cut, _ = _cut_from_request()
    report = analysis.session_report(session, cut)
    return send_table(f"试题分析-{session.name}", "xlsx", analysis.report_sheets([report]))


@bp.route("/session/<id:session_id>/store-facility")
@allow(SECRETARIAT)
def store_facility_page(session_id: int):
    """Step one of 写回题库难度: old -> new per item, the items skipped for too few attempts, the box and a reason."""
    session = db.get_or_404(ExamSession, session_id)
    back = url_for("exam_analysis.session_report", session_id=session.id)
    try:
        plan = analysis.facility_plan(session)
    except analysis.AnalysisError as err:
        flash(err.message, "error")
        return redirect(back)
    return render_template("exam/analysis/store_facility.html", session=session, plan=plan,
                           form=ConfirmActionForm(formdata=None), back=back)


@bp.route("/session/<id:session_id>/store-facility", methods=["POST"])
@allow(SECRETARIAT)
def store_facility(session_id: int):
    session = db.get_or_404(ExamSession, session_id)
    form = ConfirmActionForm()
    back = url_for("exam_analysis.session_report", session_id=session.id)
    if not form.validate_on_submit():
        flash("表单已过期，请重试", "error")
        return redirect(back)
    with refusals_go_to(back):
        analysis.facility_plan(session)
    reason = require_confirmation(form, url_for("exam_analysis.store_facility_page", session_id=session.id))
    with refusals_go_to(back):  # rolled back by the unit of work, flashed by the handler
        count = analysis.store_measured_facility(session, reason=reason)
    flash(f"已将 {count} 道题的实测难度写回题库（下次组卷将使用）", "success")
    return redirect(back)
