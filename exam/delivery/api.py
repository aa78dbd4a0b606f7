"""The candidate's exam JSON API (blueprint ``exam_api``, prefix ``/api``), described at /api/openapi.json.

Requests and responses are the models of ``exam.delivery.schemas`` (the spec is generated from them,
``exam.delivery.openapi``):
a body is validated by its request model before the operation runs, and every payload is built as a response
model. Session-cookie calls that change something carry the CSRF token (header ``X-CSRFToken``) and the attempt's
client token (header ``X-Attempt-Token``, returned by startAttempt; a newer start on another device rotates it
and older tokens are answered 409 ``taken_over``). The three writes of an attempt in progress (saveAnswer,
flagItem, recordEvent) also accept the signed **attempt pass** instead of the session cookie: startAttempt and
getAttempt return ``attempt_pass`` (``exam.services.attempt_pass``), the page sends it in ``X-Attempt-Pass`` with
its ``X-Attempt-Token`` and no CSRF header, and the request is served without the session (no cookie decode, no
user load, no CSRF check: the pass is a header the page's script sets, never sent by the browser on its own, so it
is no ambient credential that another site could use). A pass that does not verify (forged, altered, expired,
another attempt's, another device's) is 401 ``invalid_pass`` and nothing is written; an older device's pass with
its own token verifies, and the write's guarded statement answers 409 ``taken_over`` as for the cookie.
Errors are ``{"error": {"code", "message"}}``: an operation
raises ``ExamError`` (a ``DomainError``) and the app-wide handler answers it; every route runs in the unit of
work (``certify.uow``), which commits once at the end (or rolls back) — no route commits.
Before a paper is submitted no response ever carries a key, an explanation or points awarded.
"""
from __future__ import annotations

import secrets
import time
from datetime import UTC, timedelta
from typing import TypeVar

from flask import Blueprint, current_app, g, jsonify, request
from flask_login import current_user, login_user
from flask_wtf.csrf import generate_csrf
from pydantic import BaseModel, ValidationError

from certify import accounts, rate_limits
from certify.access import PUBLIC, HeaderCredential, allow
from certify.clock import iso_utc, utcnow
from certify.domain import CANDIDATE
from certify.extensions import csrf, db

from ..models import ATTEMPT_STATE_LABELS, IN_PROGRESS, ExamSession
from ..services import attempt_pass, timing
from . import operations as ops
from . import payload, schemas
from .integrity import TAB_HEADER

bp = Blueprint("exam_api", __name__, url_prefix="/api")
TOKEN_HEADER = "X-Attempt-Token"
PASS_HEADER = "X-Attempt-Pass"
M = TypeVar("M", bound=BaseModel)


def _body(model: type[M]) -> M:
    """The JSON body validated by its request model; a bad field is a 400 naming it."""
    if not request.is_json:
        raise ops.ExamError("unsupported_media_type", "请求内容必须是 JSON（Content-Type: application/json）", 415)
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ops.ExamError("invalid_json", "请求内容不是有效的 JSON 对象", 400)
    try:
        return model.model_validate(data)
    except ValidationError as err:
        code, message, field = schemas.field_error(model, err)
        raise ops.ExamError(code, message, 400, field=field) from None


def _reply(model: BaseModel):
    return jsonify(schemas.dump(model))


def _token() -> str | None:
    return request.headers.get(TOKEN_HEADER)


def _pass_key() -> bytes:
    return attempt_pass.derive_key(current_app.config["SECRET_KEY"])


def _verify_pass(req):
    return attempt_pass.verify(_pass_key(), req.headers.get(PASS_HEADER), client_token=req.headers.get(TOKEN_HEADER),
                               attempt_id=(req.view_args or {}).get("attempt_id"), now=time.time())


ATTEMPT_PASS = HeaderCredential(header=PASS_HEADER, role=CANDIDATE, verify=_verify_pass, code="invalid_pass",
                                message="作答凭证无效或已过期，请刷新页面")


