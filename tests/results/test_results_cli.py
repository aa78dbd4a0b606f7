"""A Jilin round (work record 100 %) end to end from the command line alone."""
from __future__ import annotations

from datetime import date

from openpyxl import load_workbook
from results_files import csv_bytes, xlsx_bytes

from certify.extensions import db
from certify.models import Candidate, Round
from certify.services.roster_rules import make_id_number


def test_jilin_round_end_to_end_from_the_cli(app, tmp_path):
    runner = app.test_cli_runner()

    def run(*args, ok=True):
        result = runner.invoke(args=list(args), catch_exceptions=False)
        assert (result.exit_code == 0) == ok, result.output
        return result.output

    run("create-round", "--code", "2024-jl-cli", "--region", "吉林", "--year", "2024")
    ids = [make_id_number("220102", date(1985, 1, 1 + i), 100 + i) for i in range(6)]
    roster = tmp_path / "roster.xlsx"
    roster.write_bytes(xlsx_bytes([["证件号", "姓名", "工作单位", "区县", "认证级别"]]
                                  + [[ids[i], f"吉林{i}", f"长春第{i}中学", "南关区", "初级"] for i in range(6)]))
    run("import-roster", "--round", "2024-jl-cli", str(roster))

    scores = ["92.5", "88", "88", "75.25", "60", "59.99"]
    records = tmp_path / "records.csv"
    records.write_bytes(csv_bytes([["证件号", "业绩成果得分"]] + [[ids[i], scores[i]] for i in range(6)],
                                  encoding="gb18030"))
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes([["证件号", "业绩成果得分"], [ids[0], "120"], ["110101199001011234", "80"]]))
    out = runner.invoke(args=["import-records", "--round", "2024-jl-cli", str(bad)])
    assert out.exit_code == 1 and "第 2 行" in out.output and "第 3 行" in out.output and "未写入任何数据" in out.output

    assert "新增 6" in run("import-records", "--round", "2024-jl-cli", str(records))
    assert "未变 6" in run("import-records", "--round", "2024-jl-cli", str(records))

    # 0.3 × 6 = 1.8 -> 2; the two 88s tie at #2 -> 3 certified, cut line 88.00
    preview = run("results", "--round", "2024-jl-cli", "--ratio", "0.3")
    assert "有效 6" in preview and "名额 2" in preview and "分数线 88.00" in preview and "认定 3" in preview
    # a minimum total: 0.9 × 6 = 5.4 -> 5, but 59.99 < 60 and 60 passes
    assert "认定 5" in run("results", "--round", "2024-jl-cli", "--ratio", "0.9", "--min-total", "60")

    confirmed = run("results", "--round", "2024-jl-cli", "--ratio", "0.3", "--confirm")
    assert "已确认" in confirmed
    again = runner.invoke(args=["results", "--round", "2024-jl-cli", "--confirm"])
    assert again.exit_code == 1 and "已确认" in again.output

    out_xlsx = tmp_path / "results.xlsx"
    run("export", "results", "--round", "2024-jl-cli", str(out_xlsx))
    ws = load_workbook(out_xlsx).active
    rows = [[c.value for c in r] for r in ws.iter_rows(min_row=2)]
    assert [r[8] for r in rows] == [92.5, 88, 88, 75.25, 60, 59.99]
    assert [r[9] for r in rows] == [1, 2, 2, 4, 5, 6]
    assert [r[10] for r in rows] == ["认定", "认定", "认定", "未认定", "未认定", "未认定"]
    assert rows[0][2] == ids[0] and rows[0][5] is None and rows[0][7] == 92.5
    pub = tmp_path / "publicity.csv"
    run("export", "publicity", "--round", "2024-jl-cli", str(pub))
    text = pub.read_bytes().decode("utf-8-sig")
    assert text.splitlines()[0] == "序号,姓名,工作单位,认证级别" and ids[0] not in text
    assert len(text.splitlines()) == 4 and "吉林3" not in text  # only the 3 proposed for certification
    with app.app_context():
        rnd = db.session.execute(db.select(Round).filter_by(code="2024-jl-cli")).scalar_one()
        assert db.session.execute(db.select(db.func.count(Candidate.id)).filter_by(round_id=rnd.id)).scalar_one() == 6


