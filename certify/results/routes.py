"""Results pages: work-record import, preview and confirmation, reopen, publication, complaints, exports and the
candidate's own result. Thin: parse, check, call an operation, render (the unit of work commits; a refusal
rolls back and is flashed on the page named by ``refusals_go_to``)."""
from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import selectinload

from certify import export_job
from certify.access import allow
from certify.domain import CANDIDATE, COMPONENT_LABELS, SECRETARIAT, SUPERVISOR, can_see_full_ids
from certify.downloads import send_table
from certify.extensions import db
from certify.forms import StagedConfirmForm
from certify.models import Candidate, Round
from certify.roster import candidate_for_user
from certify.tabular import ImportFailed, RowError
from certify.web import BadParameter, ListPage, decimal_value, page_arg, refusals_go_to, require_confirmation

from . import exports, records_job
from . import job as results_job
from . import operations as ops
from .forms import (
    AbsentForm,
    ComplaintForm,
    ComputeForm,
    ConfirmForm,
    DecisionForm,
    PublishForm,
    RecordsImportForm,
    ReopenForm,
)
from .models import CERTIFIED, COMPLAINT_LABELS, OPEN, OUTCOME_LABELS, Complaint, PublicityPeriod, ResultSet
from .records import check_file, import_records, plan_counts, template_sheet
from .services.distribution import distribution_chart
from .services.formatting import ratio_percent, weight_percent

bp = Blueprint("results", __name__, url_prefix="/results")
bp.add_app_template_filter(ratio_percent, "ratio_pct")
bp.add_app_template_filter(weight_percent, "weight_pct")

STAFF = (SECRETARIAT, SUPERVISOR)
PREVIEW_PAGE_SIZE = 200  # rows of the preview's full list per page


def _level(rnd: Round, level: str | None) -> str:
    if level and level in rnd.levels:
        return level
    if level:
        abort(404)
    levels = ops.levels_with_candidates(rnd) or rnd.levels
    if not levels:
        abort(404)
    return levels[0]


def _lenient_decimal(text: str | None, label: str) -> tuple[Decimal | None, str | None]:
    """(value, None) or (None, the message) for a preview parameter: the page shows the message, status 400."""
    try:
        return decimal_value(text, label), None
    except BadParameter as err:
        return None, err.message


def _overviews(rounds: list[Round]) -> dict[int, list[dict]]:
    """Per round: each scheme with its result set and candidate count (a fixed number of queries for any number
    of rounds)."""
    ids = [r.id for r in rounds]
    sets = {(rs.round_id, rs.level): rs for rs in db.session.execute(
        db.select(ResultSet).where(ResultSet.round_id.in_(ids))).scalars()}
    counts = {(round_id, level): n for round_id, level, n in db.session.execute(
        db.select(Candidate.round_id, Candidate.level, db.func.count(Candidate.id))
        .where(Candidate.round_id.in_(ids)).group_by(Candidate.round_id, Candidate.level))}
    out: dict[int, list[dict]] = {}
    for r in rounds:
        out[r.id] = []
        for s in r.schemes:
            rs = sets.get((r.id, s.level))
            frozen = rs is not None and rs.confirmed
            # the ratio and cut line actually used by a frozen result; the scheme's setting otherwise
            out[r.id].append({"scheme": s, "result_set": rs, "candidates": counts.get((r.id, s.level), 0),
                              "ratio": rs.ratio if frozen else s.ratio, "ratio_frozen": frozen,
                              "cut_line": rs.cut_line if frozen else None,
                              "min_total": rs.min_total if frozen else s.min_total})
    return out


def _overview(rnd: Round) -> list[dict]:
    return _overviews([rnd])[rnd.id]


@bp.route("/")
@allow(*STAFF)
def index():
    rounds = db.session.execute(db.select(Round).order_by(Round.year.desc(), Round.id.desc())
                                .options(selectinload(Round.schemes))).scalars().all()
    overviews = _overviews(rounds)
    periods = {p.round_id: p for p in db.session.execute(
        db.select(PublicityPeriod).where(PublicityPeriod.round_id.in_(overviews))).scalars()}
    return render_template("results/index.html",
                           rounds=[(r, overviews[r.id], periods.get(r.id)) for r in rounds])


