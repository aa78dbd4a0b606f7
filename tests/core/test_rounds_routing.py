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
