"""The candidate's exam JSON API (blueprint ``exam_api``, prefix ``/api``), described at /api/openapi.json.

Session-cookie calls that change something carry the CSRF token (header ``X-CSRFToken``) and the attempt's
client token (header ``X-Attempt-Token``, returned by startAttempt; a newer start on another device rotates it
and older tokens are answered 409 ``taken_over``). Errors are ``{"error": {"code", "message"}}``.
Before a paper is submitted no response ever carries a key, an explanation or points awarded.
"""
from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_login import current_user, login_user
from flask_wtf.csrf import generate_csrf

from certify import accounts
from certify.access import PUBLIC, allow, json_error
from certify.clock import iso_utc, utcnow
from certify.domain import CANDIDATE
from certify.extensions import csrf, db

from . import operations as ops
from .models import ATTEMPT_STATE_LABELS, IN_PROGRESS, ExamSession, PaperItem
from .services import timing

bp = Blueprint("exam_api", __name__, url_prefix="/api")
LETTERS = "ABCDEFGH"
TOKEN_HEADER = "X-Attempt-Token"


def _fail(err: ops.ExamError):
    if err.commit:
        db.session.commit()
    else:
        db.session.rollback()
    return json_error(err.status, err.code, err.message, **err.extra)


def _body() -> dict:
    if not request.is_json:
        raise ops.ExamError("unsupported_media_type", "请求内容必须是 JSON（Content-Type: application/json）", 415)
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ops.ExamError("invalid_json", "请求内容不是有效的 JSON 对象", 400)
    return data


def _token() -> str | None:
    return request.headers.get(TOKEN_HEADER)


def _candidate():
    candidate = ops.candidate_of(current_user)
    if candidate is None:
        raise ops.ExamError("not_candidate", "当前账号不是考生账号", 403)
    return candidate


def _ms(value) -> int:
    from datetime import timezone

    return int(value.replace(tzinfo=timezone.utc).timestamp() * 1000)


# ------------------------------------------------------------------------------------------------- payloads

def session_payload(sc, attempt, now) -> dict:
    session: ExamSession = sc.session
    phase = timing.session_phase(now, session.opens_at, session.closes_at)
    late_end = timing.late_entry_ends(session.opens_at, session.late_entry_minutes, session.closes_at)
    can_enter = phase == timing.OPEN and (
        (attempt is not None and attempt.state == IN_PROGRESS) or (attempt is None and now <= late_end))
    released = session.scores_released(now)
    return {
        "session_id": session.id,
        "name": session.name,
        "opens_at": iso_utc(session.opens_at),
        "closes_at": iso_utc(session.closes_at),
        "late_entry_until": iso_utc(late_end),
        "duration_minutes": session.duration_minutes,
        "extra_minutes": sc.extra_minutes or 0,
        "phase": phase,
        "can_enter": bool(can_enter and sc.paper_id is not None),
        "attempt": None if attempt is None else {
            "attempt_id": attempt.id, "state": attempt.state, "state_label": ATTEMPT_STATE_LABELS[attempt.state],
            "submitted_at": iso_utc(attempt.submitted_at),
            "score": str(attempt.score) if released and attempt.score is not None else None},
        "scores_released": released,
    }


def attempt_payload(attempt, now, *, token: str | None = None) -> dict:
    """The attempt as the candidate sees it: the paper (while in progress) or the closed state."""
    from question_bank.models import ItemVersion

    from .models import Answer

    session = attempt.session
    released = session.scores_released(now)
    body = {
        "attempt_id": attempt.id,
        "session_id": attempt.session_id,
        "session_name": session.name,
        "state": attempt.state,
        "state_label": ATTEMPT_STATE_LABELS[attempt.state],
        "started_at": iso_utc(attempt.started_at),
        "deadline_at": iso_utc(attempt.deadline_at),
        "remaining_seconds": timing.remaining_seconds(now, attempt.deadline_at) if attempt.state == IN_PROGRESS else 0,
        "server_time": iso_utc(now),
        "server_time_ms": _ms(now),
        "last_seq": attempt.last_seq,
        "answered_count": attempt.answered_count,
        "event_warning_threshold": session.event_warning_threshold,
        "submitted_at": iso_utc(attempt.submitted_at),
        "score": str(attempt.score) if released and attempt.score is not None else None,
        "scores_released": released,
        "items": [],
    }
    if token is not None:
        body["client_token"] = token
        body["token_tag"] = ops.token_tag(token)
    if attempt.state != IN_PROGRESS:
        return body
    answers = {a.position: a for a in db.session.execute(db.select(Answer).filter_by(attempt_id=attempt.id)).scalars()}
    rows = db.session.execute(db.select(PaperItem, ItemVersion).join(ItemVersion, ItemVersion.id == PaperItem.item_version_id)
                              .where(PaperItem.paper_id == attempt.paper_id).order_by(PaperItem.position))
    for paper_item, version in rows:
        answer = answers.get(paper_item.position)
        order = paper_item.option_order or list(range(len(version.options)))
        body["items"].append({
            "position": paper_item.position,
            "item_id": version.item_id,
            "item_version_id": version.id,
            "version": version.version,
            "type": version.type,
            "type_label": version.type_label,
            "stem": version.stem,
            "points": str(paper_item.points),
            "options": [{"id": LETTERS[w], "text": version.options[w]} for w in order],
            "response": list(answer.response) if answer else [],
            "flagged": bool(answer.flagged) if answer else False,
            "seq": answer.seq if answer else 0,
            "time_spent_ms": answer.time_spent_ms if answer else 0,
        })
    return body


