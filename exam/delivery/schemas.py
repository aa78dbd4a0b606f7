"""The exam API contract in code: request and response models of every ``/api/*`` operation and the error body.

Pydantic v2 rather than marshmallow + apispec: it is already installed, its JSON Schema output is draft 2020-12 (the
dialect of OpenAPI 3.1, so /api/openapi.json is generated from these models without a translation layer), its
validation errors carry the field path and the rejected value (what the Chinese messages need), and the Rust core
keeps building the save path's response cheap. Requests are validated by ``parse(Model, data)``, which turns the
first validation error into the operation's documented ``ExamError`` code with a Chinese message naming the field;
responses are built as model instances and serialised with ``dump`` (so a payload that drifts from the contract
fails where it is built, not in a client).

Response models forbid extra fields (``additionalProperties: false`` in the spec): a key, an explanation or points
awarded cannot appear in a candidate's payload without first being added here, in review. Request models ignore
unknown fields (older and newer clients keep working).
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

SQL_INT_MAX = 2 ** 31 - 1
EVENT_KINDS = ("blur", "hidden", "copy", "paste", "fullscreen_exit")
ATTEMPT_STATES = ("in_progress", "submitted", "auto_submitted", "force_submitted")

DateTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
AttemptState = Literal["in_progress", "submitted", "auto_submitted", "force_submitted"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------------------------------------- errors

class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow", title="ErrorDetail")
    code: str = Field(description="机器可读的错误代码")
    message: str = Field(description="中文错误说明")


class Error(BaseModel):
    model_config = ConfigDict(extra="forbid")
    error: ErrorDetail


# ------------------------------------------------------------------------------------------------- requests

class LoginRequest(_Request):
    username: StrictStr = Field(max_length=150, description="准考证号")
    password: StrictStr = Field(max_length=1024)


class SaveAnswerRequest(_Request):
    response: list[StrictStr] = Field(max_length=8, description="所选选项编号（A–H）；空数组表示清除作答",
                                      json_schema_extra={"items": {"type": "string", "pattern": "^[A-H]$"}})
    seq: StrictInt = Field(ge=1, le=SQL_INT_MAX, description="本次作答的递增序号；较旧的请求不会覆盖较新的答案")
    time_spent_ms: StrictInt = Field(0, ge=0, description="自上次保存以来在本题上花费的时间（毫秒，超出上限按上限记）")


class FlagRequest(_Request):
    flagged: StrictBool


class EventRequest(_Request):
    kind: Literal["blur", "hidden", "copy", "paste", "fullscreen_exit"]
    detail: dict[str, Any] = Field(default_factory=dict, description="事件详情（JSON 对象，有大小上限）")
    client_event_id: StrictStr | None = Field(None, max_length=64,
                                              description="客户端生成的事件编号，重发同一事件时用于去重")


# Which error code a bad field of a request answers with, and how the field is named in the message.
FIELD_ERRORS: dict[type[BaseModel], dict[str, tuple[str, str]]] = {
    LoginRequest: {"username": ("invalid_json", "账号 username"), "password": ("invalid_json", "密码 password")},
    SaveAnswerRequest: {"response": ("invalid_response", "答案 response"), "seq": ("invalid_seq", "保存序号 seq"),
                        "time_spent_ms": ("invalid_json", "用时 time_spent_ms")},
    FlagRequest: {"flagged": ("invalid_json", "标记 flagged")},
    EventRequest: {"kind": ("invalid_event", "事件类型 kind"), "detail": ("invalid_event", "事件详情 detail"),
                   "client_event_id": ("invalid_event", "事件编号 client_event_id")},
}

_WHY = {
    "missing": "缺少此字段",
    "int_type": "须为整数", "int_parsing": "须为整数",
    "greater_than_equal": "取值过小", "less_than_equal": "取值过大",
    "bool_type": "须为 true 或 false", "bool_parsing": "须为 true 或 false",
    "string_type": "须为字符串", "string_too_long": "过长",
    "list_type": "须为数组", "too_long": "元素过多",
    "dict_type": "须为 JSON 对象",
    "literal_error": "取值不在允许范围内",
}


def field_error(model: type[BaseModel], err: ValidationError) -> tuple[str, str, str]:
    """(code, Chinese message, field) for the first error of a request model's validation."""
    first = err.errors(include_url=False)[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    code, label = FIELD_ERRORS.get(model, {}).get(field, ("invalid_json", field or "请求内容"))
    why = _WHY.get(first["type"], "格式无效")
    if model is SaveAnswerRequest and field == "seq" and first["type"] != "missing":
        why = f"须为 1 到 {SQL_INT_MAX} 之间的整数"
    if model is EventRequest and field == "kind" and first["type"] == "literal_error":
        return code, f"未知的事件类型：{str(first.get('input'))[:40]}", field
    return code, f"{label}{why}", field


# ------------------------------------------------------------------------------------------------- responses

class LoginUser(_Response):
    username: str
    display_name: str
    must_change_password: bool


class LoginResponse(_Response):
    user: LoginUser
    csrf_token: str = Field(description="后续写操作放在 X-CSRFToken 请求头中")


class ServerTime(_Response):
    server_time: DateTime
    server_time_ms: int = Field(description="服务器时间（Unix 毫秒）")


class AttemptSummary(_Response):
    attempt_id: int
    state: AttemptState
    state_label: str
    submitted_at: DateTime | None
    score: str | None = Field(description="公布成绩后才有（满分 100，精确小数）")


class ExamSession(_Response):
    session_id: int
    name: str
    opens_at: DateTime
    closes_at: DateTime
    late_entry_until: DateTime
    duration_minutes: int
    extra_minutes: int
    phase: Literal["upcoming", "open", "closed"]
    can_enter: bool
    attempt: AttemptSummary | None
    scores_released: bool


class SessionList(_Response):
    sessions: list[ExamSession]
    server_time: DateTime


class Option(_Response):
    id: str = Field(description="稳定的选项编号（题目原始顺序中的字母），按考生看到的顺序排列")
    text: str


class PaperItem(_Response):
    position: int = Field(description="考生试卷中的题号（从 1 开始）")
    item_id: int
    item_version_id: int
    version: int
    type: Literal["single", "multiple", "truefalse"]
    type_label: str
    stem: str
    points: str = Field(description="本题分值")
    options: list[Option]
    response: list[str] = Field(description="已保存的选项编号")
    flagged: bool
    seq: int
    time_spent_ms: int


class Attempt(_Response):
    """作答中返回试卷（不含答案、解析、得分）；交卷后不再返回题目，公布成绩后返回 score。"""

    attempt_id: int
    session_id: int
    session_name: str
    state: AttemptState
    state_label: str
    started_at: DateTime
    deadline_at: DateTime
    remaining_seconds: int
    server_time: DateTime
    server_time_ms: int
    last_seq: int
    answered_count: int
    event_warning_threshold: int | None
    submitted_at: DateTime | None
    score: str | None
    scores_released: bool
    items: list[PaperItem]
    attempt_pass: str | None = Field(default=None, description=(
        "作答中：签名的作答凭证，保存、标记与诚信事件可放在 X-Attempt-Pass 头中代替会话 Cookie 与 CSRF 令牌"
        "（须与 X-Attempt-Token 一起发送；至截止时间加宽限期有效；延时后以 getAttempt 取得新凭证）"))


class StartedAttempt(Attempt):
    """startAttempt 的返回：作答记录，另加本设备的令牌（写操作放在 X-Attempt-Token 头）。"""

    client_token: str = Field(description="写操作放在 X-Attempt-Token 请求头中；在另一设备开始作答会使它失效")
    token_tag: str


class SaveAnswerResponse(_Response):
    applied: bool = Field(description="false：已有更新的保存（更大的 seq），本请求被忽略")
    seq: int
    position: int
    response: list[str]
    answered_count: int
    server_time: DateTime


class FlagResponse(_Response):
    position: int
    flagged: bool


class EventResponse(_Response):
    kind: str
    count: int
    warning: bool
    recorded: bool = Field(description="false：本次作答的事件已达上限，或同一 client_event_id 已保存过（重发）")
    duplicate: bool = Field(False, description="true：同一 client_event_id 的事件已保存过，本次重发被忽略、不计数")
    client_event_id: str | None = Field(None, description="请求中的事件编号（原样返回）")
    message: str = Field(description="达到警告阈值时给考生的提示；未达到时为空字符串")


REQUEST_MODELS = (LoginRequest, SaveAnswerRequest, FlagRequest, EventRequest)
RESPONSE_MODELS = (Error, LoginResponse, ServerTime, SessionList, StartedAttempt, Attempt, SaveAnswerResponse,
                   FlagResponse, EventResponse)


def dump(model: BaseModel) -> dict:
    return model.model_dump(mode="json", exclude_unset=False)
