"""The secretariat's exam administration pages (supervisors read): blueprints, sessions, papers, extra time,
score release and the exam-component export. Thin: parse, call an operation, commit, render."""
from __future__ import annotations

from contextlib import contextmanager
from decimal import Decimal, InvalidOperation

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from certify import export_job
from certify.access import allow
from certify.clock import display_timezone, from_local, to_local, utcnow
from certify.domain import SECRETARIAT, SUPERVISOR, can_see_full_ids
from certify.errors import DomainError
from certify.extensions import db
from certify.forms import ConfirmActionForm, labelled
from certify.models import Candidate, Round, Scheme
from certify.web import require_confirmation, round_from_query, rounds_newest_first

from ..forms import BlueprintForm, ExtraTimeForm, MakeupForm, SessionForm
from ..models import ATTEMPT_STATE_LABELS, PAPER_MODES, ExamSession, SessionCandidate, real_sessions
from ..models import Blueprint as ExamBlueprint
from ..services.assembly import TYPE_LABELS
from ..services.assembly import check_blueprint as check_rows
from ..services.timing import session_phase
from . import makeup as makeup_ops
from . import paper_job
from . import papers as paper_ops
from . import sessions as session_ops
from .papers import ExamAdminError

bp = Blueprint("exam_admin", __name__, url_prefix="/exam/admin")

PHASE_LABELS = {"upcoming": "未开始", "open": "进行中", "closed": "已结束"}
STANDARD_CATEGORIES = ["科学素养", "科学教育理论", "活动组织", "安全规范"]


def _get(model, ident):
    obj = db.session.get(model, ident)
    if obj is None:
        abort(404)
    return obj


def _link(endpoint: str, **values) -> str | None:
    """A URL to another engineer's page, only when that page exists."""
    if endpoint in current_app.view_functions:
        return url_for(endpoint, **values)
    return None


def _flash_errors(err: ExamAdminError) -> None:
    for message in err.errors:
        flash(message, "error")


@contextmanager
def _refusable():
    """A form page's operation in a savepoint: a refusal undoes only what the operation wrote, and the page shows
    the form again with the reasons (the request's unit of work still commits once at the end)."""
    with db.session.begin_nested():
        yield


@contextmanager
def _back_to(url: str):
    """A refusal goes back to ``url``: the unit of work rolls back, the error handler flashes every reason."""
    try:
        yield
    except DomainError as err:
        err.redirect_to = err.redirect_to or url
        raise


# ---------------------------------------------------------------- overview

@bp.route("/")
@allow(SECRETARIAT, SUPERVISOR)
def sessions():
    rnd = round_from_query(prefer=lambda r: any(s.has_exam for s in r.schemes))
    schemes, now = [], utcnow()
    if rnd is not None:
        for scheme in rnd.schemes:
            blueprints = list(db.session.scalars(db.select(ExamBlueprint).filter_by(scheme_id=scheme.id)
                                                 .order_by(ExamBlueprint.id)))
            rows = []
            for s in db.session.scalars(real_sessions().filter_by(scheme_id=scheme.id)
                                        .order_by(ExamSession.opens_at, ExamSession.id)):
                rows.append({"session": s, "phase": PHASE_LABELS[session_phase(now, s.opens_at, s.closes_at)],
                             "counts": paper_ops.paper_counts(s), "attempts": session_ops.attempt_counts(s)})
            schemes.append({"scheme": scheme, "blueprints": blueprints, "sessions": rows})
    return render_template("exam/admin/sessions.html", rnd=rnd, rounds=rounds_newest_first(), schemes=schemes,
                           modes=PAPER_MODES)


# ---------------------------------------------------------------- blueprints

def _blueprint_rows(form: BlueprintForm) -> list[dict]:
    return [{"category": e.form.category.data or "", "type": e.form.type.data,
             "difficulty_min": e.form.difficulty_min.data, "difficulty_max": e.form.difficulty_max.data,
             "count": e.form.count.data, "points": e.form.points.data} for e in form.rows]


def _categories() -> list[str]:
    found = paper_ops.bank_categories()
    return STANDARD_CATEGORIES + [c for c in found if c not in STANDARD_CATEGORIES]


