"""One way to read and write tables (.xlsx and .csv) for every import and export.

Reading: encodings (UTF-8, UTF-8 with BOM, GB18030), Chinese headers or English aliases, row numbers as
the spreadsheet shows them (header = row 1), and errors that name file, row, column and field.
Writing: typed numeric cells, frozen header, column widths, UTF-8 with BOM for CSV, formula neutralising.
"""
from __future__ import annotations

import copy
import csv
import io
import re
import sys
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter

SUPPORTED = (".xlsx", ".csv")
MAX_REPORTED_ERRORS = 1000


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    aliases: tuple[str, ...] = ()
    required: bool = True  # the column must be present in the file

    def names(self) -> set[str]:
        return {_norm_header(self.header), _norm_header(self.key), *(_norm_header(a) for a in self.aliases)}


@dataclass
class RowError:
    row: int | None  # spreadsheet row number (header is row 1); None for file-level errors
    column: str | None  # the Chinese header of the column
    message: str
    file: str = ""
    sheet: str = ""

    def __str__(self) -> str:
        where = [p for p in (self.file, self.sheet and f"工作表「{self.sheet}」",
                             self.row and f"第 {self.row} 行", self.column and f"「{self.column}」列") if p]
        return f"{'，'.join(where)}：{self.message}" if where else self.message

    def as_dict(self) -> dict:
        return {"file": self.file, "sheet": self.sheet, "row": self.row, "column": self.column,
                "message": self.message}


class ImportFailed(Exception):
    """Raised with every error found; the caller writes nothing."""

    def __init__(self, errors: Sequence[RowError]):
        errors = list(errors)
        if len(errors) > MAX_REPORTED_ERRORS:  # a page or terminal of 100,000 errors helps nobody
            more = len(errors) - MAX_REPORTED_ERRORS
            first = errors[0]
            errors = errors[:MAX_REPORTED_ERRORS] + [
                RowError(None, None, f"另有 {more} 条错误未列出（只显示前 {MAX_REPORTED_ERRORS} 条）",
                         first.file, first.sheet)]
        self.errors = errors
        super().__init__("\n".join(str(e) for e in self.errors))


@dataclass(slots=True)
class Row:
    number: int
    values: dict[str, str]

    def get(self, key: str, default: str = "") -> str:
        return self.values.get(key, default)


@dataclass
class Table:
    file: str
    sheet: str
    rows: list[Row] = field(default_factory=list)
    present: set[str] = field(default_factory=set)  # keys of the columns found


