"""Secretariat pages: rounds and schemes, roster import, candidate list, admission slips (准考证).

Supervisors see every page read-only (no forms rendered; the access guard refuses their POSTs anyway).
"""
from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from . import roster, roster_job
from .access import allow
from .domain import CANDIDATE, LEVELS, MC_POLICIES, SECRETARIAT, SUPERVISOR
from .downloads import send_table
from .extensions import db
from .forms import RosterConfirmForm, RosterUploadForm, RoundCreateForm, RoundSettingsForm, SchemeForm
from .models import Candidate, Round, Scheme
from .rounds import RoundError, create_round, round_has_scores, update_round_settings, update_scheme
from .tabular import ImportFailed, RowError
from .web import page_arg, refusals_go_to

bp = Blueprint("rounds", __name__, url_prefix="/rounds")

STAFF = (SECRETARIAT, SUPERVISOR)
PER_PAGE = 50


def _can_edit() -> bool:
    return current_user.is_authenticated and current_user.role == SECRETARIAT


def _level_counts() -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = {}
    for round_id, level, n in db.session.execute(
            db.select(Candidate.round_id, Candidate.level, func.count(Candidate.id))
            .group_by(Candidate.round_id, Candidate.level)):
        counts.setdefault(round_id, {})[level] = n
    return counts


@bp.route("/")
@allow(*STAFF)
def index():
    # the list shows each round's schemes
    rounds = db.session.execute(db.select(Round).order_by(Round.year.desc(), Round.code)
                                .options(selectinload(Round.schemes))).scalars().all()
    form = RoundCreateForm() if _can_edit() else None
    return render_template("rounds/list.html", rounds=rounds, counts=_level_counts(), form=form,
                           can_edit=_can_edit())


@bp.route("/create", methods=["POST"])
@allow(SECRETARIAT)
def create():
    form = RoundCreateForm()
    if form.validate_on_submit():
        try:
            rnd = create_round(form.code.data, form.region.data, form.year.data, form.name.data or "")
        except RoundError as err:
            form.code.errors.append(str(err))
        else:
            flash(f"已创建轮次 {rnd.code}，各级别方案已按{rnd.region}预设生成，请核对权重与认定比例", "success")
            return redirect(url_for("rounds.detail", rnd=rnd))
    rounds = db.session.execute(db.select(Round).order_by(Round.year.desc(), Round.code)).scalars().all()
    return render_template("rounds/list.html", rounds=rounds, counts=_level_counts(), form=form,
                           can_edit=True), 400


def _plain(value: Decimal | None) -> Decimal | None:
    """50.00 -> 50, 0.8000 * 100 -> 80 (shown without exponent or trailing zeros)."""
    return None if value is None else Decimal(format(Decimal(value).normalize(), "f"))


def _scheme_form(scheme: Scheme, formdata=None) -> SchemeForm:
    data = {"exam_weight": _plain(scheme.exam_weight), "defense_weight": _plain(scheme.defense_weight),
            "record_weight": _plain(scheme.record_weight), "ratio_percent": _plain(scheme.ratio * 100),
            "min_total": _plain(scheme.min_total)}
    if formdata is None:
        return SchemeForm(formdata=None, prefix=f"s{scheme.id}", data=data)
    return SchemeForm(prefix=f"s{scheme.id}")


def _settings_form(rnd: Round, submitted: bool = False) -> RoundSettingsForm:
    if submitted:
        return RoundSettingsForm(prefix="r")
    return RoundSettingsForm(formdata=None, prefix="r", data={
        "name": rnd.name, "mc_policy": rnd.mc_policy, "publicity_working_days": rnd.publicity_working_days,
        "publicity_issuer": rnd.publicity_issuer, "publicity_contact": rnd.publicity_contact})


def _render_detail(rnd: Round, *, settings_form=None, scheme_forms=None, status: int = 200):
    can_edit = _can_edit()
    scheme_forms = scheme_forms or {}
    if can_edit:
        settings_form = settings_form or _settings_form(rnd)
        for s in rnd.schemes:
            scheme_forms.setdefault(s.id, _scheme_form(s))
    counts = _level_counts().get(rnd.id, {})
    return render_template("rounds/detail.html", rnd=rnd, can_edit=can_edit, settings_form=settings_form,
                           scheme_forms=scheme_forms, counts=counts, has_scores=round_has_scores(rnd),
                           MC_POLICIES=MC_POLICIES), status


@bp.route("/<round:rnd>")
@allow(*STAFF)
def detail(rnd: Round):
    return _render_detail(rnd)


@bp.route("/<round:rnd>/settings", methods=["POST"])
@allow(SECRETARIAT)
def settings(rnd: Round):
    form = _settings_form(rnd, submitted=True)
    if form.validate_on_submit():
        try:
            update_round_settings(rnd, name=form.name.data or "", mc_policy=form.mc_policy.data,
                                  publicity_working_days=form.publicity_working_days.data,
                                  publicity_issuer=form.publicity_issuer.data or "",
                                  publicity_contact=form.publicity_contact.data or "")
        except RoundError as err:  # refused before anything was written
            form.mc_policy.errors.append(str(err))
        else:
            flash("轮次设置已保存", "success")
            return redirect(url_for("rounds.detail", rnd=rnd))
    return _render_detail(rnd, settings_form=form, status=400)


