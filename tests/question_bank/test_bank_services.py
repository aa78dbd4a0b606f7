"""Pure parsing, normalisation, duplicate detection and planning: no app, no database."""
from __future__ import annotations

import pytest
from bank_files import HEADER_EN, row

from certify.tabular import Row
from question_bank import models
from question_bank.services import parsing
from question_bank.services.normalise import normalise_stem, stem_key
from question_bank.services.parsing import ItemData, parse_row, parse_rows
from question_bank.services.planning import Existing, plan_import
from question_bank.services.statistics import bank_statistics


def values(**over) -> dict:
    return dict(zip(HEADER_EN, row(**over)))


def errors_of(**over) -> list[tuple[str, str]]:
    item, errors, _ = parse_row(values(**over))
    assert item is None
    return errors


def test_service_constants_match_the_models():
    assert (parsing.SINGLE, parsing.MULTIPLE, parsing.TRUEFALSE) == models.ITEM_TYPES
    assert parsing.TYPE_LABELS == models.TYPE_LABELS
    assert parsing.LEVELS == models.ITEM_LEVELS
    assert list(parsing.TRUEFALSE_OPTIONS) == models.TRUEFALSE_OPTIONS


@pytest.mark.parametrize("text, expected", [
    ("B", "B"), ("acd", "ACD"), ("DCA", "ACD"), ("A,C", "AC"), ("A C", "AC"), ("A、C", "AC"), ("A，C", "AC"),
    ("Ａ Ｃ", "AC"), ("A;C", "AC"), (" b ", "B"),
])
def test_answer_letters_in_every_written_form(text, expected):
    item, errors, _ = parse_row(values(type="多选", answer=text))
    assert errors == []
    assert item.answer == expected


@pytest.mark.parametrize("text, key", [
    ("对", "A"), ("正确", "A"), ("√", "A"), ("✓", "A"), ("A", "A"), ("T", "A"),
    ("错", "B"), ("错误", "B"), ("×", "B"), ("✗", "B"), ("B", "B"), ("F", "B"), ("x", "B"),
])
def test_truefalse_answers_in_every_written_form(text, key):
    item, errors, _ = parse_row(values(type="判断", options=(), answer=text))
    assert errors == []
    assert item.answer == key and item.options == ("正确", "错误")


def test_truefalse_accepts_options_spelled_out():
    item, errors, _ = parse_row(values(type="判断", options=("正确", "错误"), answer="错"))
    assert errors == [] and item.answer == "B"


@pytest.mark.parametrize("text, level", [("1", 1), ("5", 5), ("3.0", 3), ("易", 2), ("中", 3), ("难", 4)])
def test_difficulty_numbers_and_words(text, level):
    item, errors, _ = parse_row(values(difficulty=text))
    assert errors == [] and item.difficulty == level


@pytest.mark.parametrize("over, column, fragment", [
    ({"type": "填空"}, "题型", "未知的题型"),
    ({"type": ""}, "题型", "题型不能为空"),
    ({"stem": "  "}, "题干", "题干不能为空"),
    ({"options": ("只有一个",)}, "选项B", "至少需要 2 个选项"),
    ({"options": ("甲", "乙", "", "丁"), "answer": "A"}, "选项C", "连续"),
    ({"options": ("甲", "甲", "丙")}, "选项B", "选项内容重复"),
    ({"answer": "E"}, "答案", "超出了已填写的 4 个选项"),
    ({"answer": "AB"}, "答案", "单选题只能有一个答案"),
    ({"answer": "A1"}, "答案", "只能是选项字母"),
    ({"type": "多选", "answer": "AAC"}, "答案", "重复"),
    ({"answer": ""}, "答案", "答案不能为空"),
    ({"type": "判断", "options": (), "answer": "也许"}, "答案", "无法识别"),
    ({"type": "判断", "options": ("是", "否", "不确定")}, "选项A", "判断题不填选项"),
    ({"difficulty": "6"}, "难度", "难度「6」无效"),
    ({"difficulty": "0"}, "难度", "无效"),
    ({"difficulty": "很难"}, "难度", "无效"),
    ({"difficulty": ""}, "难度", "难度不能为空"),
    ({"level": "高级"}, "适用级别", "未知的适用级别"),
    ({"level": ""}, "适用级别", "不能为空"),
    ({"category": ""}, "分类", "分类不能为空"),
    ({"category": "类" * 61}, "分类", "不能超过"),
    ({"code": "Q" * 61}, "编号", "不能超过"),
])
def test_every_error_class_names_its_column(over, column, fragment):
    errors = errors_of(**over)
    assert any(c == column and fragment in m for c, m in errors), errors


def test_eight_options_are_the_most():
    item, errors, _ = parse_row(values(options=tuple("甲乙丙丁戊己庚辛"), answer="H"))
    assert errors == [] and len(item.options) == 8


def test_multiple_choice_with_one_letter_is_accepted_with_a_warning():
    item, errors, warnings = parse_row(values(type="多选", answer="B"))
    assert errors == [] and item.answer == "B"
    assert warnings and "只有一个正确选项" in warnings[0][1]


