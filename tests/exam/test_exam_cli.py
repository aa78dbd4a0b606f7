"""Scripted set-up of a round's exam: ``certify blueprint create|check`` and ``certify session create|release``.

They call the operations of the web pages; refusals exit non-zero with a Chinese message naming the option."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from certify.audit import AuditEntry
from certify.clock import to_local, utcnow
from certify.extensions import db
from exam.models import Blueprint, ExamSession

ROWS = ["单选:10:2:科学素养", "单选:20:2", "多选:10:2", "判断:20:1"]


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def run(*args, ok=True):
        result = runner.invoke(args=list(args), catch_exceptions=False)
        assert (result.exit_code == 0) == ok, result.output
        return result.output

    return run


@pytest.fixture
def bank_round(make_round, make_candidate, make_bank):
    rnd = make_round("2024-cq", "重庆", 2024)
    make_bank()
    cands = [make_candidate(rnd, level="初级") for _ in range(3)]
    return rnd, cands


def _local(dt) -> str:
    return f"{to_local(dt):%Y-%m-%d %H:%M}"


def test_blueprint_and_session_from_the_cli_alone(cli, bank_round):
    rnd, cands = bank_round
    out = cli("blueprint", "create", "--round", "2024-cq", "--level", "初级", "--name", "脚本方案",
              *[a for r in ROWS for a in ("--row", r)])
    assert "已保存组卷方案" in out and "检查通过" in out
    db.session.expire_all()
    blueprint = db.session.execute(db.select(Blueprint).filter_by(name="脚本方案")).scalar_one()
    assert [(r.type, r.count, r.category) for r in blueprint.rows] == [
        ("single", 10, "科学素养"), ("single", 20, ""), ("multiple", 10, ""), ("truefalse", 20, "")]
    assert blueprint.validated_at is not None
    assert "检查通过" in cli("blueprint", "check", "--round", "2024-cq", "--level", "初级", "--blueprint", "脚本方案")

    opens = utcnow().replace(second=0, microsecond=0) + timedelta(hours=1)
    out = cli("session", "create", "--round", "2024-cq", "--level", "初级", "--blueprint", str(blueprint.id),
              "--opens", _local(opens), "--minutes", "60")
    assert "已为 3 名考生生成试卷" in out
    db.session.expire_all()
    session = db.session.execute(db.select(ExamSession).filter_by(round_id=rnd.id)).scalar_one()
    assert session.name == "2024年初级笔试" and session.opens_at == opens
    assert session.closes_at == opens + timedelta(minutes=90)  # late entry 30 + duration 60
    assert session.duration_minutes == 60 and {a.candidate_id for a in session.assignments} == {c.id for c in cands}
    assert all(a.paper_id for a in session.assignments)
    actions = set(db.session.scalars(db.select(AuditEntry.action).where(AuditEntry.round_id == rnd.id)))
    assert {"exam.blueprint.create", "exam.blueprint.check", "exam.session.create", "exam.papers.generate"} <= actions

    # not closed yet: refused, non-zero, in Chinese
    out = cli("session", "release", "--round", "2024-cq", "--session", "2024年初级笔试", ok=False)
    assert "成绩未发布" in out and "尚未结束" in out
    session.opens_at, session.closes_at = opens - timedelta(hours=5), opens - timedelta(hours=2)
    db.session.commit()
    assert "已发布" in cli("session", "release", "--round", "2024-cq", "--session", str(session.id))
    db.session.expire_all()
    assert db.session.get(ExamSession, session.id).scores_released_at is not None
    assert "已发布" in cli("session", "release", "--round", "2024-cq", "--session", str(session.id), ok=False)


def test_blueprint_from_a_file_and_named_candidates(cli, bank_round, tmp_path):
    _rnd, cands = bank_round
    path = tmp_path / "方案.csv"
    buf = io.StringIO()
    csv.writer(buf).writerows([["题型", "题数", "每题分值", "分类", "难度下限", "难度上限"],
                               ["单选", "30", "2", "", "1", "5"], ["多选", "10", "2", "", "", ""],
                               ["判断", "20", "1", "", "", ""]])
    path.write_bytes(buf.getvalue().encode("utf-8-sig"))
    cli("blueprint", "create", "--round", "2024-cq", "--level", "初级", "--mode", "统一试卷", "--from", str(path))
    db.session.expire_all()
    blueprint = db.session.execute(db.select(Blueprint)).scalar_one()
    assert blueprint.mode == "fixed" and blueprint.name == "初级笔试组卷方案" and len(blueprint.rows) == 3
    opens = utcnow() + timedelta(days=1)
    out = cli("session", "create", "--round", "2024-cq", "--level", "初级", "--blueprint", "初级笔试组卷方案",
              "--opens", _local(opens), "--closes", _local(opens + timedelta(hours=3)), "--minutes", "90",
              "--candidates", f"{cands[0].ticket},{cands[2].ticket}", "--name", "补考场")
    assert "已为 2 名考生生成试卷" in out

    bad = tmp_path / "bad.csv"
    bad.write_bytes("题型,题数,每题分值\n问答,10,10\n".encode())
    out = cli("blueprint", "create", "--round", "2024-cq", "--level", "初级", "--from", str(bad), ok=False)
    assert "第 2 行" in out and "「题型」列" in out and "问答" in out


def test_a_blueprint_the_bank_cannot_fill_is_saved_with_a_warning_and_check_fails(cli, bank_round):
    out = cli("blueprint", "create", "--round", "2024-cq", "--level", "初级", "--row", "单选:30:2:科学素养",
              "--row", "多选:10:2", "--row", "判断:20:1")
    assert "已保存组卷方案" in out and "还缺 15 道" in out
    out = cli("blueprint", "check", "--round", "2024-cq", "--level", "初级", ok=False)
    assert "题库无法满足" in out and "1 个组卷方案未通过检查" in out


@pytest.mark.parametrize("args, expected", [
    (["blueprint", "create", "--level", "初级", "--row", ROWS[0]], "缺少选项 --round"),
    (["blueprint", "create", "--round", "nope", "--level", "初级", "--row", ROWS[0]], "「nope」不存在"),
    (["blueprint", "create", "--round", "2024-cq", "--level", "高级", "--row", ROWS[0]], "选项 --level"),
    (["blueprint", "create", "--round", "2024-cq", "--level", "初级", "--mode", "乱序", "--row", ROWS[0]],
     "选项 --mode"),
    (["blueprint", "create", "--round", "2024-cq", "--level", "初级"], "--from"),
    (["blueprint", "create", "--round", "2024-cq", "--level", "初级", "--row", "问答:1:100"], "选项 --row"),
    (["blueprint", "create", "--round", "2024-cq", "--level", "初级", "--row", "单选:10:2"], "合计必须为 100 分"),
    (["blueprint", "check", "--round", "2024-cq", "--level", "初级"], "还没有组卷方案"),
    (["session", "create", "--round", "2024-cq", "--level", "初级", "--blueprint", "9999", "--opens",
      "2030-01-01 09:00", "--minutes", "60"], "选项 --blueprint"),
    (["session", "release", "--round", "2024-cq", "--session", "无此场次"], "选项 --session"),
])
def test_bad_options_exit_non_zero_naming_the_option(cli, bank_round, args, expected):
    out = cli(*args, ok=False)
    assert expected in out


def test_session_refusals_name_the_option_and_write_nothing(cli, bank_round):
    rnd, _ = bank_round
    cli("blueprint", "create", "--round", "2024-cq", "--level", "初级", *[a for r in ROWS for a in ("--row", r)])
    blueprint_id = db.session.scalar(db.select(Blueprint.id))
    base = ["session", "create", "--round", "2024-cq", "--level", "初级", "--blueprint", str(blueprint_id)]
    assert "选项 --opens" in cli(*base, "--opens", "明天上午", "--minutes", "60", ok=False)
    assert "选项 --minutes" in cli(*base, "--opens", "2030-01-01 09:00", "--minutes", "六十", ok=False)
    assert "缺少选项 --minutes" in cli(*base, "--opens", "2030-01-01 09:00", ok=False)
    out = cli(*base, "--opens", "2030-01-01 09:00", "--closes", "2030-01-01 09:30", "--minutes", "60", ok=False)
    assert "场次未创建" in out and "超出了考试时间窗口" in out and "--closes" in out
    assert "选项 --candidates" in cli(*base, "--opens", "2030-01-01 09:00", "--minutes", "60",
                                      "--candidates", "X0000", ok=False)
    db.session.expire_all()
    assert db.session.scalar(db.select(db.func.count()).select_from(ExamSession)) == 0