def issue_pass(attempt, user_id: int) -> str | None:
    """The attempt pass of an attempt in progress for its current client token, valid until its deadline + grace."""
    if attempt.state != IN_PROGRESS or not attempt.client_token or attempt.deadline_at is None:
        return None
    expires = attempt.deadline_at + timedelta(seconds=ops.grace_seconds())
    return attempt_pass.issue(_pass_key(), attempt_id=attempt.id, user_id=user_id, candidate_id=attempt.candidate_id,
                              client_token=attempt.client_token, expires=_ms(expires) // 1000)


def _writer() -> tuple[int, int | None]:
    """(user id, candidate id) of a write: the verified pass's, or the session user's (the write's statement then
    checks the attempt is theirs)."""
    claims = g.get("credential")
    if claims is not None:
        return claims.user_id, claims.candidate_id
    return current_user.id, None


def _candidate():
    candidate = ops.candidate_of(current_user)
    if candidate is None:
        raise ops.ExamError("not_candidate", "当前账号不是考生账号", 403)
    return candidate


def _ms(value) -> int:

    return int(value.replace(tzinfo=UTC).timestamp() * 1000)


# ------------------------------------------------------------------------------------------------- payloads

def session_payload(sc, attempt, now) -> schemas.ExamSession:
    session: ExamSession = sc.session
    entry = ops.entry_of(session, sc, attempt, now)
    released = session.scores_released(now)
    return schemas.ExamSession(
        session_id=session.id,
        name=session.name,
        opens_at=iso_utc(session.opens_at),
        closes_at=iso_utc(session.closes_at),
        late_entry_until=iso_utc(entry.late_end),
        duration_minutes=session.duration_minutes,
        extra_minutes=sc.extra_minutes or 0,
        phase=entry.phase,
        can_enter=entry.can_enter,
        attempt=None if attempt is None else schemas.AttemptSummary(
            attempt_id=attempt.id, state=entry.status, state_label=ATTEMPT_STATE_LABELS[entry.status],
            submitted_at=iso_utc(attempt.submitted_at),
            score=str(attempt.score) if released and attempt.score is not None else None),
        scores_released=released,
    )


def attempt_payload(attempt, now, *, token: str | None = None, fresh: bool = False) -> tuple[schemas.Attempt, str]:
    """The attempt as the candidate sees it: the paper (while in progress) or the closed state; with ``token``
    (startAttempt) also the device's client token. Returns the model without its items and the items as JSON text
    (``_reply_attempt`` joins them): the paper's stored payload (``payload``) with the attempt's answers, none
    read for a ``fresh`` attempt (just created: it has none)."""
    session = attempt.session
    released = session.scores_released(now)
    state = timing.shown_state(now, attempt.state, attempt.deadline_at, ops.grace_seconds())
    fields = dict(
        attempt_id=attempt.id,
        session_id=attempt.session_id,
        session_name=session.name,
        state=state,
        state_label=ATTEMPT_STATE_LABELS[state],
        started_at=iso_utc(attempt.started_at),
        deadline_at=iso_utc(attempt.deadline_at),
        remaining_seconds=timing.remaining_seconds(now, attempt.deadline_at) if state == IN_PROGRESS else 0,
        server_time=iso_utc(now),
        server_time_ms=_ms(now),
        last_seq=attempt.last_seq,
        answered_count=attempt.answered_count,
        event_warning_threshold=session.event_warning_threshold,
        submitted_at=iso_utc(attempt.submitted_at),
        score=str(attempt.score) if released and attempt.score is not None else None,
        scores_released=released,
        items=[],
    )
    items = "[]"
    if state == IN_PROGRESS:
        fields["attempt_pass"] = issue_pass(attempt, current_user.id)
        # a start writes anyway, so it may keep a payload it had to render; getAttempt (a GET) never writes
        items = payload.items_json(attempt.paper_id, None if fresh else attempt.id, store=token is not None)
    if token is not None:
        return schemas.StartedAttempt(**fields, client_token=token, token_tag=ops.token_tag(token)), items
    return schemas.Attempt(**fields), items


_ITEMS_MARK = "\x00items-" + secrets.token_hex(8)  # stands in for the items while the rest is encoded


def _reply_attempt(built: tuple[schemas.Attempt, str]):
    """``_reply`` of an attempt whose items are JSON text already (the paper's stored payload): the model is
    encoded by the app's JSON provider as ``jsonify`` would, and the text takes the items' place, so the body is
    the one ``jsonify`` of the whole model would give (out of debug mode) without decoding the items again."""
    model, items = built
    body = schemas.dump(model)
    body["items"] = _ITEMS_MARK
    text = current_app.json.dumps(body, separators=(",", ":"))
    text = text.replace(current_app.json.dumps(_ITEMS_MARK), items, 1)
    return current_app.response_class(f"{text}\n", mimetype=current_app.json.mimetype)


# ------------------------------------------------------------------------------------------------- routes

@bp.route("/login", methods=["POST"])
@allow(PUBLIC)
@csrf.exempt
def candidate_login():  # throttled with /login by accounts.authenticate (429 + Retry-After)
    data = _body(schemas.LoginRequest)
    user = accounts.authenticate(data.username, data.password)
    if user is None:
        raise ops.ExamError("invalid_credentials", "账号或密码错误", 401)
    if user.role != CANDIDATE:
        raise ops.ExamError("not_candidate", "此接口仅供考生登录", 403)  # rolled back: no login recorded
    login_user(user)
    return _reply(schemas.LoginResponse(
        user=schemas.LoginUser(username=user.username, display_name=user.display_name,
                               must_change_password=user.must_change_password),
        csrf_token=generate_csrf()))


@bp.route("/time")
@allow(PUBLIC)
def server_time():
    now = utcnow()
    return _reply(schemas.ServerTime(server_time=iso_utc(now), server_time_ms=_ms(now)))


@bp.route("/exam/sessions")
@allow(CANDIDATE)
def list_my_sessions():
    candidate = _candidate()
    now = utcnow()
    out = [session_payload(sc, ops.attempt_of(sc.session_id, candidate.id), now)
           for sc in ops.assignments_of(candidate)]
    return _reply(schemas.SessionList(sessions=out, server_time=iso_utc(now)))


@bp.route("/exam/sessions/<id:session_id>/attempt", methods=["POST"])
@allow(CANDIDATE)
def start_attempt(session_id):
    candidate = _candidate()
    session = db.session.get(ExamSession, session_id)
    if session is None:
        raise ops.ExamError("not_found", "找不到该场考试", 404)
    now = utcnow()
    attempt, token = ops.start_attempt(session, candidate, now=now, tab=request.headers.get(TAB_HEADER))
    return _reply_attempt(attempt_payload(attempt, now, token=token, fresh=ops.created_now(attempt)))


@bp.route("/exam/attempts/<id:attempt_id>")
@allow(CANDIDATE)
def get_attempt(attempt_id):
    now = utcnow()
    attempt = ops.load_attempt(attempt_id, current_user, _token(), now=now)
    return _reply_attempt(attempt_payload(attempt, now))  # shows an overdue attempt as closed; the sweep grades it


@bp.route("/exam/attempts/<id:attempt_id>/answers/<id:position>", methods=["PUT"])
@allow(CANDIDATE, credential=ATTEMPT_PASS)
def save_answer(attempt_id, position):
    user_id, candidate_id = _writer()
    rate_limits.hit("exam_save", attempt_id, user_id)  # 429 + Retry-After over the limit
    data = _body(schemas.SaveAnswerRequest)
    now = utcnow()
    result = ops.save_answer(attempt_id, token=_token(), position=position, response=data.response,
                             seq=data.seq, time_spent_ms=data.time_spent_ms, user_id=user_id,
                             candidate_id=candidate_id, now=now)
    return _reply(schemas.SaveAnswerResponse(
        applied=result["applied"], seq=result["seq"], position=result["position"],
        response=list(result["response"]), answered_count=result["answered_count"], server_time=iso_utc(now)))


@bp.route("/exam/attempts/<id:attempt_id>/flags/<id:position>", methods=["PUT"])
@allow(CANDIDATE, credential=ATTEMPT_PASS)
def flag_item(attempt_id, position):
    user_id, candidate_id = _writer()
    rate_limits.hit("exam_flag", attempt_id, user_id)  # 429 + Retry-After over the limit
    data = _body(schemas.FlagRequest)
    return _reply(schemas.FlagResponse(**ops.flag_item(attempt_id, token=_token(), position=position,
                                                       flagged=data.flagged, user_id=user_id,
                                                       candidate_id=candidate_id)))


@bp.route("/exam/attempts/<id:attempt_id>/events", methods=["POST"])
@allow(CANDIDATE, credential=ATTEMPT_PASS)
def record_event(attempt_id):
    user_id, candidate_id = _writer()
    rate_limits.hit("exam_event", attempt_id, user_id)  # 429 + Retry-After over the limit
    data = _body(schemas.EventRequest)
    return _reply(schemas.EventResponse(**ops.record_event(attempt_id, token=_token(), kind=data.kind,
                                                           detail=data.detail, user_id=user_id,
                                                           candidate_id=candidate_id,
                                                           client_event_id=data.client_event_id)))


@bp.route("/exam/attempts/<id:attempt_id>/submit", methods=["POST"])
@allow(CANDIDATE)
def submit_attempt(attempt_id):
    now = utcnow()
    attempt = ops.load_attempt(attempt_id, current_user, _token(), lock=True, now=now)
    ops.submit_attempt(attempt, token=_token(), now=now)
    return _reply_attempt(attempt_payload(attempt, now))


@bp.route("/openapi.json")
@allow(PUBLIC)
def openapi_json():
    from .openapi import build_spec

    return jsonify(build_spec())
