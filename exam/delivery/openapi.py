"""The OpenAPI 3.1 description of the candidate exam API, generated from the models in ``exam.delivery.schemas``
and served at /api/openapi.json; and ``ContractChecker``, which checks one response against it (the test suite
runs it on every ``/api/*`` response any test makes).

Each operation documents its success body and, per error status, the exact error codes it may answer with: an
error response's schema is the ``Error`` body narrowed to those codes, so an undocumented code is a contract
violation. OpenAPI 3.1 because its schema dialect is JSON Schema 2020-12, which is what pydantic generates.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

from apispec import APISpec
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from . import schemas as s

ERROR_CODES = {
    "unauthenticated": "未登录（401）",
    "invalid_pass": "作答凭证（X-Attempt-Pass）无效、已过期、属于另一场作答或与 X-Attempt-Token 不匹配（401），"
                    "未写入任何内容；页面可改用会话 Cookie 重试，或调用 getAttempt 取得新凭证",
    "invalid_credentials": "账号或密码错误（401）",
    "password_change_required": "首次登录须先修改密码（403）",
    "not_candidate": "不是考生账号（403）",
    "forbidden": "无权访问（403）",
    "csrf_failed": "缺少或无效的 CSRF 令牌（400）",
    "not_found": "考试或作答记录不存在，或不属于当前考生（404）",
    "not_assigned": "考生未被安排参加该场考试（404）",
    "not_open": "考试尚未开始（403）",
    "late_entry_closed": "开考后超过迟到时限，不能开始作答（403）",
    "session_closed": "本场考试已结束（403）",
    "no_paper": "试卷尚未生成（409）",
    "no_exam": "该级别不设笔试（409）",
    "attempt_closed": "已交卷，不能再修改（409）",
    "taken_over": "已在另一台设备继续作答，此客户端的令牌已失效（409）",
    "deadline_passed": "超过截止时间加宽限期，保存被拒绝并记录（409）",
    "invalid_position": "题号无效（400）",
    "invalid_seq": "保存序号无效：须为 1 到 2147483647 之间的整数（400）",
    "invalid_response": "答案无效：格式不对、选项不存在、重复或单选多答（400）",
    "invalid_event": "未知的事件类型，或事件详情、事件编号格式无效（400）",
    "event_too_large": "事件详情超过大小上限（400）",
    "invalid_json": "请求体不是 JSON 对象，或某个字段缺失、类型或取值不符（消息中指出字段）（400）",
    "unsupported_media_type": "请求体必须是 application/json（415）",
    "login_throttled": "该账号或地址登录失败过多，须等待后再试（429，响应头 Retry-After）",
    "rate_limited": "请求过于频繁（429，响应头 Retry-After）",
    "unavailable": "服务暂时不可用（503，响应头 Retry-After；error.retry_after 为秒数）",
}

INT_ID = {"type": "integer", "minimum": 0, "maximum": s.SQL_INT_MAX}
ATTEMPT_ID = {"name": "attempt_id", "in": "path", "required": True, "schema": INT_ID}
POSITION = {"name": "position", "in": "path", "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": s.SQL_INT_MAX}}
SESSION_ID = {"name": "session_id", "in": "path", "required": True, "schema": INT_ID}
TOKEN = {"name": "X-Attempt-Token", "in": "header", "required": True, "schema": {"type": "string"},
         "description": "startAttempt 返回的 client_token"}
CSRF = {"name": "X-CSRFToken", "in": "header", "required": True, "schema": {"type": "string"},
        "description": "CSRF 令牌（页面的 meta csrf-token 或 candidateLogin 返回的 csrf_token）"}
COOKIE = [{"sessionCookie": []}]
COOKIE_OR_PASS = [{"sessionCookie": []}, {"attemptPass": []}]
CSRF_UNLESS_PASS = {**CSRF, "required": False,
                    "description": "会话 Cookie 调用必须携带 CSRF 令牌；"
                                   "携带 X-Attempt-Pass 的调用不读取 Cookie，无需此头"}
PASS = {"name": "X-Attempt-Pass", "in": "header", "required": False, "schema": {"type": "string", "maxLength": 200},
        "description": "startAttempt / getAttempt 返回的 attempt_pass（签名的作答凭证，至截止时间加宽限期有效）："
                       "携带它时请求不使用会话 Cookie 与 CSRF 令牌，须同时携带 X-Attempt-Token"}
EXAM_TAB = {"name": "X-Exam-Tab", "in": "header", "required": False,
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,64}$"},
            "description": "页面的标签页编号：同一标签页刷新为继续作答，其他标签页或设备为接管"}

AUTH = ((401, ("unauthenticated",)), (403, ("not_candidate", "password_change_required", "forbidden")))
PASS_AUTH = ((401, ("unauthenticated", "invalid_pass")),)
WRITE = ((400, ("csrf_failed", "invalid_json")), (415, ("unsupported_media_type",)))
UNAVAILABLE = ((503, ("unavailable",)),)
RATE_LIMITED = ((429, ("rate_limited",)),)  # the candidate write limits (certify.rate_limits), per attempt
RETRY_AFTER = {"Retry-After": {"description": "几秒后可以再试", "schema": {"type": "integer", "minimum": 1}}}


@dataclass(frozen=True)
class Operation:
    path: str
    method: str
    operation_id: str
    summary: str
    response: type[BaseModel] | None
    errors: tuple[tuple[int, tuple[str, ...]], ...] = ()
    request: type[BaseModel] | None = None
    parameters: tuple[dict, ...] = ()
    public: bool = False
    security: tuple = ()  # default: the session cookie (none when public)
    response_schema: dict = field(default_factory=dict)  # used when response is None


def _merge(*groups) -> tuple[tuple[int, tuple[str, ...]], ...]:
    """Error codes by status, merged over groups (order kept, duplicates dropped)."""
    out: dict[int, list[str]] = {}
    for group in groups:
        for status, codes in group:
            out.setdefault(status, [])
            out[status] += [c for c in codes if c not in out[status]]
    return tuple(sorted((status, tuple(codes)) for status, codes in out.items()))


OPERATIONS = (
    Operation("/api/login", "post", "candidateLogin", "考生登录（JSON），返回会话 Cookie 与 CSRF 令牌",
              s.LoginResponse, _merge(((400, ("invalid_json",)), (401, ("invalid_credentials",)),
                                       (403, ("not_candidate",)), (415, ("unsupported_media_type",)),
                                       (429, ("login_throttled", "rate_limited"))), UNAVAILABLE),
              request=s.LoginRequest, public=True),
    Operation("/api/time", "get", "serverTime", "服务器时间（用于校准倒计时）", s.ServerTime, public=True),
    Operation("/api/exam/sessions", "get", "listMyExamSessions", "我的考试场次", s.SessionList,
              _merge(AUTH, UNAVAILABLE)),
    Operation("/api/exam/sessions/{session_id}/attempt", "post", "startAttempt",
              "开始或继续作答（在另一设备继续会使旧设备的令牌失效）", s.StartedAttempt,
              _merge(((400, ("csrf_failed",)),), AUTH,
                     ((403, ("not_open", "late_entry_closed", "session_closed")),
                      (404, ("not_found", "not_assigned")), (409, ("attempt_closed", "no_paper", "no_exam"))),
                     UNAVAILABLE),
              parameters=(SESSION_ID, CSRF, EXAM_TAB)),
    Operation("/api/exam/attempts/{attempt_id}", "get", "getAttempt",
              "试卷、已保存答案、标记、剩余时间与服务器时间", s.Attempt,
              _merge(AUTH, ((404, ("not_found",)), (409, ("taken_over",))), UNAVAILABLE),
              parameters=(ATTEMPT_ID, {**TOKEN, "required": False, "description":
                                       "startAttempt 返回的 client_token；作答中的试卷必须携带，已交卷的可省略"})),
    Operation("/api/exam/attempts/{attempt_id}/answers/{position}", "put", "saveAnswer",
              "保存一题的答案（按 seq 防止旧请求覆盖新答案）", s.SaveAnswerResponse,
              _merge(WRITE, ((400, ("invalid_position", "invalid_seq", "invalid_response")),), AUTH, PASS_AUTH,
                     ((404, ("not_found",)), (409, ("taken_over", "attempt_closed", "deadline_passed"))),
                     RATE_LIMITED, UNAVAILABLE),
              request=s.SaveAnswerRequest, parameters=(ATTEMPT_ID, POSITION, TOKEN, CSRF_UNLESS_PASS, PASS),
              security=tuple(COOKIE_OR_PASS)),
    Operation("/api/exam/attempts/{attempt_id}/flags/{position}", "put", "flagItem", "标记或取消标记一题",
              s.FlagResponse,
              _merge(WRITE, ((400, ("invalid_position",)),), AUTH, PASS_AUTH,
                     ((404, ("not_found",)), (409, ("taken_over", "attempt_closed", "deadline_passed"))),
                     RATE_LIMITED, UNAVAILABLE),
              request=s.FlagRequest, parameters=(ATTEMPT_ID, POSITION, TOKEN, CSRF_UNLESS_PASS, PASS),
              security=tuple(COOKIE_OR_PASS)),
    Operation("/api/exam/attempts/{attempt_id}/events", "post", "recordEvent",
              "记录诚信事件（失焦、页面隐藏、复制、粘贴、退出全屏）", s.EventResponse,
              _merge(WRITE, ((400, ("invalid_event", "event_too_large")),), AUTH, PASS_AUTH,
                     ((404, ("not_found",)), (409, ("taken_over", "attempt_closed"))), RATE_LIMITED, UNAVAILABLE),
              request=s.EventRequest, parameters=(ATTEMPT_ID, TOKEN, CSRF_UNLESS_PASS, PASS),
              security=tuple(COOKIE_OR_PASS)),
    Operation("/api/exam/attempts/{attempt_id}/submit", "post", "submitAttempt",
              "交卷（截止时间后调用记为到时自动交卷）", s.Attempt,
              _merge(((400, ("csrf_failed",)),), AUTH, ((404, ("not_found",)), (409, ("taken_over", "attempt_closed"))),
                     UNAVAILABLE),
              parameters=(ATTEMPT_ID, TOKEN, CSRF)),
    Operation("/api/openapi.json", "get", "getOpenApi", "本接口说明（OpenAPI 3.1）", None, public=True,
              response_schema={"type": "object", "required": ["openapi", "paths"]}),
)


def _ref(model: type[BaseModel]) -> dict:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _responses(op: Operation) -> dict:
    out = {"200": {"description": "成功", "content": _json(_ref(op.response) if op.response else op.response_schema)}}
    for status, codes in op.errors:
        only = {"properties": {"error": {"properties": {"code": {"enum": list(codes)}}}}}
        out[str(status)] = {"description": "；".join(f"{c}：{ERROR_CODES[c]}" for c in codes),
                            "content": _json({"allOf": [_ref(s.Error), only]})}
        if status in (429, 503):
            out[str(status)]["headers"] = RETRY_AFTER
    return out


def _components() -> dict:
    models = [(m, "validation") for m in s.REQUEST_MODELS] + [(m, "serialization") for m in s.RESPONSE_MODELS]
    _, defs = models_json_schema(models, ref_template="#/components/schemas/{model}")
    return defs["$defs"]


DESCRIPTION = ("考生在线笔试：登录、场次、开始/继续作答、保存答案、标记、诚信事件、交卷、服务器时间。"
               "错误统一为 {\"error\": {\"code\", \"message\"}}；每个操作列出它可能返回的错误代码。"
               "交卷前任何响应都不含答案、解析或得分。")


@cache
def build_spec() -> dict:
    """The spec as a dict (built once per process: the models do not change at run time)."""
    spec = APISpec(title="青少年科技辅导员专业水平认证 · 在线笔试接口", version="1.1.0", openapi_version="3.1.0",
                   info={"description": DESCRIPTION})
    spec.components.security_scheme("sessionCookie", {"type": "apiKey", "in": "cookie", "name": "session"})
    spec.components.security_scheme("attemptPass", {
        "type": "apiKey", "in": "header", "name": "X-Attempt-Pass",
        "description": "签名的作答凭证（startAttempt / getAttempt 的 attempt_pass），"
                       "仅用于该场作答的保存、标记与诚信事件；"
                       "与 X-Attempt-Token 一起发送，不需要会话 Cookie 与 CSRF 令牌"})
    for name, schema in _components().items():
        spec.components.schema(name, schema)
    paths: dict[str, dict] = {}
    for op in OPERATIONS:
        security = [] if op.public else list(op.security) or COOKIE
        body = {"operationId": op.operation_id, "summary": op.summary, "security": security,
                "responses": _responses(op)}
        if op.parameters:
            body["parameters"] = list(op.parameters)
        if op.request is not None:
            body["requestBody"] = {"required": True, "content": _json(_ref(op.request))}
        paths.setdefault(op.path, {})[op.method] = body
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


# ------------------------------------------------------------------------------------------------- checking

class ContractChecker:
    """Checks ``(method, path, status, body)`` against the spec; validators are compiled once per (operation,
    status). An ``/api/*`` path that matches no documented path must be a JSON 404 error, a documented path with
    an undocumented method a JSON 405 error."""

    def __init__(self, spec: dict | None = None):
        from jsonschema import Draft202012Validator

        self.spec = spec or build_spec()
        self._draft = Draft202012Validator
        self._routes = []
        for path, operations in self.spec["paths"].items():
            pattern = re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"[^/]+", re.escape(path)) + "$")
            self._routes.append((path.count("{"), pattern, path, operations))
        self._routes.sort(key=lambda r: r[0])  # literal paths win over templated ones
        self._validators: dict[tuple, object] = {}
        self._generic_error = self._compile(_ref(s.Error))

    def _compile(self, schema: dict):
        root = {"allOf": [schema], "components": self.spec["components"]}  # refs resolve inside this document
        return self._draft(root, format_checker=self._draft.FORMAT_CHECKER)

    def operation_of(self, method: str, path: str) -> tuple[str | None, dict | None]:
        """(documented path, operation) for a request; operation None when the path is documented but not the
        method; (None, None) when no path matches."""
        for _, pattern, template, operations in self._routes:
            if pattern.match(path):
                return template, operations.get(method.lower())
        return None, None

    def check(self, method: str, path: str, status: int, body) -> list[str]:
        template, op = self.operation_of(method, path)
        if template is None or op is None:
            expected = 404 if template is None else 405
            if status != expected:
                return [f"{method} {path}: undocumented, answered {status} (expected {expected})"]
            return self._errors(self._generic_error, body, f"{method} {path} {status}")
        response = op["responses"].get(str(status))
        if response is None:
            return [f"{op['operationId']} answered {status}, which it does not document "
                    f"({', '.join(op['responses'])}); body: {str(body)[:300]}"]
        key = (op["operationId"], status)
        validator = self._validators.get(key)
        if validator is None:
            validator = self._validators[key] = self._compile(response["content"]["application/json"]["schema"])
        return self._errors(validator, body, f"{op['operationId']} {status}")

    @staticmethod
    def _errors(validator, body, where: str) -> list[str]:
        if body is None:
            return [f"{where}: the body is not JSON"]
        return [f"{where}: {'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message[:300]}"
                for e in validator.iter_errors(body)]
