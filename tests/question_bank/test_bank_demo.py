"""The demo bank validates, meets the composition the exam demo relies on, and loads idempotently."""
from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from certify.extensions import db
from certify.tabular import read_table
from question_bank.models import Item
from question_bank.operations import DEMO_BANK
from question_bank.services.parsing import COLUMNS, parse_rows

CATEGORIES = {"科学素养", "科学教育理论", "活动组织", "安全规范"}


def demo_items():
    data = DEMO_BANK.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf"), "the demo bank is UTF-8 with BOM"
    table = read_table(data, DEMO_BANK.name, COLUMNS)
    parsed = parse_rows(table.rows, table.file)
    assert parsed.errors == [] and parsed.warnings == []
    return [p.item for p in parsed.rows]


def test_demo_bank_validates_and_meets_the_composition():
    items = demo_items()
    assert len(items) >= 170
    assert {i.category for i in items} == CATEGORIES
    assert all(i.code for i in items) and len({i.code for i in items}) == len(items)
    assert all(i.explanation for i in items)
    by_type = Counter(i.type for i in items)
    assert by_type["single"] >= 90 and by_type["multiple"] >= 36 and by_type["truefalse"] >= 45

    single = Counter((i.category, i.level) for i in items if i.type == "single")
    for category in CATEGORIES:
        for level in ("通用", "初级", "中级"):
            assert single[(category, level)] >= 7, (category, level)
    multiple = Counter(i.level for i in items if i.type == "multiple")
    truefalse = Counter(i.level for i in items if i.type == "truefalse")
    for level in ("通用", "初级", "中级"):
        assert multiple[level] >= 12, level
        assert truefalse[level] >= 15, level
    for item_type in ("single", "multiple", "truefalse"):
        assert {i.difficulty for i in items if i.type == item_type} == {1, 2, 3, 4, 5}, item_type
    assert all(len(i.answer) >= 2 for i in items if i.type == "multiple")
    assert all(len(i.options) == 4 for i in items if i.type != "truefalse")


def test_demo_step_loads_the_bank_once(ctx):
    from question_bank import demo_step

    lines = []
    demo_step({"print": lines.append})
    db.session.commit()
    total = db.session.execute(select(func.count()).select_from(Item)).scalar()
    assert total == len(demo_items())
    demo_step({"print": lines.append})
    db.session.commit()
    assert db.session.execute(select(func.count()).select_from(Item)).scalar() == total
    assert lines[0].startswith(f"演示题库：{total} 道题目（新增 {total}")
    assert f"未变 {total}" in lines[1]
