"""Work-record scores import: error classes with real files, all-or-nothing, idempotence, freeze."""
from __future__ import annotations

from decimal import Decimal

import pytest
from results_files import csv_bytes, xlsx_bytes

from certify.extensions import db
from certify.models import AuditEntry, ComponentScore
from certify.results import operations as ops
from certify.results.records import import_records
from certify.tabular import ImportFailed

HEAD = ["证件号", "准考证号", "业绩成果得分"]


def record_of(cand):
    row = db.session.execute(db.select(ComponentScore).filter_by(candidate_id=cand.id, component="record")
                             ).scalar_one_or_none()
    return None if row is None else Decimal(row.score)


def audit_count(action="score.component"):
    return db.session.execute(db.select(db.func.count(AuditEntry.id)).filter_by(action=action)).scalar_one()


def test_every_error_class_is_reported_and_nothing_written(ctx, make_round, make_candidate):
    rnd = make_round("2024-jl", "吉林")
    other = make_round("2024-cq", "重庆")
    a, b, c = (make_candidate(rnd) for _ in range(3))
    stranger = make_candidate(other)
    rows = [HEAD,
            [a.id_number, "", "88.5"],                      # 2 ok
            ["NOSUCHID000", "", "80"],                      # 3 unknown candidate
            [stranger.id_number, "", "80"],                 # 4 candidate of another round
            ["", b.ticket, "100.5"],                        # 5 outside 0–100
            ["", c.ticket, "八十"],                          # 6 not a number
            [a.id_number, "", "70"],                        # 7 duplicate of row 2
            [b.id_number, c.ticket, "60"],                  # 8 keys point at different candidates
            ["", "", "60"],                                 # 9 no key
            [c.id_number, "", "77.125"],                    # 10 more than 2 decimals
            [c.id_number, "", ""]]                          # 11 empty score
    with pytest.raises(ImportFailed) as info:
        import_records(rnd, xlsx_bytes(rows), "records.xlsx")
    found = {(e.row, e.column) for e in info.value.errors}
    assert found == {(3, "证件号"), (4, "证件号"), (5, "业绩成果得分"), (6, "业绩成果得分"), (7, "证件号"),
                     (8, "准考证号"), (9, "证件号"), (10, "业绩成果得分"), (11, "业绩成果得分")}
    messages = "\n".join(str(e) for e in info.value.errors)
    assert "另一轮次（2024-cq）" in messages and "第 7 行" in messages and "第 2 行已有" in messages
    assert "records.xlsx" in messages
    db.session.rollback()
    assert record_of(a) is None  # nothing half-imported


def test_missing_key_columns_is_a_file_error(ctx, make_round):
    rnd = make_round("2024-jl", "吉林")
    with pytest.raises(ImportFailed) as info:
        import_records(rnd, csv_bytes([["姓名", "业绩成果得分"], ["张三", "80"]]), "r.csv")
    assert "证件号" in str(info.value)
    with pytest.raises(ImportFailed) as info:
        import_records(rnd, csv_bytes([["准考证号", "业绩成果得分"]]), "empty.csv")
    assert "没有业绩成果得分数据" in str(info.value)


def test_import_is_idempotent_and_changes_are_audited(ctx, make_round, make_candidate):
    rnd = make_round("2024-jl", "吉林")
    a, b = make_candidate(rnd), make_candidate(rnd)
    data = csv_bytes([["准考证号", "业绩成果得分"], [a.ticket, "88.5"], [b.ticket, "90"]], encoding="gb18030")
    s1 = import_records(rnd, data, "r.csv")
    db.session.commit()
    assert (s1.created, s1.updated, s1.unchanged) == (2, 0, 0)
    before = audit_count() + audit_count("results.import_records")
    s2 = import_records(rnd, data, "r.csv")
    db.session.commit()
    assert (s2.created, s2.updated, s2.unchanged) == (0, 0, 2)
    assert audit_count() + audit_count("results.import_records") == before  # same file changes nothing

    changed = csv_bytes([["证件号", "work_record_score"], [a.id_number, "91.25"], [b.id_number, "90.00"]])
    s3 = import_records(rnd, changed, "r2.csv")
    db.session.commit()
    assert (s3.updated, s3.unchanged) == (1, 1)
    assert record_of(a) == Decimal("91.25")
    entry = db.session.execute(db.select(AuditEntry).filter_by(action="score.component", target_id=str(a.id))
                               .order_by(AuditEntry.id.desc())).scalars().first()
    assert entry.detail["before"]["score"] in ("88.5", "88.5000") and entry.detail["after"]["score"] == "91.25"


