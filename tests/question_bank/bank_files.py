"""Bank files written the way the secretariat's tools write them (openpyxl .xlsx; CSV in UTF-8, BOM, GB18030)."""
from __future__ import annotations

import csv
import io

from openpyxl import Workbook

HEADER = ["编号", "题型", "题干", "选项A", "选项B", "选项C", "选项D", "选项E", "选项F", "选项G", "选项H", "答案", "分类",
          "难度", "适用级别", "解析"]
HEADER_EN = ["code", "type", "stem", "option_a", "option_b", "option_c", "option_d", "option_e", "option_f",
             "option_g", "option_h", "answer", "category", "difficulty", "level", "explanation"]


def row(code="", type="单选", stem="太阳系中体积最大的行星是（　）。", options=("水星", "地球", "木星", "火星"),
        answer="C", category="科学素养", difficulty="2", level="通用", explanation="木星体积最大。") -> list:
    opts = list(options) + [""] * (8 - len(options))
    return [code, type, stem, *opts, answer, category, difficulty, level, explanation]


def xlsx_bytes(rows, header=HEADER, numeric_difficulty=True) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "题库"
    ws.append(list(header))
    for r in rows:
        r = list(r)
        if numeric_difficulty and str(r[13]).isdigit():
            r[13] = int(r[13])  # Excel stores numbers as numbers
        ws.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def csv_bytes(rows, header=HEADER, encoding="utf-8") -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode(encoding)


def sample_rows() -> list[list]:
    return [
        row("", "单选", "太阳系中体积最大的行星是（　）。", ("水星", "地球", "木星", "火星"), "C"),
        row("", "多选", "下列属于可再生能源的有（　）。", ("太阳能", "风能", "煤炭", "水能"), "A,B D", level="初级"),
        row("", "判断", "声音可以在真空中传播。", (), "×", difficulty="易", level="中级"),
        row("", "判断", "光年是长度单位。", (), "对", category="科学素养", difficulty="难"),
    ]