def _blueprint_page(form: BlueprintForm, scheme: Scheme, blueprint: ExamBlueprint | None, check_errors=None):
    remove = request.form.get("remove_row")
    if request.method == "POST" and remove is not None and remove.isdigit():
        index = int(remove)
        if 0 <= index < len(form.rows.entries) and len(form.rows.entries) > 1:
            form.rows.entries.pop(index)
    form.set_categories(_categories())
    try:
        total = sum(Decimal(e.form.count.data or 0) * Decimal(e.form.points.data or 0) for e in form.rows)
    except (InvalidOperation, TypeError, ValueError):  # a half-typed row: the total shows once the row parses
        total = None
    return render_template("exam/admin/blueprint.html", form=form, scheme=scheme, blueprint=blueprint,
                           check_errors=check_errors, total=total, type_labels=TYPE_LABELS,
                           editable=current_user.role == SECRETARIAT)


def _save_blueprint(form: BlueprintForm, scheme: Scheme, blueprint: ExamBlueprint | None):
    if request.method == "POST" and (form.add_row.data or request.form.get("remove_row") is not None):
        if form.add_row.data:
            form.rows.append_entry()
        return _blueprint_page(form, scheme, blueprint)
    if form.validate_on_submit():
        hook, _queued = paper_job.papers_now_or_queued(current_user._get_current_object())
        try:
            with _refusable():
                blueprint = paper_ops.save_blueprint(scheme, name=form.name.data, mode=form.mode.data,
                                                     rows=_blueprint_rows(form), blueprint=blueprint, papers=hook)
                problems = paper_ops.check_against_bank(blueprint)
        except ExamAdminError as err:
            _flash_errors(err)
            return _blueprint_page(form, scheme, blueprint), 400
        if problems:
            flash("方案已保存，但题库目前无法按此方案组卷，请调整后再用于场次", "warning")
        else:
            flash("方案已保存，题库可以满足每一行", "success")
        return redirect(url_for("exam_admin.edit_blueprint", blueprint_id=blueprint.id))
    if request.method == "POST":
        return _blueprint_page(form, scheme, blueprint), 400
    return _blueprint_page(form, scheme, blueprint)


def _no_exam(scheme: Scheme, what: str):
    """A scheme whose exam weight is 0 gets no blueprint or session: say so on the sessions page."""
    flash(f"{scheme.round.region}{scheme.level}方案没有笔试（笔试权重为 0），不能建立{what}", "error")
    return redirect(url_for("exam_admin.sessions", round=scheme.round.code))


@bp.route("/schemes/<id:scheme_id>/blueprints/new", methods=["GET", "POST"])
@allow(SECRETARIAT)
def new_blueprint(scheme_id: int):
    scheme = _get(Scheme, scheme_id)
    if not scheme.has_exam:
        return _no_exam(scheme, "组卷方案")
    form = BlueprintForm()
    if request.method == "GET":
        form.name.data = f"{scheme.level}笔试组卷方案"
        form.mode.data = "per_candidate"
    return _save_blueprint(form, scheme, None)


@bp.route("/blueprints/<id:blueprint_id>", methods=["GET", "POST"])
@allow(SECRETARIAT, SUPERVISOR)
def edit_blueprint(blueprint_id: int):
    blueprint = _get(ExamBlueprint, blueprint_id)
    if request.method == "GET":
        form = BlueprintForm(obj=blueprint)
        for entry, row in zip(form.rows, blueprint.rows):
            entry.form.category.data = row.category
        check_errors = None
        if blueprint.validated_at is None and blueprint.rows:
            check_errors = check_rows(paper_ops.strata_of(blueprint), paper_ops.bank_items(blueprint.scheme.level),
                                      blueprint.scheme.level)
        return _blueprint_page(form, blueprint.scheme, blueprint, check_errors)
    return _save_blueprint(BlueprintForm(), blueprint.scheme, blueprint)


@bp.route("/blueprints/<id:blueprint_id>/check", methods=["POST"])
@allow(SECRETARIAT)
def check_blueprint(blueprint_id: int):
    blueprint = _get(ExamBlueprint, blueprint_id)
    problems = paper_ops.check_against_bank(blueprint)
    if problems:
        for p in problems:
            flash(p, "error")
    else:
        flash("检查通过：题库可以同时满足每一行", "success")
    return redirect(url_for("exam_admin.edit_blueprint", blueprint_id=blueprint.id))