def test_refused_once_confirmed_until_reopened(ctx, make_round, make_candidate):
    rnd = make_round("2024-jl", "吉林")
    a = make_candidate(rnd)
    import_records(rnd, csv_bytes([["准考证号", "业绩成果得分"], [a.ticket, "80"]]), "r.csv")
    ops.confirm(rnd, "初级")
    db.session.commit()
    again = csv_bytes([["准考证号", "业绩成果得分"], [a.ticket, "85"]])
    with pytest.raises(ImportFailed) as info:
        import_records(rnd, again, "r.csv")
    assert "已确认" in str(info.value)
    ops.reopen(rnd, "初级", "专家委员会更正业绩成果得分")
    db.session.commit()
    import_records(rnd, again, "r.csv")
    db.session.commit()
    assert record_of(a) == Decimal("85")


def test_web_import_shows_row_errors_and_template_downloads(ctx, make_round, make_candidate, client, login_as):
    rnd = make_round("2024-jl", "吉林")
    a = make_candidate(rnd)
    login_as("secretariat")
    resp = client.get("/results/records-template.xlsx")
    assert resp.status_code == 200 and resp.data[:2] == b"PK"
    bad = csv_bytes([["准考证号", "业绩成果得分"], [a.ticket, "101"]])
    resp = client.post(f"/results/{rnd.code}/records", data={"file": (__import__("io").BytesIO(bad), "r.csv")},
                       content_type="multipart/form-data")
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "超出 0–100" in html and "未写入任何数据" in html
    good = csv_bytes([["准考证号", "业绩成果得分"], [a.ticket, "99"]])
    resp = client.post(f"/results/{rnd.code}/records", data={"file": (__import__("io").BytesIO(good), "r.csv")},
                       content_type="multipart/form-data")
    assert resp.status_code == 200 and "新增 1" in resp.get_data(as_text=True)
    assert record_of(a) == Decimal("99")


def test_absent_cell_records_the_work_record_as_absent_and_a_score_replaces_it(ctx, make_round, make_candidate):
    rnd = make_round("2024-jl", "吉林")
    a, b = make_candidate(rnd), make_candidate(rnd)
    summary = import_records(rnd, csv_bytes([HEAD, [a.id_number, "", "88"], ["", b.ticket, " 缺考 "]]), "r.csv")
    assert (summary.created, summary.absent) == (2, 1)
    row = db.session.execute(db.select(ComponentScore).filter_by(candidate_id=b.id)).scalar_one()
    assert (row.status, row.score) == ("absent", None)
    again = import_records(rnd, csv_bytes([HEAD, [a.id_number, "", "88"], ["", b.ticket, "缺考"]]), "r.csv")
    assert (again.unchanged, again.updated, again.absent) == (2, 0, 0)
    comp = ops.compute(rnd, "初级")
    assert not comp.missing and {ln.candidate.id: ln.outcome for ln in comp.lines}[b.id] == "absent"
    late = import_records(rnd, csv_bytes([HEAD, ["", b.ticket, "75"]]), "late.csv")
    assert late.updated == 1 and late.changes == [{"ticket": b.ticket, "before": "缺考", "after": Decimal("75")}]
    assert record_of(b) == Decimal("75")
    # an empty cell is still refused, and says how to record a non-submitter
    with pytest.raises(ImportFailed) as info:
        import_records(rnd, csv_bytes([HEAD, [a.id_number, "", ""]]), "empty.csv")
    assert "缺考" in info.value.errors[0].message