# ------------------------------------------------------------------------------------------------- routes

@bp.route("/login", methods=["POST"])
@allow(PUBLIC)
@csrf.exempt
def candidate_login():  # throttled with /login by accounts.authenticate (429 + Retry-After)
    try:
        data = _body()
    except ops.ExamError as err:
        return _fail(err)
    user = accounts.authenticate(str(data.get("username") or ""), str(data.get("password") or ""))
    if user is None:
        db.session.rollback()
        return json_error(401, "invalid_credentials", "账号或密码错误")
    if user.role != CANDIDATE:
        db.session.rollback()
        return json_error(403, "not_candidate", "此接口仅供考生登录")
    login_user(user)
    db.session.commit()
    return jsonify({"user": {"username": user.username, "display_name": user.display_name,
                             "must_change_password": user.must_change_password},
                    "csrf_token": generate_csrf()})


@bp.route("/time")
@allow(PUBLIC)
def server_time():
    now = utcnow()
    return jsonify({"server_time": iso_utc(now), "server_time_ms": _ms(now)})


@bp.route("/exam/sessions")
@allow(CANDIDATE)
def list_my_sessions():
    try:
        candidate = _candidate()
    except ops.ExamError as err:
        return _fail(err)
    now = utcnow()
    out = []
    for sc in ops.assignments_of(candidate):
        attempt = ops.attempt_of(sc.session_id, candidate.id)
        if attempt is not None and ops.close_if_overdue(attempt, now=now):
            db.session.commit()
        out.append(session_payload(sc, attempt, now))
    return jsonify({"sessions": out, "server_time": iso_utc(now)})


@bp.route("/exam/sessions/<int:session_id>/attempt", methods=["POST"])
@allow(CANDIDATE)
def start_attempt(session_id):
    try:
        candidate = _candidate()
        session = db.session.get(ExamSession, session_id)
        if session is None:
            raise ops.ExamError("not_found", "找不到该场考试", 404)
        now = utcnow()
        attempt, token = ops.start_attempt(session, candidate, now=now)
        db.session.commit()
        return jsonify(attempt_payload(attempt, now, token=token))
    except ops.ExamError as err:
        return _fail(err)


@bp.route("/exam/attempts/<int:attempt_id>")
@allow(CANDIDATE)
def get_attempt(attempt_id):
    try:
        attempt = ops.own_attempt(attempt_id, current_user)
        now = utcnow()
        if ops.close_if_overdue(attempt, now=now):
            db.session.commit()
        if attempt.state == IN_PROGRESS:
            ops.check_token(attempt, _token())
        return jsonify(attempt_payload(attempt, now))
    except ops.ExamError as err:
        return _fail(err)


@bp.route("/exam/attempts/<int:attempt_id>/answers/<int:position>", methods=["PUT"])
@allow(CANDIDATE)
def save_answer(attempt_id, position):
    try:
        data = _body()
        now = utcnow()
        result = ops.save_answer(attempt_id, token=_token(), position=position, response=data.get("response"),
                                 seq=data.get("seq"), time_spent_ms=data.get("time_spent_ms", 0),
                                 user_id=current_user.id, now=now)
        db.session.commit()
        result["response"] = list(result["response"])
        result["server_time"] = iso_utc(now)
        return jsonify(result)
    except ops.ExamError as err:
        return _fail(err)


@bp.route("/exam/attempts/<int:attempt_id>/flags/<int:position>", methods=["PUT"])
@allow(CANDIDATE)
def flag_item(attempt_id, position):
    try:
        data = _body()
        result = ops.flag_item(attempt_id, token=_token(), position=position, flagged=bool(data.get("flagged")),
                               user_id=current_user.id)
        db.session.commit()
        return jsonify(result)
    except ops.ExamError as err:
        return _fail(err)


@bp.route("/exam/attempts/<int:attempt_id>/events", methods=["POST"])
@allow(CANDIDATE)
def record_event(attempt_id):
    try:
        data = _body()
        detail = data.get("detail") if isinstance(data.get("detail"), dict) else {}
        result = ops.record_event(attempt_id, token=_token(), kind=str(data.get("kind") or ""), detail=detail,
                                  user_id=current_user.id)
        db.session.commit()
        return jsonify(result)
    except ops.ExamError as err:
        return _fail(err)


@bp.route("/exam/attempts/<int:attempt_id>/submit", methods=["POST"])
@allow(CANDIDATE)
def submit_attempt(attempt_id):
    try:
        attempt = ops.own_attempt(attempt_id, current_user)
        now = utcnow()
        ops.submit_attempt(attempt, token=_token(), now=now)
        db.session.commit()
        return jsonify(attempt_payload(attempt, now))
    except ops.ExamError as err:
        return _fail(err)


@bp.route("/openapi.json")
@allow(PUBLIC)
def openapi_json():
    from .openapi import build_spec

    return jsonify(build_spec())
