"""Item analysis from the database: the matrix builder, the report page, the .xlsx and CLI exports, storing
measured facility, and who may see it. Sessions, papers, attempts and answers are made directly from models."""
import io
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
import openpyxl
import pytest
import time_machine
from scipy import stats

from certify.domain import CANDIDATE, PANELIST, SECRETARIAT, SUPERVISOR
from certify.extensions import db
from certify.models import AuditEntry, Candidate
from exam.analysis import operations as analysis
from exam.models import (
    AUTO_SUBMITTED,
    FORCE_SUBMITTED,
    IN_PROGRESS,
    SUBMITTED,
    Answer,
    Attempt,
    ExamSession,
    KeyErratum,
    Paper,
    PaperItem,
)
from question_bank.models import Item, ItemVersion
from tests.conftest import login

OPENS = datetime(2024, 6, 1, 1, 0)
CLOSES = datetime(2024, 6, 1, 5, 0)
CATEGORIES = ("科学素养", "科学教育理论", "活动组织", "安全规范")


def make_item(code, type_="single", answer="A", category="科学素养", options=4):
    item = Item(code=code, stem_key=code)
    db.session.add(item)
    db.session.flush()
    opts = ["正确", "错误"] if type_ == "truefalse" else [f"选项{k}" for k in range(options)]
    version = ItemVersion(item_id=item.id, type=type_, stem=f"题干 {code}", options=opts, answer=answer,
                          category=category, difficulty=3, level="通用")
    db.session.add(version)
    db.session.flush()
    item.current_version_id = version.id
    return version


class Setup:
    pass


@pytest.fixture(autouse=True)
def _test_client_without_csrf(app):
    """The browser tests' live server (tests/e2e) turns CSRF on for the rest of the run; the test-client tests
    here post without tokens, so they switch it off for themselves."""
    previous = app.config["WTF_CSRF_ENABLED"]
    app.config["WTF_CSRF_ENABLED"] = False
    yield
    app.config["WTF_CSRF_ENABLED"] = previous


def add_candidate(rnd, n):
    """A roster row without a login account (hashing a password per candidate would dominate the run)."""
    cand = Candidate(round_id=rnd.id, ticket=f"A{rnd.id:02d}{n:05d}", id_number=f"ID{rnd.id:02d}{n:014d}",
                     name=f"考生{n}", work_unit="测试单位", level="初级")
    db.session.add(cand)
    db.session.flush()
    return cand


@pytest.fixture
def exam_session(ctx, make_round):
    """Factory: a session with papers, closed attempts and graded answers.

    ``responses[i][j]`` is candidate i's response to paper item j ('' = omitted, None = no answer row);
    ``papers[i]`` lists the item indexes on candidate i's paper (default: every item, fixed mode)."""

    def factory(items, responses, *, papers=None, states=None, graded=None, points=None, times=None,
                blueprint_rows=None):
        rnd = make_round()
        scheme = rnd.scheme_for("初级")
        session = ExamSession(round_id=rnd.id, scheme_id=scheme.id, name="第一场", opens_at=OPENS, closes_at=CLOSES,
                              duration_minutes=90)
        db.session.add(session)
        db.session.flush()
        versions = [make_item(*spec) if isinstance(spec, tuple) else make_item(**spec) for spec in items]
        attempts = []
        for i, resp in enumerate(responses):
            cand = add_candidate(rnd, i + 1)
            paper = Paper(session_id=session.id, candidate_id=cand.id, seed=i)
            db.session.add(paper)
            db.session.flush()
            cols = papers[i] if papers else list(range(len(versions)))
            state = states[i] if states else SUBMITTED
            att = Attempt(session_id=session.id, candidate_id=cand.id, paper_id=paper.id, state=state,
                          started_at=OPENS, deadline_at=OPENS + timedelta(minutes=90),
                          graded_at=None if (graded and not graded[i]) or state == IN_PROGRESS else OPENS)
            db.session.add(att)
            db.session.flush()
            for pos, j in enumerate(cols, start=1):
                v = versions[j]
                pts = Decimal(points[i][pos - 1]) if points else Decimal(2)
                db.session.add(PaperItem(paper_id=paper.id, position=pos, item_version_id=v.id, points=pts,
                                         option_order=list(range(len(v.options))),
                                         blueprint_row=blueprint_rows[j] if blueprint_rows else None))
                r = resp[pos - 1]
                if r is None:
                    continue
                mark = pts if r == v.answer else (pts / 2 if r and set(r) < set(v.answer) else Decimal(0))
                db.session.add(Answer(attempt_id=att.id, position=pos, response=r, points=mark,
                                      time_spent_ms=times[i][pos - 1] if times else 10000 + 1000 * j))
            attempts.append(att)
        db.session.commit()
        s = Setup()
        s.round, s.session, s.versions, s.attempts = rnd, session, versions, attempts
        return s

    return factory