# ---------------------------------------------------------------- sessions

def _session_form(scheme: Scheme, session: ExamSession | None = None) -> tuple[SessionForm, list[Candidate]]:
    form = SessionForm(obj=None if request.method == "POST" else session)
    blueprints = list(db.session.scalars(db.select(ExamBlueprint).filter_by(scheme_id=scheme.id)
                                         .order_by(ExamBlueprint.id)))
    form.blueprint_id.choices = labelled((b.id, f"{b.name}（{PAPER_MODES[b.mode]}）") for b in blueprints)
    candidates = list(db.session.scalars(db.select(Candidate).filter_by(round_id=scheme.round_id, level=scheme.level)
                                         .order_by(Candidate.ticket)))
    form.candidate_ids.choices = labelled((c.id, f"{c.ticket} {c.name}") for c in candidates)
    tz = display_timezone()
    if request.method == "GET":
        if session is not None:
            form.opens_at.data = to_local(session.opens_at, tz).replace(tzinfo=None)
            form.closes_at.data = to_local(session.closes_at, tz).replace(tzinfo=None)
            form.candidate_ids.data = [a.candidate_id for a in session.assignments]
        else:
            form.name.data = f"{scheme.round.year}年{scheme.level}笔试"
            form.assign_all.data = True
    return form, candidates


def _session_data(form: SessionForm) -> dict:
    tz = display_timezone()
    return {"name": form.name.data, "blueprint_id": form.blueprint_id.data,
            "opens_at": from_local(form.opens_at.data, tz), "closes_at": from_local(form.closes_at.data, tz),
            "duration_minutes": form.duration_minutes.data, "late_entry_minutes": form.late_entry_minutes.data,
            "instructions": form.instructions.data or "", "assign_all": bool(form.assign_all.data),
            "event_warning_threshold": form.event_warning_threshold.data, "seed": form.seed.data,
            "place": form.place.data or ""}


@bp.route("/schemes/<id:scheme_id>/sessions/new", methods=["GET", "POST"])
@allow(SECRETARIAT)
def new_session(scheme_id: int):
    scheme = _get(Scheme, scheme_id)
    if not scheme.has_exam:
        return _no_exam(scheme, "笔试场次")
    form, candidates = _session_form(scheme)
    if form.validate_on_submit():
        hook, queued = paper_job.papers_now_or_queued(current_user._get_current_object())
        try:
            with _refusable():
                session = session_ops.create_session(scheme.round, scheme, candidate_ids=form.candidate_ids.data or [],
                                                     papers=hook, **_session_data(form))
        except ExamAdminError as err:
            _flash_errors(err)
        else:
            if queued:
                flash(f"已创建场次「{session.name}」，{len(session.assignments)} 名考生的试卷正在后台生成", "success")
            else:
                flash(f"已创建场次「{session.name}」，已为 {len(session.assignments)} 名考生生成试卷", "success")
            return redirect(url_for("exam_admin.session_detail", session_id=session.id))
    status = 400 if request.method == "POST" else 200
    return render_template("exam/admin/session_form.html", form=form, scheme=scheme, session=None,
                           candidates=candidates), status


@bp.route("/sessions/<id:session_id>/edit", methods=["GET", "POST"])
@allow(SECRETARIAT)
def edit_session(session_id: int):
    session = _get(ExamSession, session_id)
    form, candidates = _session_form(session.scheme, session)
    if form.validate_on_submit():
        hook, queued = paper_job.papers_now_or_queued(current_user._get_current_object())
        try:
            with _refusable():
                session_ops.update_session(session, candidate_ids=form.candidate_ids.data or [], papers=hook,
                                           **_session_data(form))
        except ExamAdminError as err:
            _flash_errors(err)
        else:
            flash("场次已保存，试卷正在后台重新生成" if queued else "场次已保存", "success")
            return redirect(url_for("exam_admin.session_detail", session_id=session.id))
    status = 400 if request.method == "POST" else 200
    return render_template("exam/admin/session_form.html", form=form, scheme=session.scheme, session=session,
                           candidates=candidates), status


