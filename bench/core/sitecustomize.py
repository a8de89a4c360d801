"""Imported at interpreter start when this folder is on PYTHONPATH (``python -m bench
--statements``): serves the tool with its hot statements through SQLAlchemy Core."""

import os

if os.environ.get("LTI_BRIDGE_BENCH_STATEMENTS") == "core":
    from bench.core_statements import install

    install()