def simulated(n=40, seed=1):
    """n candidates × 4 items (one per category), responses driven by ability; item 3's key looks wrong."""
    rng = np.random.default_rng(seed)
    theta = np.sort(rng.normal(size=n))
    items = [("Q1", "single", "A", CATEGORIES[0]), ("Q2", "multiple", "AC", CATEGORIES[1]),
             ("Q3", "single", "B", CATEGORIES[2]), ("Q4", "truefalse", "A", CATEGORIES[3], 2)]
    responses = []
    for t in theta:
        good = rng.random(4) < 1 / (1 + np.exp(-2 * t))
        responses.append(["A" if good[0] else "B",
                          "AC" if good[1] else ("A" if rng.random() < .5 else "BD"),
                          "C" if good[2] else "B",  # the strong pick C: key B is likely wrong
                          "A" if good[3] else "B"])
    return items, responses


def test_builder_reads_closed_graded_attempts_only(exam_session):
    items = [("Q1", "single", "A"), ("Q2", "multiple", "AC"), ("Q3", "truefalse", "B", "安全规范", 2)]
    responses = [["A", "A", "B"], ["B", "AC", None], ["A", "AC", "B"], ["A", "", "A"], ["A", "AC", "B"]]
    s = exam_session(items, responses, states=[SUBMITTED, AUTO_SUBMITTED, FORCE_SUBMITTED, SUBMITTED, IN_PROGRESS],
                     graded=[True, True, True, False, True])
    data = analysis.build_session_data(s.session)
    assert data.in_progress == 1 and data.ungraded == 1
    assert data.marks.shape == (3, 3)
    order = [it.code for it in data.items]
    assert order == ["Q1", "Q2", "Q3"]  # by category order 科学素养 … 安全规范, then code
    assert data.marks.tolist() == [[2, 1, 2], [0, 2, 0], [2, 2, 2]]
    assert data.seen.all()
    assert data.choices[0, 1].tolist()[:4] == [True, False, False, False]
    assert not data.choices[1, 2].any()  # no answer row: omitted, 0 points
    assert data.times[0].tolist() == [10000, 11000, 12000]
    assert list(data.max_marks) == [2, 2, 2]
    assert len(set(data.forms.tolist())) == 1 and data.slots is None


def test_builder_per_candidate_papers_leave_missing_cells(exam_session):
    items = [(f"Q{k}", "single", "A") for k in range(6)]
    papers = [[0, 1, 3], [2, 1, 4], [0, 5, 3], [2, 5, 4]]  # rows 0: {0,2}, 1: {1,5}, 2: {3,4}
    responses = [["A", "B", "A"], ["A", "A", "B"], ["B", "A", "A"], ["A", "A", "A"]]
    s = exam_session(items, responses, papers=papers, blueprint_rows=[0, 1, 0, 2, 2, 1])
    data = analysis.build_session_data(s.session)
    assert data.seen.sum(axis=1).tolist() == [3, 3, 3, 3]
    assert data.seen.sum(axis=0).tolist() == [2, 2, 2, 2, 2, 2]
    assert data.seen[0].tolist() == [True, True, False, True, False, False]
    assert len(set(data.forms.tolist())) == 4
    # one slot per stratum (blueprint row): each candidate's slot s holds the item drawn for it
    assert data.slots.shape == (4, 3)
    assert data.slots[0].tolist() == [0, 1, 3] and data.slots[3].tolist() == [2, 5, 4]
    report = analysis.session_report(s.session)
    assert report.analysis.test.alpha_parts == 3
    assert [st.n for st in report.analysis.items] == [2] * 6
    assert report.analysis.items[0].facility == 0.5


