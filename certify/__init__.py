"""The certification platform's shared core and its app factory."""
from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # not imported at run time here: see create_app
    from flask import Flask

__all__ = ["create_app"]

# Each area declares its blueprints, socket namespaces, CLI commands, exports, demo steps… in ``area()``.
AREAS = ("certify.core_area", "certify.jobs", "certify.notices", "question_bank", "exam", "defense", "certify.results")


def _package_dir(name: str) -> str:
    module = importlib.import_module(name)
    return str(Path(module.__file__).parent)


def socket_origin_check(extra_origins):
    """engine.io ``cors_allowed_origins`` callable: the request's own origin (scheme + Host, after ProxyFix) or one of
    ``extra_origins``. A request without an Origin header (non-browser clients) is not a cross-site request."""
    allowed_extra = {o.rstrip("/") for o in extra_origins}

    def check(origin, environ):
        if not origin:
            return True
        origin = origin.rstrip("/")
        host = environ.get("HTTP_HOST")
        if host and origin == f"{environ.get('wsgi.url_scheme', 'http')}://{host}":
            return True
        return origin in allowed_extra

    return check


def create_app(test_config: dict | None = None) -> Flask:
    # Imported here, not at module level: gunicorn's master imports certify.gunicorn_conf, and a gevent worker must
    # patch the standard library before Flask, SQLAlchemy, Redis or ssl are imported.
    from .uow import CertifyFlask

    instance_path = os.environ.get("CERTIFY_INSTANCE")
    app = CertifyFlask(
        "certify",
        instance_path=str(Path(instance_path).resolve()) if instance_path else None,
        instance_relative_config=True,
        template_folder=_package_dir("templates"),
        static_folder=_package_dir("static"),
    )
    from .config import load_config

    app.config.update(load_config(Path(app.instance_path)))
    if test_config:
        app.config.update(test_config)
    from .config import derive

    derive(app.config)
    from . import display_zone

    display_zone.install()  # certify.clock (pure) shows times in this app's DISPLAY_TIMEZONE

    from . import logging_setup

    logging_setup.init_app(app)  # first after_request registered = last to run: it logs the final status

    from .extensions import csrf, db, login_manager, migrate, socketio

    db.init_app(app)
    from .config import install_idle_ping

    with app.app_context():
        for engine in db.engines.values():
            install_idle_ping(engine, float(app.config["DB_PING_IDLE_SECONDS"]))
    migrate.init_app(app, db, directory=str(Path(__file__).parent / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "core.login"
    login_manager.login_message = "请先登录"
    login_manager.login_message_category = "info"

    # Origin check ON: the page's own origin (as the browser sees it, proxies included) plus the configured ones.
    # A per-deployment channel keeps two deployments on one Redis out of each other's rooms.
    socketio_kwargs = {"async_mode": app.config["SOCKETIO_ASYNC_MODE"],
                       "cors_allowed_origins": socket_origin_check(app.config.get("SOCKETIO_ALLOWED_ORIGINS") or ()),
                       "channel": app.config["SOCKETIO_CHANNEL"]}
    if app.config.get("REDIS_URL"):
        socketio_kwargs["message_queue"] = app.config["REDIS_URL"]
    socketio.init_app(app, **socketio_kwargs)

    from . import uow
    from .errors import DomainError

    uow.install()

    from . import health

    @socketio.on_error_default
    def _socket_error(err):  # a handler's refusal becomes its acknowledgement; nothing else leaks
        if isinstance(err, DomainError):
            return err.socket_ack()
        if isinstance(err, health.UNAVAILABLE_ERRORS):
            app.logger.warning("socket event: database unavailable (%s)", type(err).__name__)
            return health.socket_unavailable_ack()
        app.logger.exception("socket event failed")
        return {"ok": False, "code": "server_error", "error": "服务器内部错误，请稍后再试"}

    from .models import User

    @login_manager.user_loader
    def load_user(session_id: str):
        user_id, _, epoch = session_id.partition(":")
        if not user_id.isdigit():
            return None
        user = db.session.get(User, int(user_id))
        if user is None or str(user.session_epoch or 0) != (epoch or "0"):
            return None
        return user

    from .access import enforce_access
    from .errors import register_error_handlers
    from .templating import register_template_helpers

    @app.before_request
    def _forget_cached_user():
        # Flask-Login caches the user on ``g``, which lives as long as the app context. A request that
        # runs inside an outer app context (tests, scripts) must still load its own user.
        from flask import g

        g.pop("_login_user", None)

    app.before_request(enforce_access)
    register_error_handlers(app)
    health.init_app(app)  # /healthz, and 503 + Retry-After instead of a pool-timeout 500
    register_template_helpers(app)

    # Security headers (CSP without inline scripts, nosniff, frame options). Secure cookies and HSTS (sent on HTTPS
    # requests only) are on in production (CERTIFY_ENV), off in the embedded SQLite demo; exam rooms on plain-HTTP
    # intranets turn them off with CERTIFY_SECURE_COOKIES=0 / CERTIFY_HSTS=0. CERTIFY_FORCE_HTTPS=1 redirects to
    # HTTPS behind TLS.
    from . import web_security

    web_security.init_app(app)
    talisman = web_security.talisman_class()
    talisman(app, force_https=app.config["FORCE_HTTPS"],
             session_cookie_secure=bool(app.config["SESSION_COOKIE_SECURE"]),
             strict_transport_security=bool(app.config["HSTS"]),
             frame_options="SAMEORIGIN", referrer_policy="same-origin",
             content_security_policy={"default-src": "'self'", "img-src": ["'self'", "data:"],
                                      "style-src": ["'self'", "'unsafe-inline'"], "script-src": "'self'",
                                      "connect-src": ["'self'", "ws:", "wss:"], "frame-ancestors": "'self'"})

    from .area import install_areas

    install_areas(app, AREAS)

    return app
