#!/usr/bin/env bash
# Install everything the test suite needs into .venv (and Debian's Chromium for the browser tests), then run pytest.
# Extra arguments go to pytest. Set TEST_DATABASE_URL / TEST_REDIS_URL to run against PostgreSQL / Redis too.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
if [ "${CERTIFY_SKIP_BROWSER:-0}" != "1" ] && [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "Installing Debian's chromium for the browser tests…"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "Chromium is missing: run 'sudo apt-get install -y chromium' (or set CERTIFY_SKIP_BROWSER=1)." >&2
    exit 1
  fi
fi
exec .venv/bin/python -m pytest "$@"
