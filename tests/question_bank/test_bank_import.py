"""Importing real files, the preview → confirm flow, idempotence, versioning, retire, export round trip."""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from bank_files import HEADER_EN, csv_bytes, row, sample_rows, xlsx_bytes
from openpyxl import load_workbook
from sqlalchemy import func, select

from certify.extensions import db
from certify.models import AuditEntry
from certify.tabular import ImportFailed
from question_bank import operations as ops
from question_bank.models import RETIRED, Item, ItemVersion


def count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar()


FILES = {
    "xlsx": lambda rows: ("题库.xlsx", xlsx_bytes(rows)),
    "csv-utf8": lambda rows: ("题库.csv", csv_bytes(rows, encoding="utf-8")),
    "csv-bom": lambda rows: ("题库.csv", csv_bytes(rows, encoding="utf-8-sig")),
    "csv-gb18030": lambda rows: ("题库.csv", csv_bytes(rows, encoding="gb18030")),
    "english-headers": lambda rows: ("bank.csv", csv_bytes(rows, header=HEADER_EN)),
}


@pytest.mark.parametrize("kind", FILES)
def test_every_file_kind_imports_the_same_items(ctx, kind):
    name, data = FILES[kind](sample_rows())
    plan = ops.import_bank(data, name)
    db.session.commit()
    assert plan.summary()["added"] == 4
    items = db.session.execute(select(Item).order_by(Item.code)).scalars().all()
    assert [i.code for i in items] == ["Q000001", "Q000002", "Q000003", "Q000004"]
    got = [(v.type, v.answer, v.difficulty, v.level) for v in (i.current for i in items)]
    assert got == [("single", "C", 2, "通用"), ("multiple", "ABD", 2, "初级"), ("truefalse", "B", 2, "中级"),
                   ("truefalse", "A", 4, "通用")]
    assert items[2].current.options == ["正确", "错误"]
    assert all(i.versions[0].version == 1 for i in items)


@pytest.mark.parametrize("kind", ["xlsx", "csv-gb18030"])
def test_a_file_with_errors_imports_nothing_and_names_every_bad_cell(ctx, kind):
    rows = sample_rows() + [row(stem="第五题", answer="AB"), row(stem="第六题", level="高级", difficulty="9")]
    name, data = FILES[kind](rows)
    with pytest.raises(ImportFailed) as err:
        ops.import_bank(data, name)
    found = {(e.row, e.column) for e in err.value.errors}
    assert found == {(6, "答案"), (7, "适用级别"), (7, "难度")}
    assert all(e.file == name for e in err.value.errors)
    assert "第 6 行" in str(err.value.errors[0]) and "「答案」列" in str(err.value.errors[0])
    assert count(Item) == 0 and count(ItemVersion) == 0


def test_missing_column_and_wrong_file_type_are_file_level_errors(ctx):
    data = csv_bytes([["单选", "题干", "A", "B"]], header=["题型", "题干", "选项A", "选项B"])
    plan = ops.plan_file(data, "缺列.csv")
    assert not plan.ok and {e.column for e in plan.errors} == {"答案", "分类", "难度", "适用级别"}
    plan = ops.plan_file(b"hello", "bank.txt")
    assert not plan.ok and "不支持的文件类型" in plan.errors[0].message


def test_reimporting_the_same_file_changes_nothing(ctx):
    name, data = FILES["xlsx"](sample_rows())
    ops.import_bank(data, name)
    db.session.commit()
    before = (count(Item), count(ItemVersion), count(AuditEntry))
    plan = ops.import_bank(data, name)
    db.session.commit()
    assert plan.summary() | {"warnings": 0} == {"added": 0, "updated": 0, "unchanged": 4, "rejected": 0, "errors": 0,
                                                "warnings": 0}
    assert (count(Item), count(ItemVersion), count(AuditEntry)) == before


def test_changed_content_makes_a_new_version_and_old_references_keep_version_1(ctx):
    rows = [row(code="K-1", stem="水在一个标准大气压下的沸点是（　）。", options=("90 ℃", "100 ℃"), answer="B")]
    ops.import_bank(csv_bytes(rows), "a.csv")
    db.session.commit()
    item = ops.find_by_code("K-1")
    v1_id = item.current_version_id
    held = db.session.get(ItemVersion, v1_id)  # what a paper or an attempt points at

    rows[0] = row(code="K-1", stem="水在一个标准大气压下的沸点是（　）。", options=("90 ℃", "100 ℃", "110 ℃"), answer="B",
                  explanation="新解析")
    plan = ops.plan_file(csv_bytes(rows), "a.csv")
    assert [label for label, _, _ in plan.updated[0].changes] == ["选项", "解析"]
    ops.apply_plan(plan)
    db.session.commit()
    db.session.expire_all()

    item = ops.find_by_code("K-1")
    assert [v.version for v in item.versions] == [1, 2]
    assert item.current.version == 2 and item.current.options == ["90 ℃", "100 ℃", "110 ℃"]
    old = db.session.get(ItemVersion, v1_id)
    assert old is held or old.id == held.id
    assert old.version == 1 and old.options == ["90 ℃", "100 ℃"] and old.explanation == "木星体积最大。"


