"""The A/B of issue 12: the tool's hot statements run through SQLAlchemy Core instead of
``DriverStatement``'s direct driver calls.

``install()`` replaces ``DriverStatement.execute`` with ``Connection.execute`` on the same statement
(SQLAlchemy's compiled cache, its events, its result rows), so everything else about a launch
stays the same. ``python -m bench --statements both`` serves the tool both ways in one run;
``bench/core/sitecustomize.py`` installs it in the processes of the "core" server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection


def execute(self: Any, conn: Connection, params: Mapping[str, Any]) -> tuple[list[Any], int]:
    result = conn.execute(self._statement, dict(params))
    rows = result.all() if result.returns_rows else []
    return rows, result.rowcount


def install() -> None:
    from lti_bridge.adapters.db import driver

    driver.DriverStatement.execute = execute  # type: ignore[method-assign]
