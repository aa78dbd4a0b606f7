"""Security defaults: no-store for logged-in users, fingerprinted long-cached static files, and Secure cookies + HSTS
in production (not in the embedded SQLite demo)."""
from __future__ import annotations

import re

from flask import url_for


def test_pages_and_api_for_a_logged_in_user_are_never_stored(client, login_as):
    login_as("secretariat")
    for path in ("/rounds/", "/", "/api/time"):
        resp = client.get(path)
        assert resp.headers.get("Cache-Control") == "no-store", path


def test_anonymous_pages_are_not_marked_personal(client):
    resp = client.get("/login")
    assert resp.status_code == 200
    assert "no-store" not in (resp.headers.get("Cache-Control") or "")


def test_static_urls_are_fingerprinted_and_long_cached(app, client):
    with app.test_request_context():
        url = url_for("static", filename="css/app.css")
    assert re.fullmatch(r"/static/css/app\.css\?v=[0-9a-f]{12}", url)
    resp = client.get(url)
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    plain = client.get("/static/css/app.css")  # without the fingerprint: revalidated, never cached for long
    assert "max-age=31536000" not in (plain.headers.get("Cache-Control") or "")
    page = client.get("/login").get_data(as_text=True)
    assert url in page  # templates link the fingerprinted URL


def test_embedded_demo_has_no_secure_cookie_or_hsts(client, make_user):
    user = make_user("secretariat")
    resp = client.post("/login", data={"username": user.username, "password": "test-pass-123"},
                       base_url="https://localhost")
    assert "Secure" not in resp.headers.get("Set-Cookie", "")
    assert "Strict-Transport-Security" not in resp.headers


def test_production_sets_secure_cookies_and_hsts(run_app):
    body = run_app("""
        import json
        from certify import create_app
        from certify.accounts import create_user
        from certify.extensions import db
        app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False})
        with app.app_context():
            create_user("sec", "secretariat", password="test-pass-123", generated=False)
            db.session.commit()
        c = app.test_client()
        r = c.post("/login", data={"username": "sec", "password": "test-pass-123"}, base_url="https://localhost")
        print(json.dumps({"cookie": r.headers.get("Set-Cookie"), "hsts": r.headers.get("Strict-Transport-Security"),
                          "env": app.config["CERTIFY_ENV"]}))
    """, {"CERTIFY_ENV": "production", "SECRET_KEY": "s" * 40}, create_db=True)
    assert body["env"] == "production"
    assert "Secure" in body["cookie"] and "HttpOnly" in body["cookie"]
    assert body["hsts"] and body["hsts"].startswith("max-age=")


def test_production_secure_defaults_can_be_turned_off_for_plain_http_intranets(run_app):
    body = run_app("""
        import json
        from certify import create_app
        app = create_app({"TESTING": True})
        print(json.dumps({"secure": app.config["SESSION_COOKIE_SECURE"], "hsts": app.config["HSTS"]}))
    """, {"CERTIFY_ENV": "production", "SECRET_KEY": "s" * 40, "CERTIFY_SECURE_COOKIES": "0", "CERTIFY_HSTS": "0"})
    assert body == {"secure": False, "hsts": False}



def test_security_headers_on_every_response_pages_and_api(client):
    """Talisman's headers (worked out once per kind of request, certify.web_security.FixedHeadersTalisman)."""
    for _ in range(2):  # the first response computes them, the second copies them
        for path in ("/login", "/api/time", "/api/exam/sessions"):
            resp = client.get(path)
            csp = resp.headers.get("Content-Security-Policy", "")
            assert "default-src 'self'" in csp and "script-src 'self'" in csp, path
            assert resp.headers["X-Frame-Options"] == "SAMEORIGIN", path
            assert resp.headers["X-Content-Type-Options"] == "nosniff", path
            assert resp.headers["Referrer-Policy"] == "same-origin", path