@bp.route("/<round:rnd>")
@allow(*STAFF)
def round_view(rnd: Round):
    period = ops.publication_for(rnd)
    form = PublishForm(formdata=None, working_days=rnd.publicity_working_days, start_date=ops.local_today())
    return render_template("results/round.html", rnd=rnd, overview=_overview(rnd), period=period,
                           import_form=RecordsImportForm(formdata=None), publish_form=form, errors=None,
                           summary=None, staged=None, records_job=records_job.latest_records_job(rnd.id),
                           threshold=records_job.job_threshold())


@bp.route("/records-template.<any(xlsx, csv):fmt>")
@allow(SECRETARIAT)
def records_template(fmt: str):
    return send_table("业绩成果得分模板", fmt, [template_sheet()])


@bp.route("/<round:rnd>/records", methods=["POST"])
@allow(SECRETARIAT)
def import_records_view(rnd: Round):
    form = RecordsImportForm()
    errors = summary = staged = None
    if form.validate_on_submit():
        upload = form.file.data
        data, filename = upload.read(), upload.filename or "上传文件"
        try:
            if records_job.active_records_job(rnd.id) is not None:  # its undo must not meet a second writer
                raise ImportFailed([RowError(None, None, "本轮业绩成果得分正在后台导入，请在该任务结束后再上传",
                                             filename)])
            table, resolved = check_file(rnd, data, filename)  # every row checked, nothing written
            if len(resolved) > records_job.job_threshold():  # written by the worker after a confirmation
                counts = plan_counts(resolved)
                token = records_job.UPLOADS.stage(data, table.file, rows=len(resolved))
                staged = {"filename": table.file, "rows": len(resolved),
                          "counts": [("将新增", counts["created"]), ("将更新", counts["updated"]),
                                     ("未变", counts["unchanged"])],
                          "form": StagedConfirmForm(formdata=None, token=token)}
            else:
                with db.session.begin_nested():  # a refused file leaves nothing behind
                    summary = import_records(rnd, data, filename)
                flash(f"已导入 {summary.rows} 条业绩成果得分：新增 {summary.created}，更新 {summary.updated}，"
                      f"未变 {summary.unchanged}" + (f"（其中标记缺考 {summary.absent}）" if summary.absent else ""),
                      "success")
        except ImportFailed as err:
            errors = err.errors
    status = 422 if (errors or form.errors) else 200
    return render_template("results/round.html", rnd=rnd, overview=_overview(rnd), period=ops.publication_for(rnd),
                           import_form=form, publish_form=PublishForm(
                               formdata=None, working_days=rnd.publicity_working_days, start_date=ops.local_today()),
                           errors=errors, summary=summary, staged=staged,
                           records_job=records_job.latest_records_job(rnd.id),
                           threshold=records_job.job_threshold()), status


@bp.route("/<round:rnd>/records/confirm", methods=["POST"])
@allow(SECRETARIAT)
def records_confirm(rnd: Round):
    """Queue the background import of a staged large work-record file; its page shows the progress."""
    back = url_for("results.round_view", rnd=rnd)
    form = StagedConfirmForm()
    staged = records_job.UPLOADS.load(form.token.data or "") if form.validate_on_submit() else None
    if staged is None:
        flash("上传的文件已过期或不存在，请重新上传", "error")
        return redirect(back)
    rows = int(staged.meta.get("rows") or 0)
    with refusals_go_to(back):
        job = records_job.enqueue_import(rnd, staged.token, staged.filename, rows, created_by=current_user)
    flash(f"业绩成果得分文件共 {rows} 行，已提交后台导入（任务 #{job.id}）", "success")
    return redirect(url_for("jobs.show", job_id=job.id))


