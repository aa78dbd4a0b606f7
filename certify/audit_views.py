"""The audit trail view (/audit): every AuditEntry in words people read, with filters, pagination, .xlsx/.csv
export and the state of the hash chain; and ``certify audit verify``. Secretariat and supervisors only (read-only).

Objects are shown by name (场次「2024年初级笔试」, not "ExamSession 2"): the names of everything a page of entries
points to are looked up in bulk, one query per kind of object, never one per entry.
"""
from __future__ import annotations

import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import click
from flask import Blueprint, abort, current_app, render_template, request
from flask.cli import with_appcontext
from flask_login import current_user
from sqlalchemy import String, or_, select

from .access import allow
from .clock import display_timezone, from_local, to_local
from .domain import SECRETARIAT, SUPERVISOR, mask_id_number
from .downloads import send_table
from .errors import DomainError
from .extensions import db
from .models import AuditEntry, Round
from .services.audit_text import (
    ACTION_LABELS,
    action_label,
    describe,
    grouped_actions,
    refs_of,
)
from .tabular import Sheet

bp = Blueprint("audit", __name__, url_prefix="/audit")

PER_PAGE = 50
EXPORT_LIMIT = 100_000
MAX_PAGE = 1_000_000
MAX_TEXT = 200
# Dates outside these years are refused (far dates overflow the time-zone arithmetic and the databases).
MIN_YEAR, MAX_YEAR = 1970, 2999

__all__ = ["ACTION_LABELS", "audit_cli", "bp"]

ID_PATTERN = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")


def mask_ids(text: str, masked: bool) -> str:
    """Supervisors see ID numbers masked wherever they appear in the trail (only the secretariat sees them whole)."""
    if not masked or not text:
        return text or ""
    return ID_PATTERN.sub(lambda m: mask_id_number(m.group(0)), text)


# ------------------------------------------------------------------ filters


@dataclass
class Filters:
    round: Round | None
    action: str
    actor: str
    date_from: date | None
    date_to: date | None
    text: str
    errors: list[str] = field(default_factory=list)

    def args(self) -> dict:
        return {k: v for k, v in {
            "round": self.round.code if self.round else "", "action": self.action, "actor": self.actor,
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "", "q": self.text}.items() if v}


def _text(args, name: str) -> str:
    # NUL cannot reach PostgreSQL in a string; a filter longer than any stored value matches nothing anyway.
    return (args.get(name) or "").replace("\x00", "").strip()[:MAX_TEXT]


def _date(text: str, label: str, errors: list[str]) -> date | None:
    text = (text or "").replace("\x00", "").strip()
    if not text:
        return None
    try:
        value = date.fromisoformat(text[:40])
    except ValueError:
        errors.append(f"{label}「{text[:40]}」不是有效日期（格式 YYYY-MM-DD）")
        return None
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        errors.append(f"{label}「{text}」超出范围（{MIN_YEAR}–{MAX_YEAR} 年）")
        return None
    return value


def parse_filters(args) -> Filters:
    errors: list[str] = []
    rnd = None
    code = _text(args, "round")
    if code:
        rnd = db.session.execute(db.select(Round).filter_by(code=code)).scalar_one_or_none()
        if rnd is None:
            errors.append(f"轮次「{code}」不存在")
    f = Filters(rnd, _text(args, "action"), _text(args, "actor"), _date(args.get("from"), "开始日期", errors),
                _date(args.get("to"), "结束日期", errors), _text(args, "q"), errors)
    if f.date_from and f.date_to and f.date_from > f.date_to:
        errors.append("开始日期晚于结束日期")
    return f


