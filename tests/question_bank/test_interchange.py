"""Bank interchange (Moodle XML, GIFT, Aiken, QTI 2.1): files written by hand in each format's documented syntax,
round trips of the whole demo bank, hostile XML and packages. Pure: no app."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certify.tabular import read_table
from question_bank.services import interchange as ic
from question_bank.services.parsing import COLUMNS, ItemData, parse_rows

DEMO = Path(__file__).resolve().parents[2] / "question_bank" / "data" / "demo_bank.csv"
DEFAULTS = ic.Defaults(category="默认分类", difficulty="3", level="通用")


def parse(data: bytes, filename: str, defaults=DEFAULTS):
    read = ic.read_items(data, filename, defaults)
    parsed = parse_rows(read.rows, filename)
    return read, parsed


def items_of(parsed) -> list[ItemData]:
    return [r.item for r in parsed.rows]


def demo_items() -> list[tuple[str, ItemData]]:
    table = read_table(DEMO.read_bytes(), DEMO.name, COLUMNS)
    parsed = parse_rows(table.rows, table.file)
    assert not parsed.errors
    return [(r.item.code, r.item) for r in parsed.rows]


# ------------------------------------------------------------------------------------------------ hand-made files

MOODLE = """<?xml version="1.0" encoding="UTF-8"?>
<quiz>
  <question type="category">
    <category><text>$course$/顶层/科学素养</text></category>
  </question>
  <question type="multichoice">
    <name><text>KX-01</text></name>
    <questiontext format="html"><text><![CDATA[<p>下列能源中，属于<b>可再生能源</b>的是（　）。</p>]]></text></questiontext>
    <generalfeedback format="html"><text><![CDATA[<p>风能可以不断得到补充。</p>]]></text></generalfeedback>
    <defaultgrade>1.0000000</defaultgrade>
    <single>true</single>
    <shuffleanswers>true</shuffleanswers>
    <answer fraction="0" format="html"><text>煤炭</text><feedback><text>不可再生</text></feedback></answer>
    <answer fraction="100" format="html"><text>风能</text></answer>
    <answer fraction="0" format="html"><text>石油 &amp; 天然气</text></answer>
    <tags><tag><text>难度:2</text></tag><tag><text>适用级别:初级</text></tag></tags>
  </question>
  <question type="multichoice">
    <name><text>KX-02</text></name>
    <questiontext format="html"><text>下列属于哺乳动物的有</text></questiontext>
    <single>false</single>
    <answer fraction="50"><text>鲸</text></answer>
    <answer fraction="-100"><text>鲨鱼</text></answer>
    <answer fraction="50"><text>蝙蝠</text></answer>
  </question>
  <question type="truefalse">
    <name><text>KX-03</text></name>
    <questiontext format="moodle_auto_format"><text>水在标准大气压下 100 ℃ 沸腾。</text></questiontext>
    <answer fraction="0"><text>true</text></answer>
    <answer fraction="100"><text>false</text></answer>
  </question>
  <question type="essay">
    <name><text>ES-01</text></name>
    <questiontext format="html"><text>谈谈科技辅导员的职责。</text></questiontext>
  </question>
</quiz>
"""

GIFT = """// GIFT as Moodle documents it: comments, categories, titles, escapes, feedback, weights
$CATEGORY: $course$/科学素养

// 难度: 2; 适用级别: 初级
::KX-01::下列能源中，属于可再生能源的是（　）。{
  ~煤炭#不可再生
  =风能#正确
  ~石油
}

::KX-02::下列属于哺乳动物的有 {~%50%鲸 ~%-100%鲨鱼 ~%50%蝙蝠}

::KX-03::水在标准大气压下 100 ℃ 沸腾。{FALSE}

::KX-04::表达式 1 \\= 1 中的符号 \\{ \\} 与 \\~ 需要转义吗？{=需要 ~不需要 ####GIFT 用反斜杠转义 \\~ \\= \\# \\{ \\} \\:}
"""

AIKEN = """下列能源中，属于可再生能源的是（　）。
A. 煤炭
B. 风能
C) 石油
D) 天然气
ANSWER: B

光在真空中的传播速度约为
A. 3×10⁵ m/s
B. 3×10⁸ m/s
ANSWER: B
"""

QTI_ITEM = """<?xml version="1.0" encoding="UTF-8"?>
<assessmentItem xmlns="http://www.imsglobal.org/xsd/imsqti_v2p1" identifier="QTI-01" title="可再生能源"
    adaptive="false" timeDependent="false">
  <responseDeclaration identifier="RESPONSE" cardinality="multiple" baseType="identifier">
    <correctResponse><value>wind</value><value>sun</value></correctResponse>
  </responseDeclaration>
  <outcomeDeclaration identifier="SCORE" cardinality="single" baseType="float"/>
  <itemBody>
    <choiceInteraction responseIdentifier="RESPONSE" shuffle="true" maxChoices="0">
      <prompt>下列属于可再生能源的有</prompt>
      <simpleChoice identifier="coal">煤炭</simpleChoice>
      <simpleChoice identifier="wind">风能</simpleChoice>
      <simpleChoice identifier="sun">太阳能</simpleChoice>
    </choiceInteraction>
  </itemBody>
  <responseProcessing template="http://www.imsglobal.org/question/qti_v2p1/rptemplates/match_correct"/>
