"""Practice exam and device check pages.

``exam_practice`` (``/exam/practice``): the candidate's practice page and its start button (into the same room as
the real exam, ``exam.room``), and the secretariat's choice of practice items per level.
``exam_device`` (``/exam/device-check``): the candidate's device check (the page measures, the POST stores the
verdict of ``services.device_check``), and the secretariat's view of who has checked, per session.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask import session as flask_session
from flask_login import current_user
from flask_wtf import FlaskForm

from certify.access import allow
from certify.domain import CANDIDATE, SECRETARIAT, SUPERVISOR
from certify.extensions import db
from certify.models import Scheme
from certify.web import refusals_go_to, round_from_query, rounds_newest_first

from ..models import DEVICE_VERDICTS, ExamSession
from ..services import device_check as dc
from . import device_checks
from . import operations as ops
from . import practice as practice_ops
from .pages import CONFIRMED_KEY

bp = Blueprint("exam_practice", __name__, url_prefix="/exam/practice")
device_bp = Blueprint("exam_device", __name__, url_prefix="/exam/device-check")


class PostForm(FlaskForm):
    """A button that only needs the CSRF token."""


def _candidate_or_404():
    candidate = ops.candidate_of(current_user)
    if candidate is None:
        abort(404)
    return candidate


# ------------------------------------------------------------------------------------------------ candidate

@bp.route("/")
@allow(CANDIDATE)
def home():
    candidate = _candidate_or_404()
    summary = practice_ops.practice_summary(candidate)
    return render_template("exam/practice/home.html", candidate=candidate, form=PostForm(), **summary)


@bp.route("/start", methods=["POST"])
@allow(CANDIDATE)
def start():
    candidate = _candidate_or_404()
    if not PostForm().validate_on_submit():
        flash("页面已过期，请重试", "error")
        return redirect(url_for("exam_practice.home"))
    with refusals_go_to(url_for("exam_practice.home")):
        session = practice_ops.open_practice(candidate)
    confirmed = set(flask_session.get(CONFIRMED_KEY, []))
    confirmed.add(session.id)
    flask_session[CONFIRMED_KEY] = sorted(confirmed)
    return redirect(url_for("exam.room", session_id=session.id))


# ------------------------------------------------------------------------------------------------ secretariat

@bp.route("/manage")
@allow(SECRETARIAT, SUPERVISOR)
def manage():
    rnd = round_from_query(prefer=lambda r: any(s.has_exam for s in r.schemes))
    levels = []
    if rnd is not None:
        for scheme in rnd.schemes:
            if not scheme.has_exam:
                continue
            session = practice_ops.practice_session(rnd.id, scheme.id)
            levels.append({"scheme": scheme, "session": session, "chosen": set(practice_ops.chosen_item_ids(session)),
                           "items": practice_ops.eligible_items(scheme.level)})
    return render_template("exam/practice/manage.html", rnd=rnd, rounds=rounds_newest_first(), levels=levels,
                           form=PostForm(), max_items=practice_ops.MAX_PRACTICE_ITEMS)


@bp.route("/manage/<id:scheme_id>", methods=["POST"])
@allow(SECRETARIAT)
def save(scheme_id):
    scheme = db.get_or_404(Scheme, scheme_id)
    back = url_for("exam_practice.manage", round=scheme.round.code)
    if not PostForm().validate_on_submit():
        flash("页面已过期，请重试", "error")
        return redirect(back)
    ids = [v for v in request.form.getlist("item") if v.isdigit() and len(v) < 10]
    with refusals_go_to(back):
        practice_ops.set_practice_items(scheme.round, scheme, ids, actor=current_user)
    flash(f"{scheme.level}模拟练习已更新：{len(set(ids))} 道题", "success")
    return redirect(back)


# ------------------------------------------------------------------------------------------------ device check

@device_bp.route("/", methods=["GET", "POST"])
@allow(CANDIDATE)
def check():
    candidate = _candidate_or_404()
    if request.method == "POST":  # JSON from the page's script, CSRF in the X-CSRFToken header
        row, verdict = device_checks.record_device_check(candidate, request.get_json(silent=True),
                                                         request.headers.get("User-Agent", ""))
        return jsonify({"verdict": verdict.level, "verdict_label": DEVICE_VERDICTS[verdict.level],
                        "browser": dc.BROWSER_LABELS.get(row.browser, row.browser),
                        "browser_version": row.browser_version,
                        "checks": [{"check": c.check, "label": dc.CHECK_LABELS[c.check], "level": c.level,
                                    "advice": c.advice} for c in verdict.checks]})
    return render_template("exam/practice/device_check.html", candidate=candidate,
                           last=device_checks.latest_check(candidate.id), verdicts=DEVICE_VERDICTS,
                           labels=dc.CHECK_LABELS)


@device_bp.route("/sessions")
@allow(SECRETARIAT, SUPERVISOR)
def overview():
    rnd = round_from_query(prefer=lambda r: any(s.has_exam for s in r.schemes))
    rows = device_checks.round_overview(rnd.id) if rnd is not None else []
    return render_template("exam/practice/device_overview.html", rnd=rnd, rounds=rounds_newest_first(), rows=rows)


@device_bp.route("/sessions/<id:session_id>")
@allow(SECRETARIAT, SUPERVISOR)
def session_detail(session_id):
    session = db.get_or_404(ExamSession, session_id)
    if session.practice:
        abort(404)
    rows, counts = device_checks.session_checks(session)
    return render_template("exam/practice/device_session.html", session=session, rows=rows, counts=counts,
                           verdicts=DEVICE_VERDICTS, labels=dc.CHECK_LABELS)