def page_number(args) -> int:
    """The requested page, clamped to 1 … MAX_PAGE (garbage is page 1); past the last page shows the last."""
    raw = (args.get("page") or "").strip()
    if not raw.isascii() or not raw.isdigit():
        return 1
    return MAX_PAGE if len(raw) > 7 else min(max(int(raw), 1), MAX_PAGE)


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
        labelled = [code for code, label in ACTION_LABELS.items() if f.text in label]
        q = q.where(or_(AuditEntry.reason.ilike(pattern, escape="\\"),
                        AuditEntry.action.ilike(pattern, escape="\\"),
                        AuditEntry.action.in_(labelled),
                        AuditEntry.target_type.ilike(pattern, escape="\\"),
                        AuditEntry.target_id.ilike(pattern, escape="\\"),
                        AuditEntry.actor_name.ilike(pattern, escape="\\"),
                        db.cast(AuditEntry.detail, String).ilike(pattern, escape="\\")))
    return q.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())


# ------------------------------------------------------------------ names of objects, in bulk


@dataclass(frozen=True)
class Kind:
    """How an object of a mapped class is named: a noun, the columns to load, and a label from them."""
    noun: str
    columns: tuple[str, ...]
    label: callable
    refs: tuple[tuple[str, str], ...] = ()  # (column, class) of other objects the label names


def _q(text) -> str:
    return f"「{text}」" if text else ""


KINDS: dict[str, Kind] = {
    "Round": Kind("轮次", ("code", "name"), lambda r, n: _q(r["name"] or r["code"])
                  + (f"（{r['code']}）" if r["name"] and r["name"] != r["code"] else "")),
    "Scheme": Kind("认证方案", ("round_id", "level"),
                   lambda r, n: f"{n('Round', r['round_id'], '')} {r['level']}".strip(),
                   (("round_id", "Round"),)),
    "Candidate": Kind("考生", ("name", "ticket"), lambda r, n: f"{_q(r['name'])}（{r['ticket']}）"),
    "ResultSet": Kind("认定结果", ("round_id", "level"), lambda r, n: f"{r['level']} · 轮次{n('Round', r['round_id'])}",
                      (("round_id", "Round"),)),
    "Complaint": Kind("投诉", ("candidate_id",), lambda r, n: f"#{r['id']} · 考生{n('Candidate', r['candidate_id'])}",
                      (("candidate_id", "Candidate"),)),
    "Blueprint": Kind("组卷方案", ("name",), lambda r, n: _q(r["name"])),
    "ExamSession": Kind("场次", ("name",), lambda r, n: _q(r["name"])),
    "SessionCandidate": Kind("场次考生", ("session_id", "candidate_id"),
                             lambda r, n: f"考生{n('Candidate', r['candidate_id'])}"
                                          f" · 场次{n('ExamSession', r['session_id'])}",
                             (("candidate_id", "Candidate"), ("session_id", "ExamSession"))),
    "Attempt": Kind("作答", ("session_id", "candidate_id"),
                    lambda r, n: f"考生{n('Candidate', r['candidate_id'])} · 场次{n('ExamSession', r['session_id'])}",
                    (("candidate_id", "Candidate"), ("session_id", "ExamSession"))),
    "KeyErratum": Kind("勘误", ("session_id",), lambda r, n: f"#{r['id']} · 场次{n('ExamSession', r['session_id'])}",
                       (("session_id", "ExamSession"),)),
    "Item": Kind("试题", ("code",), lambda r, n: _q(r["code"])),
    "Panelist": Kind("专家", ("name",), lambda r, n: _q(r["name"])),
    "Panel": Kind("答辩组", ("name",), lambda r, n: _q(r["name"])),
    "Conflict": Kind("回避关系", ("panelist_id", "candidate_id", "work_unit"),
                     lambda r, n: f"专家{n('Panelist', r['panelist_id'])} · "
                                  + (f"考生{n('Candidate', r['candidate_id'])}" if r["candidate_id"]
                                     else f"单位「{r['work_unit']}」"),
                     (("panelist_id", "Panelist"), ("candidate_id", "Candidate"))),
    "DefenseDay": Kind("答辩日", ("day",), lambda r, n: str(r["day"])),
    "DefenseSchedule": Kind("答辩安排", ("round_id",), lambda r, n: f"轮次{n('Round', r['round_id'])}",
                            (("round_id", "Round"),)),
    "DefenseAssignment": Kind("答辩安排", ("candidate_id",), lambda r, n: f"考生{n('Candidate', r['candidate_id'])}",
                              (("candidate_id", "Candidate"),)),
    "DefenseCase": Kind("答辩", ("candidate_id",), lambda r, n: f"考生{n('Candidate', r['candidate_id'])}",
                        (("candidate_id", "Candidate"),)),
}
OTHER_NOUNS = {"bank": "题库"}