@bp.route("/sessions/<id:session_id>")
@allow(SECRETARIAT, SUPERVISOR)
def session_detail(session_id: int):
    session = _get(ExamSession, session_id)
    now = utcnow()
    phase = session_phase(now, session.opens_at, session.closes_at)
    return render_template(
        "exam/admin/session_detail.html", session=session, rnd=db.session.get(Round, session.round_id),
        phase=phase, phase_label=PHASE_LABELS[phase], counts=paper_ops.paper_counts(session),
        attempts=session_ops.attempt_counts(session), roster=session_ops.roster(session),
        state_labels=ATTEMPT_STATE_LABELS, started=paper_ops.session_has_attempts(session),
        extra_form=ExtraTimeForm(), modes=PAPER_MODES,
        paper_job=paper_job.latest_paper_job(session.id),
        monitor_url=_link("exam_monitor.session_monitor", session_id=session.id),
        analysis_url=_link("exam_analysis.session_report", session_id=session.id),
        makeup_of=makeup_ops.makeup_of(session))


def _regenerate_plan(session: ExamSession, back: str) -> dict:
    with _back_to(back):
        if paper_ops.session_has_attempts(session):
            raise ExamAdminError("本场次已有考生开始作答，不能再重新生成试卷")
        if session.blueprint is None:
            raise ExamAdminError("本场次尚未选择组卷方案")
    return paper_ops.paper_counts(session)


@bp.route("/sessions/<id:session_id>/papers")
@allow(SECRETARIAT)
def generate_page(session_id: int):
    """Step one of 重新生成试卷: the papers that will be discarded and drawn again, the box and a reason."""
    session = _get(ExamSession, session_id)
    back = url_for("exam_admin.session_detail", session_id=session_id)
    try:
        counts = _regenerate_plan(session, back)
    except ExamAdminError as err:
        _flash_errors(err)
        return redirect(back)
    return render_template("exam/admin/confirm_papers.html", session=session, counts=counts, back=back,
                           modes=PAPER_MODES, form=ConfirmActionForm(formdata=None))


@bp.route("/sessions/<id:session_id>/papers", methods=["POST"])
@allow(SECRETARIAT)
def generate(session_id: int):
    """Generate the papers; once papers exist, regenerating them (each candidate's paper discarded and drawn
    again) needs the confirmation of ``generate_page``."""
    session = _get(ExamSession, session_id)
    back = url_for("exam_admin.session_detail", session_id=session_id)
    form = ConfirmActionForm()
    if not form.validate_on_submit():
        abort(400)
    reason = "秘书处手动生成"
    if session.papers_generated_at is not None or paper_ops.paper_counts(session)["with_paper"]:
        _regenerate_plan(session, back)
        reason = "秘书处手动重新生成：" + require_confirmation(
            form, url_for("exam_admin.generate_page", session_id=session_id))
    with _back_to(back):
        if len(session.assignments) > paper_job.job_threshold():  # drawn by the worker, the page shows progress
            if paper_ops.session_has_attempts(session):
                raise ExamAdminError("本场次已有考生开始作答，不能再重新生成试卷")
            paper_job.enqueue_papers(session, reason=reason, created_by=current_user._get_current_object())
            flash("试卷正在后台生成，本页显示进度", "success")
            return redirect(back)
        made = paper_ops.generate_papers(session, reason=reason)
    flash(f"已为 {made} 名考生生成试卷", "success")
    return redirect(back)


