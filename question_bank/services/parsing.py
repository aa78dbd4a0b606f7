"""Reading and validating question-bank rows (DOMAIN.md 题库 format). Pure: plain values in, results out.

Decisions (documented in the import page and the README of this area):
- 题型: 单选 / 多选 / 判断 (also 单选题 / 多选题 / 判断题, single / multiple / truefalse).
- 选项A…选项H: 2–8 options for 单选/多选, filled from A without gaps. A 判断 item has no options (or
  exactly 正确 / 错误 in A / B); it is stored with the options ["正确", "错误"].
- 答案: letters, in any order and case, optionally separated by commas, spaces, 、 or ; ("ACD", "A,C",
  "a c"). 判断: 对 / 正确 / √ / ✓ / T / A mean 正确 (key A); 错 / 错误 / × / ✗ / F / B mean 错误 (key B).
- A 多选 item whose key has only one letter is accepted (a multiple-choice item may have one correct
  option) but the preview warns about it, since it is more often a typing slip.
- 难度: 1–5, or 易 = 2, 中 = 3, 难 = 4 (1 and 5 are reserved for the extremes and must be given as numbers).
- 适用级别: 初级 / 中级 / 通用. 分类: free text, at most 60 characters.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from certify.tabular import Column, RowError

from .normalise import clean_text, stem_key

# Must equal question_bank.models (kept literal here so services import no database code).
SINGLE, MULTIPLE, TRUEFALSE = "single", "multiple", "truefalse"
TYPE_LABELS = {SINGLE: "单选", MULTIPLE: "多选", TRUEFALSE: "判断"}
LEVELS = ("初级", "中级", "通用")
TRUEFALSE_OPTIONS = ("正确", "错误")
LETTERS = "ABCDEFGH"
# Item.code and ItemVersion.category are String(60); stem, options and explanation are unbounded columns,
# bounded here so one pasted chapter cannot become an item.
MAX_CODE, MAX_CATEGORY = 60, 60
MAX_STEM, MAX_OPTION, MAX_EXPLANATION = 4000, 1000, 4000

TYPE_ALIASES = {
    "单选": SINGLE, "单选题": SINGLE, "单项选择": SINGLE, "单项选择题": SINGLE, "single": SINGLE,
    "多选": MULTIPLE, "多选题": MULTIPLE, "多项选择": MULTIPLE, "多项选择题": MULTIPLE, "multiple": MULTIPLE,
    "判断": TRUEFALSE, "判断题": TRUEFALSE, "truefalse": TRUEFALSE, "true/false": TRUEFALSE,
}
TRUE_WORDS = {"对", "正确", "√", "✓", "✔", "T", "TRUE", "A", "是"}
FALSE_WORDS = {"错", "错误", "×", "✗", "✘", "X", "F", "FALSE", "B", "否"}
DIFFICULTY_WORDS = {"易": 2, "中": 3, "难": 4, "容易": 2, "中等": 3, "困难": 4, "较难": 4}

OPTION_KEYS = tuple(f"option_{c.lower()}" for c in LETTERS)
COLUMNS = (
    Column("code", "编号", required=False),
    Column("type", "题型"),
    Column("stem", "题干"),
    *(Column(k, f"选项{c}", required=False) for k, c in zip(OPTION_KEYS, LETTERS)),
    Column("answer", "答案"),
    Column("category", "分类"),
    Column("difficulty", "难度"),
    Column("level", "适用级别"),
    Column("explanation", "解析", required=False),
)
HEADERS = [c.header for c in COLUMNS]
HEADER_OF = {c.key: c.header for c in COLUMNS}
FIELD_LABELS = {"type": "题型", "stem": "题干", "options": "选项", "answer": "答案", "category": "分类",
                "difficulty": "难度", "level": "适用级别", "explanation": "解析"}
CONTENT_FIELDS = tuple(FIELD_LABELS)


@dataclass(frozen=True)
class ItemData:
    """One item's content as the bank stores it (a version), plus the code when the file gave one."""
    code: str
    type: str
    stem: str
    options: tuple[str, ...]
    answer: str
    category: str
    difficulty: int
    level: str
    explanation: str = ""

    @property
    def stem_key(self) -> str:
        return stem_key(self.stem)

    def content(self) -> dict:
        return {f: getattr(self, f) for f in CONTENT_FIELDS}


