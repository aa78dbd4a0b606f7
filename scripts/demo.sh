#!/usr/bin/env bash
# Install the platform into .venv, create the demo data on SQLite (instance/certify.db) and serve it.
# Run again on a later day, it renews the demo (--reset): exam sessions open from now, defense days ahead.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
exec .venv/bin/certify demo --reset --serve --host "${HOST:-127.0.0.1}" --port "${PORT:-5000}"
