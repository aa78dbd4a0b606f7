"""Shared fixtures: one app and schema per test run, emptied after every test.

SQLite by default; with TEST_DATABASE_URL set the same suite runs against PostgreSQL, and with
TEST_REDIS_URL set the Socket.IO tests that need a message queue run too.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from certify import create_app
from certify.accounts import create_user
from certify.extensions import db
from certify.rounds import create_round

TEST_PASSWORD = "test-pass-123"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    os.environ.setdefault("CERTIFY_INSTANCE", str(tmp_path_factory.mktemp("instance")))
    from certify.config import normalise_database_url

    application = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        "WTF_CSRF_ENABLED": False,
        "LOGIN_RATE_LIMIT": "10000 per minute",
        # tests hammer one attempt far faster than a person (tests/exam/test_concurrency.py); the limits have their
        # own tests (tests/core/test_rate_limits.py), which set them per test
        "EXAM_SAVE_RATE_LIMIT": "1000000 per minute", "EXAM_FLAG_RATE_LIMIT": "1000000 per minute",
        "EXAM_EVENT_RATE_LIMIT": "1000000 per minute", "SOCKET_EVENT_RATE_LIMIT": "1000000 per minute",
        "EXAM_SWEEPER_ENABLED": False,
        # notices: no worker thread and never a real mail server or SMS gateway (delivery tests set their own)
        "NOTICE_DELIVERY_ENABLED": False, "NOTICE_EMAIL_BACKEND": "console", "SMTP_HOST": "",
        "NOTICE_SMS_BACKEND": "console", "SMS_HTTP_URL": "",
        "SERVER_NAME": None,
        "UOW_STRICT_READS": True,  # a GET that writes is a bug: fail the test that does it
    })
    application.test_client_class = _contract_client(application.test_client_class)
    with application.app_context():
        db.drop_all()
        _drop_alembic_version()
        db.create_all()
    yield application
    with application.app_context():
        db.session.remove()
        db.drop_all()
        _drop_alembic_version()


def _contract_client(base):
    """Every /api/* response any test gets through a test client is checked against /api/openapi.json: the status
    must be documented for the operation and the body must match its schema (exam.delivery.openapi.ContractChecker)."""
    from flask.testing import FlaskClient

    from exam.delivery.openapi import ContractChecker

    checker = ContractChecker()

    class ContractClient(base or FlaskClient):
        def open(self, *args, **kwargs):
            resp = super().open(*args, **kwargs)
            req = resp.request
            if req.path.startswith("/api/"):
                problems = checker.check(req.method, req.path, resp.status_code, resp.get_json(silent=True))
                assert not problems, "API response breaks the contract:\n" + "\n".join(problems)
            return resp

    return ContractClient


def _drop_alembic_version():
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


def _empty_all_tables():
    db.session.rollback()
    tables = list(reversed(db.metadata.sorted_tables))
    if db.engine.dialect.name != "postgresql":
        with db.engine.begin() as conn:
            for table in tables:
                conn.execute(table.delete())
        return
    names = ", ".join(f'"{t.name}"' for t in tables)
    # A browser test's live server may still be finishing a request the closed page sent (a heartbeat, a last
    # event); its row locks can meet TRUNCATE's table locks and PostgreSQL then breaks the deadlock by failing
    # one side. The request retries on its own; the emptying retries here.
    for attempt in range(5):
        try:
            with db.engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            return
        except OperationalError:
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))


@pytest.fixture(autouse=True)
def _clean_database(request):
    yield
    if "app" in request.fixturenames:
        app = request.getfixturevalue("app")
        with app.app_context():
            db.session.remove()
            _empty_all_tables()
            from certify.login_throttle import reset

            reset(app)  # failed logins of one test never slow another's


@pytest.fixture
def ctx(app):
    """An application context for tests that call operations directly."""
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_user(ctx):
    def factory(role: str, username: str | None = None, password: str = TEST_PASSWORD, **kwargs):
        factory.n += 1
        user, _ = create_user(username or f"{role}{factory.n}", role, password=password,
                              generated=kwargs.pop("generated", False), **kwargs)
        db.session.commit()
        return user

    factory.n = 0
    return factory


@pytest.fixture
def make_round(ctx):
    def factory(code: str = "2024-cq", region: str = "重庆", year: int = 2024):
        rnd = create_round(code, region, year)
        db.session.commit()
        return rnd

    return factory


def login(client, username: str, password: str = TEST_PASSWORD, follow: bool = False):
    return client.post("/login", data={"username": username, "password": password}, follow_redirects=follow)


@pytest.fixture
def login_as(client, make_user):
    """Log the test client in as a new user of the given role; returns the user."""

    def do(role: str, **kwargs):
        user = make_user(role, **kwargs)
        resp = login(client, user.username)
        assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
        return user

    return do


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html) or re.search(
        r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match, "no CSRF token in page"
    return match.group(1)


def socket_auth(flask_client) -> dict:
    """The Socket.IO ``auth`` payload a page sends at connect: its CSRF token (meta tag) for this client's session."""
    from flask import g, has_app_context

    if has_app_context():  # Flask-WTF caches the token on ``g``, which an outer app context (``ctx``) keeps
        g.pop("csrf_token", None)
    page = flask_client.get("/", follow_redirects=True)
    return {"csrf_token": csrf_token_from(page.get_data(as_text=True))}


def socket_client(app, namespace: str, flask_client):
    """A Flask-SocketIO test client on ``namespace`` sharing ``flask_client``'s session, connecting as a page does
    (with its CSRF token)."""
    from certify.extensions import socketio

    return socketio.test_client(app, namespace=namespace, flask_test_client=flask_client,
                                auth=socket_auth(flask_client))


DATA_DIR = Path(__file__).parent / "data"


@pytest.fixture
def make_candidate(ctx):
    """Factory for candidates of a round (with their login account, password TEST_PASSWORD).

    ``make_candidate(rnd, level="中级", work_unit="…")``; id numbers and tickets are unique per call.
    """
    from certify.models import Candidate

    def factory(rnd, level: str = "初级", *, name: str | None = None, work_unit: str = "测试单位",
                district: str = "渝中区", id_number: str | None = None, ticket: str | None = None):
        factory.n += 1
        n = factory.n
        ticket = ticket or f"T{rnd.id:02d}{n:05d}"
        user, _ = create_user(ticket, "candidate", password=TEST_PASSWORD, display_name=name or f"考生{n}",
                              generated=False)
        cand = Candidate(round_id=rnd.id, user=user, ticket=ticket, id_number=id_number or f"ID{rnd.id:02d}{n:014d}",
                         name=name or f"考生{n}", work_unit=work_unit, district=district, level=level)
        db.session.add(cand)
        db.session.commit()
        return cand

    factory.n = 0
    return factory
