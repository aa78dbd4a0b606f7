"""The OpenAPI 3 description of the candidate exam API, built with apispec and served at /api/openapi.json."""
from __future__ import annotations

from apispec import APISpec

ERROR_CODES = {
    "unauthenticated": "未登录（401）",
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
    "invalid_response": "答案无效：选项不存在、重复或单选多答（400）",
    "invalid_event": "未知的事件类型或事件详情格式无效（400）",
    "event_too_large": "事件详情超过大小上限（400）",
    "invalid_json": "请求体不是 JSON 对象（400）",
    "unsupported_media_type": "请求体必须是 application/json（415）",
    "rate_limited": "登录尝试过于频繁（429）",
}

SCHEMAS = {
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
            "code": {"type": "string", "enum": sorted(ERROR_CODES), "description": "机器可读的错误代码"},
            "message": {"type": "string", "description": "中文错误说明"}}}},
    },
    "LoginRequest": {"type": "object", "required": ["username", "password"], "properties": {
        "username": {"type": "string", "description": "准考证号"}, "password": {"type": "string"}}},
    "LoginResponse": {"type": "object", "required": ["user", "csrf_token"], "properties": {
        "user": {"type": "object", "properties": {"username": {"type": "string"}, "display_name": {"type": "string"},
                                                  "must_change_password": {"type": "boolean"}}},
        "csrf_token": {"type": "string", "description": "后续写操作放在 X-CSRFToken 请求头中"}}},
    "ServerTime": {"type": "object", "required": ["server_time", "server_time_ms"], "properties": {
        "server_time": {"type": "string", "format": "date-time"},
        "server_time_ms": {"type": "integer", "description": "服务器时间（Unix 毫秒）"}}},
    "AttemptSummary": {"type": "object", "nullable": True, "properties": {
        "attempt_id": {"type": "integer"}, "state": {"$ref": "#/components/schemas/AttemptState"},
        "state_label": {"type": "string"}, "submitted_at": {"type": "string", "format": "date-time", "nullable": True},
        "score": {"type": "string", "nullable": True, "description": "公布成绩后才有（满分 100，精确小数）"}}},
    "AttemptState": {"type": "string", "enum": ["in_progress", "submitted", "auto_submitted", "force_submitted"]},
    "ExamSession": {"type": "object", "required": ["session_id", "name", "opens_at", "closes_at", "phase"],
                    "properties": {
                        "session_id": {"type": "integer"}, "name": {"type": "string"},
                        "opens_at": {"type": "string", "format": "date-time"},
                        "closes_at": {"type": "string", "format": "date-time"},
                        "late_entry_until": {"type": "string", "format": "date-time"},
                        "duration_minutes": {"type": "integer"}, "extra_minutes": {"type": "integer"},
                        "phase": {"type": "string", "enum": ["upcoming", "open", "closed"]},
                        "can_enter": {"type": "boolean"}, "scores_released": {"type": "boolean"},
                        "attempt": {"$ref": "#/components/schemas/AttemptSummary"}}},
    "SessionList": {"type": "object", "required": ["sessions"], "properties": {
        "sessions": {"type": "array", "items": {"$ref": "#/components/schemas/ExamSession"}},
        "server_time": {"type": "string", "format": "date-time"}}},
    "Option": {"type": "object", "required": ["id", "text"], "properties": {
        "id": {"type": "string", "description": "稳定的选项编号（题目原始顺序中的字母），按考生看到的顺序排列"},
        "text": {"type": "string"}}},
    "PaperItem": {"type": "object", "required": ["position", "item_id", "version", "type", "stem", "options"],
                  "properties": {
                      "position": {"type": "integer", "description": "考生试卷中的题号（从 1 开始）"},
                      "item_id": {"type": "integer"}, "item_version_id": {"type": "integer"},
                      "version": {"type": "integer"},
                      "type": {"type": "string", "enum": ["single", "multiple", "truefalse"]},
                      "type_label": {"type": "string"}, "stem": {"type": "string"},
                      "points": {"type": "string", "description": "本题分值"},
                      "options": {"type": "array", "items": {"$ref": "#/components/schemas/Option"}},
                      "response": {"type": "array", "items": {"type": "string"}, "description": "已保存的选项编号"},
                      "flagged": {"type": "boolean"}, "seq": {"type": "integer"},
                      "time_spent_ms": {"type": "integer"}}},
    "Attempt": {"type": "object",
                "description": "作答中返回试卷（不含答案、解析、得分）；交卷后不再返回题目，公布成绩后返回 score。",
                "required": ["attempt_id", "state", "deadline_at", "remaining_seconds", "server_time", "items"],
                "properties": {
                    "attempt_id": {"type": "integer"}, "session_id": {"type": "integer"},
                    "session_name": {"type": "string"}, "state": {"$ref": "#/components/schemas/AttemptState"},
                    "state_label": {"type": "string"},
                    "started_at": {"type": "string", "format": "date-time"},
                    "deadline_at": {"type": "string", "format": "date-time"},
                    "remaining_seconds": {"type": "integer"},
                    "server_time": {"type": "string", "format": "date-time"}, "server_time_ms": {"type": "integer"},
                    "last_seq": {"type": "integer"}, "answered_count": {"type": "integer"},
                    "event_warning_threshold": {"type": "integer", "nullable": True},
                    "submitted_at": {"type": "string", "format": "date-time", "nullable": True},
                    "score": {"type": "string", "nullable": True}, "scores_released": {"type": "boolean"},
                    "client_token": {"type": "string", "description": "仅 startAttempt 返回；写操作放在 X-Attempt-Token 头"},
                    "token_tag": {"type": "string"},
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/PaperItem"}}}},
    "SaveAnswerRequest": {"type": "object", "required": ["response", "seq"], "properties": {
        "response": {"type": "array", "items": {"type": "string", "pattern": "^[A-H]$"},
                     "description": "所选选项编号；空数组表示清除作答"},
        "seq": {"type": "integer", "minimum": 1, "description": "本次作答的递增序号；较旧的请求不会覆盖较新的答案"},
        "time_spent_ms": {"type": "integer", "minimum": 0, "description": "自上次保存以来在本题上花费的时间"}}},
    "SaveAnswerResponse": {"type": "object", "required": ["applied", "seq", "position"], "properties": {
        "applied": {"type": "boolean", "description": "false：已有更新的保存（更大的 seq），本请求被忽略"},
        "seq": {"type": "integer"}, "position": {"type": "integer"},
        "response": {"type": "array", "items": {"type": "string"}}, "answered_count": {"type": "integer"},
        "server_time": {"type": "string", "format": "date-time"}}},
    "FlagRequest": {"type": "object", "required": ["flagged"], "properties": {"flagged": {"type": "boolean"}}},
    "FlagResponse": {"type": "object", "properties": {"position": {"type": "integer"}, "flagged": {"type": "boolean"}}},
    "EventRequest": {"type": "object", "required": ["kind"], "properties": {
        "kind": {"type": "string", "enum": ["blur", "hidden", "copy", "paste", "fullscreen_exit"]},
        "detail": {"type": "object", "additionalProperties": True},
        "client_event_id": {"type": "string", "maxLength": 64, "pattern": "^[A-Za-z0-9_.:-]{1,64}$",
                            "description": "浏览器为每个事件生成的编号；同一作答中重复发送的编号只记录一次"}}},
    "EventResponse": {"type": "object", "properties": {
        "kind": {"type": "string"}, "count": {"type": "integer"}, "warning": {"type": "boolean"},
        "recorded": {"type": "boolean", "description": "false：本次作答的事件已达上限，此事件未再单独保存"},
        "duplicate": {"type": "boolean", "description": "true：该 client_event_id 已记录过，本次未重复计数"},
        "client_event_id": {"type": "string", "nullable": True},
        "message": {"type": "string"}}},
}


def _errors(*codes_by_status: tuple[int, tuple[str, ...]]) -> dict:
    out = {}
    for status, codes in codes_by_status:
        out[str(status)] = {"description": "；".join(f"{c}：{ERROR_CODES[c]}" for c in codes),
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return out


def _ok(schema: str, description: str = "成功") -> dict:
    return {"200": {"description": description,
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}}


def _body(schema: str) -> dict:
    return {"required": True, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


ATTEMPT_ID = {"name": "attempt_id", "in": "path", "required": True, "schema": {"type": "integer"}}
POSITION = {"name": "position", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
SESSION_ID = {"name": "session_id", "in": "path", "required": True, "schema": {"type": "integer"}}
TOKEN = {"name": "X-Attempt-Token", "in": "header", "required": True, "schema": {"type": "string"},
         "description": "startAttempt 返回的 client_token"}
CSRF = {"name": "X-CSRFToken", "in": "header", "required": True, "schema": {"type": "string"},
        "description": "CSRF 令牌（页面的 meta csrf-token 或 candidateLogin 返回的 csrf_token）"}
AUTH = ((401, ("unauthenticated",)), (403, ("not_candidate", "password_change_required")))
COOKIE = [{"sessionCookie": []}]
WRITE_ERRORS = ((400, ("csrf_failed", "invalid_json")), (415, ("unsupported_media_type",)))

PATHS = {
    "/api/login": {"post": {
        "operationId": "candidateLogin", "summary": "考生登录（JSON），返回会话 Cookie 与 CSRF 令牌", "security": [],
        "requestBody": _body("LoginRequest"), "responses": {
            **_ok("LoginResponse"),
            **_errors((400, ("invalid_json",)), (401, ("invalid_credentials",)), (403, ("not_candidate",)),
                      (415, ("unsupported_media_type",)), (429, ("rate_limited",)))}}},
    "/api/time": {"get": {
        "operationId": "serverTime", "summary": "服务器时间（用于校准倒计时）", "security": [],
        "responses": _ok("ServerTime")}},
    "/api/exam/sessions": {"get": {
        "operationId": "listMyExamSessions", "summary": "我的考试场次", "security": COOKIE,
        "responses": {**_ok("SessionList"), **_errors(*AUTH)}}},
    "/api/exam/sessions/{session_id}/attempt": {"post": {
        "operationId": "startAttempt", "summary": "开始或继续作答（在另一设备继续会使旧设备的令牌失效）",
        "security": COOKIE, "parameters": [SESSION_ID, CSRF, {
            "name": "X-Exam-Tab", "in": "header", "required": False,
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,64}$"},
            "description": "页面的标签页编号：同一标签页刷新为继续作答，其他标签页或设备为接管"}], "responses": {
            **_ok("Attempt"),
            **_errors((400, ("csrf_failed",)), *AUTH[:1],
                      (403, ("not_candidate", "not_open", "late_entry_closed", "session_closed")),
                      (404, ("not_found", "not_assigned")), (409, ("attempt_closed", "no_paper", "no_exam")))}}},
    "/api/exam/attempts/{attempt_id}": {"get": {
        "operationId": "getAttempt", "summary": "试卷、已保存答案、标记、剩余时间与服务器时间", "security": COOKIE,
        "parameters": [ATTEMPT_ID, {**TOKEN, "required": False,
                                    "description": "startAttempt 返回的 client_token；作答中的试卷必须携带，已交卷的可省略"}],
        "responses": {
            **_ok("Attempt"), **_errors(*AUTH, (404, ("not_found",)), (409, ("taken_over",)))}}},
    "/api/exam/attempts/{attempt_id}/answers/{position}": {"put": {
        "operationId": "saveAnswer", "summary": "保存一题的答案（按 seq 防止旧请求覆盖新答案）", "security": COOKIE,
        "parameters": [ATTEMPT_ID, POSITION, TOKEN, CSRF], "requestBody": _body("SaveAnswerRequest"),
        "responses": {**_ok("SaveAnswerResponse"), **_errors(
            (400, ("csrf_failed", "invalid_json", "invalid_position", "invalid_seq", "invalid_response")), *AUTH,
            (404, ("not_found",)), (409, ("taken_over", "attempt_closed", "deadline_passed")),
            (415, ("unsupported_media_type",)))}}},
    "/api/exam/attempts/{attempt_id}/flags/{position}": {"put": {
        "operationId": "flagItem", "summary": "标记或取消标记一题", "security": COOKIE,
        "parameters": [ATTEMPT_ID, POSITION, TOKEN, CSRF], "requestBody": _body("FlagRequest"),
        "responses": {**_ok("FlagResponse"), **_errors(
            (400, ("csrf_failed", "invalid_json", "invalid_position")), *AUTH, (404, ("not_found",)),
            (409, ("taken_over", "attempt_closed", "deadline_passed")), (415, ("unsupported_media_type",)))}}},
    "/api/exam/attempts/{attempt_id}/events": {"post": {
        "operationId": "recordEvent", "summary": "记录诚信事件（失焦、页面隐藏、复制、粘贴、退出全屏）",
        "security": COOKIE, "parameters": [ATTEMPT_ID, TOKEN, CSRF], "requestBody": _body("EventRequest"),
        "responses": {**_ok("EventResponse"), **_errors(
            (400, ("csrf_failed", "invalid_json", "invalid_event", "event_too_large")), *AUTH, (404, ("not_found",)),
            (409, ("taken_over", "attempt_closed")), (415, ("unsupported_media_type",)))}}},
    "/api/exam/attempts/{attempt_id}/submit": {"post": {
        "operationId": "submitAttempt", "summary": "交卷（截止时间后调用记为到时自动交卷）", "security": COOKIE,
        "parameters": [ATTEMPT_ID, TOKEN, CSRF], "responses": {
            **_ok("Attempt"), **_errors((400, ("csrf_failed",)), *AUTH, (404, ("not_found",)),
                                        (409, ("taken_over", "attempt_closed")))}}},
}


def build_spec() -> dict:
    spec = APISpec(title="青少年科技辅导员专业水平认证 · 在线笔试接口", version="1.0.0", openapi_version="3.0.3",
                   info={"description": "考生在线笔试：登录、场次、开始/继续作答、保存答案、标记、诚信事件、交卷、服务器时间。"
                                        "错误统一为 {\"error\": {\"code\", \"message\"}}。交卷前任何响应都不含答案、解析或得分。"})
    spec.components.security_scheme("sessionCookie", {"type": "apiKey", "in": "cookie", "name": "session"})
    for name, schema in SCHEMAS.items():
        spec.components.schema(name, schema)
    for path, operations in PATHS.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()
