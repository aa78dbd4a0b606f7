import pytest

from certify.access import allowed_roles
from certify.domain import CANDIDATE, PANELIST, SECRETARIAT, SUPERVISOR
from certify.extensions import db
from tests.conftest import TEST_PASSWORD, csrf_token_from, login


def test_every_endpoint_declares_its_roles(app):
    undeclared = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        if allowed_roles(app.view_functions[rule.endpoint]) is None:
            undeclared.append(rule.rule)
    assert undeclared == []


def test_login_with_wrong_password_is_refused(client, make_user):
    user = make_user(SECRETARIAT)
    resp = login(client, user.username, "wrong-password", follow=True)
    assert "账号或密码错误" in resp.get_data(as_text=True)
    assert client.get("/account/password").status_code == 302


def test_generated_account_must_change_password_first(client, make_user, ctx):
    user = make_user(CANDIDATE, generated=True)
    assert user.must_change_password
    resp = login(client, user.username)
    assert resp.headers["Location"].endswith("/")
    resp = client.get("/", follow_redirects=False)
    assert "/account/password" in resp.headers["Location"]
    resp = client.post("/account/password", data={"current": TEST_PASSWORD, "new": "a-new-pass-1",
                                                  "confirm": "a-new-pass-1"})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    db.session.refresh(user)
    assert not user.must_change_password
    assert user.check_password("a-new-pass-1")


def test_password_change_ends_other_sessions(app, make_user):
    user = make_user(SECRETARIAT)
    first, second = app.test_client(), app.test_client()
    login(first, user.username)
    login(second, user.username)
    first.post("/account/password", data={"current": TEST_PASSWORD, "new": "another-pass-9",
                                          "confirm": "another-pass-9"})
    assert first.get("/account/password").status_code == 200
    assert second.get("/account/password").status_code == 302  # sent to login


def test_csrf_is_enforced_on_forms(app, make_user):
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        user = make_user(SECRETARIAT)
        client = app.test_client()
        resp = client.post("/login", data={"username": user.username, "password": TEST_PASSWORD})
        assert resp.status_code == 400
        token = csrf_token_from(client.get("/login").get_data(as_text=True))
        resp = client.post("/login", data={"username": user.username, "password": TEST_PASSWORD,
                                           "csrf_token": token})
        assert resp.status_code == 302
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_login_is_throttled(app, make_user):
    from certify.login_throttle import reset

    app.config["LOGIN_RATE_LIMIT"] = "10 per minute"
    reset(app)
    try:
        user = make_user(PANELIST)
        client = app.test_client()
        codes = [login(client, user.username, "bad-password").status_code for _ in range(12)]
        assert codes[:10] == [200] * 10
        assert codes[-1] == 429
    finally:
        reset(app)
        app.config["LOGIN_RATE_LIMIT"] = "10000 per minute"


def test_supervisor_may_manage_only_their_own_account(client, login_as):
    login_as(SUPERVISOR)
    assert client.get("/account/password").status_code == 200
    assert client.post("/logout").status_code == 302


def test_json_api_unauthenticated_gets_json_error(client):
    resp = client.get("/api/does-not-exist")
    assert resp.status_code == 404
    assert resp.get_json()["error"]["code"] == "not_found"