def test_edit_creates_version_2_validated_like_an_import_row(ctx, make_user):
    user = make_user("secretariat")
    ops.import_bank(csv_bytes(sample_rows()[:1]), "a.csv")
    db.session.commit()
    item = db.session.execute(select(Item)).scalar_one()
    values = dict(zip(HEADER_EN, row(stem="太阳系中体积最大的行星是哪一颗？")))
    with pytest.raises(ops.ItemInvalid) as err:
        ops.edit_item(item, {**values, "answer": "AB"}, actor=user)
    assert err.value.errors[0][0] == "答案"
    version, warnings = ops.edit_item(item, values, actor=user)
    db.session.commit()
    assert version.version == 2 and item.current.stem == "太阳系中体积最大的行星是哪一颗？"
    assert item.versions[0].version == 1 and item.versions[0].stem.endswith("行星是（ ）。")
    assert version.created_by_id == user.id
    again, _ = ops.edit_item(item, values, actor=user)
    assert again is None  # unchanged content: no version
    entry = db.session.execute(select(AuditEntry).filter_by(action="bank.item.edit")).scalar_one()
    assert entry.detail["changed"] == ["题干"] and entry.actor_id == user.id


def test_retire_and_reactivate_are_audited(ctx):
    ops.import_bank(csv_bytes(sample_rows()[:1]), "a.csv")
    item = db.session.execute(select(Item)).scalar_one()
    ops.retire_item(item, "题目超纲")
    db.session.commit()
    assert item.status == RETIRED
    with pytest.raises(ops.BankError):
        ops.retire_item(item)
    assert ops.statistics().total == 0
    ops.reactivate_item(item)
    db.session.commit()
    actions = db.session.execute(select(AuditEntry.action, AuditEntry.reason).order_by(AuditEntry.id)).all()
    assert actions[-2:] == [("bank.item.retire", "题目超纲"), ("bank.item.reactivate", "")]


def test_duplicate_stem_against_the_bank_is_a_warning_naming_the_item(ctx):
    ops.import_bank(csv_bytes([row(code="OLD-1", stem="下列能源中，属于可再生能源的是（　）。")]), "a.csv")
    db.session.commit()
    plan = ops.plan_file(csv_bytes([row(code="NEW-1", stem="下列能源中 , 属于可再生能源的是 (  ) 。")]), "b.csv")
    assert plan.ok and len(plan.added) == 1
    assert [(w.row, w.message) for w in plan.warnings] == [(2, "题干与题库中已有题目 OLD-1 重复")]


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_export_then_import_round_trips_unchanged(ctx, tmp_path, fmt):
    rows = sample_rows() + [row(code="K-8", stem="八个选项", options=tuple("甲乙丙丁戊己庚辛"), answer="H",
                                 explanation="第一行\n第二行")]
    ops.import_bank(xlsx_bytes(rows), "a.xlsx")
    db.session.commit()
    path = tmp_path / f"bank.{fmt}"
    assert ops.export_all(str(path)) == 5
    plan = ops.plan_file(path.read_bytes(), path.name)
    assert plan.ok and plan.summary()["unchanged"] == 5 and not plan.added and not plan.updated
    # The same export imported into an empty bank gives the same items with the same codes.
    exported = {(p.item.code, p.item.content().__repr__()) for p in plan.unchanged}
    db.session.execute(db.update(Item).values(current_version_id=None))
    db.session.execute(db.delete(ItemVersion))
    db.session.execute(db.delete(Item))
    db.session.commit()
    plan = ops.import_bank(path.read_bytes(), path.name)
    assert {(p.item.code, p.item.content().__repr__()) for p in plan.added} == exported


# ---------------------------------------------------------------- pages