def _jilin_round(runner, tmp_path, code, n=4):
    def run(*args, ok=True):
        result = runner.invoke(args=list(args), catch_exceptions=False)
        assert (result.exit_code == 0) == ok, result.output
        return result.output

    run("create-round", "--code", code, "--region", "吉林", "--year", "2024")
    ids = [make_id_number("220102", date(1986, 2, 1 + i), 200 + i) for i in range(n)]
    roster = tmp_path / "roster.xlsx"
    roster.write_bytes(xlsx_bytes([["证件号", "姓名", "工作单位", "区县", "认证级别"]]
                                  + [[ids[i], f"吉林{i}", f"长春第{i}中学", "南关区", "初级"] for i in range(n)]))
    run("import-roster", "--round", code, str(roster))
    return run, ids


def _export_rows(run, code, tmp_path):
    out_xlsx = tmp_path / f"{code}.xlsx"
    run("export", "results", "--round", code, str(out_xlsx))
    return [[c.value for c in r] for r in load_workbook(out_xlsx).active.iter_rows(min_row=2)]


def test_jilin_non_submitter_marked_absent_in_the_records_file_confirms_from_the_cli(app, tmp_path):
    runner = app.test_cli_runner()
    run, ids = _jilin_round(runner, tmp_path, "2024-jl-abs")
    records = tmp_path / "records.csv"
    records.write_bytes(csv_bytes([["证件号", "业绩成果得分"], [ids[0], "90"], [ids[1], "80"], [ids[2], "70"],
                                   [ids[3], "缺考"]]))
    out = run("import-records", "--round", "2024-jl-abs", str(records))
    assert "新增 4" in out and "标记缺考 1" in out
    assert "未变 4" in run("import-records", "--round", "2024-jl-abs", str(records))  # idempotent, absent too
    confirmed = run("results", "--round", "2024-jl-abs", "--ratio", "0.6", "--confirm")
    assert "缺考 1" in confirmed and "有效 3" in confirmed and "认定比例 60%" in confirmed
    rows = _export_rows(run, "2024-jl-abs", tmp_path)
    by_id = {r[2]: r for r in rows}
    assert by_id[ids[3]][10] == "缺考" and by_id[ids[3]][8] is None and by_id[ids[3]][9] is None
    assert [by_id[i][10] for i in ids[:3]] == ["认定", "认定", "未认定"]  # 0.6 × 3 = 1.8 -> 2


def test_jilin_non_submitter_marked_absent_with_the_cli_then_confirms(app, tmp_path):
    runner = app.test_cli_runner()
    run, ids = _jilin_round(runner, tmp_path, "2024-jl-mark")
    records = tmp_path / "records.csv"
    records.write_bytes(csv_bytes([["证件号", "业绩成果得分"], [ids[0], "90"], [ids[1], "80"], [ids[2], "70"]]))
    run("import-records", "--round", "2024-jl-mark", str(records))
    refused = runner.invoke(args=["results", "--round", "2024-jl-mark", "--confirm"])
    assert refused.exit_code == 1 and "尚缺成分成绩" in refused.output

    # first the statement of what would happen; nothing is written
    dry = run("results", "--round", "2024-jl-mark", "--mark-absent")
    assert "吉林3：业绩成果得分 → 缺考" in dry
    assert "未写入任何数据" in dry
    assert runner.invoke(args=["results", "--round", "2024-jl-mark", "--confirm"]).exit_code == 1
    # --yes without a reason is refused
    no_reason = runner.invoke(args=["results", "--round", "2024-jl-mark", "--mark-absent", "--yes"])
    assert no_reason.exit_code == 1 and "理由" in no_reason.output
    out = run("results", "--round", "2024-jl-mark", "--mark-absent", "--yes", "--reason", "逾期未提交业绩材料",
              "--ratio", "0.6", "--confirm")
    assert "已将 1 名考生标记为缺考" in out and "已确认并冻结" in out
    rows = _export_rows(run, "2024-jl-mark", tmp_path)
    by_id = {r[2]: r for r in rows}
    assert by_id[ids[3]][10] == "缺考" and by_id[ids[3]][8] is None
    with app.app_context():
        from certify.models import AuditEntry

        reasons = db.session.execute(db.select(AuditEntry.reason).filter_by(action="results.mark_absent")).scalars()
        assert list(reasons) == ["逾期未提交业绩材料"]
        changes = db.session.execute(db.select(AuditEntry).filter_by(action="score.component")
                                     .where(AuditEntry.reason == "逾期未提交业绩材料")).scalars().all()
        assert len(changes) == 1
