"""Core pages: login, logout, password change, the role home page."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from markupsafe import Markup
from flask_login import current_user, login_required, login_user, logout_user

from . import accounts
from .access import AUTHENTICATED, PUBLIC, allow
from .extensions import db, limiter
from .forms import ChangePasswordForm, LoginForm
from .registry import home_endpoint

bp = Blueprint("core", __name__)

def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _login_key() -> str:
    return f"{request.remote_addr}|{(request.form.get('username') or '').strip().lower()}"


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
@limiter.limit(_login_limit, methods=["POST"], key_func=_login_key,
               error_message="登录尝试过于频繁，请稍后再试")
def login():
    if current_user.is_authenticated:
        return redirect(url_for("core.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = accounts.authenticate(form.username.data, form.password.data)
        if user is None:
            flash("账号或密码错误", "error")
        else:
            login_user(user)
            db.session.commit()
            target = request.args.get("next")
            if not target or urlsplit(target).netloc or not target.startswith("/"):
                target = url_for("core.index")
            return redirect(target)
    return render_template("core/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@allow(AUTHENTICATED, supervisor_writes=True)
def logout():
    logout_user()
    flash("已退出登录", "info")
    return redirect(url_for("core.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@allow(AUTHENTICATED, supervisor_writes=True)  # their own password is not platform data
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        if not current_user.check_password(form.current.data):
            form.current.errors.append("当前密码不正确")
        elif form.new.data == form.current.data:
            form.new.errors.append("新密码不能与当前密码相同")
        else:
            user = current_user._get_current_object()
            accounts.change_password(user, form.new.data)
            db.session.commit()
            login_user(user)  # keep this session valid after the epoch bump
            flash("密码已修改", "success")
            return redirect(url_for("core.index"))
    return render_template("core/change_password.html", form=form)


# ---------------------------------------------------------------- the candidate's home page

@bp.route("/me")
@allow("candidate")
def candidate_home():
    """The candidate's identity, then every section other areas register (exam, defense slot, results)."""
    from .registry import candidate_panels
    from .roster import candidate_for_user

    candidate = candidate_for_user(current_user)
    panels = []
    if candidate is not None:
        for _order, name, render in candidate_panels():
            try:
                html = render(candidate)
            except Exception:  # one area's broken section must not take the whole home page down
                current_app.logger.exception("candidate panel %s failed", name)
                db.session.rollback()
                panels.append((name, None, "该部分暂时无法显示，请稍后刷新"))
                continue
            if html:
                panels.append((name, Markup(html), None))
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
