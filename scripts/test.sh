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
echo "== mypy --strict (domain, services, the fake unit of work)"
.venv/bin/mypy
echo "== dependency audit (pip-audit against the installed set)"
# Fails on a known vulnerability in any installed distribution. Where the advisory service
# cannot be reached, pip-audit skips what it cannot check and says how many: set
# LTI_BRIDGE_AUDIT_STRICT=1 (CI) to fail then too.
set +e
audit=$(.venv/bin/pip-audit --local --skip-editable --progress-spinner off \
  ${LTI_BRIDGE_AUDIT_STRICT:+--strict} 2>&1)
audit_status=$?
set -e
printf '%s\n' "$audit" | grep -v -e "could not be audited" -e "^Name  *Skip Reason" -e "^---" || true
skipped=$(printf '%s\n' "$audit" | grep -c "could not be audited" || true)
if [ "$skipped" != 0 ]; then
  echo "warning: pip-audit could not audit $skipped distributions (advisory service unreachable?)"
fi
if [ "$audit_status" != 0 ]; then
  echo "pip-audit: a known vulnerability (or, under --strict, an unaudited distribution)" >&2
  exit 1
fi
echo "== pytest"
exec .venv/bin/pytest "$@"