def test_upload_preview_confirm_and_result(client, login_as, app):
    login_as("secretariat")
    resp = client.post("/bank/import", data={"file": (io.BytesIO(xlsx_bytes(sample_rows())), "题库.xlsx")},
                       content_type="multipart/form-data")
    assert resp.status_code == 302
    preview_url = resp.headers["Location"]
    token = preview_url.rsplit("/", 1)[-1]
    assert len(list((Path(app.instance_path) / "uploads").glob(f"bank-{token}.*"))) == 2  # staged, not imported
    html = client.get(preview_url).get_data(as_text=True)
    assert 'id="count-added">4<' in html and "确认导入" in html
    with app.app_context():
        assert count(Item) == 0  # nothing written by the preview
    html = client.post(preview_url, data={"fingerprint": fingerprint_in(html)}).get_data(as_text=True)
    assert "导入完成" in html and "新增 <b>4</b> 题" in html
    with app.app_context():
        assert count(Item) == 4
        entry = db.session.execute(select(AuditEntry).filter_by(action="bank.import")).scalar_one()
        assert entry.detail["added"] == ["Q000001", "Q000002", "Q000003", "Q000004"] and entry.actor_id
    assert client.get(preview_url).status_code == 302  # the staged file is gone

    # The same file again: all unchanged, nothing to confirm.
    resp = client.post("/bank/import", data={"file": (io.BytesIO(xlsx_bytes(sample_rows())), "题库.xlsx")},
                       content_type="multipart/form-data")
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert 'id="count-unchanged">4<' in html and "没有需要导入的内容" in html


def fingerprint_in(html: str) -> str:
    return re.search(r'name="fingerprint" type="hidden" value="([0-9a-f]+)"', html).group(1)


def test_confirm_after_the_bank_changed_shows_the_new_preview_instead(client, login_as, app):
    login_as("secretariat")
    resp = client.post("/bank/import", data={"file": (io.BytesIO(csv_bytes(sample_rows())), "a.csv")},
                       content_type="multipart/form-data")
    preview_url = resp.headers["Location"]
    shown = fingerprint_in(client.get(preview_url).get_data(as_text=True))
    with app.app_context():  # someone else imports two of the same items meanwhile
        ops.import_bank(csv_bytes(sample_rows()[:2]), "other.csv")
        db.session.commit()
    html = client.post(preview_url, data={"fingerprint": shown}).get_data(as_text=True)
    assert "题库在预览之后发生了变化" in html
    assert 'id="count-added">2<' in html and 'id="count-unchanged">2<' in html
    with app.app_context():
        assert count(Item) == 2
    html = client.post(preview_url, data={"fingerprint": fingerprint_in(html)}).get_data(as_text=True)
    assert "新增 <b>2</b> 题" in html
    with app.app_context():
        assert count(Item) == 4


def test_preview_shows_rejected_rows_and_offers_no_confirm(client, login_as, app):
    login_as("secretariat")
    rows = sample_rows() + [row(stem="坏题", type="问答")]
    resp = client.post("/bank/import", data={"file": (io.BytesIO(csv_bytes(rows, encoding="gb18030")), "bad.csv")},
                       content_type="multipart/form-data")
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "未知的题型「问答」" in html and "确认导入" not in html and 'id="count-rejected">1<' in html
    fingerprint = ops.plan_file(csv_bytes(rows, encoding="gb18030"), "bad.csv").fingerprint()
    html = client.post(resp.headers["Location"], data={"fingerprint": fingerprint}).get_data(as_text=True)  # forced
    assert "文件有错误，未导入任何题目" in html
    with app.app_context():
        assert count(Item) == 0


def test_preview_lists_updates_with_a_field_diff(client, login_as, ctx):
    ops.import_bank(csv_bytes(sample_rows()), "a.csv")
    db.session.commit()
    login_as("secretariat")
    rows = sample_rows()
    rows[0] = row(code="Q000001", stem="太阳系中体积最大的行星是（　）。", options=("水星", "地球", "木星", "火星"),
                  answer="C", difficulty="3")
    resp = client.post("/bank/import", data={"file": (io.BytesIO(csv_bytes(rows)), "b.csv")},
                       content_type="multipart/form-data")
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert 'id="count-updated">1<' in html and 'id="count-unchanged">3<' in html
    assert re.search(r"<th>难度</th><td class=\"old\">2</td>.*<td class=\"new\">3</td>", html)


def test_unsupported_upload_is_refused_with_a_message(client, login_as):
    login_as("secretariat")
    html = client.post("/bank/import", data={"file": (io.BytesIO(b"x"), "bank.docx")},
                       content_type="multipart/form-data").get_data(as_text=True)
    assert "不支持的文件类型" in html


