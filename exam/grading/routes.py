"""Key errata and regrading (blueprint ``exam_grading``, prefix ``/exam/grading``).

The secretariat enters an erratum for one item of a session (correct the key, accept more keys, or void the
item), sees a dry run with every affected attempt's score before and after, then confirms: the erratum is
stored and every affected attempt is regraded in one transaction, with the audit trail and the exam component
scores updated.
"""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from certify.access import allow
from certify.domain import SECRETARIAT, SUPERVISOR
from certify.extensions import db
from certify.forms import labelled
from question_bank.models import ItemVersion

from ..delivery import operations as ops
from ..models import ERRATUM_KINDS, ExamSession, KeyErratum, PaperItem, SessionCandidate

bp = Blueprint("exam_grading", __name__, url_prefix="/exam/grading")


class ErratumForm(FlaskForm):
    item_version_id = SelectField("题目", choices=[], validate_choice=False,
                                  validators=[DataRequired(message="请选择题目")])
    kind = SelectField("勘误类型", choices=labelled(ERRATUM_KINDS.items()))
    keys = StringField("答案",
                       description="更正答案填一个（如 B 或 ACD）；增加可接受答案可填多个，用空格或分号分隔；作废不填",
                       validators=[Length(max=100)])
    reason = TextAreaField("原因", validators=[DataRequired(message="请填写勘误原因"), Length(max=1000)])


def session_items(session: ExamSession) -> list[ItemVersion]:
    """The item versions used by the session's papers."""
    ids = select(PaperItem.item_version_id).join(SessionCandidate, SessionCandidate.paper_id == PaperItem.paper_id) \
        .where(SessionCandidate.session_id == session.id).distinct()
    return list(db.session.execute(
        select(ItemVersion).where(ItemVersion.id.in_(ids)).order_by(ItemVersion.id)).scalars())


def _split_keys(raw: str) -> list[str]:
    for sep in (";", "；", ",", "，", "/", "、"):
        raw = raw.replace(sep, " ")
    return [k for k in raw.split() if k]


@bp.route("/sessions/<id:session_id>/errata")
@allow(SECRETARIAT, SUPERVISOR)
def errata_list(session_id):
    session = db.get_or_404(ExamSession, session_id)
    errata = list(db.session.execute(select(KeyErratum).filter_by(session_id=session.id)
                                     .order_by(KeyErratum.applied_at.desc())).scalars())
    versions = {v.id: v for v in session_items(session)}
    links = {}
    if "exam_admin.session_detail" in current_app.view_functions:
        links["detail"] = url_for("exam_admin.session_detail", session_id=session.id)
    return render_template("exam/grading/errata.html", session=session, errata=errata, versions=versions,
                           kinds=ERRATUM_KINDS, links=links)


@bp.route("/sessions/<id:session_id>/errata/new", methods=["GET", "POST"])
@allow(SECRETARIAT)
def new_erratum(session_id):
    session = db.get_or_404(ExamSession, session_id)
    items = session_items(session)
    form = ErratumForm()
    form.item_version_id.choices = labelled((str(v.id), f"#{v.id} [{v.type_label}] {v.stem[:40]}（原答案 {v.answer}）")
                                            for v in items)
    if request.method == "GET" and request.args.get("item_version_id"):
        form.item_version_id.data = request.args["item_version_id"]
    preview = None
    if form.validate_on_submit():
        keys = _split_keys(form.keys.data or "")
        try:
            if request.form.get("action") == "confirm":
                erratum, rows = ops.apply_erratum(session, form.item_version_id.data, form.kind.data, keys,
                                                  reason=form.reason.data, actor=current_user._get_current_object())
                changed = sum(1 for r in rows if r.before != r.after)
                flash(f"勘误已生效：重新评分 {len(rows)} 份答卷，其中 {changed} 份成绩有变化", "success")
                return redirect(url_for("exam_grading.errata_list", session_id=session.id))
            preview = ops.preview_erratum(session, form.item_version_id.data, form.kind.data, keys)  # writes nothing
        except ops.ExamError as err:  # nothing was written before the refusal: the form is shown again
            flash(err.message, "error")
            preview = None
    selected = next((v for v in items if str(v.id) == str(form.item_version_id.data)), None)
    return render_template("exam/grading/new_erratum.html", session=session, form=form, preview=preview,
                           selected=selected, kinds=ERRATUM_KINDS)
