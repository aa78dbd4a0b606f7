"""The live exam monitor (blueprint ``exam_monitor``, prefix ``/exam/monitor``).

The secretariat and supervisors see every assigned candidate of a session: not started / in progress /
submitted / auto-submitted / absent, last seen, answered count and integrity events, updated live over
Socket.IO (static/js/exam/monitor.js). The secretariat can add time for one candidate, force-submit, and
reopen a closed attempt with a reason; supervisors watch read-only (the access guard refuses their POSTs).
"""
from __future__ import annotations

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import IntegerField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from certify.access import allow
from certify.clock import display_timezone, utcnow
from certify.domain import SECRETARIAT, SUPERVISOR
from certify.extensions import db
from certify.models import Candidate

from ..models import (
    EVENT_KINDS,
    EVENT_LABELS,
    Attempt,
    AttemptEvent,
    ExamSession,
    SessionCandidate,
    real_attempts,
    real_sessions,
)
from ..services import event_display
from . import operations as ops

bp = Blueprint("exam_monitor", __name__, url_prefix="/exam/monitor")


class ReasonForm(FlaskForm):
    reason = StringField("原因", validators=[DataRequired(message="请填写原因"), Length(max=500)])


class MinutesForm(ReasonForm):
    minutes = IntegerField("分钟", validators=[InputRequired(message="请填写分钟数"),
                                             NumberRange(1, ops.MAX_EXTRA_MINUTES, message="分钟数须在 1–600 之间")])


def session_rows(session: ExamSession, now=None) -> list[dict]:
    """Every assigned candidate's monitor line, in ticket order. The assignments, candidates and attempts are read
    as plain rows carrying the columns ``attempt_row`` reads: a 5,000-candidate session loaded 15,000 ORM objects
    for its lines, which took most of the request."""
    now = now or utcnow()
    pairs = db.session.execute(
        select(SessionCandidate.id, SessionCandidate.candidate_id, SessionCandidate.paper_id,
               SessionCandidate.extra_minutes, Candidate.ticket, Candidate.name, Candidate.work_unit)
        .join(Candidate, Candidate.id == SessionCandidate.candidate_id)
        .where(SessionCandidate.session_id == session.id).order_by(Candidate.ticket)).all()
    attempts = {a.candidate_id: a for a in db.session.execute(
        real_attempts(Attempt.id, Attempt.candidate_id, Attempt.state, Attempt.deadline_at, Attempt.answered_count,
                      Attempt.last_seen_at, Attempt.score).where(Attempt.session_id == session.id))}
    counts = ops.event_counts([a.id for a in attempts.values()])
    rows = []
    for sc in pairs:
        attempt = attempts.get(sc.candidate_id)
        row = ops.attempt_row(session, sc, attempt, counts.get(attempt.id) if attempt else None, now)
        row.update({"ticket": sc.ticket, "name": sc.name, "work_unit": sc.work_unit})
        rows.append(row)
    return rows


@bp.route("/")
@allow(SECRETARIAT, SUPERVISOR)
def index():
    sessions = list(db.session.execute(real_sessions().order_by(ExamSession.opens_at.desc())).scalars())
    assigned = dict(db.session.execute(select(SessionCandidate.session_id, func.count())
                                       .group_by(SessionCandidate.session_id)).all())
    started = dict(db.session.execute(real_attempts(Attempt.session_id, func.count())
                                      .group_by(Attempt.session_id)).all())
    return render_template("exam/monitor/index.html", sessions=sessions, assigned=assigned, started=started,
                           now=utcnow())