@bp.route("/sessions/<id:session_id>/makeup", methods=["GET", "POST"])
@allow(SECRETARIAT)
def makeup(session_id: int):
    """补考: named 缺考 or interrupted candidates of this closed session sit a session of their own (same blueprint,
    own window, fresh papers); its grade replaces theirs here. Audited with the reason."""
    session = _get(ExamSession, session_id)
    rows = makeup_ops.makeup_rows(session)
    form = MakeupForm()
    form.candidate_ids.choices = labelled((r["candidate"].id, f"{r['candidate'].ticket} {r['candidate'].name}")
                                          for r in rows if r["eligible"])
    if request.method == "GET":
        form.duration_minutes.data = session.duration_minutes
    if form.validate_on_submit():
        tz = display_timezone()
        try:
            with _refusable():
                created = makeup_ops.create_makeup(
                    session, candidate_ids=form.candidate_ids.data or [], name=form.name.data,
                    opens_at=from_local(form.opens_at.data, tz), closes_at=from_local(form.closes_at.data, tz),
                    duration_minutes=form.duration_minutes.data, reason=form.reason.data, actor=current_user)
        except ExamAdminError as err:
            _flash_errors(err)
        else:
            flash(f"已建立补考场次「{created.name}」，已为 {len(created.assignments)} 名考生重新组卷", "success")
            return redirect(url_for("exam_admin.session_detail", session_id=created.id))
    status = 400 if request.method == "POST" else 200
    return render_template("exam/admin/makeup.html", session=session, rows=rows, form=form,
                           eligible=sum(1 for r in rows if r["eligible"]),
                           closed=session_phase(utcnow(), session.opens_at, session.closes_at) == "closed"), status


@bp.route("/sessions/<id:session_id>/extra-time", methods=["POST"])
@allow(SECRETARIAT)
def extra_time(session_id: int):
    session = _get(ExamSession, session_id)
    form = ExtraTimeForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for e in errors:
                flash(e, "error")
    else:
        with _back_to(url_for("exam_admin.session_detail", session_id=session_id) + "#candidates"):
            session_ops.set_extra_time(session, form.candidate_id.data, form.minutes.data,
                                       reason=form.reason.data or "", actor=current_user._get_current_object())
        flash(f"已将延长时间设为 {form.minutes.data} 分钟", "success")
    return redirect(url_for("exam_admin.session_detail", session_id=session_id) + "#candidates")


@bp.route("/sessions/<id:session_id>/release")
@allow(SECRETARIAT)
def release_page(session_id: int):
    """Step one of 发布成绩: who will see a score (graded, ungraded, absent), the box and a reason."""
    session = _get(ExamSession, session_id)
    back = url_for("exam_admin.session_detail", session_id=session_id)
    try:
        plan = session_ops.release_plan(session)
    except ExamAdminError as err:
        _flash_errors(err)
        return redirect(back)
    return render_template("exam/admin/confirm_release.html", session=session, plan=plan, back=back,
                           form=ConfirmActionForm(formdata=None))


@bp.route("/sessions/<id:session_id>/release", methods=["POST"])
@allow(SECRETARIAT)
def release(session_id: int):
    session = _get(ExamSession, session_id)
    back = url_for("exam_admin.session_detail", session_id=session_id)
    form = ConfirmActionForm()
    if not form.validate_on_submit():
        abort(400)
    with _back_to(back):
        session_ops.release_plan(session)
    reason = require_confirmation(form, url_for("exam_admin.release_page", session_id=session_id))
    with _back_to(back):
        session_ops.release_scores(session, reason=reason, actor=current_user)
    flash("成绩已发布，考生现在可以查看本场次成绩", "success")
    return redirect(back)


# ---------------------------------------------------------------- exports

def _full_requested() -> bool:
    # Only the secretariat's download carries the whole ID number; everything else is masked.
    return request.args.get("full") == "1" and can_see_full_ids(current_user)


@bp.route("/rounds/<round:rnd>/export.<any(xlsx, csv):fmt>")
@allow(SECRETARIAT, SUPERVISOR)
def export_round(rnd: Round, fmt: str):
    # a large round's file is built by the worker (certify.export_job), with the same sheet
    return export_job.send_or_offer(rnd, "exam.round", fmt, {"full": _full_requested()})


@bp.route("/sessions/<id:session_id>/export.<any(xlsx, csv):fmt>")
@allow(SECRETARIAT, SUPERVISOR)
def export_session(session_id: int, fmt: str):
    session = _get(ExamSession, session_id)
    rnd = db.session.get(Round, session.round_id)
    # a large session's file is built by the worker (certify.export_job), with the same sheet
    size = db.session.scalar(db.select(db.func.count(SessionCandidate.id))
                             .where(SessionCandidate.session_id == session.id))
    return export_job.send_or_offer(rnd, "exam.session", fmt, {"session_id": session.id, "full": _full_requested()},
                                    size=size)
