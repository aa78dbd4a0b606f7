"""One rule each: the ``round`` URL converter, ``any(…)`` formats, and one ID-masking rule for every page."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from flask import url_for

from certify.domain import can_see_full_ids, mask_id_number
from tests.conftest import login

ROUND_PAGES = ("/rounds/{}", "/rounds/{}/roster", "/rounds/{}/candidates", "/rounds/{}/slips",
               "/rounds/{}/roster/template.xlsx", "/results/{}", "/results/{}/preview", "/results/{}/publicity",
               "/results/{}/complaints", "/results/{}/export/results.csv")


@pytest.mark.parametrize("page", ROUND_PAGES)
def test_an_unknown_round_code_is_404_for_staff_and_a_login_redirect_for_anonymous(app, ctx, make_round, make_user,
                                                                                   page):
    make_round("2024-cq")
    anonymous = app.test_client()
    for code in ("2024-cq", "no-such-round"):
        resp = anonymous.get(page.format(code))
        assert resp.status_code == 302 and "/login" in resp.headers["Location"], code  # no existence leak
    staff = app.test_client()
    login(staff, make_user("secretariat").username)
    assert staff.get(page.format("2024-cq")).status_code in (200, 302)  # publicity: back to the round until confirmed
    resp = staff.get(page.format("no-such-round"))
    assert resp.status_code == 404 and "认证轮次「no-such-round」不存在" in resp.get_data(as_text=True)


def test_unknown_round_as_json_and_on_a_post(app, ctx, make_user):
    client = app.test_client()
    login(client, make_user("secretariat").username)
    resp = client.get("/results/nope/preview", headers={"Accept": "application/json"})
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "round_not_found"
    assert client.post("/results/nope/confirm", data={"level": "初级", "ratio": "0.8"}).status_code == 404
    assert client.post("/rounds/nope/settings", data={}).status_code == 404


def test_urls_are_built_from_a_round_or_its_code(app, ctx, make_round):
    rnd = make_round("2024-cq")
    with app.test_request_context():
        assert url_for("rounds.detail", rnd=rnd) == url_for("rounds.detail", rnd="2024-cq") == "/rounds/2024-cq"
        assert url_for("results.export", rnd=rnd, kind="results", fmt="csv") == "/results/2024-cq/export/results.csv"


def test_formats_and_kinds_outside_the_lists_are_404(app, ctx, make_round, make_user):
    make_round("2024-cq")
    client = app.test_client()
    login(client, make_user("secretariat").username)
    for url in ("/results/records-template.pdf", "/results/2024-cq/export/results.pdf",
                "/results/2024-cq/export/secrets.xlsx", "/rounds/2024-cq/roster/template.pdf"):
        assert client.get(url).status_code == 404, url
    assert client.get("/results/records-template.csv").status_code == 200


def test_one_rule_decides_who_sees_whole_id_numbers():
    assert can_see_full_ids(SimpleNamespace(role="secretariat"))
    assert not any(can_see_full_ids(SimpleNamespace(role=r)) for r in ("supervisor", "panelist", "candidate"))
    assert not can_see_full_ids(None) and not can_see_full_ids(SimpleNamespace())
    assert mask_id_number("500101199001011234") == "500101********1234"


def test_candidate_list_and_results_preview_mask_ids_for_supervisors_only(app, ctx, make_round, make_candidate,
                                                                          make_user):
    rnd = make_round("2024-cq")
    make_candidate(rnd, id_number="500101199001011234")
    for role, shown, hidden in (("secretariat", "500101199001011234", "500101********1234"),
                                ("supervisor", "500101********1234", "500101199001011234")):
        client = app.test_client()
        login(client, make_user(role).username)
        for page in (f"/rounds/{rnd.code}/candidates", f"/results/{rnd.code}/preview?level=初级"):
            html = client.get(page).get_data(as_text=True)
            assert shown in html and hidden not in html, (role, page)


# ------------------------------------------------------------------ bad parameters: 400 (or 404), never 500

BIG = "9" * 30


@pytest.mark.parametrize("url,status", [
    ("/results/2024-cq/preview?ratio=NaN", 400), ("/results/2024-cq/preview?ratio=sNaN", 400),
    ("/results/2024-cq/preview?ratio=Infinity", 400), ("/results/2024-cq/preview?ratio=1e999999999", 400),
    ("/results/2024-cq/preview?min_total=NaN", 400), ("/results/2024-cq/preview?min_total=-Infinity", 400),
    (f"/rounds/2024-cq/candidates?page={BIG}", 400), ("/rounds/2024-cq/candidates?page=-5", 400),
    ("/rounds/2024-cq/candidates?page=abc", 400), (f"/bank/?page={BIG}", 400),
    (f"/bank/items/{BIG}", 404), (f"/rounds/slips/{BIG}", 404), ("/bank/items/0", 404),
])
def test_bad_query_parameters_are_refused_with_a_message(app, ctx, make_round, make_user, url, status):
    make_round("2024-cq")
    client = app.test_client()
    login(client, make_user("secretariat").username)
    resp = client.get(url)
    assert resp.status_code == status, resp.get_data(as_text=True)[:300]
    if status == 400:
        html = resp.get_data(as_text=True)
        assert "不是有效的数字" in html or "须为 0 到 100" in html or "页码" in html


def test_a_good_page_number_still_pages(app, ctx, make_round, make_candidate, make_user):
    rnd = make_round("2024-cq")
    make_candidate(rnd, name="唯一")
    client = app.test_client()
    login(client, make_user("secretariat").username)
    assert "唯一" in client.get(f"/rounds/{rnd.code}/candidates?page=1").get_data(as_text=True)
    assert "唯一" not in client.get(f"/rounds/{rnd.code}/candidates?page=2").get_data(as_text=True)


def test_confirm_refuses_a_ratio_or_minimum_that_is_not_a_number(app, ctx, make_round, make_user):
    from certify.extensions import db
    from certify.results.models import ResultSet

    make_round("2024-cq")
    client = app.test_client()
    login(client, make_user("secretariat").username)
    for data, message in (({"ratio": "NaN"}, "认定比例「NaN」不是有效的数字"),
                          ({"ratio": "0.8", "min_total": "Infinity"}, "最低总分「Infinity」不是有效的数字")):
        resp = client.post("/results/2024-cq/confirm", data={"level": "初级", **data},
                           headers={"Accept": "application/json"})
        assert resp.status_code == 400 and resp.get_json()["error"] == {"code": "bad_parameter", "message": message}
        resp = client.post("/results/2024-cq/confirm", data={"level": "初级", **data}, follow_redirects=True)
        assert message in resp.get_data(as_text=True)
    assert db.session.execute(db.select(ResultSet)).first() is None