def _mapped_classes() -> dict[str, type]:
    return {m.class_.__name__: m.class_ for m in db.Model.registry.mappers}


class Names:
    """Labels of (type, id) objects, loaded in bulk: ``want`` what you need, ``load()``, then ask."""

    def __init__(self):
        self.wanted: dict[str, set[int]] = defaultdict(set)
        self.rows: dict[tuple[str, str], dict] = {}
        self.queries = 0

    def want(self, kind: str, ident) -> None:
        if kind in KINDS and ident is not None and str(ident).isdigit() and len(str(ident)) < 19:
            self.wanted[kind].add(int(ident))

    def load(self) -> None:
        classes = _mapped_classes()
        for _ in range(3):  # an object's label may name others (an attempt names its candidate and session)
            todo = {k: ids - {int(i) for (t, i) in self.rows if t == k} for k, ids in self.wanted.items()}
            todo = {k: ids for k, ids in todo.items() if ids and k in classes}
            if not todo:
                return
            self.wanted = defaultdict(set)
            for kind, ids in todo.items():
                cls, spec = classes[kind], KINDS[kind]
                cols = [cls.id] + [getattr(cls, c) for c in spec.columns]
                self.queries += 1
                for row in db.session.execute(select(*cols).where(cls.id.in_(sorted(ids)))).all():
                    data = dict(zip(["id", *spec.columns], row))
                    self.rows[(kind, str(row[0]))] = data
                    for column, other in spec.refs:
                        self.want(other, data.get(column))
                for i in ids:  # gone (deleted): remember, so it is not asked again
                    self.rows.setdefault((kind, str(i)), {})

    def name(self, kind: str, ident, default: str | None = None) -> str:
        row = self.rows.get((kind, str(ident)))
        if not row:
            return f"#{ident}（已删除）" if default is None and ident not in (None, "") else (default or "")
        return KINDS[kind].label(row, self.name)

    def object_label(self, target_type: str, target_id: str, detail) -> str:
        if target_type in KINDS:
            noun = KINDS[target_type].noun
            if not target_id:
                return noun
            row = self.rows.get((target_type, target_id))
            if row:
                return f"{noun}{KINDS[target_type].label(row, self.name)}"
            gone = detail.get("name") if isinstance(detail, dict) else None  # deleted: its name is in the detail
            return f"{noun}{_q(gone)}（#{target_id}，已删除）" if gone else f"{noun} #{target_id}（已删除）"
        noun = OTHER_NOUNS.get(target_type, target_type)
        return f"{noun} {target_id}".strip()

    def as_dict(self) -> dict[tuple[str, str], str]:
        return {key: self.name(*key) for key, row in self.rows.items() if row}


@dataclass
class Line:
    """One entry as shown and exported."""
    entry: AuditEntry
    time: str
    actor: str
    round: str
    action: str
    action_code: str
    object: str
    reason: str
    details: list[str]