@dataclass
class ParsedRow:
    row: int
    item: ItemData


@dataclass
class ParsedFile:
    rows: list[ParsedRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)


def parse_type(text: str) -> str | None:
    key = unicodedata.normalize("NFKC", text or "").strip().lower().replace(" ", "")
    return TYPE_ALIASES.get(key)


def parse_difficulty(text: str) -> int | None:
    value = unicodedata.normalize("NFKC", text or "").strip()
    if value in DIFFICULTY_WORDS:
        return DIFFICULTY_WORDS[value]
    if re.fullmatch(r"[1-5](\.0+)?", value):
        return int(value.split(".")[0])
    return None


def parse_truefalse(text: str) -> str | None:
    value = unicodedata.normalize("NFKC", text or "").strip().upper()
    if value in TRUE_WORDS:
        return "A"
    if value in FALSE_WORDS:
        return "B"
    return None


_ANSWER_SEPARATORS = re.compile(r"[\s,，、;；/|]+")


def parse_letters(text: str) -> tuple[str | None, str]:
    """(letters sorted, '') or (None, reason)."""
    value = _ANSWER_SEPARATORS.sub("", unicodedata.normalize("NFKC", text or "").upper())
    if not value:
        return None, "答案不能为空"
    bad = sorted({ch for ch in value if ch not in LETTERS})
    if bad:
        return None, f"答案只能是选项字母 A–H，出现了「{''.join(bad)}」"
    if len(set(value)) != len(value):
        return None, f"答案「{text}」中有重复的字母"
    return "".join(sorted(value)), ""


def answer_display(item_type: str, answer: str) -> str:
    if item_type == TRUEFALSE:
        return TRUEFALSE_OPTIONS[0] if answer == "A" else TRUEFALSE_OPTIONS[1]
    return answer


def parse_row(values: dict[str, str]) -> tuple[ItemData | None, list[tuple[str, str]], list[tuple[str, str]]]:
    """Validate one row (keys as in COLUMNS). Returns (item or None, errors, warnings); each error or
    warning is (column header, message)."""
    errors: list[tuple[str, str]] = []
    warnings: list[tuple[str, str]] = []

    def get(key: str) -> str:
        return clean_text(values.get(key, ""))

    code = get("code")
    if len(code) > MAX_CODE:
        errors.append(("编号", f"编号不能超过 {MAX_CODE} 个字符"))
    item_type = _parse_type_cell(get("type"), errors)
    stem = get("stem")
    _check_text_lengths(stem, [get(k) for k in OPTION_KEYS], get("explanation"), errors)
    options, gaps = _parse_options(item_type, [get(k) for k in OPTION_KEYS], errors)
    answer = _parse_answer(item_type, get("answer"), options, gaps, errors, warnings)
    category, difficulty, level = _parse_classification(get("category"), get("difficulty"), get("level"), errors)

    if errors:
        return None, errors, warnings
    return ItemData(code=code, type=item_type, stem=stem, options=tuple(options), answer=answer,
                    category=category, difficulty=difficulty, level=level,
                    explanation=get("explanation")), [], warnings


def _parse_type_cell(raw_type: str, errors: list[tuple[str, str]]) -> str | None:
    item_type = parse_type(raw_type)
    if not raw_type:
        errors.append(("题型", "题型不能为空（单选 / 多选 / 判断）"))
    elif item_type is None:
        errors.append(("题型", f"未知的题型「{raw_type}」，应为 单选 / 多选 / 判断"))
    return item_type