@bp.route("/<round:rnd>/preview")
@allow(*STAFF)
def preview(rnd: Round):
    level = _level(rnd, request.args.get("level"))
    rs = ops.result_set_for(rnd, level)
    error = None
    if rs is not None and rs.confirmed:
        comp = ops.frozen(rs)
    else:
        min_raw = request.args.get("min_total")
        ratio, error = _lenient_decimal(request.args.get("ratio"), "认定比例")
        min_total, min_error = _lenient_decimal(min_raw, "最低总分")
        override = min_raw is not None
        if min_error or (min_total is not None and not (0 <= min_total <= 100)):
            error, override, min_total = f"最低总分「{min_raw.strip()[:30]}」须为 0 到 100 之间的数字", False, None
        try:
            comp = ops.compute(rnd, level, ratio=ratio, min_total=min_total, override_min=override)
        except ops.ResultsError as err:
            error = str(err)
            comp = ops.compute(rnd, level)
    form = ComputeForm(formdata=None, level=level, ratio=comp.ratio, min_total=comp.min_total)
    confirm_form = ConfirmForm(formdata=None, level=level, ratio=str(comp.ratio),
                               min_total="" if comp.min_total is None else str(comp.min_total))
    changes = ops.drift(comp.result_set) if comp.confirmed else []
    chart = distribution_chart([ln.total for ln in comp.lines if ln.total is not None], comp.cut_line,
                               comp.min_total,
                               absent=sum(1 for ln in comp.lines if ln.status == "absent"))
    # the full list one page at a time: thousands of rows in one page took seconds to render (bench/request_times.py)
    lines = ListPage(comp.lines, page_arg(), PREVIEW_PAGE_SIZE)
    pager_args = {k: request.args[k] for k in ("level", "ratio", "min_total") if k in request.args}
    return render_template("results/preview.html", rnd=rnd, level=level, comp=comp, form=form, error=error,
                           lines=lines, pager_args=pager_args,
                           changes=changes, chart=chart, running=results_job.active_confirm_job(rnd, level),
                           confirm_form=confirm_form, reopen_form=ReopenForm(formdata=None, level=level),
                           levels=rnd.levels), 400 if error else 200


def _confirm_parameters(rnd: Round, form: ConfirmForm):
    level = _level(rnd, form.level.data)
    back = url_for("results.preview", rnd=rnd, level=level)
    ratio = decimal_value(form.ratio.data, "认定比例", redirect_to=back)
    min_total = decimal_value(form.min_total.data, "最低总分", redirect_to=back)
    if ratio is None:
        raise BadParameter("请填写认定比例", redirect_to=back)
    return level, back, ratio, min_total


@bp.route("/<round:rnd>/confirm")
@allow(SECRETARIAT)
def confirm_page(rnd: Round):
    """Step one of 确认并冻结: what will be frozen (counts, who, old -> new), with the box to tick and a reason."""
    form = ConfirmForm(formdata=request.args, meta={"csrf": False})
    level, back, ratio, min_total = _confirm_parameters(rnd, form)
    try:
        comp = ops.confirm_plan(rnd, level, ratio=ratio, min_total=min_total, override_min=True)
    except ops.ResultsError as err:
        flash(err.message, "error")
        return redirect(back)
    scheme = comp.scheme
    post_form = ConfirmForm(formdata=None, level=level, ratio=str(ratio),
                            min_total="" if min_total is None else str(min_total))
    return render_template("results/confirm.html", rnd=rnd, level=level, comp=comp, form=post_form,
                           scheme_ratio=scheme.ratio, scheme_min=scheme.min_total, back=back,
                           certified=[ln for ln in comp.lines if ln.outcome == CERTIFIED],
                           absent=[ln for ln in comp.lines if ln.status == "absent"],
                           previous=ops.result_set_for(rnd, level))


@bp.route("/<round:rnd>/confirm", methods=["POST"])
@allow(SECRETARIAT)
def confirm(rnd: Round):
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    level, back, ratio, min_total = _confirm_parameters(rnd, form)
    with refusals_go_to(back):
        ops.confirm_plan(rnd, level, ratio=ratio, min_total=min_total, override_min=True)
    require_confirmation(form, url_for("results.confirm_page", rnd=rnd, level=level, ratio=str(ratio),
                                           min_total="" if min_total is None else str(min_total)))
    if results_job.is_large(rnd, level):  # computed and frozen by the worker, in one transaction
        with refusals_go_to(back):
            job = results_job.enqueue_confirm(rnd, level, ratio=ratio, min_total=min_total,
                                              reason=form.reason.data, created_by=current_user)
        flash(f"{level}成绩的计算与冻结已提交为后台任务，完成前成绩保持原状", "info")
        return redirect(url_for("jobs.show", job_id=job.id))
    with refusals_go_to(back):
        ops.confirm(rnd, level, ratio=ratio, min_total=min_total, override_min=True, actor=current_user,
                    reason=form.reason.data)
    flash(f"{level}成绩已确认并冻结", "success")
    return redirect(back)


