"""INSERT … ON CONFLICT for the two dialects the tool runs on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

from lti_bridge.adapters.db.driver import DriverStatement

# Built and compiled statements by shape. Building one (its ``excluded`` columns especially)
# costs more than running it; the values travel as parameters, so one statement serves every
# call of a shape, run on the DBAPI connection directly (see ``raw``).
_STATEMENTS: dict[tuple[Any, ...], DriverStatement] = {}


def _statement(
    dialect_name: str,
    table: Table,
    columns: tuple[str, ...],
    keys: tuple[str, ...],
    update: tuple[str, ...],
    returning: str | None,
) -> DriverStatement:
    shape = (dialect_name, table.name, columns, keys, update, returning)
    found = _STATEMENTS.get(shape)
    if found is None:
        dialect = postgresql if dialect_name == "postgresql" else sqlite
        stmt = dialect.insert(table)
        if update:
            stmt = stmt.on_conflict_do_update(
                index_elements=list(keys), set_={name: stmt.excluded[name] for name in update}
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
        if returning is not None:
            stmt = stmt.returning(table.c[returning])
        found = _STATEMENTS[shape] = DriverStatement(stmt, column_keys=columns)
    return found


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
    stmt = _statement(
        conn.dialect.name, table, tuple(values), tuple(keys), tuple(update), returning
    )
    rows, count = stmt.execute(conn, values)
    if returning is None:
        return count
    return rows[0][0] if rows else None
