"""INSERT … ON CONFLICT for the two dialects the tool runs on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_or_update(
    conn: Connection,
    table: Table,
    values: Mapping[str, Any],
    *,
    keys: Sequence[str],
    update: Sequence[str],
    returning: str | None = "id",
) -> Any:
    """Insert a row, or update the ``update`` columns of the row matching ``keys``."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(**values)
    if update:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys), set_={name: stmt.excluded[name] for name in update}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    if returning is None:
        return conn.execute(stmt).rowcount
    return conn.execute(stmt.returning(table.c[returning])).scalar()
