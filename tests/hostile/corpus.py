"""The hostile corpus: spreadsheets and CSV files built to break importers, generated at test time.

``build(folder)`` writes every file into ``folder`` and returns the cases; nothing binary is committed.
Each case says which importers it applies to (roster, bank, records, panelists) and what must happen:
``refused`` (a clear error, nothing written), ``ok`` (imported) or ``any`` (either, but never a crash).
Cases marked ``heavy`` are also read in a child process whose peak memory is measured.

Run it by hand to look at the files: ``python -m tests.hostile.corpus /tmp/corpus``.
"""
from __future__ import annotations

import csv
import io
import random
import struct
import sys
import zipfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from certify.services.roster_rules import make_id_number

IMPORTERS = ("roster", "bank", "records", "panelists")

HEADERS = {
    "roster": ["证件号", "姓名", "工作单位", "区县", "认证级别", "手机", "准考证号"],
    "bank": ["编号", "题型", "题干", "选项A", "选项B", "选项C", "选项D", "选项E", "选项F", "选项G", "选项H",
             "答案", "分类", "难度", "适用级别", "解析"],
    "records": ["证件号", "准考证号", "姓名", "业绩成果得分"],
    "panelists": ["姓名", "工作单位", "专业领域", "手机", "答辩组", "组长"],
}
# Which column of each importer a row-level hostile value goes into (and the header an error must name).
TARGET = {"roster": "姓名", "bank": "题干", "records": "证件号", "panelists": "姓名"}


def known_id(n: int) -> str:
    """The ID numbers of the candidates the corpus test creates before importing (records refer to them)."""
    return make_id_number("220102", date(1980 + n % 20, 1 + n % 12, 1 + n % 27), 300 + n)


def good_row(importer: str, n: int) -> list:
    if importer == "roster":
        birth = date(1950, 1, 1) + timedelta(days=n // 1000)  # (birth, serial) distinct for every n
        return [make_id_number("220104", birth, n % 1000), f"考生{n}", f"第{n % 7}中学", "南关区", "初级",
                f"139{n:08d}", ""]
    if importer == "bank":
        return [f"H{n:06d}", "单选", f"第 {n} 题：哪一项正确？", "甲", "乙", "丙", "丁", "", "", "", "", "A",
                "科学常识",
                "3", "通用", ""]
    if importer == "records":
        return [known_id(1 + n % 3), "", "", "88"]
    return [f"专家{n}", f"大学{n}", "物理", f"137{n:08d}", "", "否"]


def with_value(importer: str, value, n: int = 1) -> list:
    """A good row with ``value`` in the importer's target column."""
    row = good_row(importer, n)
    row[HEADERS[importer].index(TARGET[importer])] = value
    return row


# ---------------------------------------------------------------- raw builders

def csv_bytes(rows, encoding: str = "utf-8-sig", delimiter: str = ",") -> bytes:
    buf = io.StringIO(newline="")
    csv.writer(buf, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buf.getvalue().encode(encoding)


def openpyxl_bytes(*sheets) -> bytes:
    """sheets: (title, rows, state) made with openpyxl, as Excel-like tools write them."""
    wb = Workbook()
    wb.remove(wb.active)
    for title, rows, state in sheets:
        ws = wb.create_sheet(title)
        for r in rows:
            ws.append(r)
        ws.sheet_state = state
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def cell_xml(ref: str, value) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(str(value))}</t></is></c>'


def rows_xml(rows, start: int = 1) -> str:
    out = []
    for r, row in enumerate(rows, start):
        cells = "".join(cell_xml(f"{get_column_letter(c)}{r}", v) for c, v in enumerate(row, 1) if v not in ("", None))
        out.append(f'<row r="{r}">{cells}</row>')
    return "".join(out)


def sheet_xml(data: str, dimension: str | None = "A1") -> str:
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f"{dim}<sheetData>{data}</sheetData></worksheet>")