@bp.route("/<round:rnd>/absent")
@allow(SECRETARIAT)
def absent_page(rnd: Round):
    """Step one of 标记缺考: who and which components will be recorded absent."""
    level = _level(rnd, request.args.get("level"))
    back = url_for("results.preview", rnd=rnd, level=level)
    rs = ops.result_set_for(rnd, level)
    if rs is not None and rs.confirmed:
        flash(f"{level}成绩已确认，不能再标记缺考（须先重新开放）", "error")
        return redirect(back)
    plan = ops.absence_plan(rnd, level)
    if not plan:
        flash(f"{level}没有尚缺成分成绩的考生", "info")
        return redirect(back)
    return render_template("results/absent.html", rnd=rnd, level=level, plan=plan, back=back,
                           form=AbsentForm(formdata=None, level=level))


@bp.route("/<round:rnd>/absent", methods=["POST"])
@allow(SECRETARIAT)
def mark_absent(rnd: Round):
    form = AbsentForm()
    if not form.validate_on_submit():
        abort(400)
    level = _level(rnd, form.level.data)
    back = url_for("results.preview", rnd=rnd, level=level)
    require_confirmation(form, url_for("results.absent_page", rnd=rnd, level=level))
    with refusals_go_to(back):
        plan = ops.mark_absent(rnd, level, form.reason.data, actor=current_user)
    flash(f"已将 {len(plan)} 名考生尚缺的成分记为缺考", "success")
    return redirect(back)


@bp.route("/<round:rnd>/reopen", methods=["POST"])
@allow(SECRETARIAT)
def reopen(rnd: Round):
    form = ReopenForm()
    level = _level(rnd, form.level.data)
    back = url_for("results.preview", rnd=rnd, level=level)
    if not form.validate_on_submit():
        flash("重新开放须填写理由", "error")
        return redirect(back)
    with refusals_go_to(back):
        ops.reopen(rnd, level, form.reason.data, actor=current_user)
    flash(f"{level}成绩已重新开放，可重新计算", "success")
    return redirect(back)


@bp.route("/<round:rnd>/export/<any(results, publicity):kind>.<any(xlsx, csv):fmt>")
@allow(*STAFF)
def export(rnd: Round, kind: str, fmt: str):
    """The file at once; for a large round, the page that builds it in the background (``certify.export_job``)."""
    if kind == "results":
        name, params = "results.results", {"masked": not can_see_full_ids(current_user)}
    else:
        name, params = "results.publicity", {}
    try:
        return export_job.send_or_offer(rnd, name, fmt, params)
    except ops.ResultsError as err:
        flash(str(err), "error")
        return redirect(url_for("results.round_view", rnd=rnd))


@bp.route("/<round:rnd>/publicity")
@allow(*STAFF)
def publicity(rnd: Round):
    period = ops.publication_for(rnd)
    try:
        rows = exports.publicity_sheet(rnd).rows
    except ops.ResultsError as err:
        flash(str(err), "error")
        return redirect(url_for("results.round_view", rnd=rnd))
    return render_template("results/publicity.html", rnd=rnd, rows=rows, period=period)


def _publish_form_or_back(rnd: Round, form: PublishForm):
    if form.validate():
        return None
    for field_errors in form.errors.values():
        for e in field_errors:
            flash(e, "error")
    return redirect(url_for("results.round_view", rnd=rnd))


@bp.route("/<round:rnd>/publish")
@allow(SECRETARIAT)
def publish_page(rnd: Round):
    """Step one of 发布公示: the period (old -> new), what each level releases, the box to tick and a reason."""
    form = PublishForm(formdata=request.args, meta={"csrf": False})
    refused = _publish_form_or_back(rnd, form)
    if refused is not None:
        return refused
    try:
        plan = ops.publish_plan(rnd, form.start_date.data, form.working_days.data)
    except ops.ResultsError as err:
        flash(err.message, "error")
        return redirect(url_for("results.round_view", rnd=rnd))
    return render_template("results/publish_confirm.html", rnd=rnd, plan=plan,
                           form=PublishForm(formdata=None, start_date=plan.start, working_days=plan.working_days))


