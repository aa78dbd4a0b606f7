"""Secretariat pages of the question bank (supervisors may read). Thin: parse, call operations, render."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from certify.access import allow
from certify.domain import SECRETARIAT, SUPERVISOR
from certify.downloads import send_table
from certify.extensions import db
from certify.tabular import ImportFailed
from certify.web import page_arg, refusals_go_to

from . import bank_job, staging
from . import operations as ops
from .forms import ConfirmForm, ItemForm, ReasonForm, UploadForm
from .models import ACTIVE, ITEM_TYPES, RETIRED, STATUS_LABELS, TYPE_LABELS
from .services.parsing import HEADER_OF, LETTERS, LEVELS, TRUEFALSE, answer_display, diff

bp = Blueprint("bank", __name__, url_prefix="/bank")
READERS = (SECRETARIAT, SUPERVISOR)
PER_PAGE = 30


def _filters() -> ops.Filters:
    args = request.args
    difficulty = args.get("difficulty", "")
    return ops.Filters(
        q=args.get("q", "").strip()[:100],
        type=args.get("type", "") if args.get("type") in ITEM_TYPES else "",
        category=args.get("category", "").strip()[:60],
        difficulty=int(difficulty) if difficulty in {"1", "2", "3", "4", "5"} else None,
        level=args.get("level", "") if args.get("level") in LEVELS else "",
        status=args.get("status", "") if args.get("status") in (ACTIVE, RETIRED) else "",
    )


def _item_or_404(item_id: int):
    item = ops.get_item(item_id)
    if item is None:
        abort(404)
    return item


@bp.context_processor
def _helpers():
    return {"TYPE_LABELS": TYPE_LABELS, "STATUS_LABELS": STATUS_LABELS, "LETTERS": LETTERS, "LEVELS": LEVELS,
            "answer_display": answer_display, "TRUEFALSE": TRUEFALSE}


@bp.route("/")
@allow(*READERS)
def index():
    filters = _filters()
    page = db.paginate(ops.search_query(filters), page=page_arg(), per_page=PER_PAGE,
                       error_out=False)
    return render_template("question_bank/index.html", page=page, filters=filters, categories=ops.categories(),
                           counts=ops.status_counts(), types=ITEM_TYPES)


@bp.route("/items/<id:item_id>")
@allow(*READERS)
def item(item_id):
    item = _item_or_404(item_id)
    history, previous = [], None
    for v in item.versions:  # oldest first; each with what changed since the one before
        data = ops.version_data(v)
        history.append((v, diff(previous, data) if previous else []))
        previous = data
    return render_template("question_bank/item.html", item=item, history=list(reversed(history)),
                           reason_form=ReasonForm())


@bp.route("/items/<id:item_id>/preview")
@allow(*READERS)
def preview_item(item_id):
    item = _item_or_404(item_id)
    version = item.current
    if request.args.get("version", type=int):
        version = next((v for v in item.versions if v.version == request.args.get("version", type=int)), None)
        if version is None:
            abort(404)
    return render_template("question_bank/preview_item.html", item=item, version=version)


@bp.route("/items/<id:item_id>/edit", methods=["GET", "POST"])
@allow(SECRETARIAT)
def edit(item_id):
    item = _item_or_404(item_id)
    form = ItemForm()
    if request.method == "GET":
        v = item.current
        form.type.data = TYPE_LABELS[v.type]
        form.stem.data = v.stem
        if v.type != TRUEFALSE:
            for key, option in zip(ItemForm.OPTION_FIELDS, v.options):
                getattr(form, key).data = option
        form.answer.data = answer_display(v.type, v.answer)
        form.category.data = v.category
        form.difficulty.data = str(v.difficulty)
        form.level.data = v.level
        form.explanation.data = v.explanation
    elif form.validate_on_submit():
        try:
            version, warnings = ops.edit_item(item, form.values())
        except ops.ItemInvalid as err:
            field_of = {header: key for key, header in HEADER_OF.items()}
            for header, message in err.errors:
                field = getattr(form, field_of.get(header, "stem"))
                field.errors = list(field.errors) + [message]
        else:
            for w in warnings:
                flash(w, "warning")
            flash(f"已保存为第 {version.version} 版" if version else "内容没有变化，未生成新版本",
                  "success" if version else "info")
            return redirect(url_for("bank.item", item_id=item.id))
    return render_template("question_bank/edit.html", item=item, form=form)


@bp.route("/items/<id:item_id>/retire", methods=["POST"])
@allow(SECRETARIAT)
def retire(item_id):
    return _set_status(item_id, ops.retire_item, "已停用")


@bp.route("/items/<id:item_id>/reactivate", methods=["POST"])
@allow(SECRETARIAT)
def reactivate(item_id):
    return _set_status(item_id, ops.reactivate_item, "已重新启用")


def _set_status(item_id, operation, done: str):
    item = _item_or_404(item_id)
    form = ReasonForm()
    if not form.validate_on_submit():
        flash("原因不能超过 200 字", "error")
        return redirect(url_for("bank.item", item_id=item.id))
    back = url_for("bank.item", item_id=item.id)
    with refusals_go_to(back):
        operation(item, form.reason.data or "")
    flash(f"题目 {item.code} {done}", "success")
    return redirect(back)


@bp.route("/stats")
@allow(*READERS)
def stats():
    return render_template("question_bank/stats.html", stats=ops.statistics(), counts=ops.status_counts())


@bp.route("/export.<any(xlsx, csv):fmt>")
@allow(*READERS)
def export(fmt):
    items = db.session.execute(ops.search_query(_filters())).scalars().all()
    return send_table("题库导出", fmt, [ops.export_sheet(items)])


@bp.route("/template.<any(xlsx, csv):fmt>")
@allow(*READERS)
def template(fmt):
    return send_table("题库导入模板", fmt, [ops.template_sheet()])


@bp.route("/import", methods=["GET", "POST"])
@allow(SECRETARIAT)
def upload():
    form = UploadForm()
    if form.validate_on_submit():
        storage = form.file.data
        name = staging.safe_filename(storage.filename)
        if not staging.supported(name):
            form.file.errors = ["不支持的文件类型，请上传 .xlsx 或 .csv 文件"]
        else:
            token = staging.UPLOADS.stage(storage.read(), name, user_id=current_user.id)
            return redirect(url_for("bank.import_preview", token=token))
    return render_template("question_bank/upload.html", form=form)


@bp.route("/import/<token>", methods=["GET", "POST"])
@allow(SECRETARIAT)
def import_preview(token):
    staged = staging.UPLOADS.load(token)
    if staged is None:
        flash("上传的文件已过期或不存在，请重新上传", "error")
        return redirect(url_for("bank.upload"))
    data, filename = staged.data, staged.filename
    form = ConfirmForm()
    posted = request.method == "POST" and form.validate_on_submit()
    previewed_rows = int(form.rows.data) if posted and (form.rows.data or "").isdigit() else 0
    if posted and previewed_rows > bank_job.job_threshold() and form.fingerprint.data:
        # A large file: queued at once, not planned again here (the job plans it and refuses to write when the bank
        # no longer gives the previewed plan, so a confirmation stays a quick request whatever the file's size).
        with refusals_go_to(url_for("bank.import_preview", token=token)):
            job = bank_job.enqueue_import(token, filename, form.fingerprint.data, previewed_rows,
                                          created_by=current_user)
        flash(f"题库文件共 {previewed_rows} 行，已提交后台导入（任务 #{job.id}）", "success")
        return redirect(url_for("jobs.show", job_id=job.id))
    plan = ops.plan_file(data, filename)  # planned against the bank as it is now
    rows = bank_job.plan_rows(plan)
    large = rows > bank_job.job_threshold()
    if posted:
        if form.fingerprint.data != plan.fingerprint():
            flash("题库在预览之后发生了变化，下面是按当前题库重新生成的预览，请核对后再确认", "warning")
        elif not plan.ok:
            flash("文件有错误，未导入任何题目", "error")
        elif large:  # the page was older than the file's plan: confirm again from this preview
            flash("请在下面的预览中再次确认", "warning")
        elif bank_job.active_bank_job() is not None:  # its undo must not meet a second writer
            flash("题库正在后台导入，请在该任务结束后再确认", "error")
        else:
            try:
                with db.session.begin_nested():  # a refused or colliding import leaves nothing behind
                    summary = ops.apply_plan(plan)
            except ImportFailed:
                flash("文件有错误，未导入任何题目", "error")
            except IntegrityError:
                flash("题库同时被其他操作修改，未导入任何题目，请核对预览后重新确认", "error")
                plan = ops.plan_file(data, filename)
            else:
                staging.UPLOADS.discard(token)
                return render_template("question_bank/import_result.html", summary=summary, plan=plan,
                                       filename=filename)
    form.fingerprint.data = plan.fingerprint()
    form.rows.data = str(rows)
    return render_template("question_bank/preview.html", plan=plan, filename=filename, form=form, token=token,
                           large=large, threshold=bank_job.job_threshold(), job=bank_job.active_bank_job())
