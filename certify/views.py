"""Core pages: login, logout, password change, the role home page; the secretariat's account pages
(staff accounts, password resets, admission-slip passwords). Thin: the rules live in ``certify.accounts``."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from markupsafe import Markup

from . import accounts
from .access import AUTHENTICATED, PUBLIC, allow, json_error, wants_json
from .domain import LEVELS, PANELIST, ROLE_LABELS, SECRETARIAT, SUPERVISOR
from .errors import DomainError
from .extensions import db
from .forms import ChangePasswordForm, ConfirmForm, LoginForm, StaffCreateForm
from .login_gate import LoginBusy
from .registry import home_endpoint

# cli_group=None: the blueprint's commands (``certify users …``) are top-level commands of the app's CLI.
bp = Blueprint("core", __name__, cli_group=None)


def _register_cli():
    from .accounts_cli import users

    bp.cli.add_command(users)


_register_cli()

def safe_next(target: str | None) -> str | None:
    """A same-site path to go to after login, or None (external URLs, ``//host``, backslashes and control
    characters such as line breaks are ignored, never followed)."""
    if not target or len(target) > 2000:
        return None
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in target) or "\\" in target:
        return None
    if not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


@bp.route("/")
@allow(PUBLIC)
def index():
    if not current_user.is_authenticated:
        return redirect(url_for("core.login"))
    if current_user.must_change_password:
        return redirect(url_for("core.change_password"))
    endpoint = home_endpoint(current_user.role)
    if endpoint:
        return redirect(url_for(endpoint))
    return render_template("core/home.html")


@bp.route("/login", methods=["GET", "POST"])
@allow(PUBLIC)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("core.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = accounts.authenticate(form.username.data, form.password.data)  # LoginThrottled: see below
        if user is None:
            flash("账号或密码错误", "error")
        else:
            login_user(user)
            return redirect(safe_next(request.args.get("next")) or url_for("core.index"))
    return render_template("core/login.html", form=form)


@bp.app_errorhandler(accounts.LoginThrottled)
@bp.app_errorhandler(LoginBusy)
def login_throttled(err: accounts.LoginThrottled | LoginBusy):
    """Both logins (page and ``/api/login``): 429 (this client must wait) or 503 (every password check slot busy:
    ``certify.login_gate``) with ``Retry-After``; the page keeps the form and says when to try again."""
    if wants_json():
        response, status = json_error(err.status, err.code, err.message, retry_after=err.retry_after)
    else:
        form = LoginForm()
        form.password.data = ""
        response = make_response(render_template("core/login.html", form=form, throttled=err.message))
        status = err.status
    response.status_code = status
    response.headers["Retry-After"] = str(err.retry_after)
    return response


@bp.route("/logout", methods=["POST"])
@allow(AUTHENTICATED, supervisor_writes=True)
def logout():
    # Server-side: the epoch in every session id of this account moves on, so a copy of the cookie is dead too.
    accounts.end_sessions(current_user._get_current_object())
    logout_user()
    flash("已退出登录", "info")
    return redirect(url_for("core.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@allow(AUTHENTICATED, supervisor_writes=True)  # their own password is not platform data
@login_required
def change_password():
    form = ChangePasswordForm()
    status = 200
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            accounts.change_password(user, form.new.data, current_password=form.current.data)
        except accounts.PasswordRejected as err:
            (form.current if err.code == "wrong_password" else form.new).errors.extend(err.messages)
            status = 400
        else:
            login_user(user)  # this session carries the new epoch; every other session of the account ends
            flash("密码已修改", "success")
            return redirect(url_for("core.index"))
    elif form.is_submitted():
        status = 400
    return render_template("core/change_password.html", form=form), status


# ---------------------------------------------------------------- the secretariat's account pages

def _shown_once(html: str):
    """A page that shows a password: never cached, never stored by the browser or a proxy."""
    response = make_response(html)
    response.headers["Cache-Control"] = "no-store, max-age=0"
    response.headers["Pragma"] = "no-cache"
    return response


def _staff_page(form=None, status: int = 200):
    return render_template("accounts/staff.html", users=accounts.staff_accounts(), form=form or StaffCreateForm(),
                           action=ConfirmForm(), ROLE_LABELS=ROLE_LABELS), status


@bp.route("/accounts/")
@allow(SECRETARIAT)
def staff():
    return _staff_page()


@bp.route("/accounts/create", methods=["POST"])
@allow(SECRETARIAT)
def create_staff():
    form = StaffCreateForm()
    if not form.validate_on_submit():
        return _staff_page(form, 400)
    try:
        user, password = accounts.create_staff(form.username.data, form.role.data,
                                               display_name=form.display_name.data)
    except DomainError as err:  # refused before anything was written
        form.username.errors.extend(err.messages)
        return _staff_page(form, err.status)
    return _shown_once(render_template("accounts/issued.html", issued=[(user, password)], ROLE_LABELS=ROLE_LABELS,
                                       title="账号已创建"))


@bp.route("/accounts/<int:user_id>/disable", methods=["POST"])
@allow(SECRETARIAT)
def disable(user_id: int):
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    user = accounts.get_user(user_id)
    try:
        accounts.disable_account(user, reason=form.reason.data or "")
    except DomainError as err:  # the last secretariat: refused before anything was written
        flash(err.message, "error")
        return redirect(url_for("core.staff"))
    flash(f"已停用账号 {user.username}", "success")
    return redirect(url_for("core.staff"))


@bp.route("/accounts/<int:user_id>/enable", methods=["POST"])
@allow(SECRETARIAT)
def enable(user_id: int):
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    user = accounts.get_user(user_id)
    accounts.enable_account(user, reason=form.reason.data or "")
    flash(f"已启用账号 {user.username}", "success")
    return redirect(url_for("core.staff"))


@bp.route("/accounts/reset")
@allow(SECRETARIAT)
def reset_confirm():
    """Confirm a reset: ``?username=`` (a ticket for a candidate)."""
    from .roster import candidate_for_user

    username = (request.args.get("username") or "").strip()[:64]
    user = accounts.user_by_username(username)
    if user is None:
        if username:
            flash(f"没有账号「{username}」", "error")
        return redirect(url_for("core.staff"))
    if user.id == current_user.id:
        flash("请在「修改密码」页面修改自己的密码", "error")
        return redirect(url_for("core.staff"))
    return render_template("accounts/reset_confirm.html", user=user, candidate=candidate_for_user(user),
                           form=ConfirmForm(), ROLE_LABELS=ROLE_LABELS)


@bp.route("/accounts/<int:user_id>/reset", methods=["POST"])
@allow(SECRETARIAT)
def reset(user_id: int):
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    user = accounts.get_user(user_id)
    if user.id == current_user.id:
        flash("请在「修改密码」页面修改自己的密码", "error")
        return redirect(url_for("core.staff"))
    password = accounts.reset_password(user, reason=form.reason.data or "")
    return _shown_once(render_template("accounts/issued.html", issued=[(user, password)], ROLE_LABELS=ROLE_LABELS,
                                       title="密码已重置"))


def _slip_batch(rnd, level: str):
    """The batch of slips (``?page=``, as on the slips page) whose passwords are issued together."""
    from .roster import slip_batch
    from .web import page_arg

    return slip_batch(rnd, level=level, page=page_arg())


@bp.route("/accounts/rounds/<round:rnd>/slips", methods=["GET", "POST"])
@allow(SECRETARIAT)
def issue_slips(rnd):
    """Admission slips with fresh one-time passwords: a confirmation page, then the slips, shown once."""
    level = request.values.get("level") or ""
    batch = _slip_batch(rnd, level)
    people = batch.items
    form = ConfirmForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        passwords = accounts.issue_slip_passwords(rnd, people)
        return _shown_once(render_template("rounds/slips.html", rnd=rnd, candidates=people, level=level,
                                           LEVELS=LEVELS, login_url=url_for("core.login", _external=True),
                                           batch=True, passwords=passwords, issued=True, page=batch))
    pending = [c for c in people if c.user and c.user.must_change_password and c.user.is_active_account]
    return render_template("accounts/slips_confirm.html", rnd=rnd, level=level, people=people, pending=pending,
                           form=form, page=batch)


# ---------------------------------------------------------------- the staff home page

@bp.route("/home")
@allow(SECRETARIAT, SUPERVISOR, PANELIST)
def staff_home():
    """What is next for the secretariat, the supervisors (the same, read-only) and the panelists: every section the
    areas register (sessions today, imports and jobs pending, complaints open, panels live; a panelist's next slot)."""
    from .registry import staff_panels

    return render_template("core/staff_home.html", panels=_render_panels(staff_panels(), current_user))


def _render_panels(steps, subject) -> list[tuple]:
    """(name, html, error) of each registered home-page section rendered for ``subject``; one area's broken section
    becomes a notice instead of taking the whole page down."""
    panels = []
    for _order, name, render in steps:
        try:
            html = render(subject)
        except Exception:
            current_app.logger.exception("home page panel %s failed", name)
            db.session.rollback()
            panels.append((name, None, "该部分暂时无法显示，请稍后刷新"))
            continue
        if html:
            panels.append((name, Markup(html), None))
    return panels


# ---------------------------------------------------------------- the candidate's home page

@bp.route("/me")
@allow("candidate")
def candidate_home():
    """The candidate's identity, then every section other areas register (exam, defense slot, results)."""
    from .registry import candidate_panels
    from .roster import candidate_for_user

    candidate = candidate_for_user(current_user)
    panels = _render_panels(candidate_panels(), candidate) if candidate is not None else []
    return render_template("core/candidate_home.html", candidate=candidate, panels=panels)


@bp.route("/me/slip")
@allow("candidate")
def my_slip():
    from .roster import candidate_for_user
    from .rounds_views import render_slip

    candidate = candidate_for_user(current_user)
    if candidate is None:
        abort(404, "没有找到您的考生信息，请联系秘书处")
    return render_slip(candidate)