</assessmentItem>
"""


def test_moodle_xml_by_hand():
    read, parsed = parse(MOODLE.encode(), "bank.xml")
    assert read.format == "moodle"
    assert [e.message for e in read.errors] == ["不支持的 Moodle 题型「essay」（只导入单选、多选、判断）"]
    assert read.errors[0].row == 4 and read.errors[0].column == "题型"
    single, multiple, truefalse = items_of(parsed)
    assert single == ItemData(code="KX-01", type="single", stem="下列能源中，属于可再生能源的是（　）。",
                              options=("煤炭", "风能", "石油 & 天然气"), answer="B", category="科学素养",
                              difficulty=2, level="初级", explanation="风能可以不断得到补充。")
    assert (multiple.type, multiple.options, multiple.answer) == ("multiple", ("鲸", "鲨鱼", "蝙蝠"), "AC")
    assert (multiple.difficulty, multiple.level) == (3, "通用")  # the form's defaults
    assert (truefalse.type, truefalse.answer) == ("truefalse", "B")


def test_gift_by_hand():
    read, parsed = parse(GIFT.encode(), "bank.gift")
    assert read.format == "gift" and not read.errors and not parsed.errors
    one, two, three, four = items_of(parsed)
    assert (one.code, one.options, one.answer, one.category, one.difficulty, one.level) == (
        "KX-01", ("煤炭", "风能", "石油"), "B", "科学素养", 2, "初级")
    assert (two.type, two.answer, two.difficulty) == ("multiple", "AC", 3)
    assert (three.type, three.answer) == ("truefalse", "B")
    assert four.stem == "表达式 1 = 1 中的符号 { } 与 ~ 需要转义吗？"
    assert four.explanation == "GIFT 用反斜杠转义 ~ = # { } :"


def test_aiken_by_hand():
    read, parsed = parse(AIKEN.encode(), "bank.txt")
    assert read.format == "aiken" and not parsed.errors
    first, second = items_of(parsed)
    assert first.options == ("煤炭", "风能", "石油", "天然气") and first.answer == "B"
    assert second.stem == "光在真空中的传播速度约为" and second.category == "默认分类"


def test_aiken_without_answer_names_the_question():
    read, _ = parse("第一题\nA. 甲\nB. 乙\nANSWER: A\n\n第二题\nA. 甲\nB. 乙\n".encode(), "bank.txt")
    assert [(e.row, e.column) for e in read.errors] == [(2, "答案")]


def test_qti_single_item_file_by_hand():
    read, parsed = parse(QTI_ITEM.encode(), "item.xml")
    assert read.format == "qti" and not parsed.errors
    (item,) = items_of(parsed)
    assert (item.code, item.type, item.stem, item.options, item.answer) == (
        "QTI-01", "multiple", "下列属于可再生能源的有", ("煤炭", "风能", "太阳能"), "BC")


def test_qti_package_with_manifest_by_hand():
    manifest = """<?xml version="1.0" encoding="UTF-8"?>
<manifest xmlns="http://www.imsglobal.org/xsd/imscp_v1p1" xmlns:imsmd="http://ltsc.ieee.org/xsd/LOM" identifier="M1">
  <organizations/>
  <resources>
    <resource identifier="R1" type="imsqti_item_xmlv2p1" href="q1.xml">
      <metadata><imsmd:lom><imsmd:general>
        <imsmd:keyword><imsmd:string>分类:科学素养</imsmd:string></imsmd:keyword>
        <imsmd:keyword><imsmd:string>难度:4</imsmd:string></imsmd:keyword>
      </imsmd:general></imsmd:lom></metadata>
      <file href="q1.xml"/>
    </resource>
  </resources>
