#!/usr/bin/env bash
# Run the development LMS (tests/devplatform, built on lti1p3platform) on 127.0.0.1:5050.
# Installs the test extra into .venv on first run. Arguments go to `python -m tests.devplatform`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c "import lti_bridge, lti1p3platform" 2>/dev/null; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[test]"
fi
exec .venv/bin/python -m tests.devplatform "$@"
