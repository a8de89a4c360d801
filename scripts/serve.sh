#!/usr/bin/env bash
# Run lti_bridge on its embedded default: SQLite under instance/, gunicorn on 127.0.0.1:5000.
# Installs what it needs into .venv on first run. Extra arguments go to `lti-bridge serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c "import lti_bridge, gunicorn, pylti1p3" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.installed ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e .
  touch .venv/.installed
fi
.venv/bin/lti-bridge db upgrade
exec .venv/bin/lti-bridge serve "$@"
