"""GET /healthz: public, sessionless, 200 when the database (and Redis, when configured) answer, else 503 +
Retry-After naming the part that is down."""
from __future__ import annotations


def test_healthz_is_ok_without_a_session(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"database": "ok", "redis": "off"}
    assert "Set-Cookie" not in resp.headers  # no session is created for a probe
    assert resp.headers["Cache-Control"] == "no-store"


def test_healthz_is_503_with_retry_after_when_the_database_is_down(run_app):
    # a PostgreSQL address where nothing listens: the database of this deployment is unreachable
    body = run_app("""
        import json
        from certify import create_app
        app = create_app({"TESTING": True, "RETRY_AFTER_SECONDS": 7, "WTF_CSRF_ENABLED": False})
        c = app.test_client()
        r = c.get("/healthz")
        page = c.post("/login", data={"username": "x", "password": "y"})
        api = c.post("/api/login", json={"username": "x", "password": "y"})
        print(json.dumps({"status": r.status_code, "retry": r.headers.get("Retry-After"), "body": r.get_json(),
                          "page": [page.status_code, page.headers.get("Retry-After"), page.get_data(as_text=True)],
                          "api": [api.status_code, api.get_json()]}))
    """, {"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere", "SECRET_KEY": "k" * 32})
    assert body["status"] == 503
    assert body["retry"] == "7"
    assert body["body"] == {"database": "down", "redis": "off"}
    # every other request that needs the database: 503 + Retry-After, a Chinese page for people, JSON for the API
    status, retry, html = body["page"]
    # (the login throttle's window may push Retry-After later, never earlier)
    assert status == 503 and int(retry) >= 7 and "暂时无法服务" in html and "Traceback" not in html
    status, payload = body["api"]
    assert status == 503 and payload["error"]["code"] == "unavailable" and payload["error"]["retry_after"] == 7


def test_healthz_is_503_when_the_configured_redis_is_down(run_app):
    body = run_app("""
        import json
        from certify import create_app
        app = create_app({"TESTING": True})
        r = app.test_client().get("/healthz")
        print(json.dumps({"status": r.status_code, "retry": r.headers.get("Retry-After"), "body": r.get_json()}))
    """, {"REDIS_URL": "redis://127.0.0.1:1/7", "SECRET_KEY": "k" * 32}, create_db=True)
    assert body["status"] == 503 and body["retry"] == "5"
    assert body["body"] == {"database": "ok", "redis": "down"}


def test_healthz_reports_a_reachable_redis(run_app):
    body = run_app("""
        import json
        from certify import create_app
        app = create_app({"TESTING": True})
        r = app.test_client().get("/healthz")
        print(json.dumps({"status": r.status_code, "body": r.get_json()}))
    """, {"REDIS_URL": "redis://127.0.0.1:6379/7", "SECRET_KEY": "k" * 32}, create_db=True)
    assert body == {"status": 200, "body": {"database": "ok", "redis": "ok"}}
