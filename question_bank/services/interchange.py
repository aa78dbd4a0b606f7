"""Question-bank interchange formats: Moodle XML, GIFT, Aiken and QTI 2.1. Pure: bytes in, rows or bytes out.

Reading turns a file into the same rows the Excel/CSV importer reads (``certify.tabular.Row``: a number and values
keyed like ``parsing.COLUMNS``), so every format goes through the one row check (``parsing.parse_rows``), the one plan
and the one preview → confirm path, with the same error style. A row's number is the question's ordinal in the file
("第 3 题"), and the file's own problems name the question and the field.

What each format carries, and where our fields go when it has no place for them:

| field | Moodle XML | GIFT | Aiken | QTI 2.1 |
|---|---|---|---|---|
| 编号 | ``<name>`` | ``::title::`` | — | ``identifier`` |
| 题型 | ``multichoice`` (``<single>``) / ``truefalse`` | ``{=… ~…}`` / ``{~%50%…}`` / ``{T}`` | single only | (1) |
| 分类 | category question | ``$CATEGORY:`` | default | manifest keyword ``分类:…`` / default |
| 难度, 适用级别 | tags (2) | comment ``// 难度: 3; 适用级别: 通用`` | default | manifest keywords / default |
| 解析 | ``<generalfeedback>`` | ``####general feedback`` | — | ``modalFeedback`` |

(1) ``cardinality`` single/multiple; two choices 正确/错误 = 判断. (2) ``难度:3``, ``适用级别:通用``.

Fields a file does not carry come from the defaults the secretariat gives on the import form (分类, 难度, 适用级别);
without a default, the row check names the missing field as for a spreadsheet. XML is parsed with ``defusedxml``
(no entity expansion, no external entities); a QTI package (.zip) is read within size and entry-count caps.
"""
from __future__ import annotations

import html
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, SubElement, tostring

from defusedxml import ElementTree as SafeET

from certify.tabular import Row, RowError

from .parsing import LETTERS, MULTIPLE, SINGLE, TRUEFALSE, TYPE_LABELS, ItemData

FORMATS = {"moodle": "Moodle XML", "gift": "GIFT", "aiken": "Aiken", "qti": "QTI 2.1"}
EXTENSIONS = {"moodle": ".xml", "gift": ".gift", "aiken": ".aiken.txt", "qti": ".zip"}
MAX_ZIP_ENTRIES = 5000
MAX_ZIP_TOTAL = 50 * 2 ** 20  # uncompressed bytes in a QTI package
MAX_ZIP_RATIO = 100
QTI_NS = "http://www.imsglobal.org/xsd/imsqti_v2p1"
CP_NS = "http://www.imsglobal.org/xsd/imscp_v1p1"
MD_NS = "http://ltsc.ieee.org/xsd/LOM"