def raw_xlsx(sheets, *, shared: str | None = None, styles: str | None = None, extra=(), huge=(),
             method=zipfile.ZIP_DEFLATED) -> bytes:
    """A minimal workbook written part by part: sheets = [(name, worksheet xml, state)]; ``huge`` =
    [(part name, chunk bytes, repeat)] streamed into the zip without holding them in memory."""
    ns = "http://schemas.openxmlformats.org"
    types = ['<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>',
             '<Default Extension="xml" ContentType="application/xml"/>',
             '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
             'spreadsheetml.sheet.main+xml"/>']
    rels, entries = [], []
    for i, (name, _xml, state) in enumerate(sheets, 1):
        types.append(f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/vnd.'
                     'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>')
        rels.append(f'<Relationship Id="rId{i}" Type="{ns}/officeDocument/2006/relationships/worksheet" '
                    f'Target="worksheets/sheet{i}.xml"/>')
        state_attr = f' state="{state}"' if state != "visible" else ""
        entries.append(f'<sheet name="{escape(name)}" sheetId="{i}"{state_attr} r:id="rId{i}"/>')
    n = len(sheets)
    if shared is not None:
        types.append('<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
                     'officedocument.spreadsheetml.sharedStrings+xml"/>')
        rels.append(f'<Relationship Id="rId{n + 1}" Type="{ns}/officeDocument/2006/relationships/sharedStrings" '
                    'Target="sharedStrings.xml"/>')
    if styles is not None:
        types.append('<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-'
                     'officedocument.spreadsheetml.styles+xml"/>')
        rels.append(f'<Relationship Id="rId{n + 2}" Type="{ns}/officeDocument/2006/relationships/styles" '
                    'Target="styles.xml"/>')
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method, compresslevel=1) as zf:
        zf.writestr("[Content_Types].xml", f'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="{ns}/package/2006/'
                    f'content-types">{"".join(types)}</Types>')
        zf.writestr("_rels/.rels", f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{ns}/package/2006/'
                    f'relationships"><Relationship Id="rId1" Type="{ns}/officeDocument/2006/relationships/'
                    'officeDocument" Target="xl/workbook.xml"/></Relationships>')
        zf.writestr("xl/workbook.xml", f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{ns}/'
                    f'spreadsheetml/2006/main" xmlns:r="{ns}/officeDocument/2006/relationships"><sheets>'
                    f'{"".join(entries)}</sheets></workbook>')
        zf.writestr("xl/_rels/workbook.xml.rels", f'<?xml version="1.0" encoding="UTF-8"?><Relationships '
                    f'xmlns="{ns}/package/2006/relationships">{"".join(rels)}</Relationships>')
        for i, (_, xml, _) in enumerate(sheets, 1):
            if xml is not None:  # None: the part comes from ``huge``
                zf.writestr(f"xl/worksheets/sheet{i}.xml", xml)
        if shared is not None:
            zf.writestr("xl/sharedStrings.xml", shared)
        if styles is not None:
            zf.writestr("xl/styles.xml", styles)
        for name, data in extra:
            zf.writestr(name, data)
        for name, chunk, repeat in huge:
            with zf.open(name, "w") as fh:
                for _ in range(repeat):
                    fh.write(chunk)
    return out.getvalue()


def simple_xlsx(importer: str, rows, dimension: str | None = None) -> bytes:
    rows = [HEADERS[importer], *rows]
    dim = dimension or f"A1:{get_column_letter(max(len(r) for r in rows))}{len(rows)}"
    return raw_xlsx([("Sheet1", sheet_xml(rows_xml(rows), dim), "visible")])


def lie_about_sizes(data: bytes, part: str, declared: int) -> bytes:
    """Rewrite the zip headers of ``part`` to declare ``declared`` uncompressed bytes (a lying bomb)."""
    buf = bytearray(data)
    name = part.encode()
    for sig, size_at, name_len_at, name_at in ((b"PK\x03\x04", 22, 26, 30), (b"PK\x01\x02", 24, 28, 46)):
        start = 0
        while (pos := buf.find(sig, start)) != -1:
            start = pos + 4
            (name_len,) = struct.unpack_from("<H", buf, pos + name_len_at)
            if bytes(buf[pos + name_at:pos + name_at + name_len]) == name:
                struct.pack_into("<I", buf, pos + size_at, declared)
    return bytes(buf)