# ---------------------------------------------------------------- limits

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Bounds on what an import reads, checked before and while parsing (a hostile file must not exhaust
    memory or time). Each comes from the app config key in ``CONFIG_KEYS`` when an app is active."""

    max_bytes: int = 10 * MIB  # the uploaded file itself
    max_unzipped_bytes: int = 64 * MIB  # all parts of an .xlsx together, as declared by the zip directory
    max_part_bytes: int = 8 * MIB  # any other XML part of an .xlsx (styles, workbook, properties…)
    max_zip_ratio: int = 100  # uncompressed / compressed, for parts larger than 1 MiB
    max_zip_entries: int = 2000
    max_sheets: int = 50
    max_rows: int = 100_000  # data rows (below the header)
    max_columns: int = 256
    max_cell_chars: int = 10_000

    CONFIG_KEYS = {"max_bytes": "IMPORT_MAX_BYTES", "max_unzipped_bytes": "IMPORT_MAX_UNZIPPED_BYTES",
                   "max_part_bytes": "IMPORT_MAX_PART_BYTES", "max_zip_ratio": "IMPORT_MAX_ZIP_RATIO",
                   "max_zip_entries": "IMPORT_MAX_ZIP_ENTRIES", "max_sheets": "IMPORT_MAX_SHEETS",
                   "max_rows": "IMPORT_MAX_ROWS", "max_columns": "IMPORT_MAX_COLUMNS",
                   "max_cell_chars": "IMPORT_MAX_CELL_CHARS"}

    @classmethod
    def current(cls) -> Limits:
        """The limits of the active app (config keys IMPORT_MAX_*), or the defaults outside an app."""
        # Looked up, not imported: this module stays importable by pure services (it consults an app only
        # when one is running).
        flask = sys.modules.get("flask")
        if flask is None or not flask.has_app_context():
            return cls()
        defaults, config = cls(), flask.current_app.config
        return cls(**{name: int(config[key]) if config.get(key) is not None else getattr(defaults, name)
                      for name, key in cls.CONFIG_KEYS.items()})


def _mib(n: int) -> str:
    return f"{n / MIB:.1f} MB"


# ---------------------------------------------------------------- cells and headers

# Invisible characters a header may carry from editors and exports (byte-order marks, zero-width spaces).
_INVISIBLE = re.compile("[\ufeff\u200b\u200c\u200d\u2060\u00ad]")
# Characters no import field may hold: C0/C1 controls (tab, line feed and carriage return are text), DEL,
# lone surrogates and non-characters. A NUL is refused by PostgreSQL; the others are never meant.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


_SUSPECT = re.compile(_FORBIDDEN.pattern[:-1] + _INVISIBLE.pattern[1:])  # either kind, in one search


def forbidden_char(text: str) -> str | None:
    """The first control or otherwise forbidden character of ``text`` as ``U+XXXX``, or None."""
    m = _FORBIDDEN.search(text or "")
    return f"U+{ord(m.group()):04X}" if m else None


def _norm_header(text: str) -> str:
    text = _INVISIBLE.sub("", str(text or "")).strip().lower()
    text = re.sub(r"[\s_\-（）()\[\]【】*＊:：]", "", text)
    return text


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        if abs(value) >= 1e15:
            # Beyond Excel's 15 significant digits the trailing digits are gone: show it as Excel does
            # (5.00103199003151E+17), so a long number (an ID number typed into a numeric cell) is recognised.
            return format(value, ".15g").upper()
        return repr(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S") if (value.hour or value.minute or value.second) else (
            value.strftime("%Y-%m-%d"))
    if isinstance(value, date):
        return value.isoformat()
    return str(value).replace("\u3000", " ").strip()


def decode_csv(data: bytes) -> str:
    """UTF-8 (with or without BOM) first, then UTF-16 with a BOM (Excel's "Unicode text"), then GB18030."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnicodeDecodeError("gb18030", data, 0, 1, "not UTF-8 or GB18030")


def display_name(filename: str | None) -> str:
    """An uploaded file's name as messages and the audit trail show it: its last path part, without control
    characters, at most 120 characters."""
    name = re.split(r"[\\/]", _FORBIDDEN.sub("", filename or ""))[-1].strip()[:120]
    return name or "上传文件"


def _extension(filename: str) -> str:
    name = (filename or "").lower()
    return next((ext for ext in SUPPORTED if name.endswith(ext)), "")


# ---------------------------------------------------------------- bounded reading

class _Refused(Exception):
    """A file-level refusal found while reading (turned into ImportFailed with the file name)."""

    def __init__(self, message: str, sheet: str = "", row: int | None = None, column: str | None = None):
        super().__init__(message)
        self.message, self.sheet, self.row, self.column = message, sheet, row, column


_NOT_XLSX = ("无法读取文件：不是有效的 .xlsx 工作簿（可能是旧版 .xls、加了打开密码、已损坏或只是改了扩展名）；"
             "请在 Excel 中另存为 .xlsx 或 CSV（UTF-8）后重新上传")


def _check_zip(data: bytes, limits: Limits) -> None:
    """Inspect the zip directory before any XML is parsed: entry count, declared sizes, compression ratios."""
    if data[:4] == b"\xd0\xcf\x11\xe0":
        raise _Refused("文件是旧版 Excel（.xls）或加了打开密码的工作簿；"
                       "请在 Excel 中另存为 .xlsx（不设密码）后重新上传")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError, NotImplementedError):
        raise _Refused(_NOT_XLSX) from None
    if len(infos) > limits.max_zip_entries:
        raise _Refused(f"工作簿内部含有 {len(infos)} 个部件，超过上限 {limits.max_zip_entries}，不是正常的 Excel 文件")
    total = 0
    for info in infos:
        size = info.file_size
        total += size
        if size > MIB and size > limits.max_zip_ratio * max(info.compress_size, 1):
            raise _Refused(f"工作簿内部部件 {info.filename[:80]} 的压缩比异常（{_mib(info.compress_size)} 解压后为 "
                           f"{_mib(size)}），疑似压缩炸弹，已拒绝读取")
        name = info.filename.lower()
        is_data = name.startswith("xl/worksheets/") or name == "xl/sharedstrings.xml"
        if not is_data and name.endswith((".xml", ".rels", ".vml")) and size > limits.max_part_bytes:
            raise _Refused(f"工作簿内部部件 {info.filename[:80]} 过大"
                           f"（{_mib(size)}，上限 {_mib(limits.max_part_bytes)}）")
    if total > limits.max_unzipped_bytes:
        raise _Refused(f"工作簿解压后共 {_mib(total)}，超过上限 {_mib(limits.max_unzipped_bytes)}；"
                       "请删除多余的内容（图片、空行、格式）或分成几个文件导入")


