"""Fixtures of the core tests: roster files written the way the secretariat's tools write them."""
from __future__ import annotations

import io
from datetime import date

import pytest
from openpyxl import Workbook

from certify.services.roster_rules import make_id_number

HEADER_ZH = ["证件号", "姓名", "工作单位", "区县", "认证级别", "手机", "准考证号"]
HEADER_EN = ["id_number", "name", "work_unit", "district", "level", "phone", "ticket"]


def valid_id(n: int, area: str = "500103") -> str:
    """A distinct, valid ID number per n."""
    return make_id_number(area, date(1980 + n % 20, 1 + n % 12, 1 + n % 28), 100 + n)


def person(n: int, level: str = "初级", **over) -> list[str]:
    row = {"id_number": valid_id(n), "name": f"考生{n:02d}", "work_unit": f"单位{n % 3}", "district": "渝中区",
           "level": level, "phone": f"1380000{n:04d}", "ticket": ""}
    row.update(over)
    return [row[k] for k in HEADER_EN]


def xlsx_bytes(rows, header=HEADER_ZH) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "考生名单"
    ws.append(list(header))
    for r in rows:
        ws.append(list(r))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def csv_bytes(rows, header=HEADER_ZH, encoding: str = "utf-8") -> bytes:
    lines = [",".join(header)] + [",".join(str(v) for v in r) for r in rows]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


@pytest.fixture
def roster_files():
    """Namespace of builders: roster_files.xlsx(rows), .csv(rows, encoding=...), .person(n, level)."""

    class Files:
        xlsx = staticmethod(xlsx_bytes)
        csv = staticmethod(csv_bytes)
        person = staticmethod(person)
        valid_id = staticmethod(valid_id)
        header_en = HEADER_EN
        header_zh = HEADER_ZH

    return Files
