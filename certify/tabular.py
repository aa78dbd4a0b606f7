"""One way to read and write tables (.xlsx and .csv) for every import and export.

Reading: encodings (UTF-8, UTF-8 with BOM, GB18030), Chinese headers or English aliases, row numbers as
the spreadsheet shows them (header = row 1), and errors that name file, row, column and field.
Writing: typed numeric cells, frozen header, column widths, UTF-8 with BOM for CSV, formula neutralising.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Iterable, Sequence

from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter

SUPPORTED = (".xlsx", ".csv")


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
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


@dataclass
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


def _norm_header(text: str) -> str:
    text = str(text or "").strip().lower()
    text = re.sub(r"[\s_\-（）()\[\]【】*＊:：]", "", text)
    return text


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S") if (value.hour or value.minute or value.second) else (
            value.strftime("%Y-%m-%d"))
    if isinstance(value, date):
        return value.isoformat()
    return str(value).replace("\u3000", " ").strip()


def decode_csv(data: bytes) -> str:
    """UTF-8 (with or without BOM) first, then GB18030 (what Chinese Excel writes)."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnicodeDecodeError("gb18030", data, 0, 1, "not UTF-8 or GB18030")


def _extension(filename: str) -> str:
    name = (filename or "").lower()
    return next((ext for ext in SUPPORTED if name.endswith(ext)), "")


def _raw_rows(data: bytes, filename: str, sheet: int | str | None) -> tuple[str, list[list[Any]]]:
    ext = _extension(filename)
    if ext == ".csv":
        text = decode_csv(data)
        return "", [row for row in csv.reader(io.StringIO(text, newline=""))]
    if ext == ".xlsx":
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            if sheet is None:
                ws = wb.worksheets[0]
            elif isinstance(sheet, int):
                if sheet >= len(wb.worksheets):
                    return "", []
                ws = wb.worksheets[sheet]
            else:
                if sheet not in wb.sheetnames:
                    return "", []
                ws = wb[sheet]
            return ws.title, [list(r) for r in ws.iter_rows(values_only=True)]
        finally:
            wb.close()
    raise ValueError(ext)


def sheet_count(data: bytes, filename: str) -> int:
    if _extension(filename) != ".xlsx":
        return 1
    wb = load_workbook(io.BytesIO(data), read_only=True)
    try:
        return len(wb.worksheets)
    finally:
        wb.close()


def read_table(data: bytes, filename: str, columns: Sequence[Column], *, sheet: int | str | None = None,
               allow_extra: bool = True) -> Table:
    """Read a table; raise ImportFailed naming the file (and column) on file-level problems."""
    file = filename or "上传文件"
    if not _extension(filename):
        raise ImportFailed([RowError(None, None, "不支持的文件类型，请上传 .xlsx 或 .csv 文件", file)])
    if not data:
        raise ImportFailed([RowError(None, None, "文件为空", file)])
    try:
        title, raw = _raw_rows(data, filename, sheet)
    except UnicodeDecodeError:
        raise ImportFailed([RowError(None, None, "无法识别文件编码，请使用 UTF-8 或 GB18030（GBK）保存 CSV", file)])
    except Exception:  # openpyxl raises many kinds for a broken or non-xlsx file
        raise ImportFailed([RowError(None, None, "无法读取文件，请确认是有效的 .xlsx 或 .csv 文件", file)])

    # The header is the first non-empty row.
    header_index = next((i for i, r in enumerate(raw) if any(_cell_text(v) for v in r)), None)
    if header_index is None:
        raise ImportFailed([RowError(None, None, "文件中没有表头和数据", file, title)])
    header = [_cell_text(v) for v in raw[header_index]]
    by_name: dict[str, int] = {}
    errors: list[RowError] = []
    for idx, name in enumerate(header):
        if not name:
            continue
        key = _norm_header(name)
        if key in by_name:
            errors.append(RowError(header_index + 1, name, "表头重复", file, title))
        by_name[key] = idx
    positions: dict[str, int] = {}
    for col in columns:
        found = [by_name[n] for n in col.names() if n in by_name]
        if found:
            positions[col.key] = found[0]
        elif col.required:
            expected = col.header + (f"（或 {' / '.join(col.aliases)}）" if col.aliases else "")
            errors.append(RowError(header_index + 1, col.header, f"缺少必需的列「{expected}」", file, title))
    if errors:
        raise ImportFailed(errors)

    table = Table(file=file, sheet=title, present=set(positions))
    for offset, raw_row in enumerate(raw[header_index + 1:], start=header_index + 2):
        values = {key: _cell_text(raw_row[pos]) if pos < len(raw_row) else "" for key, pos in positions.items()}
        if not any(values.values()):
            continue  # blank line
        table.rows.append(Row(offset, values))
    return table


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
            cell.font = cell.font.copy(bold=True)
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


def send_table(download_name: str, fmt: str, sheets: Sequence[Sheet]):
    """A Flask download response (imported lazily so this module stays usable without Flask)."""
    from flask import send_file

    content, mimetype = export_bytes(fmt, sheets)
    return send_file(io.BytesIO(content), mimetype=mimetype, as_attachment=True,
                     download_name=f"{download_name}.{fmt}")


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
