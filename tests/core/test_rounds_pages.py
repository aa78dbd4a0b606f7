"""Secretariat pages: rounds list and creation, scheme editing, roster upload, candidate list; supervisors read."""
import io
from decimal import Decimal

from certify.extensions import db
from certify.models import AuditEntry, Round
from certify.scores import record_component


def test_secretariat_reaches_the_rounds_list_from_the_home_page(client, login_as, make_round):
    make_round()
    login_as("secretariat")
    resp = client.get("/")
    assert resp.headers["Location"].endswith("/home")  # the staff home (what is next), tests/core/test_staff_home.py
    assert 'href="/rounds/"' in client.get("/home").get_data(as_text=True)
    html = client.get("/rounds/").get_data(as_text=True)
    assert "2024-cq" in html and "新建轮次" in html


def test_supervisor_sees_rounds_read_only(client, login_as, make_round):
    rnd = make_round()
    login_as("supervisor")
    assert client.get("/").headers["Location"].endswith("/home")
    for url in ("/rounds/", f"/rounds/{rnd.code}", f"/rounds/{rnd.code}/roster"):
        html = client.get(url).get_data(as_text=True)
        assert "<form method=\"post\" action=\"/rounds" not in html and 'enctype="multipart/form-data"' not in html
        assert "只读" in html
    assert client.post("/rounds/create", data={"code": "x1", "region": "重庆", "year": 2025}).status_code == 403


def test_create_round_with_presets(client, login_as, ctx):
    login_as("secretariat")
    resp = client.post("/rounds/create", data={"code": "2025-jl", "region": "吉林", "year": "2025", "name": ""})
    assert resp.status_code == 302
    rnd = db.session.execute(db.select(Round).filter_by(code="2025-jl")).scalar_one()
    assert [(s.level, s.exam_weight, s.record_weight) for s in rnd.schemes] == [("初级", 0, 100)]
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "2025年吉林青少年科技辅导员专业水平认证" in html


