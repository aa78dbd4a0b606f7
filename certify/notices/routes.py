"""The notice centre (every logged-in person: their own notices) and the secretariat's delivery and contact pages."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from certify.access import AUTHENTICATED, allow
from certify.domain import ROLE_LABELS, SECRETARIAT, SUPERVISOR
from certify.forms import ConfirmForm

from . import operations as ops
from .forms import ContactForm
from .services.delivery import CHANNEL_LABELS, CHANNELS, KIND_LABELS, STATE_LABELS, STATES

bp = Blueprint("notices", __name__, url_prefix="/notices")


@bp.route("/")
@allow(AUTHENTICATED)
def index():
    user = current_user._get_current_object()
    return render_template("notices/index.html", notices=ops.notices_for(user), form=ConfirmForm(),
                           KIND_LABELS=KIND_LABELS)


# Marking one's own notices read is not platform data: supervisors may do it too.
@bp.route("/<int:notice_id>/read", methods=["POST"])
@allow(AUTHENTICATED, supervisor_writes=True)
def read(notice_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    ops.mark_read(current_user._get_current_object(), notice_id)
    return redirect(url_for("notices.index"))


@bp.route("/read-all", methods=["POST"])
@allow(AUTHENTICATED, supervisor_writes=True)
def read_all():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    n = ops.mark_all_read(current_user._get_current_object())
    flash(f"已将 {n} 条通知标为已读" if n else "没有未读通知", "success")
    return redirect(url_for("notices.index"))


@bp.route("/deliveries")
@allow(SECRETARIAT, SUPERVISOR)
def deliveries():
    return render_template("notices/deliveries.html", counts=ops.delivery_counts(), problems=ops.problem_deliveries(),
                           CHANNELS=CHANNELS, STATES=STATES, CHANNEL_LABELS=CHANNEL_LABELS,
                           STATE_LABELS=STATE_LABELS, form=ConfirmForm())


@bp.route("/deliveries/<int:delivery_id>/retry", methods=["POST"])
@allow(SECRETARIAT)
def retry(delivery_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    ops.retry(delivery_id, actor=current_user._get_current_object())
    flash("已重新加入发送队列", "success")
    return redirect(url_for("notices.deliveries"))


def _contacts_page(form, status: int = 200):
    return render_template("notices/contacts.html", form=form, rows=ops.contact_rows(),
                           ROLE_LABELS=ROLE_LABELS), status


@bp.route("/contacts")
@allow(SECRETARIAT, SUPERVISOR)
def contacts():
    return _contacts_page(ContactForm())


@bp.route("/contacts", methods=["POST"])
@allow(SECRETARIAT)
def save_contact():
    form = ContactForm()
    if not form.validate_on_submit():
        return _contacts_page(form, 400)
    user = ops.find_person(form.username.data)
    if user is None:
        form.username.errors.append(f"没有账号「{form.username.data.strip()}」")
        return _contacts_page(form, 400)
    try:
        ops.set_contact(user, email=form.email.data, mobile=form.mobile.data,
                        actor=current_user._get_current_object())
    except ops.NoticeError as err:
        form.email.errors.extend(err.messages)
        return _contacts_page(form, 400)
    flash(f"已保存 {user.display_name or user.username} 的联系方式", "success")
    return redirect(url_for("notices.contacts"))