def test_points_differing_between_papers_are_put_on_one_scale(exam_session):
    items = [("Q1", "single", "A"), ("Q2", "single", "A")]
    s = exam_session(items, [["A", "A"], ["A", "B"]], points=[["2", "4"], ["4", "2"]])
    data = analysis.build_session_data(s.session)
    assert data.max_marks.tolist() == [4, 4]
    assert data.marks.tolist() == [[4, 4], [4, 0]]


def test_errata_change_the_key_and_void_flags(exam_session):
    items, responses = simulated()
    s = exam_session(items, responses)
    q3, q4 = s.versions[2], s.versions[3]
    db.session.add(KeyErratum(session_id=s.session.id, item_version_id=q3.id, kind="correct", accepted=["C"]))
    db.session.add(KeyErratum(session_id=s.session.id, item_version_id=q4.id, kind="void", accepted=[]))
    db.session.commit()
    data = analysis.build_session_data(s.session)
    assert data.items[2].key == "C"
    assert data.items[3].void
    report = analysis.session_report(s.session)
    assert "void" in report.rows[3]["flags"]


def test_report_statistics_match_scipy_and_flag_the_miskey(exam_session):
    items, responses = simulated()
    s = exam_session(items, responses)
    report = analysis.session_report(s.session)
    data = report.data
    total = data.marks.sum(axis=1)
    for j, st in enumerate(report.analysis.items):
        r = stats.pearsonr(data.marks[:, j], total - data.marks[:, j])[0]
        assert st.discrimination == pytest.approx(r, abs=1e-10)
        assert st.facility == pytest.approx(data.marks[:, j].mean() / data.max_marks[j])
    assert "miskey" in report.rows[2]["flags"]
    assert report.analysis.test.skewness == pytest.approx(stats.skew(report.analysis.totals, bias=False))
    # the default cut is the exam score at the scheme's certification ratio (0.80 by default)
    assert report.cut_score == pytest.approx(np.quantile(report.analysis.totals, 0.2))
    assert [c.category for c in report.analysis.categories] == list(CATEGORIES)
    # random guess: single of 4 = 1/4; true/false = 1/2
    assert report.rows[0]["stats"].random_guess == 0.25 and report.rows[3]["stats"].random_guess == 0.5


ROLE_STATUS = {SECRETARIAT: 200, SUPERVISOR: 200, CANDIDATE: 403, PANELIST: 403}


@pytest.mark.parametrize("role", list(ROLE_STATUS))
def test_pages_by_role(client, login_as, exam_session, role):
    items, responses = simulated(n=12)
    s = exam_session(items, responses)
    login_as(role)
    sid = s.session.id
    for path in ("/exam/analysis/", f"/exam/analysis/session/{sid}", f"/exam/analysis/session/{sid}/items.xlsx"):
        assert client.get(path).status_code == ROLE_STATUS[role], (path, role)
    resp = client.post(f"/exam/analysis/session/{sid}/store-facility")
    assert resp.status_code == (302 if role == SECRETARIAT else 403)


def test_anonymous_is_sent_to_login(client, exam_session):
    items, responses = simulated(n=5)
    s = exam_session(items, responses)
    resp = client.get(f"/exam/analysis/session/{s.session.id}")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_report_page_shows_statistics_charts_and_flags(app, client, login_as, exam_session):
    items, responses = simulated()
    s = exam_session(items, responses)
    login_as(SECRETARIAT)
    html = client.get(f"/exam/analysis/session/{s.session.id}").get_data(as_text=True)
    report = analysis.session_report(s.session)
    assert "Cronbach α" in html and f"{report.analysis.test.alpha:.3f}" in html
    assert f"{report.analysis.test.mean:.2f}" in html
    assert "疑似答案错误" in html
    assert html.count("<svg") == 2 and "成绩分布直方图" in html
    assert all(c in html for c in CATEGORIES)
    assert "写回题库难度" in html
    assert 'id="items-table"' in html and "js/exam/analysis.js" in html
    erratum = "更正答案</a>" in html
    assert erratum == ("exam_grading.new_erratum" in app.view_functions)
    # index lists the session
    index = client.get("/exam/analysis/").get_data(as_text=True)
    assert "第一场" in index and f"/exam/analysis/session/{s.session.id}" in index


