"""Engines and migrations for SQLite and PostgreSQL."""

from __future__ import annotations

import fcntl
import os
import select
import threading
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DisconnectionError,
    IntegrityError,
    ProgrammingError,
    SQLAlchemyError,
)
from sqlalchemy.pool import NullPool

from lti_bridge.domain.errors import (
    ConcurrentWriteError,
    LtiBridgeError,
    StorageUnavailableError,
)

_held = threading.local()

#: Execution option for an SQLite connection whose statements are each their own transaction
#: (the DBAPI connection is in autocommit mode already): SQLAlchemy's begin emits no BEGIN.
AUTOCOMMITTED = "lti_bridge_autocommitted"


def writelock_acquire(conn: Any) -> None:
    # ``conn.info`` belongs to the pooled DBAPI connection: its lock file stays open with it.
    fd = conn.info.get("writelock_fd")
    # A thread already inside a write transaction (on another connection) must not wait on
    # itself: it falls back to SQLite's busy handler.
    if fd is None or getattr(_held, "depth", 0):
        return
    fcntl.flock(fd, fcntl.LOCK_EX)
    _held.depth = 1
    conn.info["writelock_held"] = True


def writelock_release(conn: Any) -> None:
    if conn.info.pop("writelock_held", False):
        _held.depth = 0
        fcntl.flock(conn.info["writelock_fd"], fcntl.LOCK_UN)


class DatabaseUrlError(LtiBridgeError):
    """``LTI_BRIDGE_DATABASE_URL`` is not a URL the tool can use."""


EXAMPLE_URLS = "postgresql+psycopg://USER:PASSWORD@HOST/DATABASE or sqlite:////PATH/FILE.sqlite3"


def parse_database_url(url: str) -> URL:
    """Parse ``url`` and load its driver, or say in one line what is wrong (never the password)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUrlError(
            f"LTI_BRIDGE_DATABASE_URL is not a database URL; use {EXAMPLE_URLS}"
        ) from None
    if parsed.drivername in {"postgres", "postgresql", "postgresql+psycopg2"}:
        raise DatabaseUrlError(
            f"LTI_BRIDGE_DATABASE_URL starts {parsed.drivername}://; the tool uses psycopg 3: "
            "write postgresql+psycopg://… instead"
        )
    try:
        parsed.get_dialect()
    except ArgumentError:
        raise DatabaseUrlError(
            f"LTI_BRIDGE_DATABASE_URL names the unknown database kind {parsed.drivername!r}; "
            f"use {EXAMPLE_URLS}"
        ) from None
    return parsed


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine tuned for the tool's short transactions."""
    parsed = parse_database_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        else:
            # An in-memory database lives in one connection per thread: no pool to size.
            for name in ("pool_size", "pool_timeout", "max_overflow"):
                kwargs.pop(name, None)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        lock_path = f"{database}.writelock" if database and database != ":memory:" else None

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
            # WAL lets readers and one writer share the file across gunicorn workers.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()
            # Let SQLAlchemy issue BEGIN itself so BEGIN IMMEDIATE can be used for writes.
            dbapi_connection.isolation_level = None
            if lock_path:
                record.info["writelock_fd"] = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)

        @event.listens_for(engine, "close")
        def _sqlite_close(_dbapi_connection: Any, record: Any) -> None:
            fd = record.info.pop("writelock_fd", None)
            if fd is not None:
                os.close(fd)

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Take the write lock at BEGIN: a deferred transaction that reads and then writes
            # can fail with "database is locked" instead of waiting its turn. Writers queue on
            # a file lock first: SQLite's own busy handler polls with sleeps of 1 ms and more,
            # which under two busy workers costs more than the transactions themselves.
            if conn.get_execution_options().get(AUTOCOMMITTED):
                return
            writelock_acquire(conn)
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                writelock_release(conn)
                raise

        @event.listens_for(engine, "commit")
        def _sqlite_commit(conn: Any) -> None:
            # Commit here, then let go of the file lock; SQLAlchemy's own commit finds no
            # transaction left and does nothing.
            try:
                conn.connection.dbapi_connection.commit()
            finally:
                writelock_release(conn)

        @event.listens_for(engine, "rollback")
        def _sqlite_rollback(conn: Any) -> None:
            try:
                conn.connection.dbapi_connection.rollback()
            finally:
                writelock_release(conn)

        return engine
    if kwargs.get("poolclass") is not NullPool:
        kwargs.setdefault("pool_recycle", 1800)
        kwargs.setdefault("pool_size", 5)
        kwargs.setdefault("max_overflow", 10)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "checkout")
    def _check_alive(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        # A connection the server closed (a restart, an idle timeout, pg_terminate_backend) is
        # replaced before use, without the round trip pool_pre_ping would cost every checkout:
        # the pool discards it and checks out another.
        if connection_dropped(dbapi_connection):
            raise DisconnectionError("the server closed this pooled connection")

    return engine


def connection_dropped(dbapi_connection: Any) -> bool:
    """Whether the server has closed an idle psycopg connection, without a round trip.

    An idle connection has nothing to read; when the server ends a session (a restart, above
    all) it sends its FATAL message and closes the socket, which then polls readable.
    """
    if getattr(dbapi_connection, "closed", False) or getattr(dbapi_connection, "broken", False):
        return True
    pgconn = getattr(dbapi_connection, "pgconn", None)
    if pgconn is None:
        return False
    try:
        fd = pgconn.socket
    except Exception:  # noqa: BLE001 - psycopg raises when the connection is unusable
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def alembic_config(url: str) -> Config:
    """Return an Alembic config that points at the packaged migrations."""
    # A source checkout runs migrations/ in place; an installed wheel carries it as a package.
    checkout = Path(__file__).resolve().parents[3] / "migrations"
    if (checkout / "env.py").is_file():
        script_location = str(checkout)
    else:
        script_location = str(resources.files("lti_bridge.migrations"))
    config = Config()
    config.set_main_option("script_location", script_location)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or migrate the schema to ``revision``."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        connection.commit()


def storage_error(exc: BaseException) -> ConcurrentWriteError | StorageUnavailableError | None:
    """The tool's error for a database failure (None when ``exc`` is not one): a lost race (a
    unique key another transaction took first), a schema not migrated yet, or a database that
    did not answer (down, restarting, pool exhausted)."""
    if not isinstance(exc, SQLAlchemyError):
        return None
    orig = getattr(exc, "orig", None) or exc
    said = " ".join(str(orig).split())[:300]
    if isinstance(exc, IntegrityError):
        return ConcurrentWriteError(f"{type(orig).__name__}: {said}")
    if isinstance(exc, ProgrammingError) or "no such table" in said:
        return StorageUnavailableError(
            f"database schema missing or old ({type(orig).__name__}: {said}); "
            "run: lti-bridge db upgrade"
        )
    return StorageUnavailableError(f"database unavailable ({type(orig).__name__}): {said}")


def database_problem(engine: Engine) -> str | None:
    """None when the database answers a query; else the name of the error it gave."""
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except SQLAlchemyError as exc:
        return type(exc).__name__
    return None


def current_revision(engine: Engine) -> str | None:
    """Return the schema's Alembic revision, or None before the first upgrade."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
