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
    assert text.splitlines()[0] == "序号,姓名,工作单位,认证级别,认证结果" and ids[0] not in text
    with app.app_context():
        rnd = db.session.execute(db.select(Round).filter_by(code="2024-jl-cli")).scalar_one()
        assert db.session.execute(db.select(db.func.count(Candidate.id)).filter_by(round_id=rnd.id)).scalar_one() == 6
