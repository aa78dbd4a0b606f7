"""``certify import-bank`` / ``certify export-bank``: exit codes, --dry-run writes nothing."""
from __future__ import annotations

from bank_files import csv_bytes, row, sample_rows, xlsx_bytes
from sqlalchemy import func, select

from certify.extensions import db
from question_bank.models import Item, ItemVersion


def n_items() -> int:
    db.session.remove()
    return db.session.execute(select(func.count()).select_from(Item)).scalar()


def test_import_bank_reports_counts_and_is_idempotent(app, ctx, tmp_path):
    path = tmp_path / "题库.xlsx"
    path.write_bytes(xlsx_bytes(sample_rows()))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["import-bank", str(path)])
    assert result.exit_code == 0, result.output
    assert "新增 4 题 · 更新 0 题（生成新版本） · 未变 0 题 · 拒绝 0 行" in result.output
    assert n_items() == 4
    result = runner.invoke(args=["import-bank", str(path)])
    assert result.exit_code == 0 and "新增 0 题 · 更新 0 题（生成新版本） · 未变 4 题" in result.output


def test_dry_run_writes_nothing(app, ctx, tmp_path):
    path = tmp_path / "bank.csv"
    path.write_bytes(csv_bytes(sample_rows(), encoding="gb18030"))
    result = app.test_cli_runner().invoke(args=["import-bank", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "新增 4 题" in result.output and "试运行" in result.output
    assert n_items() == 0
    assert db.session.execute(select(func.count()).select_from(ItemVersion)).scalar() == 0


def test_row_errors_exit_non_zero_with_row_and_column(app, ctx, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(csv_bytes(sample_rows() + [row(stem="坏题", answer="F")]))
    result = app.test_cli_runner().invoke(args=["import-bank", str(path)])
    assert result.exit_code == 1
    assert "bad.csv，第 6 行，「答案」列：答案「F」中的 F 超出了已填写的 4 个选项" in result.output
    assert "未写入任何数据" in result.output
    assert n_items() == 0


def test_duplicate_warnings_are_printed(app, ctx, tmp_path):
    path = tmp_path / "dup.csv"
    path.write_bytes(csv_bytes([row(code="A", stem="同一个题干？"), row(code="B", stem="同一个题干?")]))
    result = app.test_cli_runner().invoke(args=["import-bank", str(path), "--dry-run"])
    assert result.exit_code == 0 and "第 3 行，「题干」列：题干与第 2 行重复" in result.output


def test_missing_file_and_bad_extension_exit_non_zero(app, ctx, tmp_path):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["import-bank", str(tmp_path / "none.xlsx")]).exit_code != 0
    assert runner.invoke(args=["export-bank", str(tmp_path / "out.txt")]).exit_code != 0


def test_export_bank_writes_the_import_format(app, ctx, tmp_path):
    runner = app.test_cli_runner()
    src = tmp_path / "in.csv"
    src.write_bytes(csv_bytes(sample_rows()))
    assert runner.invoke(args=["import-bank", str(src)]).exit_code == 0
    for name in ("out.xlsx", "out.csv"):
        result = runner.invoke(args=["export-bank", str(tmp_path / name)])
        assert result.exit_code == 0 and "已导出 4 道题目" in result.output
        again = runner.invoke(args=["import-bank", str(tmp_path / name), "--dry-run"])
        assert "新增 0 题 · 更新 0 题（生成新版本） · 未变 4 题" in again.output
