"""Route-by-route access: every rule of the app (including the ones other areas add), every role.

For each rule and declared method: a role outside the view's declared roles gets 403 (anonymous: a redirect
to /login, or 401 JSON under /api/); a supervisor gets 403 on every non-GET of a view without
``supervisor_writes``; nobody ever gets a 500.
"""
from __future__ import annotations

import pytest
from werkzeug.routing import AnyConverter, IntegerConverter

from certify.access import AUTHENTICATED, CREDENTIAL_HEADERS, PUBLIC, SAFE_METHODS, allowed_roles, view_credential
from certify.extensions import db
from certify.models import User
from certify.web import RoundConverter

ROLES = ("anonymous", "candidate", "panelist", "supervisor", "secretariat")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _fill(rule, round_code: str) -> str:
    values = {}
    for name, converter in rule._converters.items():
        if isinstance(converter, IntegerConverter):
            values[name] = 1
        elif isinstance(converter, AnyConverter):
            values[name] = sorted(converter.items)[0]
        elif name in ("code", "round_code") or isinstance(converter, RoundConverter):
            values[name] = round_code
        elif name in ("fmt", "format", "ext"):
            values[name] = "xlsx"
        else:
            values[name] = "x"
    return rule.build(values, append_unknown=False)[1]


def _expected(view, role: str, method: str, path: str) -> str:
    roles = allowed_roles(view) or frozenset()
    if PUBLIC in roles:
        return "any"
    if role == "anonymous":
        return "401-json" if path.startswith("/api/") else "login"
    if AUTHENTICATED not in roles and role not in roles:
        return "403"
    if role == "supervisor" and method not in SAFE_METHODS and not getattr(view, "supervisor_writes", False):
        return "403"
    return "any"


@pytest.fixture
def people(make_round, make_candidate, make_user):
    rnd = make_round()
    make_round("2024-jl", "吉林")
    make_user("panelist", username="spare")  # user 1: the account the /accounts/1/… routes disable and reset
    users = {"candidate": make_candidate(rnd, name="甲").user, "panelist": make_user("panelist"),
             "supervisor": make_user("supervisor"), "secretariat": make_user("secretariat")}
    make_candidate(rnd, "中级", name="乙")
    return rnd, {role: (u.id, u.get_id()) for role, u in users.items()}


def test_every_route_refuses_undeclared_roles_and_never_fails(app, people):
    rnd, users = people
    round_code = rnd.code
    rules = [r for r in app.url_map.iter_rules() if r.endpoint != "static" and not r.endpoint.endswith(".static")]
    assert any(r.endpoint == "rounds.detail" for r in rules)
    problems, checked, seen = [], 0, set()
    for rule in sorted(rules, key=lambda r: r.rule):
        view = app.view_functions[rule.endpoint]
        path = _fill(rule, round_code)
        for method in (m for m in METHODS if m in rule.methods):
            for role in ROLES:
                client = app.test_client()
                if role != "anonymous":
                    with client.session_transaction() as sess:
                        # read afresh: a logout (or reset) ends every session of the account server-side
                        sess["_user_id"] = db.session.get(User, users[role][0]).get_id()
                        db.session.remove()
                        sess["_fresh"] = True
                resp = client.open(path, method=method)
                db.session.remove()
                checked += 1
                expected = _expected(view, role, method, path)
                seen.add(expected)
                status = resp.status_code
                where = f"{method} {path} ({rule.endpoint}) as {role}: {status}"
                if status >= 500:
                    problems.append(f"{where}, server error")
                elif expected == "403" and status != 403:
                    problems.append(f"{where}, expected 403")
                elif expected == "login" and not (status == 302 and "/login" in resp.headers.get("Location", "")):
                    problems.append(f"{where}, expected a redirect to /login")
                elif expected == "401-json" and not (status == 401 and resp.is_json):
                    problems.append(f"{where}, expected 401 JSON")
    assert checked > 100 and {"403", "login", "any"} <= seen
    assert problems == [], "\n".join(problems)


# The views that accept a header credential instead of the session (certify.access.HeaderCredential), by header.
HEADER_CREDENTIALS = {"X-Attempt-Pass": {"exam_api.save_answer", "exam_api.flag_item", "exam_api.record_event"}}


