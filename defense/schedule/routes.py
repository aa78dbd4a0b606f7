"""Secretariat pages of defense organisation (blueprint ``defense_admin``, prefix ``/defense/admin``): panelists,
panels, conflicts, defense days, the scheduler job, manual moves, publication, printouts. Supervisors read.
Thin: parse, call ``operations``, render. The unit of work commits once per request; a refusal is a
``DomainError`` that the app turns into a flash and a redirect (or, for forms, a 422 page with the reasons)."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from certify import export_job
from certify.access import allow
from certify.clock import iso_utc
from certify.domain import PANELIST, SECRETARIAT, SUPERVISOR
from certify.downloads import send_table
from certify.errors import DomainError
from certify.extensions import db
from certify.forms import ConfirmActionForm, StagedConfirmForm, labelled
from certify.models import Candidate, Round
from certify.tabular import ImportFailed, RowError
from certify.web import page_arg, refusals_go_to, require_confirmation, round_from_query, rounds_newest_first

from ..forms import ActionForm, ConflictForm, DayForm, ImportForm, MoveForm, PanelForm, PanelistForm
from ..models import Conflict, DefenseDay, Panel, Panelist
from . import operations as ops
from . import panelist_import, panelist_job
from .reports import panelist_list_sheets

bp = Blueprint("defense_admin", __name__, url_prefix="/defense/admin")
SCHEDULE_PER_PAGE = 200


def _rounds():
    return rounds_newest_first()


def _round(code: str) -> Round:
    return db.first_or_404(db.select(Round).filter_by(code=code))


def _get(model, ident, rnd: Round):
    row = db.session.get(model, ident)
    round_id = getattr(row, "round_id", None) if row is not None else None
    if row is not None and isinstance(row, Conflict):
        round_id = row.panelist.round_id
    if row is None or round_id != rnd.id:
        abort(404)
    return row


@contextmanager
def _refusals_to(endpoint: str, **values):
    """A refused operation (``DomainError``) goes back to this page with its reasons flashed (the unit of work has
    rolled the request back)."""
    try:
        yield
    except DomainError as err:
        err.redirect_to = err.redirect_to or url_for(endpoint, **values)
        raise


def _form_attempt(op, *args, **kwargs):
    """Run an operation whose refusal re-renders its form (422): in a savepoint, so a refusal undoes only what the
    operation did, and its reasons are flashed. Returns (result, refused)."""
    try:
        with db.session.begin_nested():
            return op(*args, **kwargs), False
    except DomainError as err:
        for m in err.messages:
            flash(m, "error")
        return None, True


@bp.route("/")
@allow(SECRETARIAT, SUPERVISOR)
def index():
    rnd = round_from_query(prefer=lambda r: any(s.has_defense for s in r.schemes))
    if rnd is None:
        return render_template("defense/admin_index.html", rnd=None, rounds=[])
    return redirect(url_for("defense_admin.schedule", code=rnd.code))


# ------------------------------------------------------------------ schedule

def _slot_choices(rnd: Round):
    return labelled((iso_utc(s), f"{ops.local(s):%m-%d %H:%M}–{ops.local(e):%H:%M}") for s, e in ops.slot_grid(rnd))


@bp.route("/<code>/schedule")
@allow(SECRETARIAT, SUPERVISOR)
def schedule(code: str):
    rnd = _round(code)
    sched_row = ops.schedule_for_read(rnd)
    panels = ops.round_panels(rnd)
    # A page of SCHEDULE_PER_PAGE assignments (panel by panel, in time order) with their candidates: a whole
    # 5,000-candidate schedule in one page took seconds (a candidate query per row, then the rendering).
    page = ops.assignments_page(rnd, page_arg(), SCHEDULE_PER_PAGE)
    by_panel = {p.id: [] for p in panels}
    for a in page.items:
        by_panel[a.panel_id].append(a)
    counts = ops.panel_counts(rnd)
    first_page, seen = {}, 0
    for p in panels:  # the page each panel's rows start on (panels in id order, as the rows)
        first_page[p.id] = seen // SCHEDULE_PER_PAGE + 1
        seen += counts.get(p.id, 0)
    assigned = ops.assigned_candidate_ids(rnd)
    candidates = ops.defense_candidate_rows(rnd)  # plain rows: the count, the unassigned, the move form
    unassigned = [c for c in candidates if c.id not in assigned]
    move = MoveForm()
    move.panel_id.choices = labelled((p.id, p.name) for p in panels)
    move.slot.choices = _slot_choices(rnd)
    return render_template("defense/admin_schedule.html", rnd=rnd, rounds=_rounds(), sched=sched_row, panels=panels,
                           by_panel=by_panel, counts=counts, first_page=first_page, page=page,
                           unassigned=unassigned, candidates=candidates, move=move,
                           action=ActionForm(), days=ops.round_days(rnd), slots=len(move.slot.choices),
                           problems=ops.schedule_problems(rnd), job_running=ops.job_running(sched_row))


@bp.route("/<code>/schedule/run", methods=["POST"])
@allow(SECRETARIAT)
def run_schedule(code: str):
    rnd = _round(code)
    if not ActionForm().validate_on_submit():
        abort(400)
    problems = ops.schedule_problems(rnd)
    if problems:
        for m in problems:
            flash(m, "error")
    elif ops.start_schedule_job(rnd, created_by=current_user) is None:
        flash("排程任务正在进行中", "warning")
    else:
        flash("排程任务已开始，进度见下方", "info")
    return redirect(url_for("defense_admin.schedule", code=code))


@bp.route("/<code>/schedule/status")
@allow(SECRETARIAT, SUPERVISOR)
def schedule_status(code: str):
    rnd = _round(code)
    s = ops.get_schedule(rnd, create=False)
    if s is None:
        return jsonify({"state": "idle", "progress": 0, "message": "", "status": "draft"})
    from .job import latest_job_id

    return jsonify({"state": s.job_state, "progress": s.job_progress, "message": s.job_message,
                    "status": s.status, "updated_at": iso_utc(s.updated_at), "job_id": latest_job_id(rnd.id)})


@bp.route("/<code>/schedule/move", methods=["POST"])
@allow(SECRETARIAT)
def move(code: str):
    rnd = _round(code)
    form = MoveForm()
    form.panel_id.choices = labelled((p.id, p.name) for p in ops.round_panels(rnd))
    form.slot.choices = _slot_choices(rnd)
    if not form.validate_on_submit():
        for field, errs in form.errors.items():
            for e in errs:
                flash(f"{getattr(form, field).label.text}：{e}", "error")
        return redirect(url_for("defense_admin.schedule", code=code))
    cand = _get(Candidate, int(form.candidate_id.data), rnd)
    panel = _get(Panel, form.panel_id.data, rnd)
    start = datetime.fromisoformat(form.slot.data.replace("Z", "+00:00")).replace(tzinfo=None)
    with _refusals_to("defense_admin.schedule", code=code):
        a = ops.move_candidate(rnd, cand, panel, start, reason=form.reason.data or "", actor=current_user)
    flash(f"已将考生 {cand.name} 安排到 {panel.name} {ops.local(a.start_at):%m-%d %H:%M}"
          + ("（已记录并通知相关人员）" if a.changed_after_publication else ""), "success")
    return redirect(url_for("defense_admin.schedule", code=code))


@bp.route("/<code>/schedule/publish")
@allow(SECRETARIAT)
def publish_page(code: str):
    """Step one of 发布答辩安排: how many candidates in which panels, who will see what, the box and a reason."""
    rnd = _round(code)
    back = url_for("defense_admin.schedule", code=code)
    try:
        plan = ops.publish_plan(rnd)
    except DomainError as err:
        for m in err.messages:
            flash(m, "error")
        return redirect(back)
    return render_template("defense/admin_publish.html", rnd=rnd, plan=plan, back=back,
                           form=ConfirmActionForm(formdata=None))


@bp.route("/<code>/schedule/publish", methods=["POST"])
@allow(SECRETARIAT)
def publish(code: str):
    rnd = _round(code)
    form = ConfirmActionForm()
    if not form.validate_on_submit():
        abort(400)
    with _refusals_to("defense_admin.schedule", code=code):
        ops.publish_plan(rnd)
    reason = require_confirmation(form, url_for("defense_admin.publish_page", code=code))
    with _refusals_to("defense_admin.schedule", code=code):
        ops.publish_schedule(rnd, current_user, reason=reason)
    flash("答辩安排已发布：考生和评审专家现在可以看到各自的安排", "success")
    return redirect(url_for("defense_admin.schedule", code=code))


@bp.route("/<code>/schedule.<fmt>")
@allow(SECRETARIAT, SUPERVISOR)
def export_schedule(code: str, fmt: str):
    if fmt not in ("xlsx", "csv"):
        abort(404)
    rnd = _round(code)
    # a large round's file is built by the worker (certify.export_job), with the same sheets
    return export_job.send_or_offer(rnd, "defense.schedule", fmt)


# ------------------------------------------------------------------ panelists and conflicts

def _conflict_form(rnd: Round) -> ConflictForm:
    form = ConflictForm(prefix="conflict")
    form.panelist_id.choices = labelled((p.id, f"{p.name}（{p.work_unit}）") for p in ops.round_panelists(rnd))
    return form


def _panelists_page(rnd: Round, *, form=None, import_form=None, conflict_form=None, errors=None, result=None,
                    staged=None, status=200):
    panelists = ops.round_panelists(rnd)
    return render_template("defense/admin_panelists.html", rnd=rnd, rounds=_rounds(),
                           panelists=panelists, conflicts=ops.round_conflicts(rnd),
                           form=form or PanelistForm(prefix="new"), import_form=import_form or ImportForm(),
                           conflict_form=conflict_form or _conflict_form(rnd), errors=errors or [], result=result,
                           action=ActionForm(), staged=staged, job=panelist_job.latest_panelist_job(rnd.id),
                           threshold=panelist_job.job_threshold(),
                           without_password=sum(1 for p in panelists if p.user is not None
                                                and not p.user.has_usable_password and p.user.is_active_account)
                           ), status


@bp.route("/<code>/panelists", methods=["GET", "POST"])
@allow(SECRETARIAT, SUPERVISOR)
def panelists(code: str):
    rnd = _round(code)
    form = PanelistForm(prefix="new")
    if request.method == "POST":
        if current_user.role != SECRETARIAT:
            abort(403)
        if form.validate_on_submit():
            p, refused = _form_attempt(ops.create_panelist, rnd, name=form.name.data, work_unit=form.work_unit.data,
                                       expertise=form.expertise.data or "", phone=form.phone.data or "")
            if not refused:
                flash(f"已添加专家 {p.name}：账号 {p.user.username}，初始密码 {p.initial_password}（首次登录须修改）",
                      "success")
                return redirect(url_for("defense_admin.panelists", code=code))
        return _panelists_page(rnd, form=form, status=422)
    return _panelists_page(rnd, form=form)


@bp.route("/<code>/panelists/import", methods=["POST"])
@allow(SECRETARIAT)
def import_panelists(code: str):
    rnd = _round(code)
    form = ImportForm()
    if not form.validate_on_submit():
        abort(400)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("请选择要导入的专家名单文件", "error")
        return redirect(url_for("defense_admin.panelists", code=code))
    extra = request.files.get("conflicts")
    data, filename = upload.read(), upload.filename
    cdata, cname = (extra.read(), extra.filename) if extra and extra.filename else (None, None)
    try:
        if panelist_job.active_panelist_job(rnd.id) is not None:  # its undo must not meet a second writer
            raise ImportFailed([RowError(None, None, "本轮评审专家正在后台导入，请在该任务结束后再上传", filename)])
        checked = panelist_import.check_file(rnd, data, filename, cdata, cname)  # every row, nothing written
        if len(checked.rows) > panelist_job.job_threshold():  # written by the worker after a confirmation
            existing = {p.import_key for p in ops.round_panelists(rnd)}
            new = sum(1 for row in checked.rows if row["key"] not in existing)
            token = panelist_job.stage(data, checked.file, len(checked.rows), cdata, cname)
            staged = {"filename": checked.file, "rows": len(checked.rows),
                      "counts": [("名新专家", new), ("名已有专家（按需更新）", len(checked.rows) - new),
                                 ("个答辩组", len(checked.panels_in_file)), ("条回避", len(checked.conflict_rows))],
                      "form": StagedConfirmForm(formdata=None, token=token)}
            return _panelists_page(rnd, staged=staged)
        result, refused = _form_attempt(panelist_import.import_panelists, rnd, data, filename, cdata, cname)
    except ImportFailed as err:  # the savepoint is rolled back: nothing of the file was written
        return _panelists_page(rnd, errors=[e.as_dict() for e in err.errors], status=422)
    except DomainError as err:  # a conflicts row naming something the round refuses
        for m in err.messages:
            flash(m, "error")
        return _panelists_page(rnd, status=422)
    if refused:
        return _panelists_page(rnd, status=422)
    flash(f"导入完成：新增专家 {result.created} 名，更新 {result.updated} 名，未变 {result.unchanged} 名；"
          f"新建答辩组 {result.panels_created} 个，调整 {result.panels_changed} 个；"
          f"新增回避 {result.conflicts_added} 条",
          "success")
    return _panelists_page(rnd, result=result)


@bp.route("/<code>/panelists/import/confirm", methods=["POST"])
@allow(SECRETARIAT)
def confirm_panelist_import(code: str):
    """Queue the background import of a staged large panelist file; its page shows the progress."""
    rnd = _round(code)
    back = url_for("defense_admin.panelists", code=code)
    form = StagedConfirmForm()
    loaded = panelist_job.load(form.token.data or "") if form.validate_on_submit() else None
    if loaded is None:
        flash("上传的文件已过期或不存在，请重新上传", "error")
        return redirect(back)
    staged, _extra = loaded
    rows = int(staged.meta.get("rows") or 0)
    with refusals_go_to(back):
        job = panelist_job.enqueue_import(rnd, staged.token, staged.filename, rows, created_by=current_user)
    flash(f"专家名单共 {rows} 行，已提交后台导入（任务 #{job.id}）", "success")
    return redirect(url_for("jobs.show", job_id=job.id))


@bp.route("/<code>/panelists/passwords.xlsx", methods=["POST"])
@allow(SECRETARIAT)
def issue_panelist_passwords(code: str):
    """One-time passwords for the panelists whose accounts have none yet (a large import made them), in the
    accounts sheet: shown once, in this download."""
    rnd = _round(code)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    issued = ops.issue_panelist_passwords(rnd)
    if not issued:
        flash("没有尚无密码的专家账号", "info")
        return redirect(url_for("defense_admin.panelists", code=code))
    response = send_table(f"{rnd.code}-评审专家初始密码", "xlsx", panelist_list_sheets(rnd, only=issued))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/<code>/panelists/template.xlsx")
@allow(SECRETARIAT, SUPERVISOR)
def panelist_template(code: str):
    _round(code)
    return send_table("评审专家导入模板", "xlsx", panelist_import.panelist_template_sheets())


@bp.route("/<code>/panelists/accounts.xlsx")
@allow(SECRETARIAT)
def panelist_accounts(code: str):
    rnd = _round(code)
    return send_table(f"{rnd.code}-评审专家账号", "xlsx", panelist_list_sheets(rnd))


@bp.route("/<code>/panelists/<int:pid>", methods=["GET", "POST"])
@allow(SECRETARIAT, SUPERVISOR)
def edit_panelist(code: str, pid: int):
    rnd = _round(code)
    p = _get(Panelist, pid, rnd)
    form = PanelistForm(obj=p)
    if request.method == "POST":
        if current_user.role != SECRETARIAT:
            abort(403)
        if form.validate_on_submit():
            saved, refused = _form_attempt(ops.update_panelist, p, name=form.name.data, work_unit=form.work_unit.data,
                                           expertise=form.expertise.data or "", phone=form.phone.data or "")
            if not refused:
                flash(f"已保存专家 {saved.name}", "success")
                return redirect(url_for("defense_admin.panelists", code=code))
    return render_template("defense/admin_panelist_edit.html", rnd=rnd, p=p, form=form, action=ActionForm())


@bp.route("/<code>/panelists/<int:pid>/delete", methods=["POST"])
@allow(SECRETARIAT)
def delete_panelist(code: str, pid: int):
    rnd = _round(code)
    p = _get(Panelist, pid, rnd)
    if not ActionForm().validate_on_submit():
        abort(400)
    with _refusals_to("defense_admin.panelists", code=code):
        ops.delete_panelist(p)
    flash("已删除专家", "success")
    return redirect(url_for("defense_admin.panelists", code=code))


@bp.route("/<code>/conflicts", methods=["POST"])
@allow(SECRETARIAT)
def add_conflict(code: str):
    rnd = _round(code)
    form = _conflict_form(rnd)
    if form.validate_on_submit():
        _, refused = _form_attempt(ops.add_conflict, _get(Panelist, form.panelist_id.data, rnd), form.target.data)
        if not refused:
            flash("已添加回避关系", "success")
            return redirect(url_for("defense_admin.panelists", code=code))
    return _panelists_page(rnd, conflict_form=form, status=422)


@bp.route("/<code>/conflicts/<int:cid>/delete", methods=["POST"])
@allow(SECRETARIAT)
def delete_conflict(code: str, cid: int):
    rnd = _round(code)
    c = _get(Conflict, cid, rnd)
    if not ActionForm().validate_on_submit():
        abort(400)
    ops.delete_conflict(c)
    flash("已删除回避关系", "success")
    return redirect(url_for("defense_admin.panelists", code=code))


# ------------------------------------------------------------------ panels

def _panel_form(rnd: Round, panel: Panel | None = None) -> PanelForm:
    form = PanelForm(obj=panel) if panel else PanelForm()
    choices = [(p.id, f"{p.name}（{p.work_unit}）") for p in ops.round_panelists(rnd)]
    form.members.choices = labelled(choices)
    form.chair_id.choices = labelled([(0, "（请选择）")] + choices)
    if panel is not None and request.method == "GET":
        form.members.data = [m.panelist_id for m in panel.members]
        form.chair_id.data = panel.chair.id if panel.chair else 0
    return form


@bp.route("/<code>/panels", methods=["GET", "POST"])
@bp.route("/<code>/panels/<int:panel_id>", methods=["GET", "POST"])
@allow(SECRETARIAT, SUPERVISOR)
def panels(code: str, panel_id: int | None = None):
    rnd = _round(code)
    panel = _get(Panel, panel_id, rnd) if panel_id else None
    form = _panel_form(rnd, panel)
    status = 200
    if request.method == "POST":
        if current_user.role != SECRETARIAT:
            abort(403)
        if form.validate_on_submit():
            saved, refused = _form_attempt(ops.save_panel, rnd, panel, name=form.name.data, room=form.room.data or "",
                                           meeting_link=form.meeting_link.data or "",
                                           member_ids=form.members.data or [], chair_id=form.chair_id.data or None)
            if not refused:
                flash(f"已保存答辩组 {saved.name}", "success")
                return redirect(url_for("defense_admin.panels", code=code))
            panel = _get(Panel, panel_id, rnd) if panel_id else None
        status = 422
    return render_template("defense/admin_panels.html", rnd=rnd, rounds=_rounds(), panels=ops.round_panels(rnd),
                           panel=panel, form=form, action=ActionForm()), status


@bp.route("/<code>/panels/<int:panel_id>/delete", methods=["POST"])
@allow(SECRETARIAT)
def delete_panel(code: str, panel_id: int):
    rnd = _round(code)
    panel = _get(Panel, panel_id, rnd)
    if not ActionForm().validate_on_submit():
        abort(400)
    with _refusals_to("defense_admin.panels", code=code):
        ops.delete_panel(panel)
    flash("已删除答辩组", "success")
    return redirect(url_for("defense_admin.panels", code=code))


# ------------------------------------------------------------------ days

@bp.route("/<code>/days", methods=["GET", "POST"])
@allow(SECRETARIAT, SUPERVISOR)
def days(code: str):
    rnd = _round(code)
    form = DayForm()
    status = 200
    if request.method == "POST":
        if current_user.role != SECRETARIAT:
            abort(403)
        if form.validate_on_submit():
            _, refused = _form_attempt(ops.save_day, rnd, day=form.day.data, start=form.start_time.data,
                                       end=form.end_time.data, slot_minutes=form.slot_minutes.data,
                                       breaks=form.breaks.data or "")
            if not refused:
                flash(f"已保存答辩日 {form.day.data}", "success")
                return redirect(url_for("defense_admin.days", code=code))
        status = 422
    from ..services.scheduling import DaySpec, day_slots

    rows = [(d, len(day_slots(DaySpec(d.day, d.start_time, d.end_time, d.slot_minutes, d.breaks))))
            for d in ops.round_days(rnd)]
    return render_template("defense/admin_days.html", rnd=rnd, rounds=_rounds(), rows=rows, form=form,
                           action=ActionForm(), panels=len(ops.round_panels(rnd)),
                           candidates=len(ops.defense_candidates(rnd))), status


@bp.route("/<code>/days/<int:day_id>/delete", methods=["POST"])
@allow(SECRETARIAT)
def delete_day(code: str, day_id: int):
    rnd = _round(code)
    row = _get(DefenseDay, day_id, rnd)
    if not ActionForm().validate_on_submit():
        abort(400)
    with _refusals_to("defense_admin.days", code=code):
        ops.delete_day(row)
    flash("已删除答辩日", "success")
    return redirect(url_for("defense_admin.days", code=code))


# ------------------------------------------------------------------ printouts

def _printable_panel(panel_id: int) -> Panel:
    """Secretariat and supervisors: any panel; a panelist: only a panel they sit on, once published."""
    panel = db.session.get(Panel, panel_id)
    if panel is None:
        abort(404)
    if current_user.role == PANELIST:
        from ..scoring.operations import membership

        if membership(panel, current_user) is None or not ops.is_published(db.session.get(Round, panel.round_id)):
            abort(403)
    return panel


@bp.route("/panels/<int:panel_id>/timetable")
@allow(SECRETARIAT, SUPERVISOR, PANELIST)
def timetable(panel_id: int):
    panel = _printable_panel(panel_id)
    rnd = db.session.get(Round, panel.round_id)
    return render_template("defense/print_timetable.html", rnd=rnd, panel=panel, rows=ops.panel_timetable(panel),
                           published=ops.is_published(rnd))


@bp.route("/panels/<int:panel_id>/blank-sheets")
@allow(SECRETARIAT, SUPERVISOR, PANELIST)
def blank_sheets(panel_id: int):
    from ..scoring.operations import rubric_for_read

    panel = _printable_panel(panel_id)
    rnd = db.session.get(Round, panel.round_id)
    rubric = rubric_for_read(rnd.id)
    members = sorted(panel.members, key=lambda m: (not m.is_chair, m.id))
    return render_template("defense/print_sheets.html", rnd=rnd, panel=panel, rows=ops.panel_timetable(panel),
                           members=members, rubric=rubric)
