"""``certify import-roster`` and ``certify demo`` (core steps): exit codes, counts, row-level messages."""
import pytest

from certify.cli import import_roster_command
from certify.extensions import db
from certify.models import Candidate, Round, User


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def _out(result):
    return result.output + (result.stderr if result.stderr_bytes is not None else "")


def test_import_roster_prints_counts_and_exits_0(runner, make_round, roster_files, tmp_path):
    make_round()
    path = tmp_path / "名单.xlsx"
    path.write_bytes(roster_files.xlsx([roster_files.person(1), roster_files.person(2, "中级")]))
    result = runner.invoke(import_roster_command, ["--round", "2024-cq", str(path)])
    assert result.exit_code == 0, _out(result)
    assert "新增 2 人，更新 0 人，未变 0 人" in result.output
    result = runner.invoke(import_roster_command, ["--round", "2024-cq", str(path)])
    assert result.exit_code == 0 and "新增 0 人，更新 0 人，未变 2 人" in result.output
    db.session.remove()
    assert db.session.execute(db.select(db.func.count(Candidate.id))).scalar() == 2


def test_import_roster_lists_every_error_and_exits_non_zero(runner, make_round, roster_files, tmp_path):
    make_round()
    path = tmp_path / "bad.csv"
    path.write_bytes(roster_files.csv([roster_files.person(1), roster_files.person(2, level="高级"),
                                       roster_files.person(3, id_number="500103198805020171")], encoding="gb18030"))
    result = runner.invoke(import_roster_command, ["--round", "2024-cq", str(path)])
    out = _out(result)
    assert result.exit_code == 1
    assert "导入失败，共 2 处错误，未写入任何数据" in out
    assert "bad.csv，第 3 行，「认证级别」列：未知的认证级别「高级」" in out
    assert "bad.csv，第 4 行，「证件号」列：证件号校验位错误" in out
    db.session.remove()
    assert db.session.execute(db.select(db.func.count(Candidate.id))).scalar() == 0


def test_import_roster_unknown_round_and_missing_file(runner, ctx, tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes(b"x")
    result = runner.invoke(import_roster_command, ["--round", "nope", str(path)])
    assert result.exit_code == 1 and "认证轮次「nope」不存在" in _out(result)
    result = runner.invoke(import_roster_command, ["--round", "nope", str(tmp_path / "missing.csv")])
    assert result.exit_code == 2


def test_core_demo_steps_are_rerunnable(app, ctx):
    from certify.demo_core import DEMO_PASSWORD, demo_accounts, demo_candidates

    for _ in range(2):
        context = {"logins": [], "print": print}
        demo_accounts(context)
        demo_candidates(context)
        db.session.commit()
    people = context["candidates"]
    by_round = {}
    for c in people:
        by_round.setdefault((c.round.code, c.level), []).append(c)
    assert {k: len(v) for k, v in by_round.items()} == {("demo-cq", "初级"): 8, ("demo-cq", "中级"): 6,
                                                        ("demo-jl", "初级"): 5}
    assert db.session.execute(db.select(db.func.count(Candidate.id))).scalar() == 19
    assert len({c.work_unit for c in people}) >= 6
    for c in people:
        assert c.user.check_password(DEMO_PASSWORD) and not c.user.must_change_password
        assert c.user.password_hash.startswith("scrypt:")
    labels = [entry[0] for entry in context["logins"]]
    assert "考生（初级）" in labels and "考生（中级）" in labels
    assert db.session.execute(db.select(db.func.count(Round.id))).scalar() == 2
    assert db.session.execute(db.select(db.func.count(User.id)).filter_by(role="candidate")).scalar() == 19
