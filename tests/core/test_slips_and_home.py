"""Admission slips (准考证) and the candidate's home page with the panels other areas register."""
import pytest

from certify import registry
from certify.area import Area, Step
from certify.extensions import db
from certify.roster import import_roster
from tests.conftest import TEST_PASSWORD, login


@pytest.fixture
def imported(make_round, roster_files, ctx):
    """A round with two candidates imported from a file (generated passwords, forced change)."""
    rnd = make_round()
    result = import_roster(rnd, roster_files.csv([roster_files.person(1, name="王晓燕"),
                                                 roster_files.person(2, "中级", name="周文斌")]), "r.csv")
    db.session.commit()
    return rnd, result.new_candidates


def test_a_candidate_reads_their_slip_with_the_initial_password_until_they_change_it(app, imported):
    from certify.accounts import issue_slip_passwords

    rnd, (first, second) = imported
    client = app.test_client()
    assert login(client, first.ticket, "").status_code == 200  # imported: no usable password before the slips
    password = issue_slip_passwords(rnd, [first, second])[first.id]
    db.session.commit()
    assert login(client, first.ticket, password).status_code == 302
    assert client.get("/me").headers["Location"].endswith("/account/password")  # forced change first
    client.post("/account/password", data={"current": password, "new": "my-new-pass-1", "confirm": "my-new-pass-1"})
    db.session.refresh(first.user)
    assert not first.user.must_change_password
    assert first.user.password_hash.startswith("scrypt:")  # a chosen password: the strong KDF
    html = client.get("/me/slip").get_data(as_text=True)
    assert "王晓燕" in html and first.ticket in html and rnd.title in html and "初级" in html
    assert first.id_number not in html and first.id_number[:6] + "********" + first.id_number[-4:] in html
    assert password not in html and "已由考生本人设置" in html
    assert "http://localhost/login" in html


def test_a_slip_page_never_shows_a_password_it_did_not_just_generate(client, login_as, imported):
    from certify.accounts import issue_slip_passwords

    rnd, (first, _second) = imported
    password = issue_slip_passwords(rnd, [first])[first.id]
    db.session.commit()
    login_as("secretariat")
    html = client.get(f"/rounds/slips/{first.id}").get_data(as_text=True)
    assert password not in html and "见秘书处打印的准考证" in html


def test_nobody_but_staff_opens_another_candidates_slip(app, client, imported, make_user):
    rnd, (first, second) = imported
    first.user.must_change_password = False
    first.user.set_password(TEST_PASSWORD)
    db.session.commit()
    login(client, first.ticket)
    assert client.get(f"/rounds/slips/{first.id}").status_code == 200
    assert client.get(f"/rounds/slips/{second.id}").status_code == 403
    assert client.get(f"/rounds/{rnd.code}/slips").status_code == 403
    for role, expected in (("panelist", 403), ("supervisor", 200), ("secretariat", 200)):
        other = app.test_client()
        login(other, make_user(role).username)
        assert other.get(f"/rounds/slips/{second.id}").status_code == expected, role
    anonymous = app.test_client().get(f"/rounds/slips/{second.id}")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_batch_slips_one_per_page_with_level_filter(client, login_as, imported):
    rnd, (first, second) = imported
    login_as("supervisor")
    html = client.get(f"/rounds/{rnd.code}/slips").get_data(as_text=True)
    assert html.count('class="slip card') == 2 and html.count("page-break") == 1
    assert "css/rounds.css" in html
    html = client.get(f"/rounds/{rnd.code}/slips?level=中级").get_data(as_text=True)
    assert html.count('class="slip card') == 1 and "周文斌" in html and "王晓燕" not in html


@pytest.fixture
def panels(app):
    """panels(order, name, fn): a candidate panel of a test area installed for this test only."""
    added = []

    def add(order, name, fn):
        name_of_area = f"test-area-{len(added)}"
        registry.installed(app).add(Area(name_of_area, candidate_panels=[Step(order, name, fn)]))
        added.append(name_of_area)

    yield add
    for name in added:
        registry.installed(app).remove(name)


def test_candidate_home_shows_identity_then_panels_in_order(client, make_round, make_candidate, panels):
    rnd = make_round()
    cand = make_candidate(rnd, "中级", name="吴静", work_unit="重庆市第八中学校", id_number="500106198308190021")
    panels(999, "test.second", lambda c: f"<section id='p2'>第二 {c.ticket}</section>")
    panels(998, "test.none", lambda c: None)
    panels(997, "test.first", lambda c: "<section id='p1'>第一</section>")
    login(client, cand.ticket)
    assert client.get("/").headers["Location"].endswith("/me")
    html = client.get("/me").get_data(as_text=True)
    assert "吴静" in html and "重庆市第八中学校" in html and "500106********0021" in html
    assert "500106198308190021" not in html
    assert html.index("考生信息") < html.index("id='p1'") < html.index(f"id='p2'>第二 {cand.ticket}")
    assert 'data-panel="test.none"' not in html


def test_a_failing_panel_does_not_take_the_home_page_down(client, make_round, make_candidate, panels):
    rnd = make_round()
    cand = make_candidate(rnd)

    def broken(c):
        raise RuntimeError("boom")

    panels(996, "test.broken", broken)
    login(client, cand.ticket)
    resp = client.get("/me")
    assert resp.status_code == 200 and "该部分暂时无法显示" in resp.get_data(as_text=True)


def test_a_candidate_account_without_a_roster_entry_gets_a_clear_page(client, login_as):
    login_as("candidate")
    resp = client.get("/me")
    assert resp.status_code == 200 and "没有找到您的考生信息" in resp.get_data(as_text=True)
    assert client.get("/me/slip").status_code == 404
