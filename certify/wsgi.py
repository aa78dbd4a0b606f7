"""The WSGI entry of a production web process:

    gunicorn -c python:certify.gunicorn_conf certify.wsgi:app

(see certify/gunicorn_conf.py and DEPLOYMENT.md). It refuses to start in production, or as one of several processes
(REDIS_URL set), without an explicit SECRET_KEY shared by every process.
"""
from __future__ import annotations

from certify import create_app
from certify.config import shared_secret_problem

_problem = shared_secret_problem()
if _problem:
    raise SystemExit(_problem)

app = create_app()