</manifest>"""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("imsmanifest.xml", manifest)
        z.writestr("q1.xml", QTI_ITEM)
    read, parsed = parse(buffer.getvalue(), "package.zip")
    (item,) = items_of(parsed)
    assert (item.category, item.difficulty, item.level) == ("科学素养", 4, "通用")


# ------------------------------------------------------------------------------------------------ round trips

@pytest.mark.parametrize("fmt", ["moodle", "gift", "qti"])
def test_demo_bank_round_trips(fmt):
    items = demo_items()
    data, skipped = ic.write_items(fmt, items)
    assert skipped == 0
    read, parsed = parse(data, "export" + ic.EXTENSIONS[fmt], ic.Defaults())
    assert not read.errors and not parsed.errors
    assert sorted(items_of(parsed), key=lambda i: i.code) == sorted((i for _, i in items), key=lambda i: i.code)


def test_aiken_round_trip_keeps_single_choice_and_says_what_it_left_out():
    items = demo_items()
    data, skipped = ic.write_items("aiken", items)
    singles = [i for _, i in items if i.type == "single" and "\n" not in i.stem]
    assert skipped == len(items) - len(singles) > 0
    _, parsed = parse(data, "export.aiken.txt")
    back = items_of(parsed)
    assert [(i.stem, i.options, i.answer) for i in back] == [(i.stem, i.options, i.answer) for i in singles]


text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp", "Zs")) | st.sampled_from(
    list("~=#{}:\\<>&\"' （　）")), min_size=1, max_size=30).map(str.strip).filter(
    lambda s: s and not s.startswith(("//", "::", "$", "[", "%")) and s == s.strip("\u3000"))


@settings(max_examples=60, deadline=None)
@given(stem=text, options=st.lists(text, min_size=2, max_size=5, unique=True), fmt=st.sampled_from(["moodle", "gift", "qti"]),
       multiple=st.booleans())
def test_any_text_round_trips(stem, options, fmt, multiple):
    from question_bank.services.parsing import parse_row

    answer = "AB" if multiple else "B"
    values = {"code": "P-1", "type": "多选" if multiple else "单选", "stem": stem, "answer": answer,
              "category": "科学素养", "difficulty": "3", "level": "通用",
              **{f"option_{c}": o for c, o in zip("abcdefgh", options)}}
    item, errors, _ = parse_row(values)
    if item is None:  # e.g. options equal after cleaning: not a valid item in any format
        return
    data, _ = ic.write_items(fmt, [("P-1", item)])
    read, parsed = parse(data, "x" + ic.EXTENSIONS[fmt], ic.Defaults())
    assert not read.errors and not parsed.errors, (read.errors, parsed.errors)
    assert items_of(parsed) == [item]


# ------------------------------------------------------------------------------------------------ hostile input

def test_entity_expansion_is_refused():
    bomb = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<quiz><question type="truefalse"><questiontext><text>&lol2;</text></questiontext></question></quiz>"""
    with pytest.raises(ic.InterchangeError) as err:
        ic.read_items(bomb, "bomb.xml")
    assert "DTD" in err.value.errors[0].message


def test_external_entity_is_refused():
    xxe = b"""<?xml version="1.0"?><!DOCTYPE q [<!ENTITY x SYSTEM "file:///etc/passwd">]><quiz>&x;</quiz>"""
    with pytest.raises(ic.InterchangeError):
        ic.read_items(xxe, "xxe.xml")


def test_zip_bomb_package_is_refused_before_reading():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("q.xml", b" " * (20 * 2 ** 20))
    with pytest.raises(ic.InterchangeError) as err:
        ic.read_items(buffer.getvalue(), "bomb.zip")
    assert "压缩比" in err.value.errors[0].message


def test_broken_xml_and_wrong_root_name_the_file():
    with pytest.raises(ic.InterchangeError) as err:
        ic.read_items(b"<quiz><question>", "broken.xml")
    assert err.value.errors[0].file == "broken.xml"
    with pytest.raises(ic.InterchangeError):
        ic.read_items(b"<?xml version='1.0'?><html/>", "page.xml")


def test_gift_without_answer_block_is_a_row_error():
    read, _ = parse("::A::有题干没有答案\n\n::B::1+1=2 {T}\n".encode(), "x.gift")
    assert [(e.row, e.column) for e in read.errors] == [(1, "答案")]
    assert len(read.rows) == 1


# ------------------------------------------------------------------------------------------------ through the CLI

def test_cli_round_trip_every_format_through_the_bank(app, tmp_path):
    """export-bank --format → wipe → import-bank: the same items; a file with a missing field is refused naming it."""
    from certify.extensions import db
    from question_bank import operations as ops
    from question_bank.models import Item

    runner = app.test_cli_runner()
    with app.app_context():
        result = runner.invoke(args=["import-bank", str(DEMO)])
        assert result.exit_code == 0, result.output
        before = sorted((i.code, ops.version_data(i.current, i.code)) for i in db.session.query(Item).all())
    for fmt in ("moodle", "gift", "qti", "aiken"):
        out = tmp_path / f"bank{ic.EXTENSIONS[fmt]}"
        result = runner.invoke(args=["export-bank", "--format", fmt, str(out)])
        assert result.exit_code == 0, result.output
        if fmt == "aiken":
            assert "未导出" in result.output
            continue
        result = runner.invoke(args=["import-bank", "--dry-run", str(out)])
        assert result.exit_code == 0, result.output
        assert "新增 0 题 · 更新 0 题" in result.output  # every item recognised as unchanged
    gift = tmp_path / "new.gift"
    gift.write_text("::NEW-1::新题 {=甲 ~乙}\n", encoding="utf-8")
    result = runner.invoke(args=["import-bank", "--dry-run", str(gift)])
    assert result.exit_code != 0 and "分类" in result.output
    result = runner.invoke(args=["import-bank", str(gift), "--category", "科学素养", "--difficulty", "中",
                                 "--level", "通用"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert ops.find_by_code("NEW-1").current.difficulty == 3
        assert len(before) + 1 == db.session.query(Item).count()