def valid_xlsx(importer: str, n: int = 3) -> bytes:
    return openpyxl_bytes(("数据", [HEADERS[importer], *(good_row(importer, i) for i in range(1, n + 1))], "visible"))


# ---------------------------------------------------------------- the cases

@dataclass
class Case:
    name: str
    importers: tuple[str, ...]
    expect: str  # refused | ok | any
    says: tuple[str, ...] = ()  # the error shown must contain one of these
    row_level: bool = False  # the error must name a row and a column
    heavy: bool = False  # peak memory measured in a child process
    path: Path | None = None
    config: dict | None = None  # app config for this case (smaller limits keep the corpus fast)


def build(folder: Path) -> list[Case]:
    folder.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []

    def add(name, data: bytes, importers=IMPORTERS, expect="refused", says=(), row_level=False, heavy=False,
            config=None):
        path = folder / name
        path.write_bytes(data)
        cases.append(Case(name, tuple(importers), expect, tuple(says), row_level, heavy, path, config))

    rng = random.Random(20240601)
    zero_mib = b"\0" * (1024 * 1024)
    blank_mib = b" " * (1024 * 1024)

    # -- not a spreadsheet, or nothing in it
    add("empty.csv", b"", says=("文件为空",))
    add("empty.xlsx", b"", says=("文件为空",))
    add("blank-lines.csv", b"\r\n \r\n,,,\r\n", says=("没有表头",))
    add("not-a-zip.xlsx", "证件号,姓名\r\n".encode() * 20, says=("不是有效的 .xlsx",))
    add("random-bytes.xlsx", bytes(rng.randrange(256) for _ in range(4096)), says=("无法读取",))
    add("random-bytes.csv", bytes(rng.randrange(256) for _ in range(4096)),
        says=("NUL", "编码", "缺少", "无法", "控制"))
    add("old-xls-or-encrypted.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 2048, says=(".xls",))
    add("truncated.xlsx", valid_xlsx("roster", 50)[:1500], says=("无法读取",))
    add("zip-without-workbook.xlsx", _zip({"hello.txt": b"hi"}), says=("无法读取",))
    add("png-renamed.csv", b"\x89PNG\r\n\x1a\n" + b"\0" * 200, says=("NUL", "编码", "无法", "控制", "缺少"))
    add("wrong-extension.txt", csv_bytes([HEADERS["roster"]]), says=("不支持的文件类型", "只支持"))
    add("header-only.csv", csv_bytes([HEADERS["roster"]]), importers=("roster",), says=("没有考生数据",))
    add("header-only-bank.csv", csv_bytes([HEADERS["bank"]]), importers=("bank",), says=("没有题目",))

    # -- memory and time bombs
    add("zip-bomb-sheet.xlsx", raw_xlsx([("Sheet1", sheet_xml(rows_xml([HEADERS["roster"]])), "visible")],
                                        huge=[("xl/worksheets/sheet9.xml", zero_mib, 120)]),
        says=("压缩", "解压"), heavy=True)
    add("zip-bomb-shared-strings.xlsx", raw_xlsx(
        [("Sheet1", sheet_xml('<row r="1"><c r="A1" t="s"><v>0</v></c></row>'), "visible")],
        huge=[("xl/sharedStrings.xml", b"<si><t>a</t></si>" * 60000, 30)]), says=("压缩", "解压"), heavy=True)
    lying = raw_xlsx([("Sheet1", None, "visible")],
                     huge=[("xl/worksheets/sheet1.xml", blank_mib, 20)])
    add("zip-bomb-lying-sizes.xlsx", lie_about_sizes(lying, "xl/worksheets/sheet1.xml", 1000),
        says=("无法读取", "压缩"), heavy=True)
    add("zip-many-entries.xlsx", _zip({f"junk/{i}.xml": b"" for i in range(5000)}), says=("部件",), heavy=True)
    add("huge-styles.xlsx", raw_xlsx([("Sheet1", sheet_xml(rows_xml([HEADERS["roster"]])), "visible")],
                                     styles='<?xml version="1.0"?><styleSheet xmlns="http://schemas.openxmlformats.org/'
                                            'spreadsheetml/2006/main"><cellXfs>' + "<xf/>" * 2_000_000 +
                                            "</cellXfs></styleSheet>"),
        says=("过大", "压缩"), heavy=True)
    add("declared-dimension-max.xlsx", raw_xlsx([("Sheet1", sheet_xml(rows_xml([HEADERS["roster"],
                                                                                good_row("roster", 1)]),
                                                                      "A1:XFD1048576"), "visible")]),
        says=("声明的数据范围",), heavy=True)
    add("dimension-lies-small-row-far.xlsx", importers=("roster", "panelists"), data=raw_xlsx([("Sheet1", sheet_xml(
        rows_xml([HEADERS["roster"]]) + rows_xml([good_row("roster", 2)], start=1_048_576), "A1:B2"), "visible")]),
        says=("行数超过上限",), heavy=True)
    add("cell-far-right.xlsx", raw_xlsx([("Sheet1", sheet_xml(
        rows_xml([HEADERS["roster"]]) + '<row r="2"><c r="XFD2" t="inlineStr"><is><t>x</t></is></c></row>', None),
        "visible")]), says=("列",), heavy=True)
    add("billion-laughs.xlsx", raw_xlsx([("Sheet1", sheet_xml('<row r="1"><c r="A1" t="s"><v>0</v></c></row>'),
                                          "visible")], shared=_laughs()), says=("无法读取",), heavy=True)
    add("external-entity.xlsx", raw_xlsx([("Sheet1", sheet_xml('<row r="1"><c r="A1" t="s"><v>0</v></c></row>'),
                                           "visible")], shared=_xxe()), says=("无法读取", "缺少"))
    # Row limits with a small IMPORT_MAX_ROWS: the same code path as 100,000, in a fraction of the time.
    many_rows = "".join(f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>{r}</t></is></c></row>'
                        for r in range(2, 1500))
    add("rows-beyond-limit.xlsx", raw_xlsx([("Sheet1", sheet_xml(rows_xml([HEADERS["roster"]]) + many_rows, None),
                                             "visible")]), importers=("roster",), says=("上限",),
        config={"IMPORT_MAX_ROWS": 1000})
    add("rows-beyond-limit.csv", csv_bytes([HEADERS["roster"], *([str(i)] for i in range(1500))]),
        importers=("roster",), says=("上限",), config={"IMPORT_MAX_ROWS": 1000})
    add("too-large-upload.csv", csv_bytes([HEADERS["roster"]]) + b"#" * (10 * 1024 * 1024 + 10),
        says=("文件过大",), heavy=True)
    add("many-sheets.xlsx", raw_xlsx([(f"S{i}", sheet_xml(""), "visible") for i in range(200)]), says=("工作表",))
    add("styled-empty-rows-to-limit.xlsx", raw_xlsx([("Sheet1", sheet_xml(
        rows_xml([HEADERS["roster"]]) + "".join(f'<row r="{r}" s="1" customFormat="1"/>' for r in range(2, 5000)),
        None), "visible")]), importers=("roster",), says=("上限",), config={"IMPORT_MAX_ROWS": 1000})

    # -- sheets: hidden, several, empty extras
    for imp in IMPORTERS:
        visible = [HEADERS[imp], good_row(imp, 1)]
        add(f"hidden-first-sheet-{imp}.xlsx", openpyxl_bytes(("旧数据", [HEADERS[imp], good_row(imp, 9)], "hidden"),
                                                               ("数据", visible, "visible")),
            importers=(imp,), says=("隐藏",))
    add("very-hidden-sheet.xlsx", openpyxl_bytes(("数据", [HEADERS["roster"], good_row("roster", 1)], "visible"),
                                                 ("x", [["secret"]], "veryHidden")), says=("隐藏",))
    add("three-data-sheets.xlsx", openpyxl_bytes(*((f"表{i}", [["a", "b"], ["1", "2"]], "visible") for i in range(3))),
        says=("含数据的工作表", "缺少"))
    for imp in IMPORTERS:
        add(f"extra-empty-sheets-{imp}.xlsx", openpyxl_bytes(("Sheet1", [HEADERS[imp], good_row(imp, 1)], "visible"),
                                                               ("Sheet2", [], "visible"), ("Sheet3", [], "hidden")),
            importers=(imp,), expect="ok")
    for imp in ("roster", "bank", "records"):
        add(f"second-data-sheet-{imp}.xlsx", openpyxl_bytes(("名单", [HEADERS[imp], good_row(imp, 1)], "visible"),
                                                              ("说明", [["请按模板填写"]], "visible")),
            importers=(imp,), says=("说明",))
    add("chartsheet-only.xlsx", raw_xlsx([]), says=("没有表头", "无法读取"))

    # -- headers
    for imp in IMPORTERS:
        header = list(HEADERS[imp])
        header[0] = "\ufeff" + header[0]
        add(f"double-bom-header-{imp}.csv", csv_bytes([header, good_row(imp, 1)]), importers=(imp,), expect="ok")
        add(f"duplicate-header-{imp}.csv", csv_bytes([HEADERS[imp] + [HEADERS[imp][0]], good_row(imp, 1) + ["x"]]),
            importers=(imp,), says=("表头重复",))
        add(f"control-in-header-{imp}.csv",
            csv_bytes([[HEADERS[imp][0] + "\x07", *HEADERS[imp][1:]], good_row(imp, 1)]),
            importers=(imp,), says=("控制字符",))
    add("no-known-header.csv", csv_bytes([["a", "b", "c"], ["1", "2", "3"]]), says=("缺少必需的列",))
    add("header-too-long.csv", csv_bytes([["表" * 5000, *HEADERS["roster"]], ["x", *good_row("roster", 1)]]),
        says=("表头过长",))
    add("wide-301-columns.csv", csv_bytes([HEADERS["roster"] + [f"c{i}" for i in range(300)],
                                           good_row("roster", 1) + ["v"] * 300]),
        importers=("roster",), says=("列数上限",))

    # -- cells: NUL, controls, length, odd digits, formulas
    for imp in IMPORTERS:
        target = TARGET[imp]
        add(f"nul-in-cell-{imp}.csv", csv_bytes([HEADERS[imp], with_value(imp, "张\x00三")]), importers=(imp,),
            says=("控制字符", "U+0000"), row_level=True)
        add(f"c1-control-in-cell-{imp}.xlsx", simple_xlsx(imp, [with_value(imp, "李\x85四")]), importers=(imp,),
            says=("控制字符",), row_level=True)
        add(f"bell-in-cell-{imp}.csv", csv_bytes([HEADERS[imp], with_value(imp, "王\x07五")]), importers=(imp,),
            says=("控制字符",), row_level=True)
        add(f"huge-cell-{imp}.csv", csv_bytes([HEADERS[imp], with_value(imp, "长" * 50_000)]), importers=(imp,),
            says=("过长",), row_level=True)
        add(f"cell-over-csv-field-limit-{imp}.csv", csv_bytes([HEADERS[imp], with_value(imp, "x" * 200_000)]),
            importers=(imp,), says=("单元格过长", "无法解析"))
        add(f"formula-injection-{imp}.csv", csv_bytes([HEADERS[imp], with_value(imp, "=HYPERLINK(\"http://x\",\"a\")"),
                                                      with_value(imp, "@SUM(1+1)*cmd|' /C calc'!A0", 2)]),
            importers=(imp,), expect="any")
        add(f"unbalanced-quote-{imp}.csv", csv_bytes([HEADERS[imp]]) + ('"' + "，".join(map(str, good_row(imp, 1)))
                                                                       ).encode() + b"\r\n" * 3,
            importers=(imp,), expect="any")
        add(f"gb18030-{imp}.csv", csv_bytes([HEADERS[imp], good_row(imp, 1)], encoding="gb18030"), importers=(imp,),
            expect="ok")
        add(f"utf16-with-bom-tabs-{imp}.csv", csv_bytes([HEADERS[imp], good_row(imp, 1)], encoding="utf-16",
                                                        delimiter="\t"), importers=(imp,), expect="ok")
        add(f"utf16-no-bom-{imp}.csv", csv_bytes([HEADERS[imp], good_row(imp, 1)], encoding="utf-16-le"),
            importers=(imp,), says=("NUL", "UTF-16"))
        add(f"latin1-mojibake-{imp}.csv", csv_bytes([HEADERS[imp], good_row(imp, 1)]).decode("utf-8-sig")
            .encode("utf-8").decode("latin-1").encode("utf-8"), importers=(imp,), says=("缺少必需的列", "控制字符"))
        add(f"zero-width-in-{target}-{imp}.csv", csv_bytes([HEADERS[imp], with_value(imp, "\u200b赵六\ufeff")]),
            importers=(imp,), expect="any")
        add(f"surrogate-escape-{imp}.xlsx", raw_xlsx([("Sheet1", sheet_xml(
            rows_xml([HEADERS[imp]]) + '<row r="2"><c r="A2" t="inlineStr"><is><t>&#xD800;</t></is></c></row>'),
            "visible")]), importers=(imp,), says=("无法读取",))
        add(f"raw-nul-in-xml-{imp}.xlsx", raw_xlsx([("Sheet1", sheet_xml(
            rows_xml([HEADERS[imp]]) + '<row r="2"><c r="A2" t="inlineStr"><is><t>a\x00b</t></is></c></row>'),
            "visible")]), importers=(imp,), says=("无法读取",))

    # -- ID numbers and tickets (roster, records)
    base = make_id_number("220104", date(1985, 6, 1), 77)
    odd_ids = {
        "fullwidth": base.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
        "arabic-indic": base[:6] + "".join("٠١٢٣٤٥٦٧٨٩"[int(d)] for d in base[6:14]) + base[14:],
        "superscript": base[:5] + "²" + base[6:],
        "nul": base[:9] + "\x00" + base[10:],
        "excel-e-notation": "2.20104198506011E+17",
        "future-birth": make_id_number("220104", date(2090, 1, 1), 5),
        "zero-width": base[:4] + "\u200c" + base[4:],
    }
    for label, value in odd_ids.items():
        add(f"id-{label}-roster.csv", csv_bytes([HEADERS["roster"], [value, *good_row("roster", 1)[1:]]]),
            importers=("roster",), says=("证件号",), row_level=label != "zero-width",
            expect="ok" if label == "zero-width" else "refused")
        add(f"id-{label}-records.csv", csv_bytes([HEADERS["records"], [value, "", "", "80"]]), importers=("records",),
            says=("证件号",), row_level=label != "zero-width", expect="refused")
    add("id-as-excel-number-roster.xlsx", openpyxl_bytes(("名单", [HEADERS["roster"],
                                                                 [2.20104198506011e17, *good_row("roster", 1)[1:]]],
                                                          "visible")), importers=("roster",),
        says=("存成了数字",), row_level=True)
    add("id-as-excel-number-records.xlsx", openpyxl_bytes(("表", [HEADERS["records"],
                                                                [2.20102198001011e17, "", "", 80]],
                                                           "visible")), importers=("records",),
        says=("存成了数字",), row_level=True)
    add("ticket-fullwidth-roster.csv",
        csv_bytes([HEADERS["roster"], [*good_row("roster", 1)[:6], "２０２４Ａ０００１"]]),
        importers=("roster",), says=("准考证号",), row_level=True)
    add("ticket-fullwidth-records.csv", csv_bytes([HEADERS["records"], ["", "２０２４Ａ０００１", "", "80"]]),
        importers=("records",), says=("准考证号",), row_level=True)

    # -- over-long fields bounded by their columns
    add("long-name-roster.csv", csv_bytes([HEADERS["roster"], with_value("roster", "名" * 150)]),
        importers=("roster",), says=("过长",), row_level=True)
    add("long-unit-roster.xlsx", simple_xlsx("roster", [[*good_row("roster", 1)[:2], "单" * 300,
                                                         *good_row("roster", 1)[3:]]]),
        importers=("roster",), says=("过长",), row_level=True)
    add("long-name-panelists.csv", csv_bytes([HEADERS["panelists"], with_value("panelists", "专" * 500)]),
        importers=("panelists",), says=("过长",), row_level=True)
    long_panel = [[f"专家{i}", f"单位{i}", "", "", "组" * 500, "是" if i == 1 else "否"] for i in range(1, 4)]
    add("long-panel-name-panelists.csv", csv_bytes([HEADERS["panelists"], *long_panel]), importers=("panelists",),
        says=("过长",), row_level=True)
    add("long-category-bank.csv", csv_bytes([HEADERS["bank"], [*good_row("bank", 1)[:12], "类" * 100,
                                                               *good_row("bank", 1)[13:]]]),
        importers=("bank",), says=("分类",), row_level=True)
    add("long-stem-bank.csv", csv_bytes([HEADERS["bank"], with_value("bank", "题" * 6000)]), importers=("bank",),
        says=("题干",), row_level=True)
    add("long-code-bank.csv", csv_bytes([HEADERS["bank"], ["Q" * 100, *good_row("bank", 1)[1:]]]),
        importers=("bank",), says=("编号",), row_level=True)
    add("score-hostile-records.csv", csv_bytes([HEADERS["records"], [known_id(1), "", "", "1e999999"],
                                                [known_id(2), "", "", "NaN"], [known_id(3), "", "", "-0.001"]]),
        importers=("records",), says=("业绩成果得分",), row_level=True)

    # -- long files: every IN lookup must be chunked (SQLite allows 32,766 bound values, PostgreSQL 65,535)
    header, rows = HEADERS["roster"], [good_row("roster", i) for i in range(1, 100_000)]
    rows.append([*good_row("roster", 100_000)[:4], "高级", *good_row("roster", 100_000)[5:]])  # one bad level
    add("roster-100k-rows.csv", csv_bytes([header, *rows]), importers=("roster",), says=("认证级别",), heavy=True)
    add("records-70k-rows.csv", csv_bytes([HEADERS["records"], *([f"ID{i:016d}", f"TK{i:08d}", "", "80"]
                                                                 for i in range(70_000))]),
        importers=("records",), says=("没有证件号", "另有"), heavy=True)
    add("panelists-20k-rows.csv", csv_bytes([HEADERS["panelists"], *(good_row("panelists", i) for i in range(20_000))]
                                             + [["", "", "", "", "", ""], ["缺单位", "", "", "", "", ""]]),
        importers=("panelists",), says=("工作单位不能为空",), heavy=True)
    return cases


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return out.getvalue()


def _laughs() -> str:
    ents = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    return (f'<?xml version="1.0"?><!DOCTYPE sst [{"".join(ents)}]><sst xmlns="http://schemas.openxmlformats.org/'
            'spreadsheetml/2006/main"><si><t>&lol9;</t></si></sst>')


def _xxe() -> str:
    return ('<?xml version="1.0"?><!DOCTYPE sst [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><sst xmlns="http://'
            'schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>&xxe;</t></si></sst>')


if __name__ == "__main__":
    import time
    t0 = time.perf_counter()
    made = build(Path(sys.argv[1] if len(sys.argv) > 1 else "hostile-corpus"))
    print(f"{len(made)} files in {time.perf_counter() - t0:.1f} s")