@bp.route("/<round:rnd>/publish", methods=["POST"])
@allow(SECRETARIAT)
def publish(rnd: Round):
    form = PublishForm()
    refused = _publish_form_or_back(rnd, form)
    if refused is not None:
        return refused
    back = url_for("results.round_view", rnd=rnd)
    with refusals_go_to(back):
        ops.publish_plan(rnd, form.start_date.data, form.working_days.data)
    require_confirmation(form, url_for("results.publish_page", rnd=rnd, start_date=form.start_date.data.isoformat(),
                                           working_days=form.working_days.data))
    with refusals_go_to(back):
        period = ops.publish(rnd, form.start_date.data, form.working_days.data, actor=current_user,
                             reason=form.reason.data)
    flash(f"已发布公示：{period.start_date} 至 {period.end_date}（{period.working_days} 个工作日）", "success")
    return redirect(back)


@bp.route("/<round:rnd>/complaints", methods=["GET", "POST"])
@allow(*STAFF, supervisor_writes=True)
def complaints(rnd: Round):
    form = ComplaintForm()
    if request.method == "POST":
        if current_user.role != SUPERVISOR:
            abort(403)  # complaints are recorded by the supervision committee
        if form.validate_on_submit():
            back = url_for("results.complaints", rnd=rnd)
            with refusals_go_to(back):
                complaint = ops.record_complaint(rnd, form.candidate.data, form.content.data,
                                                 complainant=form.complainant.data, actor=current_user,
                                                 late_reason=form.late_reason.data or "")
            flash(f"已登记投诉 #{complaint.id}", "success")
            return redirect(back)
    # the list shows each one's candidate: load them with the complaints
    items = db.session.execute(db.select(Complaint).filter_by(round_id=rnd.id).order_by(
        Complaint.id.desc()).options(selectinload(Complaint.candidate))).scalars().all()
    return render_template("results/complaints.html", rnd=rnd, form=form, items=items,
                           period=ops.publication_for(rnd), today=ops.local_today(),
                           decision_form=DecisionForm(formdata=None), OPEN=OPEN, COMPLAINT_LABELS=COMPLAINT_LABELS)


@bp.route("/complaints/<id:complaint_id>/decide", methods=["POST"])
@allow(SUPERVISOR, supervisor_writes=True)
def decide(complaint_id: int):
    complaint = db.session.get(Complaint, complaint_id)
    if complaint is None:
        abort(404)
    rnd = db.session.get(Round, complaint.round_id)
    form = DecisionForm()
    back = url_for("results.complaints", rnd=rnd)
    if not form.validate_on_submit():
        flash("请选择处理结果并填写处理意见", "error")
        return redirect(back)
    with refusals_go_to(back):
        ops.decide_complaint(complaint, form.status.data, form.note.data, actor=current_user)
    flash(f"投诉 #{complaint.id} 已处理：{COMPLAINT_LABELS[complaint.status]}", "success")
    return redirect(back)


def _panel_context(candidate: Candidate) -> dict:
    entry = ops.released_entry(candidate)
    return {"candidate": candidate, "entry": entry, "scheme": candidate.scheme,
            "period": ops.publication_for(candidate.round) if entry else None,
            "OUTCOME_LABELS": OUTCOME_LABELS, "COMPONENT_LABELS": COMPONENT_LABELS}


def complaints_panel(user) -> str | None:
    """Staff home: complaints waiting for the supervision committee's decision, per round."""
    from certify.staff_home import staff_panel

    if user.role not in STAFF:
        return None
    rows = db.session.execute(
        db.select(Round.code, db.func.count(Complaint.id), db.func.min(Complaint.lodged_on))
        .join(Round, Round.id == Complaint.round_id).where(Complaint.status == OPEN)
        .group_by(Round.code).order_by(Round.code)).all()
    return staff_panel("complaints", "待处理的投诉",
                       [(f"{code}：{n} 件待处理", url_for("results.complaints", rnd=code), f"最早登记于 {first}")
                        for code, n, first in rows], empty="没有待处理的投诉。")


def candidate_panel(candidate: Candidate) -> str | None:
    """Home-page section: the candidate's own components, total and result once released."""
    return render_template("results/_candidate_panel.html", **_panel_context(candidate))


@bp.route("/mine")
@allow(CANDIDATE)
def mine():
    candidate = candidate_for_user(current_user)  # one candidate per account (users.id is unique on candidates)
    return render_template("results/mine.html", panels=[_panel_context(candidate)] if candidate else [])
