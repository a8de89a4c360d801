"""Single statements, each its own transaction, on one long-lived connection per thread.

A launch's database work is a few independent statements: consume the login state, upsert the
learner (and, seldom, the context and link), read the gate's facts, record a first access.
Around each one, checking a connection out of SQLAlchemy's pool and back in (with its reset)
costs more than the statement, and a transaction costs PostgreSQL two more round trips (BEGIN,
COMMIT). Here each thread keeps one connection in autocommit mode, so each statement is one
round trip and atomic by itself.

Durability: on PostgreSQL these connections commit without waiting for the WAL flush
(``synchronous_commit = off``). After an operating-system crash the last fraction of a second of
launch bookkeeping may be lost, never corrupted, and a learner relaunches. A record of
consequence written here (the first restricted access) raises its own statement's durability
back (``set_config('synchronous_commit', 'on', true)``); SIS events and grades use a unit of
work's transaction with the server's default durability.

SQLite: a writing statement queues on the engine's file lock like every writer.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from lti_bridge.adapters.db.engine import (
    AUTOCOMMITTED,
    connection_dropped,
    make_engine,
    writelock_acquire,
    writelock_release,
)
from lti_bridge.adapters.db.read_ahead import ReadAheadRows


def _discard(conn: Connection) -> None:
    conn.invalidate()
    conn.close()


class _Held:
    """One thread's connection, let go when the thread ends or the engine is disposed: back to
    the pool (SQLite) or closed (PostgreSQL, whose session setting must not reach the pool)."""

    def __init__(self, engine: Engine) -> None:
        conn = engine.connect()
        if engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("SET synchronous_commit = off")
            conn.commit()
            # The session setting must not reach the pool's transactions: the connection is
            # closed for good rather than returned.
            self._finalizer = weakref.finalize(self, _discard, conn)
        else:
            # SQLite's DBAPI connections autocommit already (see ``engine``); nothing to undo.
            conn = conn.execution_options(**{AUTOCOMMITTED: True})
            self._finalizer = weakref.finalize(self, conn.close)
        self.conn: Connection | None = conn
        self.pid = os.getpid()
        self.opened = time.monotonic()

    def close(self) -> None:
        self._finalizer()
        self.conn = None


class ThreadConnections:
    """``with statements.connection(write=...) as conn``: run one statement, committed at once."""

    def __init__(self, engine: Engine, *, max_age: float = 1800.0) -> None:
        # The held connections come from an engine of their own, without a pool: a thread keeps
        # its connection for as long as it lives, and taking them from the shared pool would
        # leave none for transactions once as many threads as pool slots have run (webhooks
        # then time out waiting). The pool serves units of work only.
        self._engine = make_engine(
            engine.url.render_as_string(hide_password=False), poolclass=NullPool
        )
        self._sqlite = engine.dialect.name == "sqlite"
        self._max_age = max_age
        self._local = threading.local()
        self._all: weakref.WeakSet[_Held] = weakref.WeakSet()
        self._lock = threading.Lock()
        #: What each thread's last state consume read ahead for the repositories
        #: (``read_ahead.py``).
        self.read_ahead = ReadAheadRows()
        event.listen(engine, "engine_disposed", lambda _engine: self._dispose())

    def _dispose(self) -> None:
        self.close_all()
        self._engine.dispose()

    @property
    def dialect_name(self) -> str:
        return str(self._engine.dialect.name)

    def _held(self) -> _Held:
        held: _Held | None = getattr(self._local, "held", None)
        if held is not None and (
            held.conn is None
            or held.conn.invalidated
            or held.pid != os.getpid()  # a forked child must not share its parent's socket
            or time.monotonic() - held.opened > self._max_age
            # The server closed it (a restart): reconnect now rather than fail this request.
            or (not self._sqlite and connection_dropped(held.conn.connection.dbapi_connection))
        ):
            if held.pid == os.getpid():
                held.close()
            held = None
        if held is None:
            held = _Held(self._engine)
            self._local.held = held
            with self._lock:
                self._all.add(held)
        return held

    @contextmanager
    def connection(self, *, write: bool = False) -> Iterator[Connection]:
        """This thread's connection for one statement (or several independent ones).

        ``write`` takes SQLite's file lock for the duration. A connection the server dropped
        fails this use and is replaced for the next.
        """
        held = self._held()
        conn = held.conn
        assert conn is not None
        locked = write and self._sqlite
        if locked:
            writelock_acquire(conn)
        try:
            yield conn
            if conn.in_transaction():
                # SQLAlchemy's marker of the autobegun "transaction"; the DBAPI committed.
                conn.commit()
        except Exception as exc:
            # SQLAlchemy's errors, driver statements' included (``driver`` maps the driver's).
            if conn.invalidated or (isinstance(exc, DBAPIError) and exc.connection_invalidated):
                held.close()
            elif conn.in_transaction():
                conn.rollback()
            raise
        finally:
            if locked:
                writelock_release(conn)

    def close_all(self) -> None:
        with self._lock:
            held = list(self._all)
            self._all.clear()
        for item in held:
            if item.pid == os.getpid():
                item.close()