@bp.route("/sessions/<id:session_id>")
@allow(SECRETARIAT, SUPERVISOR)
def session_monitor(session_id):
    session = db.get_or_404(ExamSession, session_id)
    now = utcnow()
    rows = session_rows(session, now)
    summary = {}
    for row in rows:
        summary[row["status"]] = summary.get(row["status"], 0) + 1
    links = {}
    for name, endpoint in (("detail", "exam_admin.session_detail"), ("report", "exam_analysis.session_report")):
        if endpoint in current_app.view_functions:
            links[name] = url_for(endpoint, session_id=session.id)
    # Each row's links, built once as (before the id, after it): url_for for every link of 5,000 rows took longer
    # than reading the rows.
    href = {}
    for key, endpoint, arg in (("events", "attempt_events", "attempt_id"), ("add_time", "add_time", "assignment_id"),
                               ("force_submit", "force_submit", "attempt_id"), ("reopen", "reopen", "attempt_id")):
        before, after = url_for(f"exam_monitor.{endpoint}", **{arg: 0}).split("/0/", 1)
        href[key] = (before + "/", "/" + after)
    return render_template("exam/monitor/session.html", session=session, rows=rows, summary=summary, href=href,
                           labels=ops.MONITOR_LABELS, event_labels=EVENT_LABELS, event_kinds=EVENT_KINDS, links=links,
                           can_act=current_user.role == SECRETARIAT, reason_form=ReasonForm(),
                           minutes_form=MinutesForm(), now=now)


@bp.route("/sessions/<id:session_id>/rows.json")
@allow(SECRETARIAT, SUPERVISOR)
def session_rows_json(session_id):
    session = db.get_or_404(ExamSession, session_id)
    return jsonify({"rows": session_rows(session)})


@bp.route("/attempts/<id:attempt_id>/events")
@allow(SECRETARIAT, SUPERVISOR)
def attempt_events(attempt_id):
    attempt = db.get_or_404(Attempt, attempt_id)
    events = list(db.session.execute(select(AttemptEvent).filter_by(attempt_id=attempt.id)
                                     .order_by(AttemptEvent.at, AttemptEvent.id)).scalars())
    tz = display_timezone()
    lines = [{"at": e.at, "kind": e.kind, "label": EVENT_LABELS.get(e.kind, e.kind),
              "detail": event_display.detail_rows(e.detail, tz)} for e in events]
    counts = ops.event_counts([attempt.id]).get(attempt.id, {})  # the monitor row's counts, the same source
    return render_template("exam/monitor/events.html", attempt=attempt, events=lines, event_labels=EVENT_LABELS,
                           counts=[(EVENT_LABELS[k], counts[k]) for k in EVENT_KINDS if counts.get(k)],
                           timezone=tz)


def _act(session_id: int, form: FlaskForm, action):
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
        return redirect(url_for("exam_monitor.session_monitor", session_id=session_id))
    back = url_for("exam_monitor.session_monitor", session_id=session_id)
    try:
        message = action()
    except ops.ExamError as err:  # the unit of work rolls back (or keeps what was done); the handler flashes
        err.redirect_to = err.redirect_to or back
        raise
    flash(message, "success")
    return redirect(back)


@bp.route("/assignments/<id:assignment_id>/add-time", methods=["POST"])
@allow(SECRETARIAT)
def add_time(assignment_id):
    sc = db.get_or_404(SessionCandidate, assignment_id)
    form = MinutesForm()

    def run():
        total = ops.add_time(sc, form.minutes.data, actor=current_user._get_current_object(), reason=form.reason.data)
        return f"已为 {sc.candidate.name} 延长 {form.minutes.data} 分钟（累计 {total} 分钟）"

    return _act(sc.session_id, form, run)


@bp.route("/attempts/<id:attempt_id>/force-submit", methods=["POST"])
@allow(SECRETARIAT)
def force_submit(attempt_id):
    attempt = db.get_or_404(Attempt, attempt_id)
    form = ReasonForm()

    def run():
        ops.force_submit(attempt, actor=current_user._get_current_object(), reason=form.reason.data)
        return f"已为 {attempt.candidate.name} 强制交卷"

    return _act(attempt.session_id, form, run)


@bp.route("/attempts/<id:attempt_id>/reopen", methods=["POST"])
@allow(SECRETARIAT)
def reopen(attempt_id):
    attempt = db.get_or_404(Attempt, attempt_id)
    form = MinutesForm()

    def run():
        ops.reopen_attempt(attempt, minutes=form.minutes.data, actor=current_user._get_current_object(),
                           reason=form.reason.data)
        return f"已重新开放 {attempt.candidate.name} 的作答 {form.minutes.data} 分钟"

    return _act(attempt.session_id, form, run)
