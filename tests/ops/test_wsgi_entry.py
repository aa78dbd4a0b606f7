"""certify.wsgi is the production entry; it refuses to start without an explicit shared SECRET_KEY in production
or as one of several processes. Socket.IO gets a per-deployment channel."""
from __future__ import annotations

from certify.config import default_channel, shared_secret_problem

IMPORT_WSGI = """
    import json
    from certify.wsgi import app
    from certify.extensions import socketio
    manager = socketio.server.manager
    print(json.dumps({"name": app.name, "channel": app.config["SOCKETIO_CHANNEL"],
                      "manager_channel": getattr(manager, "channel", None), "async_mode": socketio.async_mode}))
"""


def test_wsgi_imports_an_app_in_the_embedded_default(run_app):
    body = run_app(IMPORT_WSGI)
    assert body["name"] == "certify" and body["async_mode"] == "threading"
    assert body["channel"] == "certify:ops"


def test_wsgi_refuses_production_without_an_explicit_secret_key(run_app):
    err = run_app("import certify.wsgi", {"CERTIFY_ENV": "production"}, expect_exit=1)
    assert "SECRET_KEY" in err and "拒绝启动" in err


def test_wsgi_refuses_several_processes_sharing_redis_without_an_explicit_secret_key(run_app):
    err = run_app("import certify.wsgi", {"REDIS_URL": "redis://127.0.0.1:6379/7"}, expect_exit=1)
    assert "REDIS_URL" in err


def test_wsgi_with_a_secret_key_uses_the_deployment_channel_on_redis(run_app):
    body = run_app(IMPORT_WSGI, {"CERTIFY_ENV": "production", "SECRET_KEY": "x" * 40,
                                 "REDIS_URL": "redis://127.0.0.1:6379/7", "SOCKETIO_CHANNEL": "certify-cq-2024"})
    assert body["channel"] == body["manager_channel"] == "certify-cq-2024"


def test_default_channels_differ_per_database():
    a = default_channel("postgresql+psycopg://u:p@db1:5432/certify_cq")
    b = default_channel("postgresql+psycopg://u:p@db1:5432/certify_jl")
    assert a != b and a == "certify:db1:5432/certify_cq" and "p@" not in a
    assert default_channel("sqlite:////srv/certify/instance/certify.db") == "certify:certify"


def test_shared_secret_rules():
    assert shared_secret_problem(1, {}) is None  # embedded SQLite, one process
    assert shared_secret_problem(2, {})  # several gunicorn workers
    assert shared_secret_problem(1, {"DATABASE_URL": "postgresql://db/x"})  # production
    assert shared_secret_problem(4, {"DATABASE_URL": "postgresql://db/x", "SECRET_KEY": "k"}) is None


def test_gunicorn_settings_are_bounded(monkeypatch):
    from certify import gunicorn_conf

    monkeypatch.setenv("WEB_THREADS", "12")
    values = gunicorn_conf.settings()
    assert values["worker_class"] == "gthread" and values["workers"] == 1
    assert values["threads"] == 12 and values["worker_connections"] == 1000 and values["backlog"] == 256
    monkeypatch.delenv("WEB_THREADS")
    assert gunicorn_conf.settings()["threads"] == 256


def test_gunicorn_refuses_several_workers_with_a_generated_secret_key(monkeypatch):
    import pytest

    from certify import gunicorn_conf

    for key in ("SECRET_KEY", "REDIS_URL", "DATABASE_URL", "CERTIFY_ENV"):
        monkeypatch.delenv(key, raising=False)
    gunicorn_conf.check_settings({"workers": 1})  # the embedded default starts
    with pytest.raises(SystemExit, match="SECRET_KEY"):
        gunicorn_conf.check_settings({"workers": 3})
    monkeypatch.setenv("SECRET_KEY", "shared-by-every-process")
    gunicorn_conf.check_settings({"workers": 3})