def test_create_round_errors_are_shown(client, login_as, make_round):
    make_round()
    login_as("secretariat")
    resp = client.post("/rounds/create", data={"code": "2024-cq", "region": "重庆", "year": "2024"})
    assert resp.status_code == 400 and "已存在" in resp.get_data(as_text=True)
    resp = client.post("/rounds/create", data={"code": "bad code!", "region": "重庆", "year": "abc"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "轮次代码须为" in html and "不是有效的整数" in html


def _scheme_data(scheme, **values):
    base = {"exam_weight": "50", "defense_weight": "0", "record_weight": "50", "ratio_percent": "80", "min_total": ""}
    base.update(values)
    return {f"s{scheme.id}-{k}": v for k, v in base.items()}


def test_scheme_weights_ratio_and_min_total_are_saved(client, login_as, make_round):
    rnd = make_round()
    junior = rnd.scheme_for("初级")
    login_as("secretariat")
    resp = client.post(f"/rounds/{rnd.code}/schemes/{junior.id}",
                       data=_scheme_data(junior, exam_weight="60", record_weight="40", ratio_percent="75.5",
                                         min_total="60"))
    assert resp.status_code == 302
    db.session.refresh(junior)
    assert (junior.exam_weight, junior.record_weight, junior.ratio, junior.min_total) == (
        Decimal("60"), Decimal("40"), Decimal("0.755"), Decimal("60"))
    assert db.session.execute(db.select(AuditEntry).filter_by(action="scheme.update")).scalar_one()
    html = client.get(f"/rounds/{rnd.code}").get_data(as_text=True)
    assert 'value="75.5"' in html and 'value="60"' in html
    # saving the same values again writes no second audit entry
    client.post(f"/rounds/{rnd.code}/schemes/{junior.id}",
                data=_scheme_data(junior, exam_weight="60", record_weight="40", ratio_percent="75.5", min_total="60"))
    assert len(db.session.execute(db.select(AuditEntry).filter_by(action="scheme.update")).scalars().all()) == 1


def test_scheme_weights_must_sum_to_100_and_stay_in_range(client, login_as, make_round):
    rnd = make_round()
    junior = rnd.scheme_for("初级")
    login_as("secretariat")
    resp = client.post(f"/rounds/{rnd.code}/schemes/{junior.id}", data=_scheme_data(junior, exam_weight="60"))
    assert resp.status_code == 400 and "三项权重之和必须为 100（现为 110）" in resp.get_data(as_text=True)
    resp = client.post(f"/rounds/{rnd.code}/schemes/{junior.id}",
                       data=_scheme_data(junior, exam_weight="150", record_weight="-50", ratio_percent="0"))
    html = resp.get_data(as_text=True)
    assert "笔试权重须在 0 到 100 之间" in html and "业绩成果权重须在 0 到 100 之间" in html
    assert "认定比例须大于 0" in html
    resp = client.post(f"/rounds/{rnd.code}/schemes/{junior.id}", data=_scheme_data(junior, exam_weight="abc"))
    assert "不是有效的数字" in resp.get_data(as_text=True)
    db.session.refresh(junior)
    assert junior.exam_weight == 50


def test_weights_freeze_once_a_score_exists_but_the_ratio_stays_editable(client, login_as, make_round,
                                                                         make_candidate):
    rnd = make_round()
    junior = rnd.scheme_for("初级")
    record_component(make_candidate(rnd), "record", Decimal("80"), source="test")
    db.session.commit()
    login_as("secretariat")
    resp = client.post(f"/rounds/{rnd.code}/schemes/{junior.id}",
                       data=_scheme_data(junior, exam_weight="40", record_weight="60"))
    assert resp.status_code == 400 and "本轮已有成绩，不能再修改权重" in resp.get_data(as_text=True)
    resp = client.post(f"/rounds/{rnd.code}/schemes/{junior.id}", data=_scheme_data(junior, ratio_percent="60"))
    assert resp.status_code == 302
    db.session.refresh(junior)
    assert (junior.exam_weight, junior.ratio) == (Decimal("50"), Decimal("0.6"))


def test_round_settings_policy_and_publicity_days(client, login_as, make_round):
    rnd = make_round()
    login_as("secretariat")
    resp = client.post(f"/rounds/{rnd.code}/settings", data={"r-name": "二〇二四重庆", "r-mc_policy": "all_or_nothing",
                                                            "r-publicity_working_days": "7"})
    assert resp.status_code == 302
    db.session.refresh(rnd)
    assert (rnd.name, rnd.mc_policy, rnd.publicity_working_days) == ("二〇二四重庆", "all_or_nothing", 7)
    resp = client.post(f"/rounds/{rnd.code}/settings", data={"r-mc_policy": "partial_half",
                                                            "r-publicity_working_days": "0"})
    assert resp.status_code == 400 and "公示工作日须在 1 到 30 之间" in resp.get_data(as_text=True)


def test_roster_upload_shows_every_row_error_then_the_summary(client, login_as, make_round, roster_files, ctx):
    rnd = make_round()
    login_as("secretariat")
    bad = roster_files.xlsx([roster_files.person(1), roster_files.person(2, id_number="110105194912310021")])
    resp = client.post(f"/rounds/{rnd.code}/roster", data={"file": (io.BytesIO(bad), "名单.xlsx")},
                       content_type="multipart/form-data")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "导入失败：共 1 处错误，未写入任何数据" in html and "校验位错误" in html and "<td>3</td><td>证件号</td>" in html
    good = roster_files.csv([roster_files.person(1), roster_files.person(2, "中级")], encoding="gb18030")
    resp = client.post(f"/rounds/{rnd.code}/roster", data={"file": (io.BytesIO(good), "名单.csv")},
                       content_type="multipart/form-data")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "导入成功" in html
    assert "<b>2</b>新增" in html and "<b>0</b>更新" in html
    assert "20245010001" in html and "20245020001" in html  # the new candidates with their tickets
    resp = client.post(f"/rounds/{rnd.code}/roster", data={"file": (io.BytesIO(good), "名单.csv")},
                       content_type="multipart/form-data")
    assert "<b>2</b>未变" in resp.get_data(as_text=True)


def test_roster_upload_without_a_file_or_with_a_wrong_type(client, login_as, make_round):
    rnd = make_round()
    login_as("secretariat")
    resp = client.post(f"/rounds/{rnd.code}/roster", data={}, content_type="multipart/form-data")
    assert resp.status_code == 400 and "请选择要上传的文件" in resp.get_data(as_text=True)
    resp = client.post(f"/rounds/{rnd.code}/roster", data={"file": (io.BytesIO(b"x"), "a.pdf")},
                       content_type="multipart/form-data")
    assert "只支持 .xlsx 或 .csv 文件" in resp.get_data(as_text=True)


def test_template_download_reimports_cleanly(client, login_as, make_round, ctx):
    from certify.roster import import_roster

    rnd = make_round()
    login_as("secretariat")
    resp = client.get(f"/rounds/{rnd.code}/roster/template.xlsx")
    assert resp.status_code == 200 and resp.headers["Content-Disposition"].endswith(".xlsx")
    assert import_roster(rnd, resp.data, "模板.xlsx").added == 1
    db.session.rollback()
    resp = client.get(f"/rounds/{rnd.code}/roster/template.csv")
    assert resp.data.startswith("\ufeff证件号,姓名,工作单位,区县,认证级别,手机,准考证号".encode("utf-8"))


def test_candidate_list_search_filter_pagination_and_id_masking(app, client, login_as, make_round, make_candidate,
                                                                 make_user):
    from tests.conftest import login

    rnd = make_round()
    for n in range(55):
        make_candidate(rnd, "中级" if n % 5 == 0 else "初级", name=f"学员{n:02d}", work_unit=f"单位{n % 4}",
                       id_number=f"5001031990010{n:05d}")
    make_candidate(rnd, name="独特的名字", work_unit="重庆科技馆", id_number="500103199001019999")
    login_as("secretariat")
    html = client.get(f"/rounds/{rnd.code}/candidates").get_data(as_text=True)
    assert "第 1 / 2 页，共 56 条" in html and "500103199001000000" in html
    assert "独特的名字" in client.get(f"/rounds/{rnd.code}/candidates?page=2").get_data(as_text=True)
    for q in ("独特", "科技馆", "500103199001019999", "T"):
        assert "独特的名字" in client.get(f"/rounds/{rnd.code}/candidates", query_string={"q": q, "page": 2 if q == "T" else 1}
                                          ).get_data(as_text=True)
    html = client.get(f"/rounds/{rnd.code}/candidates?level=中级").get_data(as_text=True)
    assert "共" not in html.split("pager")[-1] or "第 1 / 1" not in html
    assert html.count("<td>中级</td>") == 11 and "<td>初级</td>" not in html
    sup = make_user("supervisor")
    other = app.test_client()
    login(other, sup.username)
    html = other.get(f"/rounds/{rnd.code}/candidates?q=独特").get_data(as_text=True)
    assert "500103199001019999" not in html and "500103********9999" in html
