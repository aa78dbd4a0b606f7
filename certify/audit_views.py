"""The audit trail view (/audit): every AuditEntry with filters, pagination and .xlsx/.csv export.
Secretariat and supervisors only (read-only)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import Blueprint, abort, render_template, request
from flask_login import current_user
from sqlalchemy import String, or_

from .access import allow
from .clock import display_timezone, from_local, to_local
from .domain import SECRETARIAT, SUPERVISOR, mask_id_number
from .extensions import db
from .models import AuditEntry, Candidate, Round
from .tabular import Sheet, send_table

bp = Blueprint("audit", __name__, url_prefix="/audit")

PER_PAGE = 50
EXPORT_LIMIT = 100_000

ACTION_LABELS = {
    "round.create": "新建轮次", "scheme.update": "修改方案", "score.component": "成分成绩变更",
    "results.import_records": "导入业绩成果得分", "results.confirm": "确认成绩", "results.reopen": "重新开放成绩",
    "results.publish": "发布公示", "results.unpublish": "撤回公示", "results.complaint": "登记投诉",
    "results.complaint_decided": "投诉处理", "results.revoke": "撤销认定",
    "round.update": "修改轮次", "roster.import": "导入考生名单",
    "exam.session.create": "新建笔试场次", "exam.session.update": "修改笔试场次", "exam.add_time": "延长考试时间",
    "exam.session.extra_time": "延长考试时间", "exam.attempt.reopen": "重新开放作答", "exam.attempt.regrade": "重新评分",
    "exam.erratum": "试题勘误", "exam.papers.generate": "生成试卷", "exam.session.release_scores": "发布笔试成绩",
    "defense.absent": "答辩缺考", "defense.sheet_submit": "提交评分表", "defense.sheet_reopen": "重新开放评分表",
    "defense.recuse": "专家回避",
}

ID_PATTERN = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")


def mask_ids(text: str, masked: bool) -> str:
    """Supervisors see ID numbers masked wherever they appear in the trail (only the secretariat sees them whole)."""
    if not masked or not text:
        return text or ""
    return ID_PATTERN.sub(lambda m: mask_id_number(m.group(0)), text)


@dataclass
class Filters:
    round: Round | None
    action: str
    actor: str
    date_from: date | None
    date_to: date | None
    text: str
    errors: list[str]

    def args(self) -> dict:
        return {k: v for k, v in {
            "round": self.round.code if self.round else "", "action": self.action, "actor": self.actor,
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "", "q": self.text}.items() if v}


def _date(text: str, label: str, errors: list[str]) -> date | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors.append(f"{label}「{text}」不是有效日期（格式 YYYY-MM-DD）")
        return None


def parse_filters(args) -> Filters:
    errors: list[str] = []
    rnd = None
    code = (args.get("round") or "").strip()
    if code:
        rnd = db.session.execute(db.select(Round).filter_by(code=code)).scalar_one_or_none()
        if rnd is None:
            errors.append(f"轮次「{code}」不存在")
    return Filters(rnd, (args.get("action") or "").strip(), (args.get("actor") or "").strip(),
                   _date(args.get("from"), "开始日期", errors), _date(args.get("to"), "结束日期", errors),
                   (args.get("q") or "").strip(), errors)


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def filtered_query(f: Filters):
    q = db.select(AuditEntry)
    if f.round is not None:
        q = q.where(AuditEntry.round_id == f.round.id)
    if f.action:
        q = q.where(AuditEntry.action == f.action)
    if f.actor:
        q = q.where(AuditEntry.actor_name.ilike(_like(f.actor), escape="\\"))
    tz = display_timezone()
    if f.date_from:
        q = q.where(AuditEntry.at >= from_local(datetime.combine(f.date_from, datetime.min.time()), tz))
    if f.date_to:
        q = q.where(AuditEntry.at < from_local(datetime.combine(f.date_to + timedelta(days=1),
                                                                datetime.min.time()), tz))
    if f.text:
        pattern = _like(f.text)
        q = q.where(or_(AuditEntry.reason.ilike(pattern, escape="\\"),
                        AuditEntry.action.ilike(pattern, escape="\\"),
                        AuditEntry.target_type.ilike(pattern, escape="\\"),
                        AuditEntry.target_id.ilike(pattern, escape="\\"),
                        AuditEntry.actor_name.ilike(pattern, escape="\\"),
                        db.cast(AuditEntry.detail, String).ilike(pattern, escape="\\")))
    return q.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())


def detail_text(detail) -> str:
    if not detail:
        return ""
    return json.dumps(detail, ensure_ascii=False, sort_keys=True)


def _round_codes() -> dict[int, str]:
    return dict(db.session.execute(db.select(Round.id, Round.code)).all())


def target_labels(entries) -> dict[tuple[str, str], str]:
    """Human labels for candidate targets (ticket and name) of the given entries."""
    ids = {int(e.target_id) for e in entries if e.target_type == "Candidate" and e.target_id.isdigit()}
    if not ids:
        return {}
    rows = db.session.execute(db.select(Candidate.id, Candidate.ticket, Candidate.name)
                              .where(Candidate.id.in_(ids))).all()
    return {("Candidate", str(i)): f"考生 {ticket} {name}" for i, ticket, name in rows}


@bp.route("/")
@allow(SECRETARIAT, SUPERVISOR)
def index():
    f = parse_filters(request.args)
    page = db.paginate(filtered_query(f), page=request.args.get("page", 1, type=int), per_page=PER_PAGE,
                       error_out=False)
    actions = sorted(set(db.session.execute(db.select(AuditEntry.action).distinct()).scalars()) | set(ACTION_LABELS))
    rounds = db.session.execute(db.select(Round).order_by(Round.year.desc(), Round.id.desc())).scalars().all()
    masked = current_user.role != SECRETARIAT
    return render_template("audit/index.html", page=page, f=f, actions=actions, rounds=rounds,
                           codes=_round_codes(), labels=ACTION_LABELS, targets=target_labels(page.items),
                           detail_text=lambda d: mask_ids(detail_text(d), masked),
                           reason_text=lambda r: mask_ids(r, masked))


@bp.route("/export.<fmt>")
@allow(SECRETARIAT, SUPERVISOR)
def export(fmt: str):
    if fmt not in ("xlsx", "csv"):
        abort(404)
    f = parse_filters(request.args)
    tz = display_timezone()
    codes = _round_codes()
    masked = current_user.role != SECRETARIAT
    entries = db.session.execute(filtered_query(f).limit(EXPORT_LIMIT)).scalars().all()
    targets = target_labels(entries)
    rows = []
    for e in entries:
        target = targets.get((e.target_type, e.target_id)) or f"{e.target_type} {e.target_id}".strip()
        rows.append([to_local(e.at, tz).strftime("%Y-%m-%d %H:%M:%S"), e.actor_name, codes.get(e.round_id, ""),
                     e.action, ACTION_LABELS.get(e.action, ""), target, mask_ids(e.reason, masked),
                     mask_ids(detail_text(e.detail), masked)])
    sheet = Sheet("审计日志", ["时间", "操作人", "轮次", "操作", "操作说明", "对象", "理由", "详情"], rows)
    return send_table("审计日志", fmt, [sheet])


def init_audit_views(app) -> None:
    app.register_blueprint(bp)