def test_cut_score_parameter(client, login_as, exam_session):
    items, responses = simulated()
    s = exam_session(items, responses)
    login_as(SUPERVISOR)
    html = client.get(f"/exam/analysis/session/{s.session.id}?cut=62.5").get_data(as_text=True)
    assert "62.50" in html and "手动指定" in html
    html = client.get(f"/exam/analysis/session/{s.session.id}?cut=abc", follow_redirects=True).get_data(as_text=True)
    assert "不是数字" in html
    assert "写回题库难度" not in html  # supervisors read only


def test_empty_session_and_unknown_session(client, login_as, exam_session):
    s = exam_session([("Q1", "single", "A")], [["A"]], states=[IN_PROGRESS])
    login_as(SECRETARIAT)
    html = client.get(f"/exam/analysis/session/{s.session.id}").get_data(as_text=True)
    assert "还没有已交卷并已评分的答卷" in html and "1 名考生在作答" in html
    assert client.get("/exam/analysis/session/99999").status_code == 404


def _sheets(content: bytes) -> dict:
    wb = openpyxl.load_workbook(io.BytesIO(content))
    return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}


def test_xlsx_export_has_three_sheets(client, login_as, exam_session):
    items, responses = simulated()
    s = exam_session(items, responses)
    login_as(SECRETARIAT)
    resp = client.get(f"/exam/analysis/session/{s.session.id}/items.xlsx")
    assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
    sheets = _sheets(resp.data)
    assert list(sheets) == ["测验统计", "题目分析", "选项分析"]
    assert sheets["测验统计"][0] == analysis.TEST_HEADERS
    assert sheets["测验统计"][1][1] == 40
    item_rows = sheets["题目分析"][1:]
    assert [r[1] for r in item_rows] == ["Q1", "Q2", "Q3", "Q4"]
    report = analysis.session_report(s.session)
    fac_col = analysis.ITEM_HEADERS.index("难度（得分率）")
    assert item_rows[0][fac_col] == pytest.approx(report.rows[0]["stats"].facility, abs=1e-4)
    assert "疑似答案错误" in item_rows[2][analysis.ITEM_HEADERS.index("标记")]
    options = sheets["选项分析"][1:]
    assert len(options) == 4 + 4 + 4 + 2  # options of each item
    q2 = [r for r in options if r[1] == "Q2"]
    assert [r[3] for r in q2 if r[4] == "是"] == ["A", "C"]


def test_cli_export_items_for_the_round(app, exam_session, tmp_path):
    items, responses = simulated(n=10)
    s = exam_session(items, responses)
    second = ExamSession(round_id=s.round.id, scheme_id=s.session.scheme_id, name="第二场（无人交卷）",
                         opens_at=OPENS, closes_at=CLOSES, duration_minutes=90)
    db.session.add(second)
    db.session.commit()
    out = tmp_path / "items.xlsx"
    result = app.test_cli_runner().invoke(args=["export", "items", "--round", s.round.code, str(out)])
    assert result.exit_code == 0, result.output
    sheets = _sheets(out.read_bytes())
    assert [r[0] for r in sheets["测验统计"][1:]] == ["第一场", "第二场（无人交卷）"]
    assert sheets["测验统计"][2][1] == 0
    assert len(sheets["题目分析"]) == 1 + 4


def test_cli_export_items_round_without_sessions(app, make_round, tmp_path):
    rnd = make_round("2024-empty")
    result = app.test_cli_runner().invoke(args=["export", "items", "--round", rnd.code, str(tmp_path / "x.xlsx")])
    assert result.exit_code != 0 and "没有笔试场次" in result.output