@bp.route("/<round:rnd>/schemes/<id:scheme_id>", methods=["POST"])
@allow(SECRETARIAT)
def scheme(rnd: Round, scheme_id: int):
    sch = db.session.get(Scheme, scheme_id)
    if sch is None or sch.round_id != rnd.id:
        abort(404)
    form = _scheme_form(sch, request.form)
    if form.validate_on_submit():
        try:
            update_scheme(sch, exam_weight=form.exam_weight.data, defense_weight=form.defense_weight.data,
                          record_weight=form.record_weight.data, ratio=form.ratio_percent.data / Decimal(100),
                          min_total=form.min_total.data)
        except RoundError as err:  # refused before anything was written
            form.exam_weight.errors.append(str(err))
        else:
            flash(f"{sch.level}方案已保存", "success")
            return redirect(url_for("rounds.detail", rnd=rnd))
    return _render_detail(rnd, scheme_forms={sch.id: form}, status=400)


# ---------------------------------------------------------------- roster

@bp.route("/<round:rnd>/roster", methods=["GET", "POST"])
@allow(*STAFF)
def roster_import(rnd: Round):
    form = RosterUploadForm() if _can_edit() else None
    errors: list[RowError] = []
    result = staged = None
    status = 200
    if form is not None and form.validate_on_submit():
        upload = form.file.data
        data, filename = upload.read(), upload.filename or ""
        try:
            if roster_job.active_roster_job(rnd.id) is not None:  # its undo must not meet a second writer
                raise ImportFailed([RowError(None, None, "本轮名单正在后台导入，请在该任务结束后再上传", filename)])
            table = roster.read_roster(data, filename)  # bounded, before any query
            rows = [(r.number, r.values) for r in table.rows]
            if len(rows) > roster_job.job_threshold():  # checked here, written by the worker after a confirmation
                plan = roster.plan_import(rnd, rows, file=table.file, sheet=table.sheet)  # reads only
                token = roster_job.stage(data, table.file, len(rows))
                staged = {"filename": table.file, "rows": len(rows),
                          "counts": [("将新增", plan.count("add")), ("将更新", plan.count("update")),
                                     ("未变", plan.count("unchanged"))],
                          "form": RosterConfirmForm(formdata=None, token=token)}
            else:
                with db.session.begin_nested():  # a refused or colliding import leaves nothing behind
                    result = roster.import_rows(rnd, rows, file=table.file, sheet=table.sheet)
        except ImportFailed as err:
            errors, status = err.errors, 400
        except IntegrityError:
            errors = [RowError(None, None, "另一项导入同时在写入本轮名单，请重新上传", filename)]
            status = 409
    elif form is not None and form.is_submitted():
        status = 400
    return render_template("rounds/roster.html", rnd=rnd, form=form, errors=errors, result=result, staged=staged,
                           job=roster_job.latest_roster_job(rnd.id), threshold=roster_job.job_threshold(),
                           columns=roster.ROSTER_COLUMNS, can_edit=_can_edit()), status


@bp.route("/<round:rnd>/roster/confirm", methods=["POST"])
@allow(SECRETARIAT)
def roster_confirm(rnd: Round):
    """Queue the background import of a staged large roster file; its page shows the progress."""
    back = url_for("rounds.roster_import", rnd=rnd)
    form = RosterConfirmForm()
    token = form.token.data or ""
    staged = roster_job.load(token) if form.validate_on_submit() else None
    if staged is None:
        flash("上传的文件已过期或不存在，请重新上传", "error")
        return redirect(back)
    _data, filename, rows = staged
    with refusals_go_to(back):
        job = roster_job.enqueue_import(rnd, token, filename, rows, created_by=current_user)
    flash(f"名单共 {rows} 行，已提交后台导入（任务 #{job.id}）", "success")
    return redirect(url_for("jobs.show", job_id=job.id))


@bp.route("/<round:rnd>/roster/template.<any(xlsx, csv):fmt>")
@allow(*STAFF)
def roster_template(rnd: Round, fmt: str):
    return send_table("考生名单模板", fmt, [roster.template_sheet(rnd)])


@bp.route("/<round:rnd>/candidates")
@allow(*STAFF)
def candidates(rnd: Round):
    q = (request.args.get("q") or "").strip()[:100]
    level = request.args.get("level") or ""
    page = db.paginate(roster.search_candidates(rnd, q=q, level=level), page=page_arg(), per_page=PER_PAGE,
                       error_out=False, max_per_page=PER_PAGE)
    return render_template("rounds/candidates.html", rnd=rnd, page=page, q=q, level=level, LEVELS=LEVELS)


# ---------------------------------------------------------------- admission slips

@bp.route("/<round:rnd>/slips")
@allow(*STAFF)
def slips(rnd: Round):
    level = request.args.get("level") or ""
    page = roster.slip_batch(rnd, level=level, page=page_arg())
    return render_template("rounds/slips.html", rnd=rnd, candidates=page.items, page=page, level=level,
                           LEVELS=LEVELS, login_url=url_for("core.login", _external=True), batch=True)


@bp.route("/slips/<id:candidate_id>")
@allow(SECRETARIAT, SUPERVISOR, CANDIDATE)
def slip(candidate_id: int):
    cand = db.get_or_404(Candidate, candidate_id)
    if current_user.role == CANDIDATE and cand.user_id != current_user.id:
        abort(403)
    return render_slip(cand)


def render_slip(cand: Candidate):
    return render_template("rounds/slips.html", rnd=cand.round, candidates=[cand], level="", LEVELS=LEVELS,
                           login_url=url_for("core.login", _external=True), batch=False)
