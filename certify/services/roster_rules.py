"""Roster rules (考生名单), pure: ID-number check (GB 11643), row validation, the import plan, tickets.

Nothing here touches Flask or the database. ``certify.roster`` gathers what exists, asks ``plan_roster``
what a file would change, and applies the plan only when it holds no error.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from ..domain import INTERMEDIATE, JUNIOR, LEVELS
from ..tabular import RowError

# Headers of the roster (DOMAIN.md: 考生名单); the English alias is the key.
HEADERS = {"id_number": "证件号", "name": "姓名", "work_unit": "工作单位", "district": "区县", "level": "认证级别",
           "phone": "手机", "ticket": "准考证号"}
CONTACT_FIELDS = ("name", "work_unit", "district", "phone")
FIELD_LIMITS = {"name": 100, "work_unit": 200, "district": 100, "phone": 40}

# Province codes of GB/T 2260 and one digit per level: ticket = year + region + level + 4-digit sequence.
REGION_CODES = {"重庆": "50", "吉林": "22"}
LEVEL_CODES = {JUNIOR: "1", INTERMEDIATE: "2"}
LEVEL_ALIASES = {"初级": JUNIOR, "junior": JUNIOR, "中级": INTERMEDIATE, "intermediate": INTERMEDIATE}

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_TICKET_RE = re.compile(r"^[A-Za-z0-9_-]{4,40}$")
_PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()-]{5,30}$")


def id_check_digit(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits."""
    if len(first17 or "") != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("need 17 ASCII digits")
    total = 0
    for d, w in zip(first17, _ID_WEIGHTS):
        total += (ord(d) - 48) * w
    return _ID_CHECK[total % 11]


def excel_number_problem(value: str) -> str | None:
    """The message for an ID number that Excel turned into a number (scientific notation), or None."""
    if re.fullmatch(r"[0-9]+(\.[0-9]*)?[eE][+]?[0-9]+", value):
        return (f"证件号被 Excel 存成了数字（显示为科学计数法「{value}」，后几位已丢失），请将该列设为文本格式后"
                "重新填写完整的 18 位证件号")
    return None


def odd_character_problem(value: str, label: str) -> str | None:
    """A message when ``value`` holds a control or invisible character, or a digit other than ASCII 0–9
    (full-width １, Arabic-Indic ١, superscript ²…), which would otherwise look like the same number."""
    if value.isascii() and value.isprintable():
        return None
    for ch in value:
        if ch.isascii():
            if ch.isprintable():
                continue
            return f"{label}含有不可见的控制字符 U+{ord(ch):04X}，请删除后重新填写"
        category = unicodedata.category(ch)
        if category.startswith("C"):
            return f"{label}含有不可见的控制字符 U+{ord(ch):04X}，请删除后重新填写"
        if ch.isdigit() or ch.isnumeric():
            return (f"{label}含有非标准数字「{ch}」（U+{ord(ch):04X}，如全角、上标或其他文字的数字），"
                    "请使用半角数字 0–9")
        folded = unicodedata.normalize("NFKC", ch)
        if folded != ch and folded.isascii():
            return f"{label}含有全角字符「{ch}」，请使用半角字母和数字"
    return None


def check_id_number(raw: str, today: date | None = None) -> tuple[str, str | None]:
    """(normalised, problem): a mainland resident ID number of 18 characters with a valid check digit and a
    birth date that is not in the future."""
    value = re.sub(r"\s", "", raw or "").replace("x", "X")
    if not value:
        return value, "证件号不能为空"
    problem = excel_number_problem(value) or odd_character_problem(value, "证件号")
    if problem:
        return value, problem
    if len(value) != 18:
        return value, f"证件号应为 18 位（现为 {len(value)} 位）"
    if not re.fullmatch(r"[0-9]{17}[0-9X]", value):
        return value, "证件号格式不正确：前 17 位须为数字，末位为数字或 X"
    try:
        birth = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return value, f"证件号中的出生日期 {value[6:14]} 无效"
    if birth > (today or date.today()):
        return value, f"证件号中的出生日期 {birth.isoformat()} 在未来，请核对号码"
    expected = id_check_digit(value[:17])
    if value[17] != expected:
        return value, f"证件号校验位错误（应为 {expected}），请核对号码"
    return value, None


