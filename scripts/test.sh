#!/usr/bin/env bash
# Run every check: ruff, import layering, mypy strict on the core, and the whole pytest suite
# (unit, integration and e2e; SQLite and PostgreSQL; headless Chromium; the wheel built, installed
# into a clean virtual environment and served: tests/integration/test_wheel.py).
# Installs what it needs into .venv (and Debian's chromium when run as root).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c "import lti_bridge, lti1p3platform, playwright, standardwebhooks" \
     2>/dev/null || [ pyproject.toml -nt .venv/.installed-test ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[test]"
  touch .venv/.installed-test
fi
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's chromium for the browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "headless Chromium missing: install Debian's 'chromium' package (browser tests need it)" >&2
  fi
fi
echo "== ruff"
.venv/bin/ruff check lti_bridge tests bench migrations
echo "== import layering"
.venv/bin/lint-imports
echo "== mypy --strict (domain, services)"
.venv/bin/mypy
echo "== pytest"
exec .venv/bin/pytest "$@"
