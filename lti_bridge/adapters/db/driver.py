"""SQLAlchemy statements compiled once per dialect and run on the DBAPI connection directly.

For the hot paths (a launch, a webhook delivery), where a statement is cheap and SQLAlchemy's
per-execution work (events, compiled-cache lookup, result objects) costs a tenth of a
millisecond or more: about what the statement itself costs PostgreSQL. The SQL, the parameter
order and the type conversions are SQLAlchemy's own, taken from the compiled statement, so a
statement means the same whichever way it runs.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement, Insert

from lti_bridge.adapters.db.engine import AUTOCOMMITTED

_Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    #: Parameter names in the order a positional paramstyle wants them; None for named styles.
    positions: tuple[str, ...] | None
    binds: dict[str, _Processor]
    #: Values fixed in the statement itself (literals SQLAlchemy sends as parameters).
    fixed: dict[str, Any]
    #: Python-side column defaults for columns a call leaves out, by parameter name.
    defaults: dict[str, Callable[[], Any]]
    row: Any
    #: (position, processor) for the result columns that need converting; most need none.
    results: tuple[tuple[int, Callable[[Any], Any]], ...]
    has_results: bool


def _cursor(conn: Connection, dbapi_connection: Any, sql: str) -> Any:
    """A cursor of the DBAPI connection for this statement, kept from one run to the next.

    psycopg keeps a cursor's type adaptation when it runs the very same query again, so a
    statement's own cursor spares that setup on every run (for the gate's 20-column read, more
    than PostgreSQL spends on it). ``conn.info`` lives as long as the DBAPI connection:
    SQLAlchemy empties it when it replaces one, so a new connection gets new cursors.
    """
    cursors: dict[str, Any] = conn.info.setdefault(_CURSORS, {})
    cursor = cursors.get(sql)
    if cursor is None:
        cursor = cursors[sql] = dbapi_connection.cursor()
    return cursor


def _forget_cursors(conn: Connection) -> None:
    for cursor in conn.info.pop(_CURSORS, {}).values():
        try:
            cursor.close()
        except Exception:  # noqa: BLE001, S110 - a broken connection's cursor may not close
            pass


_CURSORS = "lti_bridge.raw_cursors"


def _autocommits(conn: Connection) -> bool:
    options = conn.get_execution_options()
    return options.get("isolation_level") == "AUTOCOMMIT" or bool(options.get(AUTOCOMMITTED))


class DriverStatement:
    """``DriverStatement(stmt).rows(conn, params)``: ``stmt``'s rows as named tuples."""

    def __init__(self, statement: ClauseElement, *, column_keys: Sequence[str] | None = None):
        self._statement = statement
        self._column_keys = tuple(column_keys) if column_keys is not None else None
        # An INSERT without fixed columns takes its columns from each call's parameters.
        self._columns_from_params = column_keys is None and isinstance(statement, Insert)
        self._compiled: dict[tuple[str, tuple[str, ...] | None], _Compiled] = {}

    def _compile(self, dialect: Dialect, params: Mapping[str, Any]) -> _Compiled:
        columns = tuple(params) if self._columns_from_params else self._column_keys
        found = self._compiled.get((dialect.name, columns))
        if found is not None:
            return found
        compiled = self._statement.compile(
            dialect=dialect, column_keys=list(columns) if columns is not None else None
        )
        binds = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect)
            for name, bind in compiled.binds.items()
        }
        fixed = {
            name: bind.effective_value
            for name, bind in compiled.binds.items()
            if not bind.required and bind.callable is None and bind.value is not None
        }
        defaults: dict[str, Callable[[], Any]] = {}
        for column in [*compiled.insert_prefetch, *compiled.update_prefetch]:
            default = column.default if column in compiled.insert_prefetch else column.onupdate
            if default is None or not (default.is_scalar or default.is_callable):
                raise ValueError(f"{column} has a default DriverStatement cannot compute")
            arg = default.arg  # type: ignore[attr-defined]
            # SQLAlchemy wraps a callable default to take an execution context it does not use
            # for plain callables such as ``dict``.
            if default.is_scalar:
                defaults[column.key] = lambda value=arg: value
            else:
                defaults[column.key] = lambda make=arg: make(None)
        positions = (
            tuple(compiled.positiontup or ())
            if dialect.paramstyle in {"qmark", "numeric", "format"}
            else None
        )
        selected = getattr(compiled, "_result_columns", None) or []
        keys = [column[0] for column in selected]
        processors = [
            column[3].dialect_impl(dialect).result_processor(dialect, None) for column in selected
        ]
        results = tuple((i, p) for i, p in enumerate(processors) if p is not None)
        found = _Compiled(
            sql=str(compiled),
            positions=positions,
            binds=binds,
            fixed=fixed,
            defaults=defaults,
            row=namedtuple("Row", keys, rename=True) if keys else None,  # type: ignore[misc]
            results=results,
            has_results=bool(keys),
        )
        self._compiled[(dialect.name, columns)] = found
        return found

    def _parameters(self, compiled: _Compiled, params: Mapping[str, Any]) -> Any:
        def value(name: str) -> Any:
            process = compiled.binds[name]
            if name in params:
                raw = params[name]
            elif name in compiled.fixed:
                raw = compiled.fixed[name]
            else:
                raw = compiled.defaults[name]()
            return process(raw) if process is not None and raw is not None else raw

        if compiled.positions is not None:
            return tuple(value(name) for name in compiled.positions)
        return {name: value(name) for name in compiled.binds}

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> tuple[list[Any], int]:
        """Run on ``conn``'s DBAPI connection; return (rows, rowcount)."""
        dialect = conn.dialect
        compiled = self._compile(dialect, params)
        if not conn.in_transaction() and not _autocommits(conn):
            # What SQLAlchemy's autobegin would do: the unit of work's transaction (SQLite:
            # BEGIN IMMEDIATE under the write lock). An autocommitting connection needs none:
            # the statement is its own transaction.
            conn.begin()
        dbapi_connection = conn.connection.dbapi_connection
        assert dbapi_connection is not None
        parameters = self._parameters(compiled, params)
        cursor = _cursor(conn, dbapi_connection, compiled.sql)
        try:
            cursor.execute(compiled.sql, parameters)
            fetched = cursor.fetchall() if compiled.has_results else []
            count = cursor.rowcount
        except dialect.loaded_dbapi.Error as exc:
            # The error SQLAlchemy would have raised (IntegrityError for a duplicate key, …),
            # and a connection the server dropped is invalidated as SQLAlchemy would.
            dropped = dialect.is_disconnect(exc, dbapi_connection, cursor)
            error = DBAPIError.instance(
                compiled.sql,
                parameters,
                exc,
                dialect.loaded_dbapi.Error,
                dialect=dialect,
                connection_invalidated=dropped,
            )
            _forget_cursors(conn)
            if dropped:
                conn.invalidate(error)
            raise error from exc
        if compiled.row is None:
            return [], count
        make, results = compiled.row._make, compiled.results
        if not results:
            return [make(raw) for raw in fetched], count
        rows = []
        for raw in fetched:
            values = list(raw)
            for i, process in results:
                if values[i] is not None:
                    values[i] = process(values[i])
            rows.append(make(values))
        return rows, count

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[Any]:
        return self.execute(conn, params)[0]