def normalise_level(raw: str) -> str | None:
    return LEVEL_ALIASES.get((raw or "").strip().lower())


@dataclass(frozen=True)
class ExistingCandidate:
    """What the round already holds for one 证件号."""

    id_number: str
    ticket: str
    level: str
    name: str
    work_unit: str
    district: str
    phone: str


@dataclass
class PlannedRow:
    row: int
    action: str  # add | update | unchanged
    values: dict[str, str]  # id_number, name, work_unit, district, level, phone, ticket ('' = to generate)
    changes: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass
class RosterPlan:
    rows: list[PlannedRow]
    errors: list[RowError]

    def count(self, action: str) -> int:
        return sum(1 for r in self.rows if r.action == action)


def plan_roster(rows: Sequence[tuple[int, Mapping[str, str]]], *, file: str, sheet: str = "",
                offered_levels: Iterable[str], region: str, existing: Mapping[str, ExistingCandidate],
                ticket_holders: Mapping[str, str | None], today: date | None = None) -> RosterPlan:
    """Validate every row and decide what each would do; collect every error (the caller writes nothing then).

    ``existing``: this round's candidates by 证件号. ``ticket_holders``: for tickets of the file already in
    use, the 证件号 of the holding candidate of this round, or None when held by anyone else (another
    round's candidate or a staff account).
    """
    offered = set(offered_levels)
    errors: list[RowError] = []
    planned: list[PlannedRow] = []
    first_id: dict[str, int] = {}
    first_ticket: dict[str, int] = {}
    for number, raw in rows:
        values = {k: (raw.get(k) or "").strip() for k in HEADERS}
        problems: list[tuple[str, str]] = []  # (key, message)
        id_number, problem = check_id_number(values["id_number"], today)
        values["id_number"] = id_number
        if problem:
            problems.append(("id_number", problem))
        elif id_number in first_id:
            problems.append(("id_number", f"证件号 {id_number} 与第 {first_id[id_number]} 行重复"))
        else:
            first_id[id_number] = number
        problems += _field_problems(values)
        level = _checked_level(values, offered, region, problems)
        problems += _ticket_problems(values["ticket"], id_number, number, first_ticket, ticket_holders)
        before = existing.get(id_number)
        if before is not None:
            problems += _change_problems(before, level if level in offered else None, values["ticket"])
        for key, message in problems:
            errors.append(RowError(number, HEADERS[key], message, file, sheet))
        if not problems:
            planned.append(_planned_row(number, values, before))
    return RosterPlan(planned, errors)


def _field_problems(values: dict[str, str]) -> list[tuple[str, str]]:
    """Required fields given, every field within its limit, the phone well-formed."""
    problems = [(key, f"{HEADERS[key]}不能为空") for key in ("name", "work_unit", "district") if not values[key]]
    problems += [(key, f"{HEADERS[key]}过长（最多 {limit} 个字符）")
                 for key, limit in FIELD_LIMITS.items() if len(values[key]) > limit]
    if values["phone"] and not _PHONE_RE.match(values["phone"]):
        problems.append(("phone", f"手机号码「{values['phone']}」格式不正确"))
    return problems


def _checked_level(values: dict[str, str], offered: set[str], region: str,
                   problems: list[tuple[str, str]]) -> str | None:
    """The row's level, normalised (stored back in ``values`` when offered in this round), or None."""
    level = normalise_level(values["level"])
    if not values["level"]:
        problems.append(("level", "认证级别不能为空"))
    elif level is None:
        problems.append(("level", f"未知的认证级别「{values['level']}」，应为 {' / '.join(LEVELS)}"))
    elif level not in offered:
        problems.append(("level", f"本轮（{region}）不设{level}认证，可选：{'、'.join(sorted(offered, reverse=True))}"))
    else:
        values["level"] = level
    return level