@dataclass
class _RawSheet:
    title: str
    hidden: bool
    rows: Callable[[], Iterator[Sequence[Any]]]  # a fresh bounded iterator over the rows, as read
    declared: tuple[int, int] | None = None  # (rows, columns) the file declares, if any


def _xlsx_sheets(data: bytes, limits: Limits):
    """(workbook, [_RawSheet]) of an .xlsx; the caller closes the workbook."""
    _check_zip(data, limits)
    wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    sheets = []
    for ws in wb.worksheets:
        declared = None
        if ws.max_row is not None and ws.max_column is not None:
            declared = (ws.max_row, ws.max_column)
        ws.reset_dimensions()  # never let a declared size drive padding: read what is there
        sheets.append(_RawSheet(ws.title, getattr(ws, "sheet_state", "visible") != "visible",
                                lambda ws=ws: ws.iter_rows(values_only=True), declared))
    return wb, sheets


def _csv_sheet(data: bytes) -> _RawSheet:
    text = decode_csv(data)
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    return _RawSheet("", False, lambda: csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def _bounded(sheet: _RawSheet, limits: Limits) -> Iterator[tuple[int, Sequence[Any]]]:
    """(spreadsheet row number, cells) with the row and column bounds enforced while reading."""
    if sheet.declared is not None:
        rows, cols = sheet.declared
        if rows > limits.max_rows + 1000 or cols > limits.max_columns:
            raise _Refused(f"工作表声明的数据范围为 {rows} 行 × {cols} 列，超出上限（{limits.max_rows} 行、"
                           f"{limits.max_columns} 列）；请删除多余的行和列后另存", sheet.title)
    number = 0
    iterator = sheet.rows()
    while True:
        try:
            raw = next(iterator)
        except StopIteration:
            return
        except csv.Error:
            raise _Refused(f"第 {number + 1} 行附近无法解析：单元格过长（超过 {limits.max_cell_chars} 个字符）"
                           "或引号不成对", sheet.title) from None
        number += 1
        if number > limits.max_rows + 1000:
            raise _Refused(f"行数超过上限（最多 {limits.max_rows} 行数据）；请删除多余的行或分成几个文件导入",
                           sheet.title)
        if len(raw) > limits.max_columns:
            if any(v is not None and v != "" for v in raw[limits.max_columns:]):
                raise _Refused(f"第 {number} 行超过 {limits.max_columns} 列，超出列数上限；请删除多余的列",
                               sheet.title, number)
            raw = raw[:limits.max_columns]
        yield number, raw


def _has_content(sheet: _RawSheet, limits: Limits) -> bool:
    return any(any(_cell_text(v) for v in raw) for _, raw in _bounded(sheet, limits))


class _Errors(list):
    """Row errors of one sheet; reading stops once MAX_REPORTED_ERRORS are found."""

    def __init__(self, file: str, sheet: str):
        super().__init__()
        self.file, self.sheet = file, sheet

    def add(self, row, column, message) -> None:
        self.append(RowError(row, column, message, self.file, self.sheet))
        if len(self) >= MAX_REPORTED_ERRORS:
            raise ImportFailed(self)

    def raise_any(self) -> None:
        if self:
            raise ImportFailed(self)


def _header_positions(header: list[str], row: int, columns: Sequence[Column], errors: _Errors) -> dict[str, int]:
    """Column key -> index in the row, from the header cells (invisible characters already removed)."""
    by_name: dict[str, int] = {}
    for idx, name in enumerate(header):
        if not name:
            continue
        bad = forbidden_char(name)
        if bad:
            errors.add(row, _FORBIDDEN.sub("", name), f"表头含有控制字符 {bad}")
        elif len(name) > 100:
            errors.add(row, name[:20] + "…", "表头过长")
        else:
            key = _norm_header(name)
            if key in by_name:
                errors.add(row, name, "表头重复")
            by_name[key] = idx
    positions: dict[str, int] = {}
    for col in columns:
        found = [by_name[n] for n in col.names() if n in by_name]
        if found:
            positions[col.key] = found[0]
        elif col.required:
            expected = col.header + (f"（或 {' / '.join(col.aliases)}）" if col.aliases else "")
            errors.add(row, col.header, f"缺少必需的列「{expected}」")
    return positions


def _cell_value(value: Any, number: int, header: str, limits: Limits, errors: _Errors) -> str:
    """A data cell's text; control characters and over-long text are errors naming row and column."""
    if value is None or value == "":
        return ""
    text = _cell_text(value)
    if text and _SUSPECT.search(text):
        bad = forbidden_char(text)
        if bad:
            errors.add(number, header, f"含有不可见的控制字符 {bad}，请删除后重新上传")
            return ""
        text = _INVISIBLE.sub("", text).strip()
    if len(text) > limits.max_cell_chars:
        errors.add(number, header, f"内容过长（{len(text)} 个字符，最多 {limits.max_cell_chars}）")
        return ""
    return text


def _table(sheet: _RawSheet, file: str, columns: Sequence[Column], limits: Limits) -> Table | None:
    """The table of one sheet, or None when the sheet holds no non-empty cell."""
    errors = _Errors(file, sheet.title)
    rows = _bounded(sheet, limits)
    header, header_row = None, 0
    for number, raw in rows:  # the header is the first non-empty row
        cells = [_INVISIBLE.sub("", _cell_text(v)).strip() for v in raw]
        if any(cells):
            header, header_row = cells, number
            break
    if header is None:
        return None
    positions = _header_positions(header, header_row, columns, errors)
    errors.raise_any()

    wanted = [(key, pos, header[pos]) for key, pos in positions.items()]
    table = Table(file=file, sheet=sheet.title, present=set(positions))
    for number, raw in rows:
        width = len(raw)
        values = {key: _cell_value(raw[pos] if pos < width else None, number, name, limits, errors)
                  for key, pos, name in wanted}
        if not any(values.values()):
            continue  # blank line
        if len(table.rows) >= limits.max_rows:
            raise _Refused(f"数据超过 {limits.max_rows} 行的上限；请分成几个文件导入", sheet.title)
        table.rows.append(Row(number, values))
    errors.raise_any()
    return table


def _open_sheets(data: bytes, ext: str, limits: Limits):
    """(workbook or None, sheets) of a file, bounded; raises _Refused for file-level limits."""
    if ext == ".csv":
        if data[:4096].count(b"\x00") > 16 and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise _Refused("文件含有空字符（NUL），不是文本 CSV（可能是 Excel 工作簿改了扩展名，或是不带 BOM 的 "
                           "UTF-16）；请另存为 CSV（UTF-8）后重新上传")
        return None, [_csv_sheet(data)]
    wb, sheets = _xlsx_sheets(data, limits)
    if len(sheets) > limits.max_sheets:
        wb.close()
        raise _Refused(f"工作簿含有 {len(sheets)} 个工作表，超过上限 {limits.max_sheets}")
    return wb, sheets


def _data_tables(sheets: list[_RawSheet], file: str, specs: Sequence[Sequence[Column]], limits: Limits) -> list[Table]:
    """One table per expected data sheet; hidden sheets with data and surplus data sheets are refused by name."""
    for sheet in sheets:
        if sheet.hidden and _has_content(sheet, limits):
            raise _Refused(f"工作表「{sheet.title}」是隐藏的，但含有数据；为免导入看不见的内容，请删除该工作表，"
                           "或取消隐藏并确认只保留要导入的工作表", sheet.title)
    tables: list[Table] = []
    extra: list[str] = []
    for sheet in (s for s in sheets if not s.hidden):
        if len(tables) < len(specs):
            table = _table(sheet, file, specs[len(tables)], limits)
            if table is not None:
                tables.append(table)
        elif _has_content(sheet, limits):
            extra.append(sheet.title)
    if extra:
        kept = "、".join(f"「{t.sheet}」" for t in tables)
        raise _Refused(f"工作簿中除{kept}外还有含数据的工作表{'、'.join(f'「{t}」' for t in extra)}；"
                       f"本导入只读取 {len(specs)} 个工作表，请删除多余的工作表或分成几个文件", extra[0])
    if not tables:
        raise _Refused("文件中没有表头和数据", sheets[0].title if sheets else "")
    return tables


def read_tables(data: bytes, filename: str, specs: Sequence[Sequence[Column]], *,
                limits: Limits | None = None) -> list[Table]:
    """Read the data sheets of a file, bounded, before anything touches the database.

    ``specs[i]`` gives the columns of the i-th data sheet (a visible sheet with at least one non-empty cell;
    empty sheets such as Excel's default Sheet2/Sheet3 are skipped). Refused, naming file and sheet: a hidden
    sheet that holds data, more data sheets than ``specs``, a file or declared sheet beyond the limits, an
    unreadable file; named by row and column: control characters and over-long cells. Returns one table per
    data sheet found (at least one).
    """
    limits = limits or Limits.current()
    file = display_name(filename)

    def refuse(message, sheet="", row=None, column=None):
        return ImportFailed([RowError(row, column, message, file, sheet)])

    ext = _extension(filename)
    if not ext:
        raise refuse("不支持的文件类型，请上传 .xlsx 或 .csv 文件")
    if not data:
        raise refuse("文件为空")
    if len(data) > limits.max_bytes:
        raise refuse(f"文件过大（{_mib(len(data))}，上限 {_mib(limits.max_bytes)}）；请分成几个文件导入")
    wb = None
    try:
        wb, sheets = _open_sheets(data, ext, limits)
        return _data_tables(sheets, file, specs, limits)
    except _Refused as r:
        raise refuse(r.message, r.sheet, r.row, r.column) from None
    except UnicodeDecodeError:
        raise refuse("无法识别文件编码，请使用 UTF-8 或 GB18030（GBK）保存 CSV") from None
    except (ImportFailed, MemoryError):
        raise
    except Exception:  # openpyxl and zipfile raise many kinds for a broken or non-xlsx file
        raise refuse(_NOT_XLSX if ext == ".xlsx" else "无法读取文件，请确认是有效的 .csv 文件") from None
    finally:
        if wb is not None:
            wb.close()


def read_table(data: bytes, filename: str, columns: Sequence[Column], *, limits: Limits | None = None) -> Table:
    """Read the one data sheet of a file; raise ImportFailed naming file, sheet, row and column."""
    return read_tables(data, filename, [columns], limits=limits)[0]


def sheet_count(data: bytes, filename: str) -> int:
    """How many data sheets (visible, not empty) a file holds, bounded like ``read_tables``."""
    limits = Limits.current()
    if _extension(filename) != ".xlsx" or len(data) > limits.max_bytes:
        return 1
    wb = None
    try:
        wb, sheets = _xlsx_sheets(data, limits)
        return sum(1 for s in sheets[:limits.max_sheets] if not s.hidden and _has_content(s, limits))
    except Exception:
        return 1
    finally:
        if wb is not None:
            wb.close()


LOOKUP_CHUNK = 500


def chunks(values: Iterable[Any], size: int = LOOKUP_CHUNK) -> Iterator[list[Any]]:
    """The keys of a file in slices for ``IN (…)`` lookups: one query per slice keeps every statement far
    below the bound-parameter limits (PostgreSQL 65,535; SQLite 32,766) whatever the file's length."""
    batch: list[Any] = []
    for value in values:
        batch.append(value)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# ---------------------------------------------------------------- writing

@dataclass
class Sheet:
    title: str
    headers: list[str]
    rows: list[list[Any]]
    number_formats: dict[int, str] = field(default_factory=dict)  # column index -> e.g. "0.00"


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _neutral(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _looks_numeric(value):
        return "'" + value
    return value


def _looks_numeric(text: str) -> bool:
    try:
        Decimal(text)
        return True
    except Exception:
        return False


def _display_width(value: Any) -> int:
    text = "" if value is None else str(value)
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def write_xlsx(sheets: Iterable[Sheet]) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    for spec in sheets:
        ws = wb.create_sheet(title=spec.title[:31])
        ws.append(spec.headers)
        for row in spec.rows:
            ws.append([_neutral(v) for v in row])
        widths = [_display_width(h) for h in spec.headers]
        for row in spec.rows[:2000]:
            for i, v in enumerate(row):
                if i < len(widths):
                    widths[i] = max(widths[i], _display_width(v))
        for i, w in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(i)].width = min(max(w + 2, 8), 60)
        for col_index, fmt in spec.number_formats.items():
            letter = get_column_letter(col_index + 1)
            for cell in ws[letter][1:]:
                cell.number_format = fmt
        for cell in ws[1]:
            font = copy.copy(cell.font)  # the header keeps its font, in bold
            font.bold = True
            cell.font = font
        ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(_neutral(value))


def write_csv(sheet: Sheet) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(sheet.headers)
    for row in sheet.rows:
        writer.writerow([_csv_value(v) for v in row])
    return buf.getvalue().encode("utf-8-sig")


def export_bytes(fmt: str, sheets: Sequence[Sheet]) -> tuple[bytes, str]:
    """(content, mimetype) for ``xlsx`` or ``csv``. A CSV holds the first sheet only."""
    if fmt == "xlsx":
        return write_xlsx(sheets), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    if fmt == "csv":
        return write_csv(sheets[0]), "text/csv; charset=utf-8"
    raise ValueError(f"unknown format {fmt!r}")


def format_for_path(path: str) -> str:
    ext = _extension(path)
    if not ext:
        raise ValueError(f"文件名须以 .xlsx 或 .csv 结尾：{path}")
    return ext[1:]


def write_file(path: str, sheets: Sequence[Sheet]) -> None:
    """Write to a path by its extension (.xlsx, or .csv — for several sheets, one CSV per extra sheet)."""
    fmt = format_for_path(path)
    content, _ = export_bytes(fmt, sheets)
    with open(path, "wb") as fh:
        fh.write(content)
    if fmt == "csv":
        base = path[:-4]
        for extra in sheets[1:]:
            with open(f"{base}-{extra.title}.csv", "wb") as fh:
                fh.write(write_csv(extra))