def _check_text_lengths(stem: str, cells: list[str], explanation: str, errors: list[tuple[str, str]]) -> None:
    """The stem is given; stem, options and explanation fit their columns."""
    if not stem:
        errors.append(("题干", "题干不能为空"))
    elif len(stem) > MAX_STEM:
        errors.append(("题干", f"题干不能超过 {MAX_STEM} 个字符（现为 {len(stem)} 个）"))
    for cell, letter in zip(cells, LETTERS):
        if len(cell) > MAX_OPTION:
            errors.append((f"选项{letter}", f"选项{letter}不能超过 {MAX_OPTION} 个字符（现为 {len(cell)} 个）"))
    if len(explanation) > MAX_EXPLANATION:
        errors.append(("解析", f"解析不能超过 {MAX_EXPLANATION} 个字符（现为 {len(explanation)} 个）"))


def _parse_options(item_type: str | None, cells: list[str],
                   errors: list[tuple[str, str]]) -> tuple[tuple[str, ...], list[str]]:
    """(options up to the last filled one, letters of the empty ones before it). A true/false item gets the
    fixed 正确/错误 options; a choice item needs at least two distinct options filled from A on."""
    last = max((i for i, v in enumerate(cells) if v), default=-1)
    options = tuple(cells[: last + 1])
    gaps = [LETTERS[i] for i, v in enumerate(options) if not v]
    if item_type == TRUEFALSE:
        if options and options not in (TRUEFALSE_OPTIONS, ("对", "错")):
            errors.append(("选项A", "判断题不填选项（或只填 选项A 正确、选项B 错误）"))
        return TRUEFALSE_OPTIONS, gaps
    if item_type not in (SINGLE, MULTIPLE):
        return options, gaps
    if gaps:
        errors.append((f"选项{gaps[0]}", f"选项须从 A 起连续填写，选项{gaps[0]} 为空但其后还有选项"))
    elif len(options) < 2:
        errors.append(("选项B" if options else "选项A", f"{TYPE_LABELS[item_type]}题至少需要 2 个选项"))
    elif len(set(options)) != len(options):
        second = next(i for i, o in enumerate(options) if o in options[:i])
        errors.append((f"选项{LETTERS[second]}", f"选项内容重复：「{options[second]}」与选项"
                                                f"{LETTERS[options.index(options[second])]}相同"))
    return options, gaps


def _parse_answer(item_type: str | None, raw_answer: str, options: tuple[str, ...], gaps: list[str],
                  errors: list[tuple[str, str]], warnings: list[tuple[str, str]]) -> str:
    """The answer as sorted option letters ("" when it is missing or unreadable, with the error recorded)."""
    if not raw_answer:
        errors.append(("答案", "答案不能为空"))
        return ""
    if item_type == TRUEFALSE:
        answer = parse_truefalse(raw_answer) or ""
        if not answer:
            errors.append(("答案", f"判断题答案「{raw_answer}」无法识别，应为 对/错、正确/错误、√/× 或 A/B"))
        return answer
    if item_type not in (SINGLE, MULTIPLE):
        return ""
    letters, reason = parse_letters(raw_answer)
    if letters is None:
        errors.append(("答案", reason))
        return ""
    beyond = [ch for ch in letters if LETTERS.index(ch) >= len(options)]
    if beyond and not gaps and len(options) >= 2:
        errors.append(("答案", f"答案「{raw_answer}」中的 {''.join(beyond)} 超出了已填写的 {len(options)} 个选项"
                             f"（A–{LETTERS[len(options) - 1]}）"))
    if item_type == SINGLE and len(letters) > 1:
        errors.append(("答案", f"单选题只能有一个答案，现为「{raw_answer}」"))
    if item_type == MULTIPLE and len(letters) == 1:
        warnings.append(("答案", "多选题只有一个正确选项（已接受，请确认不是漏填）"))
    return letters