def test_store_facility_after_close_is_audited(client, make_user, exam_session):
    items, responses = simulated()
    s = exam_session(items, responses)
    db.session.add(KeyErratum(session_id=s.session.id, item_version_id=s.versions[3].id, kind="void", accepted=[]))
    db.session.commit()
    user = make_user(SECRETARIAT)
    sid = s.session.id
    with time_machine.travel(CLOSES - timedelta(minutes=1), tick=False):
        login(client, user.username)  # inside the travel: the session is that old
        html = client.post(f"/exam/analysis/session/{sid}/store-facility", follow_redirects=True).get_data(as_text=True)
    assert "场次尚未结束" in html
    assert db.session.get(Item, s.versions[0].item_id).facility is None
    with time_machine.travel(CLOSES + timedelta(hours=1), tick=False):
        login(client, user.username)
        page = client.get(f"/exam/analysis/session/{sid}/store-facility").get_data(as_text=True)
        assert 'id="facility-changes"' in page and "Q1" in page and "已作废" in page
        html = client.post(f"/exam/analysis/session/{sid}/store-facility", data={"acknowledge": "y", "reason": "首轮"},
                           follow_redirects=True).get_data(as_text=True)
    assert "已将 3 道题的实测难度写回题库" in html
    db.session.expire_all()
    report = analysis.session_report(db.session.get(ExamSession, sid))
    for row in report.rows[:3]:
        item = db.session.get(Item, row["info"].item_id)
        assert item.facility == pytest.approx(row["stats"].facility, abs=1e-4)
        assert item.facility_n == 40
    assert db.session.get(Item, s.versions[3].item_id).facility is None  # voided: not stored
    entry = db.session.execute(db.select(AuditEntry).filter_by(action="exam.item_facility_stored")).scalar_one()
    assert entry.round_id == s.round.id and entry.detail["items"] == 3 and "Q1" in entry.detail["facility"]
    assert entry.reason == "首轮" and entry.detail["changes"]["Q1"]["old"] is None and entry.detail["min_attempts"] == 30
    assert entry.detail["skipped"] == {"Q4": "已作废"}


def test_store_facility_refused_without_confirmation(client, make_user, exam_session):
    items, responses = simulated()
    s = exam_session(items, responses)
    user = make_user(SECRETARIAT)
    sid = s.session.id
    with time_machine.travel(CLOSES + timedelta(hours=1), tick=False):
        login(client, user.username)
        for data in ({}, {"reason": "首轮"}, {"acknowledge": "y"}, {"acknowledge": "y", "reason": "  "}):
            resp = client.post(f"/exam/analysis/session/{sid}/store-facility", data=data,
                               headers={"Accept": "application/json"})
            assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "confirmation_required"
        resp = client.post(f"/exam/analysis/session/{sid}/store-facility", data={"reason": "首轮"})
        assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/session/{sid}/store-facility")
    db.session.expire_all()
    assert all(db.session.get(Item, v.item_id).facility is None for v in s.versions)
    assert db.session.execute(db.select(AuditEntry).filter_by(action="exam.item_facility_stored")).first() is None


def test_store_facility_needs_the_minimum_of_attempts_per_item(app, client, make_user, exam_session):
    """One candidate answered 5 items: below the minimum (30 by default) for every item, nothing is rewritten."""
    items = [(f"Q{k}", "single", "A") for k in range(5)]
    s = exam_session(items, [["A", "B", "A", "", "A"]])
    for v in s.versions:
        db.session.get(Item, v.item_id).facility = 0.5
    db.session.commit()
    user = make_user(SECRETARIAT)
    sid = s.session.id
    with time_machine.travel(CLOSES + timedelta(hours=1), tick=False):
        plan = analysis.facility_plan(s.session)
        assert plan.min_attempts == 30 and plan.changes == []
        assert [(c.code, c.n, c.old, c.why) for c in plan.skipped] == [
            (f"Q{k}", 1, 0.5, "作答人数 1 少于 30") for k in range(5)]
        login(client, user.username)
        page = client.get(f"/exam/analysis/session/{sid}/store-facility").get_data(as_text=True)
        assert 'id="facility-none"' in page and "作答人数 1 少于 30" in page and 'name="acknowledge"' not in page
        html = client.post(f"/exam/analysis/session/{sid}/store-facility", data={"acknowledge": "y", "reason": "试"},
                           follow_redirects=True).get_data(as_text=True)
        assert "没有作答人数达到 30 的题目，未写回任何难度" in html
        db.session.expire_all()
        assert [db.session.get(Item, v.item_id).facility for v in s.versions] == [0.5] * 5
        assert db.session.execute(db.select(AuditEntry).filter_by(action="exam.item_facility_stored")).first() is None
        # the minimum is a setting: with 1, the five items are written, old -> new on the page first
        app.config["FACILITY_MIN_ATTEMPTS"] = 1
        try:
            page = client.get(f"/exam/analysis/session/{sid}/store-facility").get_data(as_text=True)
            assert 'id="facility-changes"' in page and "50.0%" in page and "100.0%" in page
            client.post(f"/exam/analysis/session/{sid}/store-facility", data={"acknowledge": "y", "reason": "试"})
        finally:
            app.config["FACILITY_MIN_ATTEMPTS"] = 30
    db.session.expire_all()
    assert [db.session.get(Item, v.item_id).facility for v in s.versions] == [1.0, 0.0, 1.0, 0.0, 1.0]


