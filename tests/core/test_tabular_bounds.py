"""Bounded, honest reading of uploaded tables (certify.tabular): limits checked before and while parsing,
sheets that would be imported silently are refused by name, invisible characters never pass unnoticed."""
from __future__ import annotations

import io
import re
import zipfile

import pytest

from certify.tabular import MAX_REPORTED_ERRORS, Column, ImportFailed, Limits, RowError, chunks, read_table, read_tables
from tests.hostile.corpus import openpyxl_bytes as xlsx  # (title, rows, state) sheets

COLS = (Column("id_number", "证件号"), Column("name", "姓名"), Column("phone", "手机", required=False))



def refusal(data: bytes, name: str, columns=COLS, **kwargs) -> list[RowError]:
    with pytest.raises(ImportFailed) as info:
        read_tables(data, name, [columns], **kwargs)
    return info.value.errors


def with_part(data: bytes, name: str, content: bytes) -> bytes:
    """The workbook with one part replaced (or added)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename != name:
                dst.writestr(info, src.read(info.filename))
        dst.writestr(name, content)
    return out.getvalue()


def test_a_declared_sheet_dimension_beyond_the_limits_is_refused_before_any_row_is_read():
    data = xlsx(("名单", [["证件号", "姓名"], ["1", "甲"]], "visible"))
    sheet = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
    bomb = re.sub(r'<dimension ref="[^"]+"\s*/>', '<dimension ref="A1:XFD1048576"/>', sheet)
    assert bomb != sheet
    errors = refusal(with_part(data, "xl/worksheets/sheet1.xml", bomb.encode()), "bomb.xlsx")
    assert "1048576 行 × 16384 列" in errors[0].message and errors[0].sheet == "名单"


def test_a_zip_bomb_is_refused_from_its_directory_without_decompressing():
    data = xlsx(("名单", [["证件号", "姓名"]], "visible"))
    bomb = with_part(data, "xl/worksheets/sheet2.xml", b"\0" * (30 * 1024 * 1024))  # ratio ~1000:1
    errors = refusal(bomb, "bomb.xlsx")
    assert "压缩比异常" in errors[0].message and "sheet2.xml" in errors[0].message
    # and the total declared size, when each part's ratio looks harmless
    errors = refusal(data, "big.xlsx", limits=Limits(max_unzipped_bytes=1000))
    assert "解压后" in errors[0].message


def test_the_upload_size_is_capped_before_parsing():
    errors = refusal(b"a" * 2000, "big.csv", limits=Limits(max_bytes=1000))
    assert "文件过大" in errors[0].message


def test_rows_columns_and_cell_length_are_bounded():
    header = "证件号,姓名\r\n"
    many = (header + "1,甲\r\n" * 30).encode()
    assert "上限" in refusal(many, "a.csv", limits=Limits(max_rows=20))[0].message
    assert len(read_table(many, "a.csv", COLS, limits=Limits(max_rows=30)).rows) == 30
    wide = ("证件号,姓名" + ",x" * 40 + "\r\n1,甲" + ",v" * 40 + "\r\n").encode()
    assert "列数上限" in refusal(wide, "a.csv", limits=Limits(max_columns=20))[0].message
    long = (header + "1," + "长" * 300 + "\r\n").encode()
    error = refusal(long, "a.csv", limits=Limits(max_cell_chars=200))[0]
    assert (error.row, error.column) == (2, "姓名") and "300 个字符" in error.message


def test_a_hidden_sheet_with_data_is_refused_by_name_even_before_a_visible_one():
    data = xlsx(("旧名单", [["证件号", "姓名"], ["1", "旧"]], "hidden"),
                ("名单", [["证件号", "姓名"], ["2", "新"]], "visible"))
    error = refusal(data, "r.xlsx")[0]
    assert error.sheet == "旧名单" and "隐藏" in error.message


def test_a_second_data_sheet_is_refused_but_empty_extra_sheets_are_ignored():
    data = xlsx(("名单", [["证件号", "姓名"], ["1", "甲"]], "visible"), ("说明", [["请按模板填写"]], "visible"))
    error = refusal(data, "r.xlsx")[0]
    assert error.sheet == "说明" and "说明" in error.message
    ok = xlsx(("Sheet1", [["证件号", "姓名"], ["1", "甲"]], "visible"), ("Sheet2", [], "visible"),
              ("Sheet3", [], "hidden"))
    assert read_table(ok, "r.xlsx", COLS).rows[0].values["name"] == "甲"
    # an importer that expects two sheets (panelists + conflicts) gets both
    two = read_tables(data, "r.xlsx", [COLS, (Column("note", "请按模板填写"),)])
    assert [t.sheet for t in two] == ["名单", "说明"]


def test_a_bom_on_any_header_is_stripped_so_the_column_is_not_dropped():
    data = xlsx(("名单", [["证件号", "姓名", "\ufeff手机"], ["1", "甲", "13800000000"]], "visible"))
    assert read_table(data, "r.xlsx", COLS).rows[0].values["phone"] == "13800000000"
    twice = "\ufeff证件号,姓名,\u200b手机\r\n1,甲,139\r\n".encode("utf-8-sig")
    table = read_table(twice, "r.csv", COLS)
    assert table.present == {"id_number", "name", "phone"} and table.rows[0].values["phone"] == "139"


def test_control_characters_are_named_by_row_and_column():
    data = "证件号,姓名\r\n1,张\x00三\r\n2,李\x07四\r\n3,王五\r\n".encode()
    errors = refusal(data, "r.csv")
    assert [(e.row, e.column) for e in errors] == [(2, "姓名"), (3, "姓名")]
    assert "U+0000" in errors[0].message and "U+0007" in errors[1].message


def test_an_excel_number_beyond_15_digits_reads_as_excel_shows_it():
    data = xlsx(("名单", [["证件号", "姓名"], [5.00103199003151e17, "甲"], [12345678, "乙"]], "visible"))
    rows = read_table(data, "r.xlsx", COLS).rows
    assert rows[0].values["id_number"] == "5.00103199003151E+17" and rows[1].values["id_number"] == "12345678"


def test_utf16_with_bom_and_tabs_is_read_and_without_bom_is_named():
    text = "证件号\t姓名\r\n1\t甲\r\n"
    assert read_table(text.encode("utf-16"), "r.csv", COLS).rows[0].values["name"] == "甲"
    assert "UTF-16" in refusal(("证件号,姓名\r\n" + "12345678,abc\r\n" * 3).encode("utf-16-le"), "r.csv")[0].message


def test_not_a_workbook_says_so():
    assert "不是有效的 .xlsx" in refusal(b"hello", "r.xlsx")[0].message
    assert ".xls" in refusal(b"\xd0\xcf\x11\xe0" + b"\0" * 100, "r.xlsx")[0].message


def test_file_names_lose_control_characters_and_paths():
    error = refusal(b"", "C:\\Users\\a\\名\x00单.csv")[0]
    assert error.file == "名单.csv"


def test_errors_are_capped_with_a_count_of_the_rest():
    err = ImportFailed([RowError(i, "姓名", "x", "f.csv") for i in range(MAX_REPORTED_ERRORS + 5)])
    assert len(err.errors) == MAX_REPORTED_ERRORS + 1 and "另有 5 条错误" in err.errors[-1].message


def test_chunks_slice_lookups():
    assert [len(c) for c in chunks(range(1201), 500)] == [500, 500, 201]
    assert list(chunks([])) == []


def test_limits_come_from_the_app_config(app):
    with app.app_context():
        app.config["IMPORT_MAX_ROWS"] = 7
        try:
            assert Limits.current().max_rows == 7 and Limits.current().max_bytes == Limits().max_bytes
        finally:
            app.config.pop("IMPORT_MAX_ROWS")
        assert Limits.current() == Limits()
