"""Accounts: staff accounts (CLI and the secretariat's page), resets, slip passwords, no plain text anywhere,
supervisors never see a password, the last secretariat stays."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import String, Text

from certify.accounts import issue_slip_passwords, reset_password
from certify.domain import CANDIDATE, PANELIST, SECRETARIAT, SUPERVISOR
from certify.extensions import db
from certify.models import AuditEntry, User
from certify.roster import import_roster
from certify.services.passwords import CHOSEN_HASH_METHOD, GENERATED_BITS
from tests.conftest import TEST_PASSWORD, login

GOOD = "violet-harbor-7-kites"


def _audits(action: str) -> list[AuditEntry]:
    return db.session.execute(db.select(AuditEntry).filter_by(action=action)).scalars().all()


def _password_in(html: str) -> str:
    match = re.search(r'<td class="mono big">([A-Za-z0-9]{12})</td>', html)
    assert match, html[:2000]
    return match.group(1)


@pytest.fixture
def roster(make_round, roster_files, ctx):
    rnd = make_round()
    result = import_roster(rnd, roster_files.csv([roster_files.person(n) for n in range(1, 4)]), "r.csv")
    db.session.commit()
    return rnd, result.new_candidates


# ------------------------------------------------------------------ CLI

def test_cli_creates_lists_disables_and_resets_staff_accounts(app, ctx):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create", "--role", "secretariat", "--username", "boss", "--name", "主任"],
                           input=f"{GOOD}\n{GOOD}\n")
    assert result.exit_code == 0, result.output
    boss = db.session.execute(db.select(User).filter_by(username="boss")).scalar_one()
    assert boss.role == SECRETARIAT and boss.display_name == "主任" and boss.check_password(GOOD)
    assert boss.password_hash.startswith("scrypt:") and not boss.must_change_password
    assert _audits("account.create")[0].detail["username"] == "boss"

    weak = runner.invoke(args=["users", "create", "--role", "supervisor", "--username", "sup", "--password-stdin"],
                         input="qwertyuiop\n")
    assert weak.exit_code == 1 and "常见密码" in weak.output
    assert db.session.execute(db.select(User).filter_by(username="sup")).scalar_one_or_none() is None
    same = runner.invoke(args=["users", "create", "--role", "supervisor", "--username", "sup-account-1",
                               "--password-stdin"], input="sup-account-1\n")
    assert same.exit_code == 1 and "不能与账号相同" in same.output
    taken = runner.invoke(args=["users", "create", "--role", "panelist", "--username", "boss", "--password-stdin"],
                          input=f"{GOOD}\n")
    assert taken.exit_code == 1 and "已存在" in taken.output
    assert runner.invoke(args=["users", "create", "--role", "supervisor", "--username", "sup",
                               "--password-stdin"], input=f"{GOOD}\n").exit_code == 0

    listed = runner.invoke(args=["users", "list"])
    assert listed.exit_code == 0 and "boss" in listed.output and "sup" in listed.output and "共 2 个账号" in listed.output

    last = runner.invoke(args=["users", "disable", "boss"])
    assert last.exit_code == 1 and "最后一个" in last.output
    db.session.expire_all()
    assert boss.is_active_account

    assert runner.invoke(args=["users", "disable", "sup", "--reason", "离职"]).exit_code == 0
    db.session.expire_all()
    sup = db.session.execute(db.select(User).filter_by(username="sup")).scalar_one()
    assert not sup.is_active_account and _audits("account.disable")[0].reason == "离职"
    assert login(app.test_client(), "sup", GOOD).status_code == 200  # refused: disabled
    assert runner.invoke(args=["users", "enable", "sup"]).exit_code == 0

    reset = runner.invoke(args=["users", "reset-password", "sup"])
    assert reset.exit_code == 0, reset.output
    one_time = reset.output.strip().rsplit("：", 1)[1]
    db.session.expire_all()
    assert sup.must_change_password and sup.check_password(one_time) and not sup.check_password(GOOD)
    assert sup.password_hash.startswith(CHOSEN_HASH_METHOD + "$")  # staff one-time passwords: the strong KDF too
    assert _audits("account.password_reset")[0].detail["username"] == "sup"
    assert login(app.test_client(), "sup", one_time).status_code == 302

    chosen = runner.invoke(args=["users", "reset-password", "sup", "--password-stdin"], input="another-quiet-river-42\n")
    assert chosen.exit_code == 0
    db.session.expire_all()
    assert sup.check_password("another-quiet-river-42") and not sup.must_change_password
    assert runner.invoke(args=["users", "disable", "nobody"]).exit_code == 1


# ------------------------------------------------------------------ the secretariat's page

def test_secretariat_creates_a_staff_account_with_a_one_time_password_shown_once(client, login_as, app):
    login_as(SECRETARIAT)
    assert "工作人员账号" in client.get("/accounts/").get_data(as_text=True)
    resp = client.post("/accounts/create", data={"username": "zj-new", "display_name": "新专家", "role": PANELIST})
    assert resp.status_code == 200 and "no-store" in resp.headers["Cache-Control"]
    password = _password_in(resp.get_data(as_text=True))
    user = db.session.execute(db.select(User).filter_by(username="zj-new")).scalar_one()
    assert user.role == PANELIST and user.must_change_password and user.check_password(password)
    assert password not in client.get("/accounts/").get_data(as_text=True)
    other = app.test_client()
    login(other, "zj-new", password)
    assert other.get("/").headers["Location"].endswith("/account/password")
    again = client.post("/accounts/create", data={"username": "zj-new", "role": PANELIST})
    assert again.status_code == 409 and "已存在" in again.get_data(as_text=True)


def test_the_last_active_secretariat_can_never_be_disabled(app, client, login_as, make_user):
    me = login_as(SECRETARIAT)
    resp = client.post(f"/accounts/{me.id}/disable", follow_redirects=True)
    assert "不能停用最后一个启用的秘书处账号" in resp.get_data(as_text=True)
    db.session.refresh(me)
    assert me.is_active_account
    colleague = make_user(SECRETARIAT)
    other = app.test_client()
    assert login(other, colleague.username).status_code == 302
    assert other.get("/accounts/").status_code == 200
    client.post(f"/accounts/{colleague.id}/disable")
    db.session.refresh(colleague)
    assert not colleague.is_active_account
    assert other.get("/accounts/").status_code == 302  # disabling ended the colleague's session
    # now the colleague is disabled, I am the last one again
    client.post(f"/accounts/{me.id}/disable")
    db.session.refresh(me)
    assert me.is_active_account


def test_reset_flow_for_a_candidate_shows_the_password_once_and_ends_old_sessions(app, client, login_as, roster):
    _rnd, (first, *_rest) = roster
    first.user.set_password(TEST_PASSWORD)
    first.user.must_change_password = False
    db.session.commit()
    candidate_browser = app.test_client()
    assert login(candidate_browser, first.ticket).status_code == 302
    login_as(SECRETARIAT)
    confirm = client.get(f"/accounts/reset?username={first.ticket}")
    html = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and first.name in html and "确认重置" in html and first.id_number not in html
    resp = client.post(f"/accounts/{first.user_id}/reset", data={"reason": "考生遗失准考证"})
    assert resp.status_code == 200 and "no-store" in resp.headers["Cache-Control"]
    password = _password_in(resp.get_data(as_text=True))
    assert candidate_browser.get("/me").status_code == 302  # the old session is over
    assert login(app.test_client(), first.ticket, TEST_PASSWORD).status_code == 200  # old password refused
    fresh = app.test_client()
    assert login(fresh, first.ticket, password).status_code == 302
    assert fresh.get("/me").headers["Location"].endswith("/account/password")  # must change first
    entry = _audits("account.password_reset")[0]
    assert entry.reason == "考生遗失准考证" and entry.detail["username"] == first.ticket
    assert client.get("/accounts/reset?username=nobody", follow_redirects=True).get_data(as_text=True).count(
        "没有账号") == 1


def test_slip_batch_generates_fresh_passwords_after_a_confirmation_and_audits(app, client, login_as, roster):
    rnd, (first, second, third) = roster
    third.user.set_password(TEST_PASSWORD)
    third.user.must_change_password = False  # chose their own: left alone
    db.session.commit()
    login_as(SECRETARIAT)
    page = client.get(f"/rounds/{rnd.code}/slips").get_data(as_text=True)
    assert "生成初始密码并打印准考证" in page
    confirm = client.get(f"/accounts/rounds/{rnd.code}/slips")
    assert confirm.status_code == 200 and '<strong id="pending-count">2</strong>' in confirm.get_data(as_text=True)
    assert _audits("roster.slip_passwords") == []  # the confirmation page writes nothing
    resp = client.post(f"/accounts/rounds/{rnd.code}/slips")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "no-store" in resp.headers["Cache-Control"]
    shown = re.findall(r'初始密码：<span class="mono big">([A-Za-z0-9]{12})</span>', html)
    assert len(shown) == 2 and html.count('class="slip card') == 3 and "已由考生本人设置" in html
    for cand, password in zip((first, second), shown):
        db.session.refresh(cand.user)
        assert cand.user.check_password(password) and cand.user.must_change_password
    entry = _audits("roster.slip_passwords")[0]
    assert entry.round_id == rnd.id and entry.detail["count"] == 2
    assert sorted(entry.detail["tickets"]) == sorted([first.ticket, second.ticket])
    # a second batch replaces the first: the earlier slips stop working
    client.post(f"/accounts/rounds/{rnd.code}/slips")
    db.session.refresh(first.user)
    assert not first.user.check_password(shown[0])


def test_slips_are_printed_and_their_passwords_issued_one_batch_at_a_time(client, login_as, roster, monkeypatch):
    import certify.roster as roster_module

    rnd, people = roster
    monkeypatch.setattr(roster_module, "SLIPS_PER_PAGE", 2)
    first, second, third = sorted(people, key=lambda c: c.ticket)
    login_as(SECRETARIAT)
    page1 = client.get(f"/rounds/{rnd.code}/slips").get_data(as_text=True)
    page2 = client.get(f"/rounds/{rnd.code}/slips?page=2").get_data(as_text=True)
    assert page1.count('class="slip card') == 2 and third.ticket not in page1
    assert page2.count('class="slip card') == 1 and third.ticket in page2 and first.ticket not in page2
    assert "第 1 / 2 批" in page1 and "page=2" in page1 and "第 2 / 2 批" in page2
    assert client.get(f"/rounds/{rnd.code}/slips?page=x").status_code == 400
    confirm = client.get(f"/accounts/rounds/{rnd.code}/slips?page=2").get_data(as_text=True)
    assert '<strong id="pending-count">1</strong>' in confirm
    assert _audits("roster.slip_passwords") == []  # no GET issues passwords
    html = client.post(f"/accounts/rounds/{rnd.code}/slips?page=2").get_data(as_text=True)
    shown = re.findall(r'初始密码：<span class="mono big">([A-Za-z0-9]{12})</span>', html)
    assert len(shown) == 1 and html.count('class="slip card') == 1 and third.ticket in html
    entry = _audits("roster.slip_passwords")[0]
    assert entry.detail["count"] == 1 and entry.detail["tickets"] == [third.ticket]
    db.session.refresh(third.user)
    assert third.user.check_password(shown[0])


def test_supervisors_and_others_get_403_on_every_page_that_shows_a_password(app, make_user, roster):
    rnd, (first, *_rest) = roster
    target = make_user(PANELIST)
    pages = [("get", "/accounts/"), ("get", f"/accounts/reset?username={first.ticket}"),
             ("get", f"/accounts/rounds/{rnd.code}/slips"), ("post", "/accounts/create"),
             ("post", f"/accounts/{target.id}/reset"), ("post", f"/accounts/rounds/{rnd.code}/slips"),
             ("post", f"/accounts/{target.id}/disable"), ("post", f"/accounts/{target.id}/enable")]
    for role in (SUPERVISOR, PANELIST, CANDIDATE):
        browser = app.test_client()
        assert login(browser, make_user(role).username).status_code == 302
        for method, url in pages:
            resp = getattr(browser, method)(url, data={"username": "x1", "role": SECRETARIAT})
            assert resp.status_code == 403, (role, method, url)
    # the slip pages supervisors may read carry no password at all
    issue_slip_passwords(rnd, [first])
    db.session.commit()
    supervisor = app.test_client()
    login(supervisor, make_user(SUPERVISOR).username)
    html = supervisor.get(f"/rounds/{rnd.code}/slips").get_data(as_text=True)
    assert "初始密码：<span" not in html and "生成初始密码" not in html
    db.session.refresh(target)
    assert target.is_active_account
    assert db.session.execute(db.select(db.func.count(User.id)).filter_by(username="x1")).scalar() == 0


# ------------------------------------------------------------------ nothing in plain text

def _every_stored_text() -> str:
    chunks = []
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                chunks.extend(str(v) for v in row if v is not None)
    return "\n".join(chunks)


def test_no_password_is_readable_in_the_database_after_import_slips_reset_and_creation(app, client, login_as,
                                                                                       roster, ctx):
    from certify.accounts import create_staff
    from defense.schedule.operations import create_panelist

    rnd, people = roster
    assert not any(isinstance(c.type, (String, Text)) and "password" in c.name and c.name != "password_hash"
                   for c in db.metadata.tables["candidates"].columns)
    secrets_shown = list(issue_slip_passwords(rnd, people).values())
    secrets_shown.append(reset_password(people[0].user))
    secrets_shown.append(create_staff("helper-1", SUPERVISOR)[1])
    panelist = create_panelist(rnd, name="专家甲", work_unit="某大学")
    secrets_shown.append(panelist.initial_password)
    db.session.commit()
    login_as(SECRETARIAT)
    secrets_shown.append(_password_in(client.post(f"/accounts/{people[1].user_id}/reset").get_data(as_text=True)))
    assert all(s and len(s) >= 12 for s in secrets_shown)
    ticket = people[0].ticket
    db.session.remove()
    stored = _every_stored_text()
    assert "helper-1" in stored and ticket in stored  # the scan sees the data
    for secret in secrets_shown:
        assert secret not in stored


def test_generated_passwords_are_high_entropy_and_cheaply_hashed(ctx, roster):
    rnd, people = roster
    assert GENERATED_BITS >= 60
    issued = issue_slip_passwords(rnd, people)
    assert len(set(issued.values())) == len(people)
    for cand in people:
        assert cand.user.password_hash.startswith("pbkdf2:sha256:1000$")