def test_header_credentials_are_declared_here_and_a_forged_one_opens_nothing(app, people):
    """Every /api/* rule, every role's session cookie, plus a forged header credential: the cookie is not read, so
    a view that takes the credential answers 401 ``invalid_…`` and any other non-public view 401 ``unauthenticated``
    (never a 2xx, never a 500)."""
    declared = {}
    for endpoint, view in app.view_functions.items():
        credential = view_credential(view)
        if credential is not None:
            declared.setdefault(credential.header, set()).add(endpoint)
    assert declared == HEADER_CREDENTIALS and set(declared) == CREDENTIAL_HEADERS
    rnd, users = people
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/api/")]
    problems, checked = [], 0
    for rule in sorted(rules, key=lambda r: r.rule):
        view = app.view_functions[rule.endpoint]
        path = _fill(rule, rnd.code)
        for method in (m for m in METHODS if m in rule.methods):
            for role in ROLES:
                for header in CREDENTIAL_HEADERS:
                    client = app.test_client()
                    if role != "anonymous":
                        with client.session_transaction() as sess:
                            sess["_user_id"] = db.session.get(User, users[role][0]).get_id()
                            db.session.remove()
                            sess["_fresh"] = True
                    resp = client.open(path, method=method, json={},
                                       headers={header: "p1.1.1.1.9999999999.forged", "X-Attempt-Token": "t"})
                    db.session.remove()
                    checked += 1
                    where = f"{method} {path} ({rule.endpoint}) as {role} with {header}: {resp.status_code}"
                    roles = allowed_roles(view) or frozenset()
                    code = (resp.get_json(silent=True) or {}).get("error", {}).get("code")
                    if resp.status_code >= 500:
                        problems.append(f"{where}, server error")
                    elif PUBLIC in roles:
                        continue
                    elif view_credential(view) is not None:
                        if not (resp.status_code == 401 and code == view_credential(view).code):
                            problems.append(f"{where} {code}, expected 401 {view_credential(view).code}")
                    elif not (resp.status_code == 401 and code == "unauthenticated"):
                        problems.append(f"{where} {code}, expected 401 unauthenticated (the cookie is not read)")
    assert checked > 20
    assert problems == [], "\n".join(problems)


def test_the_matrix_expectations_follow_the_declarations():
    from certify.access import allow

    @allow("secretariat", "supervisor")
    def staff_view():
        pass

    @allow("supervisor", supervisor_writes=True)
    def complaint_view():
        pass

    assert _expected(staff_view, "candidate", "GET", "/x") == "403"
    assert _expected(staff_view, "supervisor", "GET", "/x") == "any"
    assert _expected(staff_view, "supervisor", "POST", "/x") == "403"
    assert _expected(complaint_view, "supervisor", "POST", "/x") == "any"
    assert _expected(staff_view, "anonymous", "GET", "/api/x") == "401-json"
    assert _expected(staff_view, "anonymous", "POST", "/x") == "login"


def test_new_pages_are_declared_for_their_roles(app):
    """The staff home (/home) and the defense list pages, declared here as the matrix above walks them."""
    expected = {"core.staff_home": {"secretariat", "supervisor", "panelist"},
                "defense_room.cases": {"secretariat", "supervisor"},
                "defense_room.quality": {"secretariat", "supervisor"},
                "rounds.roster_confirm": {"secretariat"}, "results.records_confirm": {"secretariat"},
                "defense_admin.confirm_panelist_import": {"secretariat"},
                "defense_admin.issue_panelist_passwords": {"secretariat"}}
    for endpoint, roles in expected.items():
        assert set(allowed_roles(app.view_functions[endpoint])) == roles, endpoint


def test_confirmation_and_makeup_pages_are_declared_for_their_roles(app):
    """The confirmation pages of irreversible actions (templates/_confirm.html) and the make-up (补考) page: the
    secretariat's, except the defense chair's 确定成绩（锁定） (a panelist; the view also checks the chair)."""
    secretariat = {"secretariat"}
    expected = {"exam_analysis.store_facility_page": secretariat, "exam_analysis.store_facility": secretariat,
                "exam_admin.generate_page": secretariat, "exam_admin.generate": secretariat,
                "exam_admin.release_page": secretariat, "exam_admin.release": secretariat,
                "exam_admin.makeup": secretariat,
                "defense_admin.publish_page": secretariat, "defense_admin.publish": secretariat,
                "defense_room.finalise_page": {"panelist"}, "defense_room.finalise": {"panelist"},
                "results.confirm_page": secretariat, "results.absent_page": secretariat,
                "results.publish_page": secretariat}
    for endpoint, roles in expected.items():
        assert set(allowed_roles(app.view_functions[endpoint])) == roles, endpoint