def test_store_facility_refused_while_someone_is_writing(ctx, exam_session):
    s = exam_session([("Q1", "single", "A")], [["A"], ["B"]], states=[SUBMITTED, IN_PROGRESS])
    with time_machine.travel(CLOSES + timedelta(hours=1), tick=False):
        with pytest.raises(analysis.AnalysisError, match="仍有 1 名考生"):
            analysis.store_measured_facility(s.session)



def test_attempts_delivered_and_graded_by_the_exam_operations(ctx, make_round):
    """The contract end to end: candidates start, save and submit through exam.delivery.operations (which grades);
    the analysis reads the marks grading wrote and its totals equal the attempts' scores."""
    from exam.delivery import operations as ops
    from exam.models import SessionCandidate

    items, responses = simulated(n=12, seed=4)
    rnd = make_round()
    session = ExamSession(round_id=rnd.id, scheme_id=rnd.scheme_for("初级").id, name="第一场", opens_at=OPENS,
                          closes_at=CLOSES, duration_minutes=90)
    db.session.add(session)
    db.session.flush()
    versions = [make_item(*spec) for spec in items]
    for i, resp in enumerate(responses):
        cand = add_candidate(rnd, i + 1)
        paper = Paper(session_id=session.id, candidate_id=cand.id, seed=i)
        db.session.add(paper)
        db.session.flush()
        order = [(i + k) % len(versions) for k in range(len(versions))]  # each candidate's own question order
        for pos, j in enumerate(order, start=1):
            db.session.add(PaperItem(paper_id=paper.id, position=pos, item_version_id=versions[j].id,
                                     points=Decimal(25), option_order=list(range(len(versions[j].options)))))
        db.session.add(SessionCandidate(session_id=session.id, candidate_id=cand.id, paper_id=paper.id))
        db.session.flush()
        attempt, token = ops.start_attempt(session, cand, now=OPENS + timedelta(minutes=5))
        db.session.flush()
        for seq, (pos, j) in enumerate(enumerate(order, start=1), start=1):
            if i % 5 == 0 and j == 1:
                continue  # some leave the multiple-choice item unanswered
            ops.save_answer(attempt.id, token=token, position=pos, response=resp[j], seq=seq, time_spent_ms=3000 * j,
                            now=OPENS + timedelta(minutes=10))
        ops.submit_attempt(attempt, token=token, now=OPENS + timedelta(minutes=30))
        db.session.commit()
    report = analysis.session_report(session)
    data = report.data
    assert data.marks.shape == (12, 4) and data.ungraded == 0
    scores = [float(a.score) for a in db.session.execute(
        db.select(Attempt).filter_by(session_id=session.id).order_by(Attempt.id)).scalars()]
    assert report.analysis.totals.tolist() == pytest.approx(scores)
    q2 = [it.code for it in data.items].index("Q2")
    assert data.marks[0, q2] == 0 and not data.choices[0, q2].any()  # unanswered, graded 0
    assert report.rows[q2]["stats"].omit_rate == pytest.approx(3 / 12)
    assert data.times[1, q2] == 3000


