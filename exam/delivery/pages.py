"""The candidate's exam pages (blueprint ``exam``, prefix ``/exam``): my sessions, instructions and identity
confirmation, the exam room (driven by the JSON API from static/js/exam/room.js), the submitted / released-score
page, and the home-page panel."""
from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, url_for
from flask import session as flask_session
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms.validators import DataRequired

from certify.access import allow
from certify.clock import iso_utc, utcnow
from certify.domain import CANDIDATE

from ..models import ATTEMPT_STATE_LABELS, ExamSession
from . import operations as ops

bp = Blueprint("exam", __name__, url_prefix="/exam")
CONFIRMED_KEY = "exam_identity_confirmed"


class ConfirmForm(FlaskForm):
    confirm = BooleanField("我确认以上信息是本人，并已阅读考试须知",
                           validators=[DataRequired(message="请先确认身份并阅读考试须知")])


def _rows(candidate, now):
    rows = []
    for sc in ops.assignments_of(candidate):
        attempt = ops.attempt_of(sc.session_id, candidate.id)
        s = sc.session
        entry = ops.entry_of(s, sc, attempt, now)
        released = s.scores_released(now)
        rows.append({"sc": sc, "session": s, "attempt": attempt, "phase": entry.phase, "status": entry.label,
                     "action": entry.action, "group": entry.group, "late_end": entry.late_end,
                     "released": released, "score": attempt.score if attempt is not None and released else None})
    return rows


def _candidate_or_404():
    candidate = ops.candidate_of(current_user)
    if candidate is None:
        abort(404)
    return candidate


def _own_assignment(session_id: int):
    candidate = _candidate_or_404()
    sc = ops.assignment(session_id, candidate.id)
    if sc is None:
        abort(404)
    return candidate, sc


@bp.route("/")
@allow(CANDIDATE)
def my_sessions():
    candidate = ops.candidate_of(current_user)
    rows = _rows(candidate, utcnow()) if candidate else []
    return render_template("exam/candidate/my_sessions.html", candidate=candidate, rows=rows)


@bp.route("/sessions/<id:session_id>/", methods=["GET", "POST"])
@allow(CANDIDATE)
def instructions(session_id):
    candidate, sc = _own_assignment(session_id)
    session = sc.session
    now = utcnow()
    attempt = ops.attempt_of(session_id, candidate.id)
    entry = ops.entry_of(session, sc, attempt, now)
    if entry.action == "result":
        return redirect(url_for("exam.result", session_id=session_id))
    form = ConfirmForm()
    problem = entry.refusal[1] if attempt is None and entry.refusal else None
    if form.validate_on_submit() and problem is None:
        confirmed = set(flask_session.get(CONFIRMED_KEY, []))
        confirmed.add(session_id)
        flask_session[CONFIRMED_KEY] = sorted(confirmed)
        return redirect(url_for("exam.room", session_id=session_id))
    return render_template("exam/candidate/instructions.html", candidate=candidate, sc=sc, session=session,
                           attempt=attempt, form=form, problem=problem,
                           late_end=entry.late_end)


@bp.route("/sessions/<id:session_id>/room")
@allow(CANDIDATE)
def room(session_id):
    candidate, sc = _own_assignment(session_id)
    attempt = ops.attempt_of(session_id, candidate.id)
    if ops.entry_of(sc.session, sc, attempt, utcnow()).action == "result":
        return redirect(url_for("exam.result", session_id=session_id))
    if attempt is None and session_id not in flask_session.get(CONFIRMED_KEY, []):
        return redirect(url_for("exam.instructions", session_id=session_id))
    return render_template("exam/candidate/room.html", candidate=candidate, session=sc.session,
                           server_time=iso_utc(utcnow()))


@bp.route("/sessions/<id:session_id>/result")
@allow(CANDIDATE)
def result(session_id):
    candidate, sc = _own_assignment(session_id)
    now = utcnow()
    attempt = ops.attempt_of(session_id, candidate.id)
    session: ExamSession = sc.session
    entry = ops.entry_of(session, sc, attempt, now)
    if entry.action == "continue":
        return redirect(url_for("exam.room", session_id=session_id))
    released = session.practice or session.scores_released(now)  # a practice score is shown at once
    return render_template("exam/candidate/result.html", candidate=candidate, session=session, attempt=attempt,
                           shown_state=entry.status if attempt is not None else None, released=released,
                           state_labels=ATTEMPT_STATE_LABELS)


def candidate_panel(candidate) -> str | None:
    """The candidate home page's exam section (order 20): upcoming / open / finished sessions."""
    rows = _rows(candidate, utcnow())
    if not rows:
        return None
    return render_template("exam/candidate/_panel.html", rows=rows)
