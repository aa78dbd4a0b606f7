"""State changes of the question bank: import (plan, then apply), edit, retire, reactivate, demo bank.

Each function validates, flushes and writes the audit entry; none commits (routes and CLI commit at the edge).
Refusals are ``DomainError`` subclasses (``BankError``, ``ItemInvalid``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import contains_eager

from certify.audit import audit
from certify.errors import DomainError
from certify.extensions import db
from certify.tabular import ImportFailed, RowError, Sheet, chunks, read_table

from .models import ACTIVE, RETIRED, Item, ItemVersion, search_text_of
from .services import interchange
from .services.normalise import stem_key
from .services.parsing import COLUMNS, HEADERS, ItemData, diff, item_to_row, parse_row, parse_rows
from .services.planning import Existing, ImportPlan, plan_import
from .services.statistics import BankStatistics, bank_statistics

DEMO_BANK = Path(__file__).parent / "data" / "demo_bank.csv"
_GENERATED_CODE = re.compile(r"^Q(\d{6,})$")


class ItemInvalid(DomainError):
    """An edit that fails validation; ``errors`` are (column header, message)."""

    code = "item_invalid"

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = errors
        super().__init__(None, [f"{c}：{m}" for c, m in errors],
                         fields=[{"column": c, "message": m} for c, m in errors])


class BankError(DomainError):
    """A refused change to the question bank (e.g. retiring an item that is already retired)."""

    code = "bank_refused"

    def __init__(self, messages, *, code: str | None = None, status: int | None = None, **extra):
        super().__init__(code, messages, status, **extra)


# ---------------------------------------------------------------- reading the bank

def version_data(version: ItemVersion, code: str = "") -> ItemData:
    return ItemData(code=code, type=version.type, stem=version.stem, options=tuple(version.options),
                    answer=version.answer, category=version.category, difficulty=version.difficulty,
                    level=version.level, explanation=version.explanation or "")


def existing_snapshot() -> list[Existing]:
    """Every item with its current content, as plain values (columns, not ORM objects: cheap for big banks)."""
    v = ItemVersion
    rows = db.session.execute(
        select(Item.id, Item.code, Item.status, v.type, v.stem, v.options, v.answer, v.category, v.difficulty,
               v.level, v.explanation).join(v, Item.current_version_id == v.id)).all()
    return [Existing(id=r.id, code=r.code, status=r.status,
                     data=ItemData(code=r.code, type=r.type, stem=r.stem, options=tuple(r.options), answer=r.answer,
                                   category=r.category, difficulty=r.difficulty, level=r.level,
                                   explanation=r.explanation or "")) for r in rows]


def get_item(item_id: int) -> Item | None:
    return db.session.get(Item, item_id)


def find_by_code(code: str) -> Item | None:
    return db.session.execute(select(Item).filter_by(code=code)).scalar_one_or_none()


@dataclass
class Filters:
    q: str = ""
    type: str = ""
    category: str = ""
    difficulty: int | None = None
    level: str = ""
    status: str = ""

    def as_args(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in ("", None)}


def search_query(filters: Filters):
    """Items (with their current version) matching the filters, newest code last."""
    stmt = (select(Item).join(ItemVersion, Item.current_version_id == ItemVersion.id)
            .options(contains_eager(Item.current)))
    if filters.type:
        stmt = stmt.where(ItemVersion.type == filters.type)
    if filters.category:
        stmt = stmt.where(ItemVersion.category == filters.category)
    if filters.difficulty:
        stmt = stmt.where(ItemVersion.difficulty == filters.difficulty)
    if filters.level:
        stmt = stmt.where(ItemVersion.level == filters.level)
    if filters.status:
        stmt = stmt.where(Item.status == filters.status)
    for word in (filters.q or "").split():
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(ItemVersion.search_text.ilike(pattern, escape="\\"),
                              Item.code.ilike(pattern, escape="\\")))
    return stmt.order_by(Item.code)


def categories() -> list[str]:
    return list(db.session.execute(select(ItemVersion.category).join(
        Item, Item.current_version_id == ItemVersion.id).distinct().order_by(ItemVersion.category)).scalars())


def statistics() -> BankStatistics:
    rows = db.session.execute(
        select(ItemVersion.category, ItemVersion.type, ItemVersion.difficulty, ItemVersion.level)
        .join(Item, Item.current_version_id == ItemVersion.id).where(Item.status == ACTIVE)).all()
    return bank_statistics(rows)


def status_counts() -> dict[str, int]:
    rows = db.session.execute(select(Item.status, func.count()).group_by(Item.status)).all()
    return {ACTIVE: 0, RETIRED: 0, **dict(rows)}


# ---------------------------------------------------------------- import

def plan_file(data: bytes, filename: str, defaults: interchange.Defaults | None = None, *,
              near_duplicates: bool = True) -> ImportPlan:
    """Read and validate a bank file against the current bank; writes nothing. Spreadsheets (.xlsx/.csv) and the
    interchange formats (Moodle XML, GIFT, Aiken, QTI 2.1) go through the same row check and plan; ``defaults`` fill
    the fields an interchange file does not carry (分类, 难度, 适用级别). ``near_duplicates=False`` skips the search for
    near-duplicate stems (warnings only: the plan's rows, errors and fingerprint are the same), for a job applying a
    plan whose preview showed them."""
    near = {} if near_duplicates else {"near_threshold": None}
    if interchange.detect_format(data, filename):
        try:
            read = interchange.read_items(data, filename, defaults)
        except interchange.InterchangeError as err:
            return ImportPlan(file=filename, errors=err.errors)
        parsed = parse_rows(read.rows, filename)
        parsed.errors[:0] = read.errors
        if not read.rows and not read.errors:
            parsed.errors.append(RowError(None, None, "文件中没有题目", filename))
        return plan_import(parsed, existing_snapshot(), filename, interchange.FORMATS[read.format], **near)
    try:
        table = read_table(data, filename, COLUMNS)
    except ImportFailed as err:
        return ImportPlan(file=filename, errors=err.errors)
    parsed = parse_rows(table.rows, table.file, table.sheet)
    if not table.rows:
        parsed.errors.append(RowError(None, None, "文件中没有题目", table.file, table.sheet))
    return plan_import(parsed, existing_snapshot(), table.file, table.sheet, **near)


def _search_text(data: ItemData) -> str:
    return search_text_of(data.stem, data.options)


def _new_version(item: Item, data: ItemData, number: int, actor=None) -> ItemVersion:
    version = ItemVersion(item=item, version=number, type=data.type, stem=data.stem, options=list(data.options),
                          answer=data.answer, category=data.category, difficulty=data.difficulty,
                          level=data.level, explanation=data.explanation, search_text=_search_text(data),
                          created_by_id=actor.id if actor else None)
    db.session.add(version)
    return version


def _code_generator(reserved: set[str]):
    numbers = [int(m.group(1)) for c in db.session.execute(select(Item.code).where(Item.code.like("Q%"))).scalars()
               if (m := _GENERATED_CODE.match(c))]
    n = max(numbers, default=0)
    while True:
        n += 1
        code = f"Q{n:06d}"
        if code not in reserved:
            yield code


def _version_row(item_id: int, data: ItemData, number: int, actor) -> dict:
    return {"item_id": item_id, "version": number, "type": data.type, "stem": data.stem, "options": list(data.options),
            "answer": data.answer, "category": data.category, "difficulty": data.difficulty, "level": data.level,
            "explanation": data.explanation, "search_text": _search_text(data),
            "created_by_id": actor.id if actor else None}


def assign_codes(added: list) -> list[tuple[str, object]]:
    """(code, planned row) for each new item: its given code, or the next free generated one (Q000123)."""
    codes = _code_generator({p.item.code for p in added if p.item.code})
    return [(p.item.code or next(codes), p) for p in added]


def write_items(added: list[tuple[str, object]], updated: list, actor=None) -> None:
    """Insert the new items (with their codes, ``assign_codes``) and a new version of each updated item, in bulk
    statements (INSERT … RETURNING, UPDATE by primary key); no audit entry (the caller writes one per file)."""
    version_rows: list[dict] = []
    if added:
        ids = db.session.execute(
            insert(Item).returning(Item.id, sort_by_parameter_order=True),
            [{"code": code, "stem_key": p.item.stem_key, "status": ACTIVE} for code, p in added]).scalars().all()
        version_rows += [_version_row(item_id, p.item, 1, actor) for item_id, (_, p) in zip(ids, added)]
    if updated:
        latest = {}
        for batch in chunks([p.existing_id for p in updated]):  # bounded IN, whatever the file's length
            latest.update(db.session.execute(select(ItemVersion.item_id, func.max(ItemVersion.version)).where(
                ItemVersion.item_id.in_(batch)).group_by(ItemVersion.item_id)).all())
        version_rows += [_version_row(p.existing_id, p.item, latest.get(p.existing_id, 0) + 1, actor)
                         for p in updated]
    if version_rows:
        version_ids = db.session.execute(
            insert(ItemVersion).returning(ItemVersion.id, sort_by_parameter_order=True), version_rows).scalars().all()
        current = [{"id": row["item_id"], "current_version_id": vid, "stem_key": stem_key(row["stem"])}
                   for row, vid in zip(version_rows, version_ids)]
        db.session.execute(update(Item), current)


def audit_import(plan: ImportPlan, added_codes: list[str], updated_codes: list[str], actor=None, **extra) -> None:
    audit("bank.import", target_type="bank", actor=actor, file=plan.file, added=added_codes,
          updated=updated_codes, unchanged=len(plan.unchanged), warnings=len(plan.warnings), **extra)


def apply_plan(plan: ImportPlan, actor=None) -> dict:
    """Write a plan that has no errors: new items, and a new version for each changed item; one audit entry.

    Bulk statements (INSERT … RETURNING, UPDATE by primary key) keep a 5,000-item import to a few round trips;
    objects already in the session are expired afterwards so they read the new state."""
    if not plan.ok:
        raise ImportFailed(plan.errors)
    from certify.audit import _current_actor

    actor = actor or _current_actor()
    summary = plan.summary()
    if not plan.added and not plan.updated:  # nothing to write: a re-import of the same file leaves no trace
        return summary | {"added_codes": [], "updated_codes": []}
    db.session.flush()
    added = assign_codes(plan.added)
    write_items(added, plan.updated, actor)
    db.session.expire_all()
    added_codes = [code for code, _ in added]
    updated_codes = [p.code for p in plan.updated]
    audit_import(plan, added_codes, updated_codes, actor)
    db.session.flush()
    summary["added_codes"] = added_codes
    summary["updated_codes"] = updated_codes
    return summary


def import_bank(data: bytes, filename: str, *, dry_run: bool = False, actor=None,
                defaults: interchange.Defaults | None = None) -> ImportPlan:
    """Plan and (unless dry_run) apply; raises ImportFailed with every error when the file has any."""
    plan = plan_file(data, filename, defaults)
    if not plan.ok:
        raise ImportFailed(plan.errors)
    if not dry_run:
        apply_plan(plan, actor)
    return plan


# ---------------------------------------------------------------- single item

def edit_item(item: Item, values: dict[str, str], actor=None) -> tuple[ItemVersion | None, list[str]]:
    """Validate ``values`` (keys as the import columns) like an import row; a new version when the content
    changed (None otherwise). Returns (version, warnings)."""
    data, errors, warnings = parse_row({**values, "code": item.code})
    if errors:
        raise ItemInvalid(errors)
    current = version_data(item.current, item.code)
    changes = diff(current, data)
    messages = [m for _, m in warnings]
    key = stem_key(data.stem)
    others = db.session.execute(select(Item.code).where(Item.stem_key == key, Item.id != item.id)).scalars().all()
    messages += [f"题干与题库中已有题目 {c} 重复" for c in others]
    if not changes:
        return None, messages
    number = (db.session.execute(select(func.max(ItemVersion.version)).filter_by(item_id=item.id)).scalar() or 0) + 1
    version = _new_version(item, data, number, actor)
    item.stem_key = key
    db.session.flush()
    item.current_version_id = version.id
    db.session.flush()
    db.session.expire(item, ["current"])
    audit("bank.item.edit", target=item, actor=actor, code=item.code, version=number,
          changed=[label for label, _, _ in changes])
    return version, messages


def retire_item(item: Item, reason: str = "", actor=None) -> None:
    if item.status == RETIRED:
        raise BankError(f"题目 {item.code} 已停用", code="already_retired", status=409)
    item.status = RETIRED
    audit("bank.item.retire", target=item, actor=actor, reason=reason, code=item.code)
    db.session.flush()


def reactivate_item(item: Item, reason: str = "", actor=None) -> None:
    if item.status == ACTIVE:
        raise BankError(f"题目 {item.code} 已在用", code="already_active", status=409)
    item.status = ACTIVE
    audit("bank.item.reactivate", target=item, actor=actor, reason=reason, code=item.code)
    db.session.flush()


# ---------------------------------------------------------------- export

def export_sheet(items) -> Sheet:
    return Sheet("题库", list(HEADERS), [item_to_row(i.code, version_data(i.current)) for i in items])


def template_sheet() -> Sheet:
    examples = [
        ItemData("", "single", "下列能源中，属于可再生能源的是（　）。", ("煤炭", "石油", "太阳能", "天然气"), "C",
                 "科学素养", 1, "通用", "太阳能可以源源不断地获得，属于可再生能源。"),
        ItemData("", "multiple", "组织青少年户外科技考察活动前，辅导员应做好的安全准备有（　）。",
                 ("勘察路线与场地", "制定应急预案", "购买或确认保险", "临时决定集合地点"), "ABC",
                 "安全规范", 3, "初级", "集合地点应提前确定并告知所有参与者。"),
        ItemData("", "truefalse", "科学探究活动中，实验结果与假设不一致时应修改数据使其符合假设。",
                 ("正确", "错误"), "B",
                 "科学教育理论", 2, "中级", "实验数据必须如实记录，不一致时应分析原因、修正假设。"),
    ]
    return Sheet("题库", list(HEADERS), [item_to_row("", e) for e in examples])


def export_all(path: str, fmt: str | None = None, *, left_out: list | None = None) -> int:
    """Write the bank's current versions to ``path``: a spreadsheet by extension, or ``fmt`` one of
    ``interchange.FORMATS`` (Moodle XML, GIFT, Aiken, QTI 2.1). Returns the number of items written; the number the
    format could not hold (Aiken: single choice only) is appended to ``left_out``."""
    from certify.tabular import write_file

    items = db.session.execute(search_query(Filters())).scalars().all()
    if fmt:
        data, skipped = export_interchange(items, fmt)
        Path(path).write_bytes(data)
        if left_out is not None:
            left_out.append(skipped)
        return len(items) - skipped
    write_file(path, [export_sheet(items)])
    return len(items)


def export_interchange(items, fmt: str) -> tuple[bytes, int]:
    """(file bytes, items the format cannot hold and left out — Aiken holds single choice only)."""
    return interchange.write_items(fmt, [(i.code, version_data(i.current, i.code)) for i in items])


# ---------------------------------------------------------------- demo

def load_demo_bank() -> ImportPlan:
    """Import the demo bank (idempotent: a second run changes nothing)."""
    return import_bank(DEMO_BANK.read_bytes(), DEMO_BANK.name)
