"""gunicorn settings for one web process of the platform
(``gunicorn -c python:certify.gunicorn_conf certify.wsgi:app``).

One gunicorn **worker** per web process: Socket.IO long-polling needs every request of a client to reach the same
process, which nginx's ``ip_hash`` does across processes (one port each) but gunicorn cannot do across workers of
one port. Scale by running more web processes (``certify-web@PORT`` units, DEPLOYMENT.md), all sharing Redis.

Environment (all optional):
  BIND                 127.0.0.1:8000
  WEB_WORKER_CLASS     gthread (default, chosen by bench/serving.py: see BENCHMARKS.md, "Serving") or gevent
  WEB_THREADS          256: threads per process. A held Socket.IO websocket occupies one for its lifetime, so this is
                       "candidates connected to this process + requests in flight"; the database pool is sized
                       separately (min(WEB_THREADS, 16) + 2, certify.config.derive), so excess requests wait for a
                       connection and get 503 + Retry-After, never exhaust PostgreSQL
  WEB_CONNECTIONS      1000: open client connections per process (keep-alive included); more wait in the backlog
  WEB_BACKLOG          256: pending TCP connections the kernel queues before refusing
  GUNICORN_WORKERS     1 (see above; more only with websocket-only Socket.IO clients)
  GUNICORN_TIMEOUT     60
"""
from __future__ import annotations

import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value and value.strip() else default


def settings(**overrides) -> dict:
    """The gunicorn settings as a dict (this module's globals and ``certify serve`` use the same)."""
    worker_class = os.environ.get("WEB_WORKER_CLASS", "gthread")
    values = {
        "bind": os.environ.get("BIND", "127.0.0.1:8000"),
        "workers": _int("GUNICORN_WORKERS", 1),
        "worker_class": worker_class,
        "threads": _int("WEB_THREADS", 256),
        "worker_connections": _int("WEB_CONNECTIONS", 1000),
        "backlog": _int("WEB_BACKLOG", 256),
        "timeout": _int("GUNICORN_TIMEOUT", 60),
        "graceful_timeout": 30,
        "keepalive": 5,
        # the app logs one structured line per request (certify.logging_setup); gunicorn's own errors go to stderr
        "accesslog": None,
        "errorlog": "-",
        "loglevel": os.environ.get("LOG_LEVEL", "info").lower(),
        "preload_app": False,  # each worker builds its own app (and, with gevent, after patching the stdlib)
        "proc_name": "certify-web",
    }
    values.update(overrides)
    return values


def check_settings(values: dict) -> None:
    """Refuse several workers when the secret key is a per-instance file (sessions would not survive a switch)."""
    from certify.config import shared_secret_problem

    problem = shared_secret_problem(processes=int(values.get("workers", 1)))
    if problem:
        raise SystemExit(problem)


globals().update(settings())


def on_starting(server):  # gunicorn hook, in the master before any worker starts
    check_settings({"workers": server.cfg.workers})


def embedded_app(app=None):
    """The app of the embedded server's one worker, with the background worker (sweeper, jobs) running inside it
    when the database is the embedded SQLite (``certify.worker.embedded_wanted``)."""
    from certify import create_app
    from certify.worker import start_embedded

    app = app if app is not None else create_app()
    start_embedded(app)
    return app


def run_embedded(host: str, port: int) -> None:
    """``certify serve``: gunicorn in this process (master + one worker), for the embedded SQLite default.

    Called in a fresh interpreter (``certify serve`` re-executes itself into it): the master holds no app, no
    database connection and no thread; the worker builds the app (and, with WEB_WORKER_CLASS=gevent, patches the
    standard library before any of it is imported).
    """
    from gunicorn.app.base import BaseApplication

    options = settings(bind=f"{host}:{port}", workers=1, loglevel="warning")

    class EmbeddedServer(BaseApplication):
        def load_config(self):
            for key, value in options.items():
                if key in self.cfg.settings and value is not None:
                    self.cfg.set(key, value)

        def load(self):
            return embedded_app()

    EmbeddedServer().run()