def readable(entries, masked: bool) -> list[Line]:
    """Entries in words: names of objects and of ids in the details resolved in bulk (a few queries per page)."""
    names = Names()
    for e in entries:
        names.want(e.target_type, e.target_id)
        if e.round_id:
            names.want("Round", e.round_id)
        for kind, ident in refs_of(e.action, e.detail):
            names.want(kind, ident)
    names.load()
    lookup = names.as_dict()
    tz = display_timezone()

    def localise(value: datetime) -> str:
        return to_local(value, tz).strftime("%Y-%m-%d %H:%M")

    lines = []
    for e in entries:
        round_row = names.rows.get(("Round", str(e.round_id))) if e.round_id else None
        lines.append(Line(
            entry=e, time=to_local(e.at, tz).strftime("%Y-%m-%d %H:%M:%S"), actor=e.actor_name,
            round=(round_row or {}).get("code", ""), action=action_label(e.action), action_code=e.action,
            object=mask_ids(names.object_label(e.target_type, e.target_id, e.detail), masked),
            reason=mask_ids(e.reason, masked),
            details=[mask_ids(line, masked) for line in describe(e.action, e.detail, lookup, localise)]))
    return lines


# ------------------------------------------------------------------ pages


def _refuse_bad_filters(f: Filters) -> None:
    if f.errors:
        raise DomainError("bad_filter", f.errors, 400)


@bp.route("/")
@allow(SECRETARIAT, SUPERVISOR)
def index():
    from . import audit

    f = parse_filters(request.args)
    status = 400 if f.errors else 200  # the form says what is wrong; the bad fields are left out of the filter
    query = filtered_query(f)
    page = db.paginate(query, page=page_number(request.args), per_page=PER_PAGE, error_out=False)
    if page.pages and page.page > page.pages:
        page = db.paginate(query, page=page.pages, per_page=PER_PAGE, error_out=False)
    actions = grouped_actions(set(db.session.execute(db.select(AuditEntry.action).distinct()).scalars())
                              | set(ACTION_LABELS))
    rounds = db.session.execute(db.select(Round).order_by(Round.year.desc(), Round.id.desc())).scalars().all()
    masked = current_user.role != SECRETARIAT
    chain, full_check_at = audit.chain_state(current_app.config.get("AUDIT_FULL_VERIFY_SECONDS", 300))
    return render_template("audit/index.html", page=page, f=f, actions=actions, rounds=rounds,
                           labels=ACTION_LABELS, lines=readable(page.items, masked), chain=chain,
                           full_check_at=full_check_at), status


@bp.route("/export.<fmt>")
@allow(SECRETARIAT, SUPERVISOR)
def export(fmt: str):
    if fmt not in ("xlsx", "csv"):
        abort(404)
    f = parse_filters(request.args)
    _refuse_bad_filters(f)
    masked = current_user.role != SECRETARIAT
    entries = db.session.execute(filtered_query(f).limit(EXPORT_LIMIT)).scalars().all()
    rows = [[ln.time, ln.actor, ln.round, ln.action, ln.action_code, ln.object, ln.reason, "\n".join(ln.details),
             ln.entry.id] for ln in readable(entries, masked)]
    sheet = Sheet("审计日志", ["时间", "操作人", "轮次", "操作", "操作代码", "对象", "理由", "详情", "记录号"], rows)
    return send_table("审计日志", fmt, [sheet])


# ------------------------------------------------------------------ CLI


@click.group("audit", help="审计日志：校验哈希链。")
def audit_cli():
    pass


def _anchor(_ctx, _param, value):
    if not value:
        return None
    ident, _, digest = value.partition(":")
    if not ident.isdigit() or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise click.BadParameter("格式为 记录号:哈希（64 位十六进制）")
    return int(ident), digest


@audit_cli.command("verify", help="校验审计链：完整时退出码为 0，否则非 0 并指出第一条被修改、删除或调换的记录。")
@click.option("--anchor", callback=_anchor, metavar="ID:HASH",
              help="此前记下的链头（记录号:哈希），用于发现末尾记录被删除。")
@with_appcontext
def verify_command(anchor):
    from . import audit

    result = audit.verify(anchor=anchor)
    if result.ok:
        click.echo(result.message)
        if result.head_id:
            click.echo(f"链头：{result.head_id}:{result.head_hash}")
        return
    click.echo(result.message, err=True)
    sys.exit(1)