def _ticket_problems(ticket: str, id_number: str, number: int, first_ticket: dict[str, int],
                     ticket_holders: Mapping[str, str | None]) -> list[tuple[str, str]]:
    """A given ticket is well-formed, new in the file and not held by anyone else (first rows are recorded)."""
    if not ticket:
        return []
    odd = odd_character_problem(ticket, "准考证号")
    if odd:
        return [("ticket", odd)]
    if not _TICKET_RE.match(ticket):
        return [("ticket", f"准考证号「{ticket}」格式不正确：4–40 位字母、数字、- 或 _")]
    if ticket in first_ticket:
        return [("ticket", f"准考证号 {ticket} 与第 {first_ticket[ticket]} 行重复")]
    first_ticket[ticket] = number
    if ticket in ticket_holders and ticket_holders[ticket] != id_number:
        return [("ticket", f"准考证号 {ticket} 已被其他考生或账号使用")]
    return []


def _change_problems(before: ExistingCandidate, level: str | None, ticket: str) -> list[tuple[str, str]]:
    """Level and ticket of a candidate already in the round cannot change (``level``: an offered one or None)."""
    problems = []
    if level is not None and level != before.level:
        problems.append(("level", f"该考生已报{before.level}，认证级别提交后不能更改（文件中为{level}）"))
    if ticket and ticket != before.ticket:
        problems.append(("ticket", f"该考生的准考证号已是 {before.ticket}，不能更改为 {ticket}"))
    return problems


def _planned_row(number: int, values: dict[str, str], before: ExistingCandidate | None) -> PlannedRow:
    if before is None:
        return PlannedRow(number, "add", values)
    values["ticket"] = before.ticket
    changes = {k: (getattr(before, k), values[k]) for k in CONTACT_FIELDS if getattr(before, k) != values[k]}
    return PlannedRow(number, "update" if changes else "unchanged", values, changes)


def ticket_prefix(year: int, region: str, level: str) -> str:
    return f"{year}{REGION_CODES.get(region, '00')}{LEVEL_CODES[level]}"


def assign_tickets(plan: RosterPlan, *, year: int, region: str, used: Iterable[str]) -> None:
    """Give every new row without a ticket the next free one of its prefix, in file order.

    ``used``: every ticket and login name already taken that starts with one of the prefixes.
    """
    taken = set(used) | {r.values["ticket"] for r in plan.rows if r.values["ticket"]}
    next_seq: dict[str, int] = {}
    for row in plan.rows:
        if row.action != "add" or row.values["ticket"]:
            continue
        prefix = ticket_prefix(year, region, row.values["level"])
        if prefix not in next_seq:
            seqs = [int(t[len(prefix):]) for t in taken
                    if t.startswith(prefix) and t[len(prefix):].isdigit() and len(t) >= len(prefix) + 4]
            next_seq[prefix] = max(seqs, default=0) + 1
        seq = next_seq[prefix]
        while f"{prefix}{seq:04d}" in taken:
            seq += 1
        ticket = f"{prefix}{seq:04d}"
        row.values["ticket"] = ticket
        taken.add(ticket)
        next_seq[prefix] = seq + 1


def make_id_number(region_code6: str, birth: date, serial: int, female: bool | None = None) -> str:
    """A structurally valid ID number (demo data and tests): area code, birth date, serial, check digit."""
    seq = serial % 1000
    if female is not None and (seq % 2 == 0) != female:
        seq = (seq + 1) % 1000
    first17 = f"{region_code6}{birth:%Y%m%d}{seq:03d}"
    return first17 + id_check_digit(first17)
