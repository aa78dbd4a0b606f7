"""Panelist import (DOMAIN.md 评审专家 / 回避): read the panelist list and the conflicts sheet, check every row
(row-level errors, nothing written on any error), then create or update panelists, their panels and conflicts
through the operations of ``operations``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from certify.audit import audit
from certify.extensions import db
from certify.models import Round
from certify.tabular import Column, ImportFailed, RowError, read_table, read_tables

from ..models import Conflict, Panel, Panelist, PanelMember
from .operations import (
    PANEL_MAX,
    PANEL_MIN,
    DefenseError,
    check_assignments_still_valid,
    create_panelist,
    find_conflict,
    panelist_key,
    resolve_conflict_target,
    round_panelists,
)

PANELIST_COLUMNS = [
    Column("name", "姓名"),
    Column("work_unit", "工作单位"),
    Column("expertise", "专业领域", required=False),
    Column("phone", "手机", aliases=("手机号",), required=False),
    Column("panel", "答辩组", required=False),
    Column("chair", "组长", required=False),
]
CONFLICT_COLUMNS = [
    Column("panelist", "专家姓名"),
    Column("conflict", "回避对象"),
]
# Bounded by the columns that hold them (Panelist.name/work_unit/expertise, Panel.name).
PANELIST_FIELD_LIMITS = {"name": 100, "work_unit": 200, "expertise": 200, "panel": 100}
_YES = {"是", "y", "yes", "true", "1", "√", "组长"}
_NO = {"", "否", "n", "no", "false", "0", "×"}


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    panels_created: int = 0
    panels_changed: int = 0
    conflicts_added: int = 0
    credentials: list[tuple[str, str, str]] = field(default_factory=list)  # (name, username, password)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.panels_created or self.panels_changed
                    or self.conflicts_added)


@dataclass
class CheckedFile:
    """A panelist file whose every row passed the checks (reads only)."""
    file: str
    rows: list[dict]  # one per panelist row, with its import key
    panels_in_file: dict[str, list[dict]]  # panel name -> its rows
    conflict_rows: list[tuple]  # (panelist key, candidate or None, work unit)


def check_file(rnd: Round, data: bytes, filename: str, conflicts_data: bytes | None = None,
               conflicts_filename: str | None = None) -> CheckedFile:
    """Read the panelist list (and the declared conflicts: a second sheet or a second file) and check every row;
    ``ImportFailed`` with every row error when any is wrong. Writes nothing."""
    # Read every sheet (bounded, before any query): the panelists, and the declared conflicts in a second
    # data sheet unless a conflicts file is given.
    tables = read_tables(data, filename, [PANELIST_COLUMNS] if conflicts_data is not None
                         else [PANELIST_COLUMNS, CONFLICT_COLUMNS])
    table = tables[0]
    ctable = read_table(conflicts_data, conflicts_filename or "回避.csv", CONFLICT_COLUMNS) \
        if conflicts_data is not None else (tables[1] if len(tables) > 1 else None)
    errors: list[RowError] = []
    rows = _read_panelist_rows(table, errors)
    panels_in_file: dict[str, list[dict]] = {}
    for row in rows:
        if row["panel"]:
            panels_in_file.setdefault(row["panel"], []).append(row)
    _check_file_panels(table, panels_in_file, errors)
    # Declared conflicts: a second file, or a second sheet of the same workbook (read above).
    conflict_rows = _read_conflict_rows(rnd, ctable, rows, errors) if ctable is not None else []
    if errors:
        raise ImportFailed(errors)
    return CheckedFile(table.file, rows, panels_in_file, conflict_rows)


def write_panelists(rnd: Round, rows: list[dict], existing_by_key: dict[str, Panelist], result: ImportResult, *,
                    issue: bool = True) -> dict[str, Panelist]:
    """Create or update the panelists of ``rows`` (a whole file, or one chunk of it); flushed."""
    by_key = {row["key"]: _upsert_panelist(rnd, row, existing_by_key.get(row["key"]), result, issue=issue)
              for row in rows}
    db.session.flush()
    return by_key


def write_panels_and_conflicts(rnd: Round, checked: CheckedFile, by_key: dict[str, Panelist],
                               result: ImportResult) -> None:
    """The file's panels (exactly its members and chair) and its declared conflicts; ``by_key`` holds every
    panelist the file names (and the round's others, for the conflicts)."""
    for pname, members in checked.panels_in_file.items():
        _sync_file_panel(rnd, pname, members, by_key, result)
        db.session.flush()
    for key, cand, unit in checked.conflict_rows:
        p = by_key[key]
        if find_conflict(p, cand, unit) is None:
            db.session.add(Conflict(panelist_id=p.id, candidate_id=cand.id if cand else None, work_unit=unit))
            result.conflicts_added += 1
    db.session.flush()


def audit_import(rnd: Round, file: str, result: ImportResult, **extra) -> None:
    if result.changed:
        audit("defense.import_panelists", target=rnd, round_id=rnd.id, file=file, created=result.created,
              updated=result.updated, panels_created=result.panels_created, panels_changed=result.panels_changed,
              conflicts_added=result.conflicts_added, **extra)


def import_panelists(rnd: Round, data: bytes, filename: str, conflicts_data: bytes | None = None,
                     conflicts_filename: str | None = None) -> ImportResult:
    """Import the panelist list (and the declared conflicts: a second sheet or a second file). All or nothing,
    idempotent (key: 手机 if given, else 姓名 + 工作单位); panels are made from 答辩组."""
    checked = check_file(rnd, data, filename, conflicts_data, conflicts_filename)
    result = ImportResult()
    existing_by_key = {p.import_key: p for p in round_panelists(rnd)}
    by_key = {**existing_by_key, **write_panelists(rnd, checked.rows, existing_by_key, result)}
    write_panels_and_conflicts(rnd, checked, by_key, result)
    check_assignments_still_valid(rnd)
    audit_import(rnd, checked.file, result)
    return result


def _row_error(errors: list[RowError], table, row: int, column: str, message: str) -> None:
    errors.append(RowError(row, column, message, table.file, table.sheet))


def _panelist_field_problems(r) -> list[tuple[str, str]]:
    """(column, message) for what is wrong in one panelist row on its own."""
    problems = []
    if not r.get("name"):
        problems.append(("姓名", "姓名不能为空"))
    if not r.get("work_unit"):
        problems.append(("工作单位", "工作单位不能为空"))
    for key, label in (("name", "姓名"), ("work_unit", "工作单位"), ("expertise", "专业领域"), ("panel", "答辩组")):
        limit = PANELIST_FIELD_LIMITS[key]
        if len(r.get(key)) > limit:
            problems.append((label, f"{label}过长（{len(r.get(key))} 个字符，最多 {limit} 个）"))
    phone = r.get("phone")
    if phone and not re.fullmatch(r"[0-9\s+\-]{5,20}", phone):
        problems.append(("手机", f"手机号「{phone}」格式不正确（只能含半角数字、空格、+ 和 -）"))
    chair_text = r.get("chair").strip().lower()
    if chair_text not in _YES and chair_text not in _NO:
        problems.append(("组长", f"「{r.get('chair')}」无法识别，请填 是 或 否"))
    if chair_text in _YES and not r.get("panel").strip():
        problems.append(("组长", "组长必须属于某个答辩组（「答辩组」列为空）"))
    return problems


def _read_panelist_rows(table, errors: list[RowError]) -> list[dict]:
    """The panelist rows as dicts (with their import key); problems go to ``errors``, duplicates included."""
    rows = []
    seen: dict[str, int] = {}
    for r in table.rows:
        for column, message in _panelist_field_problems(r):
            _row_error(errors, table, r.number, column, message)
        name, unit, phone = r.get("name"), r.get("work_unit"), r.get("phone")
        key = panelist_key(name, unit, phone)
        if name and unit:
            if key in seen:
                what = f"手机号「{phone}」" if phone else f"姓名与工作单位「{name} · {unit}」"
                _row_error(errors, table, r.number, "手机" if phone else "姓名", f"{what}与第 {seen[key]} 行重复")
            else:
                seen[key] = r.number
        rows.append({"row": r.number, "name": name, "work_unit": unit, "phone": phone.strip(),
                     "expertise": r.get("expertise"), "panel": r.get("panel").strip(),
                     "chair": r.get("chair").strip().lower() in _YES, "key": key})
    return rows


def _check_file_panels(table, panels_in_file: dict[str, list[dict]], errors: list[RowError]) -> None:
    """Each panel named in the file has exactly one chair and PANEL_MIN–PANEL_MAX members."""
    for pname, members in panels_in_file.items():
        row_list = "、".join(str(m["row"]) for m in members)
        chairs = [m for m in members if m["chair"]]
        if len(chairs) != 1:
            _row_error(errors, table, members[0]["row"], "组长",
                       f"答辩组「{pname}」须有且只有一名组长（现有 {len(chairs)} 名；涉及第 {row_list} 行）")
        if not (PANEL_MIN <= len(members) <= PANEL_MAX):
            _row_error(errors, table, members[0]["row"], "答辩组",
                       f"答辩组「{pname}」须有 {PANEL_MIN}–{PANEL_MAX} 名专家"
                       f"（现有 {len(members)} 名；涉及第 {row_list} 行）")


def _read_conflict_rows(rnd: Round, ctable, rows: list[dict], errors: list[RowError]) -> list[tuple]:
    """(panelist key, candidate or None, work unit or None) per declared conflict; problems go to ``errors``."""
    by_name: dict[str, set[str]] = {}
    for row in rows:
        by_name.setdefault(row["name"], set()).add(row["key"])
    for p in round_panelists(rnd):
        by_name.setdefault(p.name, set()).add(p.import_key)
    conflict_rows = []
    for r in ctable.rows:
        pname, target = r.get("panelist"), r.get("conflict")
        if len(target) > 200:
            _row_error(errors, ctable, r.number, "回避对象", f"回避对象过长（{len(target)} 个字符，最多 200 个）")
            continue
        keys = by_name.get(pname, set())
        if not pname:
            _row_error(errors, ctable, r.number, "专家姓名", "专家姓名不能为空")
        elif not keys:
            _row_error(errors, ctable, r.number, "专家姓名", f"专家「{pname}」不在专家名单中")
        elif len(keys) > 1:
            _row_error(errors, ctable, r.number, "专家姓名", f"专家名单中有多位「{pname}」，无法确定是哪一位")
        try:
            cand, unit = resolve_conflict_target(rnd, target)
        except DefenseError as e:
            _row_error(errors, ctable, r.number, "回避对象", e.message)
            continue
        if len(keys) == 1:
            conflict_rows.append((next(iter(keys)), cand, unit))
    return conflict_rows


def new_values(row: dict, p: Panelist) -> tuple[str, str, str, str]:
    """(name, work unit, expertise, phone) of an existing panelist after its row is imported."""
    return row["name"], row["work_unit"], row["expertise"] or p.expertise, row["phone"]


def _upsert_panelist(rnd: Round, row: dict, p: Panelist | None, result: ImportResult, *,
                     issue: bool = True) -> Panelist:
    """Create the panelist of a row (with an account) or bring the existing one up to date."""
    if p is None:
        p = create_panelist(rnd, name=row["name"], work_unit=row["work_unit"], expertise=row["expertise"],
                            phone=row["phone"], issue=issue)
        result.created += 1
        if p.initial_password:
            result.credentials.append((p.name, p.user.username, p.initial_password))
        return p
    new = new_values(row, p)
    if (p.name, p.work_unit, p.expertise, p.phone) == new:
        result.unchanged += 1
        return p
    p.name, p.work_unit, p.expertise, p.phone = new
    if p.user is not None:
        p.user.display_name = p.name
    result.updated += 1
    return p


def _sync_file_panel(rnd: Round, pname: str, members: list[dict], by_key: dict[str, Panelist],
                     result: ImportResult) -> None:
    """Make the panel named in the file (created if new) have exactly the file's members and chair."""
    panel = db.session.execute(db.select(Panel).filter_by(round_id=rnd.id, name=pname)).scalar_one_or_none()
    if panel is None:
        panel = Panel(round_id=rnd.id, name=pname, room="", meeting_link="")
        db.session.add(panel)
        result.panels_created += 1
    wanted = {by_key[m["key"]].id: m["chair"] for m in members}
    current = {m.panelist_id: m.is_chair for m in panel.members}
    if wanted == current:
        return
    if current:
        result.panels_changed += 1
    for m in list(panel.members):
        if m.panelist_id not in wanted:
            panel.members.remove(m)
    have = {m.panelist_id: m for m in panel.members}
    for pid, chair in wanted.items():
        m = have.get(pid)
        if m is None:
            panel.members.append(PanelMember(panelist_id=pid, is_chair=chair))
        else:
            m.is_chair = chair


def panelist_template_sheets():
    from certify.tabular import Sheet

    return [Sheet("评审专家", ["姓名", "工作单位", "专业领域", "手机", "答辩组", "组长"],
                  [["张明", "重庆市科技馆", "科学教育", "13800000001", "第一答辩组", "是"]]),
            Sheet("回避", ["专家姓名", "回避对象"], [["张明", "重庆市第一中学"]])]
