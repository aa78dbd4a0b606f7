"""Excess load gets 503 + Retry-After, not a pool-timeout 500: when every pooled connection is busy for
DB_POOL_TIMEOUT seconds, the request that waited is answered 503 (JSON for the API, a page for people)."""
from __future__ import annotations


def test_pool_timeout_is_503_with_retry_after(run_app):
    body = run_app("""
        import json
        from certify import create_app
        from certify.accounts import create_user
        from certify.extensions import db
        app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "DB_POOL_SIZE": 1, "DB_POOL_TIMEOUT": 0.3,
                          "RETRY_AFTER_SECONDS": 3})
        options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
        with app.app_context():
            create_user("busy", "secretariat", password="test-pass-123", generated=False)
            db.session.commit()
            held = db.engine.connect()  # the only connection of the pool, held by "another request"
        c = app.test_client()
        api = c.post("/api/login", json={"username": "busy", "password": "test-pass-123"})
        page = c.post("/login", data={"username": "busy", "password": "test-pass-123"})
        held.close()
        again = c.post("/login", data={"username": "busy", "password": "test-pass-123"})
        print(json.dumps({"options": {k: options[k] for k in ("pool_size", "max_overflow", "pool_timeout")},
                          "api": [api.status_code, api.headers.get("Retry-After"), api.get_json()],
                          "page": [page.status_code, page.headers.get("Retry-After"), page.get_data(as_text=True)],
                          "again": again.status_code}))
    """, create_db=True)
    assert body["options"] == {"pool_size": 1, "max_overflow": 0, "pool_timeout": 0.3}
    status, retry, payload = body["api"]
    assert status == 503 and int(retry) >= 3
    assert payload["error"]["code"] == "unavailable" and payload["error"]["retry_after"] == 3
    status, retry, html = body["page"]
    assert status == 503 and int(retry) >= 3 and "暂时无法服务" in html
    assert body["again"] == 302  # once the connection is free the same login succeeds (redirect home)


def test_pool_is_sized_from_the_worker_threads(run_app):
    body = run_app("""
        import json
        from certify import create_app
        out = []
        for threads in (8, 256):
            app = create_app({"TESTING": True, "WEB_THREADS": threads})
            out.append(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        print(json.dumps(out))
    """, {"DB_POOL_TIMEOUT": "2"})
    few, default = body
    assert few["pool_size"] == 10 and default["pool_size"] == 18  # min(threads, 16) + 2
    assert default["max_overflow"] == 0 and default["pool_timeout"] == 2.0 and default["pool_pre_ping"] is False  # install_idle_ping instead