def test_search_filters_detail_preview_edit_and_retire_pages(client, login_as, ctx):
    ops.import_bank(csv_bytes(sample_rows()), "a.csv")
    db.session.commit()
    login_as("secretariat")
    html = client.get("/bank/?q=木星").get_data(as_text=True)  # an option's text
    assert "太阳系中体积最大的行星" in html and "光年" not in html
    html = client.get("/bank/?type=truefalse&level=中级").get_data(as_text=True)
    assert "声音可以在真空中传播" in html and "光年" not in html
    html = client.get("/bank/?difficulty=4").get_data(as_text=True)
    assert "光年" in html and "声音" not in html
    item = ops.find_by_code("Q000001")
    html = client.get(f"/bank/items/{item.id}/preview").get_data(as_text=True)
    shown = html.split('class="item-view"', 1)[1].split("</main>", 1)[0]
    assert "木星" in shown and "答案" not in shown and "木星体积最大" not in html
    form = dict(zip(HEADER_EN, row(stem="太阳系中体积最大的行星是（　）？", difficulty="4")))
    form.pop("code")
    resp = client.post(f"/bank/items/{item.id}/edit", data={**form, "type": "单选"})
    assert resp.status_code == 302
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "已保存为第 2 版" in html and "第 1 版" in html
    assert re.search(r"<th>难度</th><td class=\"old\">2</td>.*<td class=\"new\">4</td>", html)  # history diff
    bad = client.post(f"/bank/items/{item.id}/edit", data={**form, "type": "单选", "answer": "Z"})
    assert "只能是选项字母" in bad.get_data(as_text=True)
    bad = client.post(f"/bank/items/{item.id}/edit", data={**form, "type": "填空", "level": "高级"})
    assert "未知的题型「填空」" in bad.get_data(as_text=True) and "未知的适用级别「高级」" in bad.get_data(as_text=True)
    client.post(f"/bank/items/{item.id}/retire", data={"reason": "过时"})
    assert "停用" in client.get("/bank/?status=retired").get_data(as_text=True)
    html = client.get("/bank/stats").get_data(as_text=True)
    assert "在用题目<b>3</b>" in html


def test_export_and_template_downloads_are_import_files(client, login_as, ctx):
    ops.import_bank(csv_bytes(sample_rows()), "a.csv")
    db.session.commit()
    login_as("supervisor")
    resp = client.get("/bank/export.xlsx?type=truefalse")
    ws = load_workbook(io.BytesIO(resp.data)).active
    values = list(ws.values)
    assert values[0][:3] == ("编号", "题型", "题干") and len(values) == 3
    resp = client.get("/bank/template.csv")
    assert resp.data.startswith(b"\xef\xbb\xbf")
    plan = ops.plan_file(resp.data, "template.csv")
    assert plan.ok and len(plan.added) == 3


def test_supervisor_reads_but_cannot_change(client, login_as, ctx):
    ops.import_bank(csv_bytes(sample_rows()), "a.csv")
    db.session.commit()
    item_id = ops.find_by_code("Q000001").id
    login_as("supervisor")
    for url in ("/bank/", "/bank/stats", f"/bank/items/{item_id}", f"/bank/items/{item_id}/preview"):
        assert client.get(url).status_code == 200, url
    assert client.get("/bank/import").status_code == 403
    assert client.get(f"/bank/items/{item_id}/edit").status_code == 403
    assert client.post(f"/bank/items/{item_id}/retire", data={}).status_code == 403


def test_candidates_cannot_see_the_bank(client, login_as):
    login_as("candidate")
    assert client.get("/bank/").status_code == 403
    assert client.get("/bank/export.csv").status_code == 403


def test_versions_made_outside_the_bank_operations_are_searchable(ctx):
    item = Item(code="EXT-1", stem_key="x")
    version = ItemVersion(item=item, version=1, type="single", stem="外部创建的题目", options=["甲选项", "乙选项"],
                          answer="A", category="科学素养", difficulty=1, level="通用")
    db.session.add_all([item, version])
    db.session.flush()
    item.current_version_id = version.id
    db.session.commit()
    found = db.session.execute(ops.search_query(ops.Filters(q="乙选项"))).scalars().all()
    assert [i.code for i in found] == ["EXT-1"]


def test_the_preview_flags_a_near_duplicate_stem_naming_the_existing_item(client, login_as, app):
    with app.app_context():
        ops.import_bank(csv_bytes([row(code="OLD-7", stem="下列哪一种行为符合青少年科技活动的安全规范？")]), "a.csv")
        db.session.commit()
    login_as("secretariat")
    resp = client.post("/bank/import", data={"file": (io.BytesIO(xlsx_bytes(
        [row(stem="下列哪一种行为不符合青少年科技活动的安全规范？")])), "题库.xlsx")}, content_type="multipart/form-data")
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert 'id="count-added">1<' in html and "题干与题库中已有题目 OLD-7 相似（相似度" in html
    assert "符合青少年科技活动的安全规范？」" in html and "确认导入" in html  # a warning, not a refusal