def _reference_session_data(session):
    """The builder as it was before it was vectorised: one Python step per attempt, paper item and answer.
    Kept as the oracle that the numpy path reads the same matrices."""
    from exam.models import CLOSED_STATES
    from exam.services.item_analysis import LETTERS

    attempts = [a for a in db.session.execute(db.select(Attempt).filter_by(session_id=session.id)
                                              .order_by(Attempt.id)).scalars()
                if a.state in CLOSED_STATES and a.graded_at is not None]
    by_paper = {}
    for a in attempts:
        if a.paper_id not in by_paper:
            by_paper[a.paper_id] = db.session.execute(db.select(PaperItem).filter_by(paper_id=a.paper_id)
                                                      .order_by(PaperItem.id)).scalars().all()
    data = analysis.build_session_data(session)  # items and their order are checked elsewhere
    col = {it.version_id: j for j, it in enumerate(data.items)}
    n, m = len(attempts), len(data.items)
    max_marks = np.zeros(m)
    for pis in by_paper.values():
        for p in pis:
            max_marks[col[p.item_version_id]] = max(max_marks[col[p.item_version_id]], float(p.points or 0))
    marks, times = np.zeros((n, m)), np.zeros((n, m))
    seen = np.zeros((n, m), dtype=bool)
    choices = np.zeros((n, m, len(LETTERS)), dtype=bool)
    forms, labels, slots_per_attempt = [], {}, []
    for i, a in enumerate(attempts):
        pis = by_paper.get(a.paper_id, [])
        at = {p.position: p for p in pis}
        for p in pis:
            seen[i, col[p.item_version_id]] = True
        forms.append(labels.setdefault(tuple(sorted(col[p.item_version_id] for p in pis)), len(labels)))
        ranked = sorted(pis, key=lambda p: (p.blueprint_row if p.blueprint_row is not None else -1, p.position))
        slot, prev, k = {}, None, 0
        for p in ranked:
            k = k + 1 if p.blueprint_row == prev else 0
            prev = p.blueprint_row
            slot[(p.blueprint_row, k)] = col[p.item_version_id]
        slots_per_attempt.append(slot)
        for ans in db.session.execute(db.select(Answer).filter_by(attempt_id=a.id)).scalars():
            p = at.get(ans.position)
            if p is None:
                continue
            j = col[p.item_version_id]
            pts = float(p.points or 0)
            mark = float(ans.points or 0) * max_marks[j] / pts if pts > 0 else 0.0
            marks[i, j] = min(max(mark, 0.0), max_marks[j])
            times[i, j] = ans.time_spent_ms or 0
            for c in set(ans.response or ""):
                if c in LETTERS:
                    choices[i, j, LETTERS.index(c)] = True
    keys = sorted({key for s in slots_per_attempt for key in s})
    slots = np.array([[s.get(key, -1) for key in keys] for s in slots_per_attempt], dtype=int)
    return data, max_marks, marks, times, seen, choices, np.array(forms), slots


@pytest.mark.parametrize("seed", [3, 11])
def test_vectorised_builder_reads_what_the_row_by_row_builder_read(exam_session, seed):
    """Random papers (subsets in shuffled order, points varying by paper, blueprint rows), missing and stray
    answers, ungraded attempts: the numpy builder's matrices equal a plain per-row reading of the same rows."""
    rng = np.random.default_rng(seed)
    types = ["single", "multiple", "truefalse"]
    items = []
    for k in range(9):
        t = types[k % 3]
        items.append((f"R{k}", t, {"single": "B", "multiple": "AC", "truefalse": "A"}[t], CATEGORIES[k % 4],
                      2 if t == "truefalse" else 4))
    n = 30
    rows = [k % 3 for k in range(9)]
    papers, responses, points, times = [], [], [], []
    for i in range(n):
        pick = [int(j) for j in rng.permutation(9)[:int(rng.integers(5, 8))]] if i % 4 else list(range(9))
        papers.append(pick)
        responses.append([None if rng.random() < .1 else "".join(sorted(rng.choice(list("ABCD"), int(
            rng.integers(0, 3)), replace=False))) for _ in pick])
        points.append([str(int(rng.choice([1, 2, 4]))) for _ in pick])
        times.append([int(rng.integers(0, 90000)) for _ in pick])
    graded = [bool(rng.random() > .1) for _ in range(n)]
    s = exam_session(items, responses, papers=papers, points=points, times=times, graded=graded,
                     blueprint_rows=rows)
    db.session.add(Answer(attempt_id=s.attempts[1].id, position=40, response="A", points=Decimal(2)))
    db.session.add(KeyErratum(session_id=s.session.id, item_version_id=s.versions[0].id, kind="accept",
                              accepted=["C"]))
    db.session.commit()
    data, max_marks, marks, times_ref, seen, choices, forms, slots = _reference_session_data(s.session)
    assert data.marks.shape[0] == sum(graded)
    assert np.array_equal(data.max_marks, max_marks)
    assert np.allclose(data.marks, marks, rtol=0, atol=1e-12)
    assert np.array_equal(data.times, times_ref)
    assert np.array_equal(data.seen, seen)
    assert np.array_equal(data.choices, choices)
    assert data.forms.tolist() == forms.tolist()
    assert data.slots is not None and data.slots.tolist() == slots.tolist()