def _parse_classification(category: str, raw_difficulty: str, level: str,
                          errors: list[tuple[str, str]]) -> tuple[str, int | None, str]:
    """(category, difficulty 1–5, level), each required; problems go to ``errors``."""
    if not category:
        errors.append(("分类", "分类不能为空"))
    elif len(category) > MAX_CATEGORY:
        errors.append(("分类", f"分类不能超过 {MAX_CATEGORY} 个字符"))
    difficulty = parse_difficulty(raw_difficulty)
    if not raw_difficulty:
        errors.append(("难度", "难度不能为空（1–5 或 易/中/难）"))
    elif difficulty is None:
        errors.append(("难度", f"难度「{raw_difficulty}」无效，应为 1–5 的整数或 易/中/难"))
    if not level:
        errors.append(("适用级别", "适用级别不能为空（初级 / 中级 / 通用）"))
    elif level not in LEVELS:
        errors.append(("适用级别", f"未知的适用级别「{level}」，应为 初级 / 中级 / 通用"))
    return category, difficulty, level


def parse_rows(rows, file: str = "", sheet: str = "") -> ParsedFile:
    """Validate every row (objects with ``.number`` and ``.values``, as certify.tabular.Row) and check the
    file as a whole: duplicate codes are errors; duplicate stems are warnings naming both rows, except two
    rows that both lack a code and so would be the same item (an error: nothing tells them apart)."""
    result = ParsedFile()
    seen_codes: dict[str, int] = {}
    seen_stems: dict[str, tuple[int, str]] = {}
    for row in rows:
        item, errors, warnings = parse_row(row.values)
        for column, message in errors:
            result.errors.append(RowError(row.number, column, message, file, sheet))
        for column, message in warnings:
            result.warnings.append(RowError(row.number, column, message, file, sheet))
        code = clean_text(row.values.get("code", ""))
        if code:
            if code in seen_codes:
                result.errors.append(RowError(row.number, "编号", f"编号「{code}」与第 {seen_codes[code]} 行重复",
                                              file, sheet))
            else:
                seen_codes[code] = row.number
        stem = clean_text(row.values.get("stem", ""))
        if stem:
            key = stem_key(stem)
            if key in seen_stems:
                first_row, first_code = seen_stems[key]
                if not code and not first_code:
                    result.errors.append(RowError(
                        row.number, "题干",
                        f"题干与第 {first_row} 行重复，且两行都没有编号，无法区分（请填写编号或删除其一）",
                        file, sheet))
                else:
                    result.warnings.append(RowError(row.number, "题干", f"题干与第 {first_row} 行重复", file, sheet))
            else:
                seen_stems[key] = (row.number, code)
        if item is not None:
            result.rows.append(ParsedRow(row.number, item))
    return result


def item_to_row(code: str, item: ItemData) -> list:
    """A row in the import format (HEADERS order); 判断 items are written with no options and 正确/错误."""
    options = [] if item.type == TRUEFALSE else list(item.options)
    options += [""] * (len(LETTERS) - len(options))
    return [code, TYPE_LABELS[item.type], item.stem, *options, answer_display(item.type, item.answer),
            item.category, item.difficulty, item.level, item.explanation]


def diff(old: ItemData, new: ItemData) -> list[tuple[str, str, str]]:
    """[(field label, old shown, new shown)] for every content field that differs."""
    changes = []
    for f in CONTENT_FIELDS:
        a, b = getattr(old, f), getattr(new, f)
        if a != b:
            if f == "options":
                a, b = _options_text(a), _options_text(b)
            elif f == "answer":
                a, b = answer_display(old.type, a), answer_display(new.type, b)
            elif f == "type":
                a, b = TYPE_LABELS[a], TYPE_LABELS[b]
            changes.append((FIELD_LABELS[f], str(a), str(b)))
    return changes


def _options_text(options) -> str:
    return "；".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(options))