def test_stem_normalisation_ignores_spaces_and_full_width_punctuation():
    a = "下列能源中，属于可再生能源的是（　）？"
    b = "下列能源中,属于 可再生能源的是( )?"
    c = "下列能源中，属于可再生能源的是（ ）。"
    assert normalise_stem(a) == normalise_stem(b)
    assert stem_key(a) == stem_key(b)
    assert stem_key(a) != stem_key(c)
    assert normalise_stem("ＡＢＣ　１２３") == normalise_stem("abc123")


def rows_of(*rows_) -> list[Row]:
    return [Row(i + 2, dict(zip(HEADER_EN, r))) for i, r in enumerate(rows_)]


def test_duplicate_stems_in_a_file_are_warnings_naming_both_rows():
    parsed = parse_rows(rows_of(row(code="A1", stem="水的沸点是（　）。"), row(code="A2", stem="水的沸点是 (  ) 。")))
    assert parsed.errors == []
    assert [(w.row, w.column) for w in parsed.warnings] == [(3, "题干")]
    assert "第 2 行" in parsed.warnings[0].message


def test_duplicate_stems_without_codes_cannot_be_told_apart():
    parsed = parse_rows(rows_of(row(stem="水的沸点是（　）。"), row(stem="水的沸点是(　)。")))
    assert [(e.row, e.column) for e in parsed.errors] == [(3, "题干")]


def test_duplicate_codes_in_a_file_are_errors():
    parsed = parse_rows(rows_of(row(code="K1", stem="一"), row(code="K1", stem="二")))
    assert [(e.row, e.column) for e in parsed.errors] == [(3, "编号")]
    assert "第 2 行" in parsed.errors[0].message


def existing(id_, code, **over) -> Existing:
    item, errors, _ = parse_row(values(code=code, **over))
    assert not errors
    return Existing(id_, code, "active", item)


def test_plan_matches_by_code_then_by_stem_and_diffs_fields():
    bank = [existing(1, "Q000001", stem="甲题？"), existing(2, "K-2", stem="乙题？")]
    parsed = parse_rows(rows_of(
        row(stem="甲题?"),  # matched by stem, stem text differs only in punctuation width -> updated (stem)
        row(code="K-2", stem="乙题？", answer="B"),  # matched by code, answer changed
        row(code="NEW", stem="丙题？"),
        row(code="Q000001-X", stem="乙题？")))  # new code, stem already in the bank -> warning
    plan = plan_import(parsed, bank)
    assert plan.ok
    assert [p.code for p in plan.updated] == ["Q000001", "K-2"]
    assert plan.updated[0].changes == [("题干", "甲题？", "甲题?")]
    assert plan.updated[1].changes == [("答案", "C", "B")]
    assert [p.code for p in plan.added] == ["NEW", "Q000001-X"]
    assert any("题库中已有题目 K-2" in w.message and w.row == 5 for w in plan.warnings)


def test_plan_unchanged_content_makes_no_version():
    bank = [existing(1, "Q000001", stem="甲题？")]
    plan = plan_import(parse_rows(rows_of(row(stem="甲题？"))), bank)
    assert plan.summary()["unchanged"] == 1 and not plan.updated and not plan.added


def test_plan_refuses_a_stem_shared_by_several_bank_items():
    bank = [existing(1, "A", stem="同题"), existing(2, "B", stem="同题")]
    plan = plan_import(parse_rows(rows_of(row(stem="同题"))), bank)
    assert not plan.ok and "编号 A、B" in plan.errors[0].message


def test_plan_refuses_two_rows_for_one_item():
    bank = [existing(1, "A", stem="甲")]
    plan = plan_import(parse_rows(rows_of(row(code="A", stem="甲"), row(stem="甲 "))), bank)
    assert not plan.ok and any("同一道题目 A" in e.message for e in plan.errors)


def test_statistics_count_every_dimension():
    stats = bank_statistics([("科学素养", "single", 1, "通用"), ("科学素养", "single", 1, "通用"),
                             ("科学素养", "single", 3, "通用"), ("安全规范", "truefalse", 5, "初级")])
    assert stats.total == 4
    first = stats.rows[0]
    assert (first.category, first.type, first.level, first.by_difficulty) == ("安全规范", "truefalse", "初级", {5: 1})
    assert stats.rows[1].by_difficulty == {1: 2, 3: 1} and stats.rows[1].total == 3
    assert stats.by_type == {"single": 3, "multiple": 0, "truefalse": 1}
    assert stats.by_difficulty == {1: 2, 2: 0, 3: 1, 4: 0, 5: 1}


def test_export_row_reads_back_as_the_same_item():
    item = ItemData("", "truefalse", "光年是长度单位。", ("正确", "错误"), "A", "科学素养", 3, "通用", "")
    back, errors, _ = parse_row(dict(zip(HEADER_EN, parsing.item_to_row("X1", item))))
    assert errors == [] and back.content() == item.content() and back.code == "X1"