class InterchangeError(ValueError):
    """The file as a whole cannot be read in the format (names the file and, when known, the question)."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        super().__init__("; ".join(e.message for e in errors))


@dataclass
class Defaults:
    category: str = ""
    difficulty: str = ""
    level: str = ""


@dataclass
class ReadResult:
    format: str
    rows: list[Row] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------------- detection

def detect_format(data: bytes, filename: str) -> str | None:
    """'moodle' | 'gift' | 'aiken' | 'qti' | None (not an interchange file: a spreadsheet or unknown)."""
    name = (filename or "").lower()
    if name.endswith((".xlsx", ".csv", ".xls")):
        return None
    if name.endswith(".zip") or data[:4] == b"PK\x03\x04":
        return "qti" if not name.endswith(".xlsx") else None
    if name.endswith(".gift"):
        return "gift"
    if name.endswith(".xml") or data.lstrip()[:5] in (b"<?xml", b"<quiz", b"<asse"):
        root = re.search(r"<(?![?!])\s*(?:[\w.-]+:)?([\w.-]+)", data[:4096].decode("utf-8", "ignore"))
        return "qti" if root and root.group(1) == "assessmentItem" else "moodle"
    if name.endswith(".txt"):
        try:
            text = _decode(data, filename)
        except InterchangeError:
            return None
        if re.search(r"^\s*ANSWER\s*[:：]", text, re.M) and "{" not in text:
            return "aiken"
        opening = _unescaped_index(text, "{")
        if opening >= 0 and _unescaped_index(text, "}", opening + 1) >= 0:
            return "gift"
    return None


def _decode(data: bytes, filename: str) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InterchangeError([RowError(None, None, "无法识别文件编码，请使用 UTF-8 保存", filename)])


def _row(number: int, *, code="", type_="", stem="", options=(), answer="", category="", difficulty="", level="",
         explanation="") -> Row:
    values = {"code": code, "type": type_, "stem": stem, "answer": answer, "category": category,
              "difficulty": difficulty, "level": level, "explanation": explanation}
    for i, text in enumerate(options[: len(LETTERS)]):
        values[f"option_{LETTERS[i].lower()}"] = text
    return Row(number, values)


def _with_defaults(row: Row, defaults: Defaults) -> Row:
    for key in ("category", "difficulty", "level"):
        if not str(row.values.get(key) or "").strip():
            row.values[key] = getattr(defaults, key)
    return row


def read_items(data: bytes, filename: str, defaults: Defaults | None = None, fmt: str | None = None) -> ReadResult:
    """Read an interchange file into rows for ``parsing.parse_rows``. Raises InterchangeError on a file-level
    failure; per-question problems the format itself shows (e.g. no correct answer) are row errors."""
    defaults = defaults or Defaults()
    fmt = fmt or detect_format(data, filename)
    readers = {"moodle": _read_moodle, "gift": _read_gift, "aiken": _read_aiken, "qti": _read_qti}
    if fmt not in readers:
        raise InterchangeError([RowError(None, None, "无法识别的题库格式（支持 Moodle XML、GIFT、Aiken、QTI 2.1）",
                                         filename)])
    result = readers[fmt](data, filename)
    result.rows = [_with_defaults(r, defaults) for r in result.rows]
    if len(result.rows) > 100_000:
        raise InterchangeError([RowError(None, None, "题目超过 100000 道，请分批导入", filename)])
    return result


# ------------------------------------------------------------------------------------------------------- helpers

_TAG = re.compile(r"<[^>]+>")
_ASCII_SPACE = re.compile(r"[ \t\f\v]+")  # ideographic spaces (（　）) are content, not layout
_BR = re.compile(r"<\s*(br|/p|/div|/li)\s*/?\s*>", re.I)


def html_to_text(value: str) -> str:
    """Moodle and QTI carry HTML: keep the text (line breaks for <br>/<p>), drop the markup."""
    value = _BR.sub("\n", value or "")
    value = html.unescape(_TAG.sub("", value))
    lines = [_ASCII_SPACE.sub(" ", line).strip(" ") for line in value.splitlines()]
    return "\n".join(line for line in lines if line).strip(" \n")


def _text_to_html(value: str) -> str:
    return "<p>" + "<br/>".join(html.escape(line) for line in value.splitlines()) + "</p>"


def _is_truefalse(options: list[str]) -> bool:
    normalised = [unicodedata.normalize("NFKC", o).strip().lower() for o in options]
    return normalised in (["正确", "错误"], ["对", "错"], ["true", "false"])


def _meta_from_tags(tags: list[str]) -> dict:
    """Our fields carried as 'key:value' tags/keywords/comments (难度:3, 适用级别:通用, 分类:科学素养)."""
    meta = {}
    for tag in tags:
        parts = re.split(r"[:：=]", tag, maxsplit=1)
        if len(parts) != 2:
            continue
        key, value = parts[0].strip(), parts[1].strip()
        field_name = {"难度": "difficulty", "difficulty": "difficulty", "适用级别": "level", "级别": "level",
                      "level": "level", "分类": "category", "category": "category"}.get(key)
        if field_name:
            meta[field_name] = value
    return meta


def _xml_root(data: bytes, filename: str, what: str) -> Element:
    try:
        return SafeET.fromstring(data, forbid_dtd=True)
    except SafeET.ParseError as err:
        raise InterchangeError([RowError(None, None, f"{what} 文件不是有效的 XML（{err}）", filename)]) from None
    except Exception:  # defusedxml refuses entities, DTDs and external references
        raise InterchangeError([RowError(None, None, f"{what} 文件含有不允许的 DTD 或实体定义", filename)]) from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(el, name):
    for child in el:
        if _local(child.tag) == name:
            return child
    return None


def _findall(el, name):
    return [c for c in el if _local(c.tag) == name]


def _inner_text(el) -> str:
    if el is None:
        return ""
    inner = _find(el, "text")
    node = inner if inner is not None else el
    return html_to_text("".join(node.itertext()) if node is not None else "")


# ------------------------------------------------------------------------------------------------------- Moodle XML

def _read_moodle(data: bytes, filename: str) -> ReadResult:
    root = _xml_root(data, filename, "Moodle XML")
    if _local(root.tag) != "quiz":
        raise InterchangeError([RowError(None, None, "Moodle XML 的根元素应为 <quiz>", filename)])
    result = ReadResult("moodle")
    category = ""
    number = 0
    for q in _findall(root, "question"):
        kind = q.get("type", "")
        if kind == "category":
            path = _inner_text(_find(q, "category"))
            category = path.replace("$course$/", "").replace("$system$/", "").split("/")[-1].strip()
            if category in ("top", "默认", "Default"):
                category = ""
            continue
        number += 1
        name = _inner_text(_find(q, "name"))
        stem = _inner_text(_find(q, "questiontext"))
        explanation = _inner_text(_find(q, "generalfeedback"))
        tags = [_inner_text(t) for t in (_find(q, "tags") or [])]
        meta = _meta_from_tags(tags)
        answers = _findall(q, "answer")
        if kind not in ("multichoice", "truefalse"):
            result.errors.append(RowError(number, "题型", f"不支持的 Moodle 题型「{kind}」（只导入单选、多选、判断）",
                                          filename))
            continue
        options = [_inner_text(a) for a in answers]
        fractions = []
        for a in answers:
            try:
                fractions.append(float(a.get("fraction", "0")))
            except ValueError:
                fractions.append(0.0)
        correct = [i for i, f in enumerate(fractions) if f > 0]
        common = dict(code=name, stem=stem, explanation=explanation, category=meta.get("category") or category,
                      difficulty=meta.get("difficulty", ""), level=meta.get("level", ""))
        if kind == "truefalse":
            truth = next((options[i].strip().lower() for i in correct), "")
            answer = {"true": "正确", "false": "错误"}.get(truth, truth)
            result.rows.append(_row(number, type_="判断", answer=answer, **common))
            continue
        single = (_inner_text(_find(q, "single")) or "true").strip().lower() in ("true", "1")
        if _is_truefalse(options) and single:
            result.rows.append(_row(number, type_="判断", answer=options[correct[0]] if correct else "", **common))
            continue
        result.rows.append(_row(number, type_="单选" if single else "多选", options=options,
                                answer="".join(LETTERS[i] for i in correct if i < len(LETTERS)), **common))
    return result


def write_moodle(items: list[tuple[str, ItemData]]) -> bytes:
    root = Element("quiz")
    current = None
    for code, item in sorted(items, key=lambda pair: (pair[1].category, pair[0])):
        if item.category != current:
            current = item.category
            cat = SubElement(root, "question", type="category")
            SubElement(SubElement(cat, "category"), "text").text = f"$course$/{item.category}"
        q = SubElement(root, "question", type="truefalse" if item.type == TRUEFALSE else "multichoice")
        SubElement(SubElement(q, "name"), "text").text = code
        qt = SubElement(q, "questiontext", format="html")
        SubElement(qt, "text").text = _text_to_html(item.stem)
        gf = SubElement(q, "generalfeedback", format="html")
        SubElement(gf, "text").text = _text_to_html(item.explanation) if item.explanation else ""
        SubElement(q, "defaultgrade").text = "1"
        if item.type == TRUEFALSE:
            for word, letter in (("true", "A"), ("false", "B")):
                a = SubElement(q, "answer", fraction="100" if item.answer == letter else "0",
                               format="moodle_auto_format")
                SubElement(a, "text").text = word
        else:
            SubElement(q, "single").text = "true" if item.type == SINGLE else "false"
            SubElement(q, "shuffleanswers").text = "true"
            SubElement(q, "answernumbering").text = "ABCD"
            share = 100 / len(item.answer)
            for i, option in enumerate(item.options):
                correct = LETTERS[i] in item.answer
                fraction = (100 if item.type == SINGLE else share) if correct else 0
                a = SubElement(q, "answer", fraction=f"{fraction:.5g}", format="html")
                SubElement(a, "text").text = _text_to_html(option)
        tags = SubElement(q, "tags")
        for text in (f"难度:{item.difficulty}", f"适用级别:{item.level}"):
            SubElement(SubElement(tags, "tag"), "text").text = text
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(root, encoding="utf-8")


# ------------------------------------------------------------------------------------------------------- GIFT

_GIFT_SPECIAL = "~=#{}:"


def _gift_unescape(text: str) -> str:
    return re.sub(r"\\([~=#{}:\\n])", lambda m: "\n" if m.group(1) == "n" else m.group(1), text)


def _gift_escape(text: str) -> str:
    out = text.replace("\\", "\\\\")
    for ch in _GIFT_SPECIAL:
        out = out.replace(ch, "\\" + ch)
    return out.replace("\n", "\\n")


def _gift_split(text: str, sep_chars: str) -> list[tuple[str, str]]:
    """Split an answer block at unescaped ~ / = into (marker, text)."""
    parts, marker, buf, i = [], None, [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            buf.append(text[i:i + 2])
            i += 2
            continue
        if ch in sep_chars:
            if marker is not None:
                parts.append((marker, "".join(buf)))
            marker, buf = ch, []
        else:
            buf.append(ch)
        i += 1
    if marker is not None:
        parts.append((marker, "".join(buf)))
    return parts


def _plain(value: str) -> str:
    lines = [_ASCII_SPACE.sub(" ", line).strip(" ") for line in value.splitlines()]
    return "\n".join(line for line in lines if line).strip(" \n")


def _unescaped_index(text: str, ch: str, start: int = 0) -> int:
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == ch:
            return i
        i += 1
    return -1


def _gift_blocks(text: str):
    """(lines of one question, its metadata comments, the category in force), question by question."""
    category, meta, block = "", {}, []
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped.startswith("//"):
            meta.update(_meta_from_tags([p for p in re.split(r"[;；]", stripped[2:]) if p.strip()]))
        elif stripped.startswith("$CATEGORY:") or not stripped:
            if block:
                yield block, meta, category
                block, meta = [], {}
            if stripped:
                category = stripped[len("$CATEGORY:"):].strip().replace("$course$/", "").split("/")[-1].strip()
        else:
            block.append(line)
    if block:
        yield block, meta, category


def _gift_choices(answers: str, as_text) -> tuple[list[str], list[int], bool]:
    """Options, the indexes of the correct ones, and whether weights (%n%) were used."""
    options, correct, weighted = [], [], False
    for marker, raw in _gift_split(answers, "~="):
        raw = raw.strip()
        feedback_at = _unescaped_index(raw, "#")
        if feedback_at >= 0:
            raw = raw[:feedback_at].strip()
        weight = re.match(r"%(-?\d+(?:\.\d+)?)%", raw)
        if weight:
            weighted, raw = True, raw[weight.end():].strip()
        options.append(as_text(_gift_unescape(raw)))
        if marker == "=" or (weight and float(weight.group(1)) > 0):
            correct.append(len(options) - 1)
    return options, correct, weighted


def _gift_question(body: str, number: int, meta: dict, category: str, filename: str) -> Row | RowError:
    title = ""
    if body.startswith("::") and body.find("::", 2) > 0:
        end = body.find("::", 2)
        title, body = body[2:end].strip(), body[end + 2:].strip()
    as_text = _plain
    if body.startswith("["):  # [html] / [moodle] / [markdown] text format marker
        as_text = html_to_text if body[1:5].lower() == "html" else _plain
        body = body[body.find("]") + 1:].strip()
    open_at = _unescaped_index(body, "{")
    close_at = _unescaped_index(body, "}", open_at + 1) if open_at >= 0 else -1
    if open_at < 0 or close_at < 0:
        return RowError(number, "答案", "GIFT 题目缺少答案块 {…}", filename)
    answers, general = body[open_at + 1:close_at].strip(), ""
    if "####" in answers:
        answers, general = answers.split("####", 1)
        answers, general = answers.strip(), _gift_unescape(general).strip()
    common = dict(code=_gift_unescape(title), explanation=as_text(general),
                  stem=as_text(_gift_unescape((body[:open_at] + " " + body[close_at + 1:]).strip())),
                  category=meta.get("category") or category, difficulty=meta.get("difficulty", ""),
                  level=meta.get("level", ""))
    word = answers.split("#")[0].strip().upper()
    if word in ("T", "TRUE", "F", "FALSE"):
        return _row(number, type_="判断", answer="正确" if word.startswith("T") else "错误", **common)
    options, correct, weighted = _gift_choices(answers, as_text)
    if not options:
        return RowError(number, "答案", "GIFT 答案块中没有选项（以 = 或 ~ 开头）", filename)
    if _is_truefalse(options) and len(correct) == 1:
        return _row(number, type_="判断", answer=options[correct[0]], **common)
    return _row(number, type_="多选" if weighted or len(correct) > 1 else "单选", options=options,
                answer="".join(LETTERS[i] for i in correct if i < len(LETTERS)), **common)


def _read_gift(data: bytes, filename: str) -> ReadResult:
    text = _decode(data, filename).replace("\r\n", "\n").replace("\r", "\n")
    result = ReadResult("gift")
    for number, (lines, meta, category) in enumerate(_gift_blocks(text), 1):
        found = _gift_question("\n".join(lines).strip(), number, meta, category, filename)
        (result.errors if isinstance(found, RowError) else result.rows).append(found)
    return result


def write_gift(items: list[tuple[str, ItemData]]) -> bytes:
    out = ["// 青少年科技辅导员专业水平认证 题库导出（GIFT）", ""]
    current = None
    for code, item in sorted(items, key=lambda pair: (pair[1].category, pair[0])):
        if item.category != current:
            current = item.category
            out += [f"$CATEGORY: {item.category}", ""]
        out.append(f"// 难度: {item.difficulty}; 适用级别: {item.level}")
        head = f"::{_gift_escape(code)}::{_gift_escape(item.stem)} "
        general = f" ####{_gift_escape(item.explanation)}" if item.explanation else ""
        if item.type == TRUEFALSE:
            out.append(head + "{" + ("TRUE" if item.answer == "A" else "FALSE") + general + "}")
        elif item.type == SINGLE:
            opts = " ".join(("=" if LETTERS[i] in item.answer else "~") + _gift_escape(o)
                            for i, o in enumerate(item.options))
            out.append(head + "{" + opts + general + "}")
        else:
            share = 100 / len(item.answer)
            wrong = -100 / max(1, len(item.options) - len(item.answer))
            opts = " ".join(f"~%{(share if LETTERS[i] in item.answer else wrong):.5g}%" + _gift_escape(o)
                            for i, o in enumerate(item.options))
            out.append(head + "{" + opts + general + "}")
        out.append("")
    return "\n".join(out).encode("utf-8")


# ------------------------------------------------------------------------------------------------------- Aiken

_AIKEN_OPTION = re.compile(r"^\s*([A-Za-z])\s*[.)．、]\s*(.*)$")
_AIKEN_ANSWER = re.compile(r"^\s*ANSWER\s*[:：]\s*([A-Za-z])\s*$", re.I)


def _read_aiken(data: bytes, filename: str) -> ReadResult:
    text = _decode(data, filename).replace("\r\n", "\n").replace("\r", "\n")
    result = ReadResult("aiken")
    number = 0
    stem_lines: list[str] = []
    options: list[str] = []
    for line in text.split("\n"):
        if not line.strip():
            if stem_lines and not options:
                stem_lines.append("")
            continue
        answer = _AIKEN_ANSWER.match(line)
        option = _AIKEN_OPTION.match(line)
        if answer:
            number += 1
            letter = answer.group(1).upper()
            if not stem_lines:
                result.errors.append(RowError(number, "题干", "Aiken 题目缺少题干", filename))
            elif len(options) < 2:
                result.errors.append(RowError(number, "选项A", "Aiken 题目至少需要 2 个选项（A. … B. …）", filename))
            else:
                result.rows.append(_row(number, type_="单选", stem="\n".join(stem_lines).strip(), options=options,
                                        answer=letter))
            stem_lines, options = [], []
        elif option and stem_lines and option.group(1).upper() == LETTERS[len(options) % len(LETTERS)]:
            options.append(option.group(2).strip())
        elif options:
            number += 1
            result.errors.append(RowError(number, "答案", f"Aiken 题目缺少 ANSWER: 行（在「{line.strip()[:30]}」之前）",
                                          filename))
            stem_lines, options = [line.strip()], []
        else:
            stem_lines.append(line.strip())
    if stem_lines or options:
        number += 1
        result.errors.append(RowError(number, "答案", "文件末尾的题目缺少 ANSWER: 行", filename))
    return result


def write_aiken(items: list[tuple[str, ItemData]]) -> tuple[bytes, int]:
    """Aiken holds single-choice items only: (file, number of other items left out)."""
    out, skipped = [], 0
    for _code, item in items:
        if item.type != SINGLE or "\n" in item.stem:
            skipped += 1
            continue
        out.append(item.stem)
        out += [f"{LETTERS[i]}. {o}" for i, o in enumerate(item.options)]
        out += [f"ANSWER: {item.answer}", ""]
    return "\n".join(out).encode("utf-8"), skipped


# ------------------------------------------------------------------------------------------------------- QTI 2.1

def _read_qti_item(root: Element, number: int, filename: str, meta: dict) -> tuple[Row | None, RowError | None]:
    if _local(root.tag) != "assessmentItem":
        return None, RowError(number, None, f"不是 QTI assessmentItem（根元素为 <{_local(root.tag)}>）", filename)
    decl = next((d for d in root.iter() if _local(d.tag) == "responseDeclaration"), None)
    interaction = next((el for el in root.iter() if _local(el.tag) == "choiceInteraction"), None)
    if decl is None or interaction is None:
        return None, RowError(number, "题型", "只支持 choiceInteraction 题目（单选、多选、判断）", filename)
    correct_ids = [(v.text or "").strip() for v in decl.iter() if _local(v.tag) == "value"]
    choices = [c for c in interaction if _local(c.tag) == "simpleChoice"]
    ids = [c.get("identifier", "") for c in choices]
    options = [_plain("".join(c.itertext())) for c in choices]
    prompt = _find(interaction, "prompt")
    body = next((el for el in root if _local(el.tag) == "itemBody"), None)
    stem_parts = [_plain("".join(el.itertext())) for el in (body if body is not None else [])
                  if _local(el.tag) not in ("choiceInteraction",)]
    if prompt is not None:
        stem_parts.append(_plain("".join(prompt.itertext())))
    stem = "\n".join(p for p in stem_parts if p)
    feedback = next((el for el in root if _local(el.tag) == "modalFeedback"), None)
    explanation = _plain("".join(feedback.itertext())) if feedback is not None else ""
    unknown = [c for c in correct_ids if c not in ids]
    if unknown:
        return None, RowError(number, "答案", f"正确答案「{'、'.join(unknown)}」不是任何选项的 identifier", filename)
    correct = [ids.index(c) for c in correct_ids]
    cardinality = decl.get("cardinality", "single")
    common = dict(code=root.get("identifier", ""), stem=stem, explanation=explanation,
                  category=meta.get("category", ""), difficulty=meta.get("difficulty", ""),
                  level=meta.get("level", ""))
    if cardinality == "single" and _is_truefalse(options):
        return _row(number, type_="判断", answer=options[correct[0]] if correct else "", **common), None
    kind = "多选" if cardinality == "multiple" else "单选"
    return _row(number, type_=kind, options=options, answer="".join(LETTERS[i] for i in correct if i < len(LETTERS)),
                **common), None


def _read_qti(data: bytes, filename: str) -> ReadResult:
    result = ReadResult("qti")
    if data[:4] != b"PK\x03\x04":
        row, err = _read_qti_item(_xml_root(data, filename, "QTI"), 1, filename, {})
        result.rows += [row] if row else []
        result.errors += [err] if err else []
        return result
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except zipfile.BadZipFile:
        raise InterchangeError([RowError(None, None, "QTI 内容包不是有效的 .zip 文件", filename)]) from None
    total = sum(i.file_size for i in infos)
    if len(infos) > MAX_ZIP_ENTRIES or total > MAX_ZIP_TOTAL or any(
            i.compress_size and i.file_size / i.compress_size > MAX_ZIP_RATIO for i in infos):
        raise InterchangeError([RowError(None, None, "QTI 内容包过大或压缩比异常，已拒绝读取", filename)])
    names = {i.filename for i in infos}
    order: list[str] = []
    meta_by_file: dict[str, dict] = {}
    if "imsmanifest.xml" in names:
        manifest = _xml_root(archive.read("imsmanifest.xml"), filename, "imsmanifest.xml")
        for resource in (el for el in manifest.iter() if _local(el.tag) == "resource"):
            href = resource.get("href", "")
            if href in names:
                order.append(href)
                keywords = [_plain("".join(k.itertext())) for k in resource.iter() if _local(k.tag) == "keyword"]
                meta_by_file[href] = _meta_from_tags(keywords)
    if not order:
        order = sorted(n for n in names if n.lower().endswith(".xml") and n != "imsmanifest.xml")
    for number, name in enumerate(order, 1):
        row, err = _read_qti_item(_xml_root(archive.read(name), f"{filename}:{name}", "QTI"), number,
                                  f"{filename}:{name}", meta_by_file.get(name, {}))
        result.rows += [row] if row else []
        result.errors += [err] if err else []
    return result


def _qti_item(code: str, item: ItemData) -> bytes:
    root = Element("assessmentItem", {"xmlns": QTI_NS, "identifier": code, "title": code[:60],
                                      "adaptive": "false", "timeDependent": "false"})
    decl = SubElement(root, "responseDeclaration", identifier="RESPONSE",
                      cardinality="multiple" if item.type == MULTIPLE else "single", baseType="identifier")
    values = SubElement(decl, "correctResponse")
    for letter in item.answer:
        SubElement(values, "value").text = f"choice{letter}"
    outcome = SubElement(root, "outcomeDeclaration", identifier="SCORE", cardinality="single", baseType="float")
    SubElement(SubElement(outcome, "defaultValue"), "value").text = "0"
    body = SubElement(root, "itemBody")
    interaction = SubElement(body, "choiceInteraction", responseIdentifier="RESPONSE", shuffle="true",
                             maxChoices="0" if item.type == MULTIPLE else "1")
    SubElement(interaction, "prompt").text = item.stem
    for i, option in enumerate(item.options):
        SubElement(interaction, "simpleChoice", identifier=f"choice{LETTERS[i]}").text = option
    SubElement(root, "responseProcessing",
               template="http://www.imsglobal.org/question/qti_v2p1/rptemplates/match_correct")
    if item.explanation:
        fb = SubElement(root, "modalFeedback", outcomeIdentifier="SCORE", identifier="general", showHide="show")
        fb.text = item.explanation
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(root, encoding="utf-8")


def write_qti(items: list[tuple[str, ItemData]]) -> bytes:
    """An IMS content package: imsmanifest.xml plus one assessmentItem file per item."""
    buffer = io.BytesIO()
    manifest = Element("manifest", {"xmlns": CP_NS, "xmlns:imsmd": MD_NS, "identifier": "certify-bank"})
    SubElement(manifest, "organizations")
    resources = SubElement(manifest, "resources")
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for n, (code, item) in enumerate(items, 1):
            safe = re.sub(r"[^A-Za-z0-9_-]", "_", code) or f"item{n}"
            href = f"items/{n:05d}_{safe}.xml"
            archive.writestr(href, _qti_item(code, item))
            res = SubElement(resources, "resource", identifier=f"R{n:05d}", type="imsqti_item_xmlv2p1", href=href)
            general = SubElement(SubElement(SubElement(res, "metadata"), "imsmd:lom"), "imsmd:general")
            for text in (f"分类:{item.category}", f"难度:{item.difficulty}", f"适用级别:{item.level}"):
                SubElement(SubElement(general, "imsmd:keyword"), "imsmd:string").text = text
            SubElement(res, "file", href=href)
        archive.writestr("imsmanifest.xml",
                         b'<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(manifest, encoding="utf-8"))
    return buffer.getvalue()


def write_items(fmt: str, items: list[tuple[str, ItemData]]) -> tuple[bytes, int]:
    """(file bytes, items left out because the format cannot hold them)."""
    if fmt == "moodle":
        return write_moodle(items), 0
    if fmt == "gift":
        return write_gift(items), 0
    if fmt == "aiken":
        return write_aiken(items)
    if fmt == "qti":
        return write_qti(items), 0
    raise ValueError(f"unknown format {fmt!r}")


__all__ = ["FORMATS", "EXTENSIONS", "Defaults", "InterchangeError", "ReadResult", "detect_format", "read_items",
           "write_items", "TYPE_LABELS"]
