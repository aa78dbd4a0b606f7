"""The exam-component export: columns, statuses, half-up scores, ID masking, downloads and the CLI."""
from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import time_machine
from openpyxl import load_workbook

from certify.clock import utcnow
from certify.extensions import db
from exam.grading.exports import HEADERS, exam_rows
from exam.models import AUTO_SUBMITTED, IN_PROGRESS, SUBMITTED, Attempt, SessionCandidate


def _attempt(session, cand, state, score=None):
    sc = db.session.execute(db.select(SessionCandidate).filter_by(session_id=session.id, candidate_id=cand.id)).scalar_one()
    db.session.add(Attempt(session_id=session.id, candidate_id=cand.id, paper_id=sc.paper_id, state=state,
                           started_at=session.opens_at, deadline_at=session.opens_at + timedelta(minutes=60),
                           score=score, graded_at=utcnow() if score is not None else None))


def _setup(make_exam_session, make_candidate):
    session = make_exam_session(candidates=4)
    a, b, c, d = session.candidates_made
    _attempt(session, a, SUBMITTED, Decimal("86.125"))
    _attempt(session, b, AUTO_SUBMITTED, Decimal("59.994"))
    _attempt(session, c, IN_PROGRESS)
    rnd = session.scheme.round
    unassigned = make_candidate(rnd, level="中级", name="未安排")
    db.session.commit()
    return session, (a, b, c, d, unassigned)


def test_columns_statuses_scores_and_masking(make_exam_session, make_candidate, make_round):
    session, (a, b, c, d, unassigned) = _setup(make_exam_session, make_candidate)
    jl = make_round("2024-jl", "吉林", 2024)
    make_candidate(jl, level="初级", name="吉林考生")
    rnd = session.scheme.round
    rows = {r[0]: r for r in exam_rows(rnd, full=False)}
    assert set(rows) == {a.ticket, b.ticket, c.ticket, d.ticket, unassigned.ticket}  # Jilin has no exam
    assert rows[a.ticket][5] == Decimal("86.13") and rows[a.ticket][6] == "已交卷"
    assert rows[b.ticket][5] == Decimal("59.99") and rows[b.ticket][6] == "自动交卷"
    assert rows[c.ticket][5] is None and rows[c.ticket][6] == "作答中"
    assert rows[d.ticket][6] == "未考" and rows[unassigned.ticket][6] == "未考"
    assert rows[a.ticket][1:5] == [a.name, a.id_number[:6] + "*" * (len(a.id_number) - 10) + a.id_number[-4:],
                                   a.work_unit, "初级"]
    full = {r[0]: r for r in exam_rows(rnd, full=True)}
    assert full[a.ticket][2] == a.id_number
    with time_machine.travel(session.closes_at + timedelta(seconds=1), tick=False):
        later = {r[0]: r for r in exam_rows(rnd, full=False)}
    assert later[d.ticket][6] == "缺考" and later[unassigned.ticket][6] == "未考"
    only = exam_rows(rnd, full=False, session=session)
    assert {r[0] for r in only} == {a.ticket, b.ticket, c.ticket, d.ticket}


def test_downloads_mask_unless_secretariat_asks_full(client, login_as, make_exam_session, make_candidate):
    session, (a, *_rest) = _setup(make_exam_session, make_candidate)
    rnd = session.scheme.round
    login_as("secretariat")
    resp = client.get(f"/exam/admin/rounds/{rnd.code}/export.csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    table = list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))
    assert table[0] == HEADERS == ["准考证号", "姓名", "证件号", "工作单位", "认证级别", "笔试成绩", "状态",
                                   "窗口失焦（次）", "页面隐藏（次）", "复制（次）", "粘贴（次）", "退出全屏（次）",
                                   "多端登录（次）", "新设备接管（次）", "超时保存被拒（次）"]
    row = next(r for r in table if r[0] == a.ticket)
    assert row[2] != a.id_number and "*" in row[2] and row[5] == "86.13"
    resp = client.get(f"/exam/admin/rounds/{rnd.code}/export.xlsx?full=1")
    ws = load_workbook(io.BytesIO(resp.data)).active
    values = [[c.value for c in r] for r in ws.iter_rows()]
    assert values[0] == HEADERS
    row = next(r for r in values if r[0] == a.ticket)
    assert row[2] == a.id_number and row[5] == 86.13
    resp = client.get(f"/exam/admin/sessions/{session.id}/export.csv")
    assert resp.status_code == 200 and len(resp.data.decode("utf-8-sig").strip().splitlines()) == 5
    assert client.get(f"/exam/admin/rounds/{rnd.code}/export.pdf").status_code == 404


def test_supervisor_gets_masked_even_when_asking_full(client, login_as, make_exam_session, make_candidate):
    session, (a, *_rest) = _setup(make_exam_session, make_candidate)
    login_as("supervisor")
    resp = client.get(f"/exam/admin/rounds/{session.scheme.round.code}/export.csv?full=1")
    assert resp.status_code == 200
    text = resp.data.decode("utf-8-sig")
    assert a.id_number not in text and a.ticket in text


def test_cli_writes_the_full_export(app, make_exam_session, make_candidate, tmp_path):
    session, (a, *_rest) = _setup(make_exam_session, make_candidate)
    code = session.scheme.round.code
    out = tmp_path / "exam.xlsx"
    result = app.test_cli_runner().invoke(args=["export", "exam", "--round", code, str(out)])
    assert result.exit_code == 0, result.output
    ws = load_workbook(out).active
    rows = [[c.value for c in r] for r in ws.iter_rows()]
    assert rows[0] == HEADERS and any(r[0] == a.ticket and r[2] == a.id_number for r in rows)
    out_csv = tmp_path / "exam.csv"
    result = app.test_cli_runner().invoke(args=["export", "exam", "--round", code, str(out_csv)])
    assert result.exit_code == 0 and a.id_number in out_csv.read_text(encoding="utf-8-sig")


def test_cli_refuses_a_round_without_exam(app, make_round, tmp_path):
    make_round("2024-jl", "吉林", 2024)
    result = app.test_cli_runner().invoke(args=["export", "exam", "--round", "2024-jl", str(tmp_path / "x.csv")])
    assert result.exit_code != 0 and "没有笔试" in result.output
