"""Blueprints against the bank: totals, rows the bank cannot fill, overlapping rows, level and status rules, and
the blueprint editing page."""
from __future__ import annotations

from decimal import Decimal

import pytest

from certify.extensions import db
from certify.models import AuditEntry
from exam.authoring.papers import ExamAdminError, bank_items, check_against_bank, save_blueprint
from exam.demo import DEMO_ROWS
from exam.models import Blueprint


def rows(*spec):
    return [{"category": c, "type": t, "difficulty_min": lo, "difficulty_max": hi, "count": n, "points": Decimal(p)}
            for c, t, lo, hi, n, p in spec]


def test_total_not_100_is_refused(make_round):
    rnd = make_round()
    with pytest.raises(ExamAdminError) as err:
        save_blueprint(rnd.scheme_for("初级"), name="x", mode="per_candidate",
                       rows=rows(("", "single", 1, 5, 30, 2), ("", "truefalse", 1, 5, 20, 1)))
    assert err.value.errors == ["各行分值合计必须为 100 分（现为 80 分）"]


def test_bad_rows_are_named(make_round):
    rnd = make_round()
    with pytest.raises(ExamAdminError) as err:
        save_blueprint(rnd.scheme_for("初级"), name="", mode="per_candidate",
                       rows=rows(("", "essay", 1, 5, 10, 10), ("", "single", 4, 2, 0, "-1")))
    text = "\n".join(err.value.errors)
    assert "请填写方案名称" in text
    assert "第 1 行：请选择题型" in text
    assert "第 2 行：难度范围" in text and "第 2 行：题数" in text and "第 2 行：每题分值" in text


def test_jilin_scheme_has_no_blueprint(make_round):
    jl = make_round("2024-jl", "吉林", 2024)
    with pytest.raises(ExamAdminError) as err:
        save_blueprint(jl.scheme_for("初级"), name="x", mode="fixed", rows=rows(("", "single", 1, 5, 50, 2)))
    assert "吉林初级方案没有笔试" in err.value.errors[0]


def test_row_the_bank_cannot_fill_reports_missing_count(make_round, make_bank):
    rnd = make_round()
    make_bank([("安全规范", "single", 2, "通用", 3), ("活动组织", "truefalse", 3, "通用", 30)])
    bp = save_blueprint(rnd.scheme_for("初级"), name="x", mode="per_candidate",
                        rows=rows(("安全规范", "single", 1, 5, 5, 16), ("", "truefalse", 1, 5, 20, 1)))
    errors = check_against_bank(bp)
    assert len(errors) == 1
    assert errors[0].startswith("第 1 行（安全规范 · 单选 · 难度 1–5）")
    assert "还缺 2 道" in errors[0]
    assert bp.validated_at is None
    entry = db.session.execute(db.select(AuditEntry).filter_by(action="exam.blueprint.check")).scalar_one()
    assert entry.detail["ok"] is False


def test_overlapping_rows_report_the_shared_shortage(make_round, make_bank):
    rnd = make_round()
    make_bank([("科学素养", "single", 3, "通用", 12), ("安全规范", "truefalse", 3, "通用", 20)])
    bp = save_blueprint(rnd.scheme_for("初级"), name="x", mode="per_candidate",
                        rows=rows(("科学素养", "single", 1, 5, 8, 5), ("", "single", 1, 5, 8, 5),
                                  ("", "truefalse", 1, 5, 20, 1)))
    errors = check_against_bank(bp)
    assert len(errors) == 1 and "第 1、2 行" in errors[0] and "还缺 4 道" in errors[0]


def test_level_status_and_current_version_rules(make_round, make_item):
    from question_bank.models import ItemVersion

    rnd = make_round()
    junior_ok = make_item(level="初级")
    common = make_item(level="通用")
    intermediate = make_item(level="中级")
    retired = make_item(level="通用", status="retired")
    edited = make_item(level="通用")
    newer = ItemVersion(item_id=edited.item_id, version=2, type="single", stem="改后的题干", options=["a", "b", "c"],
                        answer="A", category="科学素养", difficulty=3, level="通用")
    db.session.add(newer)
    db.session.flush()
    edited.item.current_version_id = newer.id
    db.session.commit()
    junior = {b.version_id for b in bank_items("初级")}
    assert junior == {junior_ok.id, common.id, newer.id}
    assert intermediate.id not in junior and retired.id not in junior and edited.id not in junior
    assert {b.version_id for b in bank_items("中级")} == {common.id, intermediate.id, newer.id}
    assert rnd.scheme_for("中级").has_exam


def test_valid_blueprint_is_marked_validated_and_audited(make_round, make_bank):
    rnd = make_round()
    make_bank()
    bp = save_blueprint(rnd.scheme_for("中级"), name="中级方案", mode="fixed",
                        rows=[dict(r, difficulty_min=1, difficulty_max=5) for r in DEMO_ROWS])
    assert check_against_bank(bp) == []
    assert bp.validated_at is not None and bp.total_points == 100
    actions = {e.action for e in db.session.execute(db.select(AuditEntry)).scalars()}
    assert {"exam.blueprint.create", "exam.blueprint.check"} <= actions


# ---------------------------------------------------------------- pages

def _form(name="页面方案", mode="per_candidate", spec=DEMO_ROWS, **extra):
    data = {"name": name, "mode": mode, "save": "1"}
    for i, r in enumerate(spec):
        data.update({f"rows-{i}-category": r["category"], f"rows-{i}-type": r["type"],
                     f"rows-{i}-difficulty_min": r.get("difficulty_min", 1),
                     f"rows-{i}-difficulty_max": r.get("difficulty_max", 5), f"rows-{i}-count": r["count"],
                     f"rows-{i}-points": str(r["points"])})
    data.update(extra)
    return data