def test_login_throttle_is_per_account_and_configurable(app, make_user):
    from certify.login_throttle import reset

    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    reset(app)
    try:
        target, bystander = make_user(CANDIDATE), make_user(CANDIDATE)
        client = app.test_client()
        codes = [login(client, target.username, "bad-password").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        # even the right password is refused while the account is throttled, with a Chinese message
        resp = login(client, target.username)
        assert resp.status_code == 429 and "登录尝试过于频繁" in resp.get_data(as_text=True)
        # another account from the same address is not affected
        assert login(client, bystander.username).status_code == 302
    finally:
        reset(app)
        app.config["LOGIN_RATE_LIMIT"] = "10000 per minute"


# ------------------------------------------------------------------ sessions end on the server

def test_a_cookie_captured_before_logout_no_longer_works(app, make_user):
    user = make_user(SECRETARIAT)
    client = app.test_client()
    login(client, user.username)
    captured = client.get_cookie("session").value
    assert client.get("/account/password").status_code == 200
    client.post("/logout")
    replay = app.test_client()
    replay.set_cookie("session", captured)
    assert replay.get("/account/password").status_code == 302  # sent to login: the epoch moved on
    api = replay.get("/api/exam/sessions")
    assert api.status_code == 401


def test_a_cookie_captured_before_a_password_change_no_longer_works(app, make_user):
    user = make_user(SECRETARIAT)
    client = app.test_client()
    login(client, user.username)
    captured = client.get_cookie("session").value
    resp = client.post("/account/password", data={"current": TEST_PASSWORD, "new": "plum-orchard-83-wind",
                                                  "confirm": "plum-orchard-83-wind"})
    assert resp.status_code == 302
    assert client.get("/account/password").status_code == 200  # this browser carries the new epoch
    replay = app.test_client()
    replay.set_cookie("session", captured)
    assert replay.get("/account/password").status_code == 302


# ------------------------------------------------------------------ password rules

@pytest.mark.parametrize("new, message", [
    ("short-pw1", "至少 10 位"),
    ("qwertyuiop", "常见密码"),
    ("abcdefghijk", "太容易被猜中"),
    ("zhangsan1990", "太容易被猜中"),  # the account name with a year
    ("zhangsan-account", "不能与账号相同"),
])
def test_chosen_passwords_follow_the_rules(app, make_user, new, message):
    user = make_user(CANDIDATE, username="zhangsan-account" if "account" in new else "zhangsan")
    client = app.test_client()
    login(client, user.username)
    resp = client.post("/account/password", data={"current": TEST_PASSWORD, "new": new, "confirm": new})
    assert resp.status_code == 400 and message in resp.get_data(as_text=True)
    db.session.refresh(user)
    assert user.check_password(TEST_PASSWORD)


def test_wrong_current_password_is_refused_on_the_form(app, make_user):
    user = make_user(CANDIDATE)
    client = app.test_client()
    login(client, user.username)
    resp = client.post("/account/password", data={"current": "not-it-at-all", "new": "plum-orchard-83-wind",
                                                  "confirm": "plum-orchard-83-wind"})
    assert resp.status_code == 400 and "当前密码不正确" in resp.get_data(as_text=True)


def test_password_rules_without_an_app():
    from certify.services.passwords import password_problems

    assert password_problems("plum-orchard-83-wind", username="wang") == []
    assert password_problems("x" * 129) == ["密码最多 128 位"]
    assert password_problems("Password1234")  # common pattern
    assert password_problems("WANG-LI-2024", username="wang-li-2024") == ["密码不能与账号相同"]


# ------------------------------------------------------------------ where a login goes next

@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example",
                                    "/\r\nSet-Cookie: x=1", "javascript:alert(1)",
                                    "/rounds/\nLocation: http://evil.example", "/\tx", "http:/evil.example"])
def test_next_never_leaves_the_site_nor_breaks_a_header(app, make_user, target):
    user = make_user(SECRETARIAT)
    client = app.test_client()
    resp = client.post("/login", query_string={"next": target},
                       data={"username": user.username, "password": TEST_PASSWORD})
    assert resp.status_code == 302 and resp.headers["Location"] == "/"


def test_next_to_a_page_of_the_site_is_followed(app, make_user):
    user = make_user(SECRETARIAT)
    client = app.test_client()
    resp = client.post("/login?next=/rounds/%3Fq%3D1", data={"username": user.username, "password": TEST_PASSWORD})
    assert resp.status_code == 302 and resp.headers["Location"] == "/rounds/?q=1"