def test_blueprint_page_create_edit_and_rows(client, login_as, make_round, make_bank):
    rnd = make_round()
    make_bank()
    login_as("secretariat")
    scheme = rnd.scheme_for("初级")
    page = client.get(f"/exam/admin/schemes/{scheme.id}/blueprints/new")
    assert page.status_code == 200 and "新建组卷方案" in page.get_data(as_text=True)

    # add a row without saving
    resp = client.post(f"/exam/admin/schemes/{scheme.id}/blueprints/new",
                       data={**_form(spec=DEMO_ROWS[:2]), "save": "", "add_row": "增加一行"})
    assert resp.status_code == 200 and 'name="rows-2-count"' in resp.get_data(as_text=True)
    assert db.session.execute(db.select(Blueprint)).first() is None

    # remove row 0 without saving
    resp = client.post(f"/exam/admin/schemes/{scheme.id}/blueprints/new",
                       data={**_form(spec=DEMO_ROWS[:2]), "save": "", "remove_row": "0"})
    html = resp.get_data(as_text=True)
    assert 'name="rows-1-count"' in html and 'name="rows-0-count"' not in html

    # total ≠ 100 is refused with the figure
    resp = client.post(f"/exam/admin/schemes/{scheme.id}/blueprints/new", data=_form(spec=DEMO_ROWS[:5]))
    assert resp.status_code == 400 and "各行分值合计必须为 100 分（现为 80 分）" in resp.get_data(as_text=True)

    resp = client.post(f"/exam/admin/schemes/{scheme.id}/blueprints/new", data=_form())
    assert resp.status_code == 302
    bp = db.session.execute(db.select(Blueprint)).scalar_one()
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "题库检查通过" in page and len(bp.rows) == 6

    # edit: ask for more 安全规范 single items than the bank holds
    spec = [dict(r) for r in DEMO_ROWS]
    spec[0]["count"], spec[1]["count"], spec[2]["count"], spec[3]["count"] = 4, 4, 2, 20
    resp = client.post(f"/exam/admin/blueprints/{bp.id}", data=_form(spec=spec), follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "题库目前无法按此方案组卷" in html and "第 4 行（安全规范 · 单选 · 难度 1–5）" in html
    assert "只有 15 道，还缺 5 道" in html
    db.session.expire_all()
    assert bp.validated_at is None


def test_supervisor_reads_blueprints_but_cannot_change(client, login_as, make_round, make_bank):
    rnd = make_round()
    make_bank()
    bp = save_blueprint(rnd.scheme_for("初级"), name="只读", mode="fixed",
                        rows=[dict(r, difficulty_min=1, difficulty_max=5) for r in DEMO_ROWS])
    db.session.commit()
    login_as("supervisor")
    page = client.get(f"/exam/admin/blueprints/{bp.id}")
    assert page.status_code == 200 and "保存并检查题库" not in page.get_data(as_text=True)
    assert client.post(f"/exam/admin/blueprints/{bp.id}", data=_form()).status_code == 403
    assert client.post(f"/exam/admin/blueprints/{bp.id}/check").status_code == 403
    assert client.get(f"/exam/admin/schemes/{bp.scheme_id}/blueprints/new").status_code == 403


def test_candidate_cannot_reach_admin(client, login_as, make_round):
    make_round()
    login_as("candidate")
    assert client.get("/exam/admin/").status_code == 403


def test_editing_a_blueprint_regenerates_its_sessions_or_refuses(make_exam_session):
    from datetime import timedelta

    from certify.clock import utcnow
    from exam.models import Attempt, PaperItem, SessionCandidate

    session = make_exam_session(candidates=2)
    bp = session.blueprint
    spec = [dict(r, difficulty_min=1, difficulty_max=5) for r in DEMO_ROWS]
    spec[5] = dict(spec[5], count=10, points=Decimal(2))  # 10 true/false × 2 instead of 20 × 1
    save_blueprint(bp.scheme, name=bp.name, mode=bp.mode, rows=spec, blueprint=bp)
    db.session.commit()
    sc = db.session.execute(db.select(SessionCandidate).filter_by(session_id=session.id)).scalars().first()
    assert db.session.execute(db.select(db.func.count()).select_from(PaperItem)
                              .filter_by(paper_id=sc.paper_id)).scalar() == 50

    spec[0] = dict(spec[0], count=5)
    spec[3] = dict(spec[3], count=10)
    spec[3]["category"], spec[3]["difficulty_min"], spec[3]["difficulty_max"] = "安全规范", 5, 5
    with pytest.raises(ExamAdminError) as err:
        save_blueprint(bp.scheme, name=bp.name, mode=bp.mode, rows=spec, blueprint=bp)
    assert f"场次「{session.name}」正在使用此方案" in err.value.errors[0] and "还缺 7 道" in err.value.errors[0]
    db.session.rollback()

    db.session.add(Attempt(session_id=session.id, candidate_id=sc.candidate_id, paper_id=sc.paper_id,
                           deadline_at=utcnow() + timedelta(minutes=60)))
    db.session.commit()
    with pytest.raises(ExamAdminError, match="已有考生使用此方案作答"):
        save_blueprint(bp.scheme, name="改名", mode=bp.mode, rows=spec, blueprint=bp)
