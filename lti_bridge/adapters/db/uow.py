"""One database transaction per use case."""

from __future__ import annotations

from functools import cached_property
from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from lti_bridge.adapters.db.carryover_repository import SqlAlchemyCarryoverRepository
from lti_bridge.adapters.db.catalog_repository import SqlAlchemyCatalogRepository
from lti_bridge.adapters.db.engine import storage_error
from lti_bridge.adapters.db.gate_repository import SqlAlchemyGateRepository
from lti_bridge.adapters.db.grades_repository import SqlAlchemyGradesRepository
from lti_bridge.adapters.db.lti_repository import SqlAlchemyLtiRepository
from lti_bridge.adapters.db.onboarding_repository import SqlAlchemyOnboardingRepository
from lti_bridge.adapters.db.outbox_repository import SqlAlchemyOutboxRepository
from lti_bridge.adapters.db.recent import RecentWrites
from lti_bridge.adapters.db.roster_repository import SqlAlchemyRosterRepository
from lti_bridge.adapters.db.sis_repository import SqlAlchemySisRepository
from lti_bridge.adapters.db.thread_connections import ThreadConnections
from lti_bridge.adapters.db.token_repository import SqlAlchemyTokenRepository

_REPOSITORIES = (
    "lti", "gate", "roster", "sis", "onboarding", "catalog", "outbox", "grades", "carryover",
    "tokens",
)


class SqlAlchemyUnitOfWork:
    """``with uow:`` scopes a transaction; ``commit()`` ends it; leaving without one rolls back.

    Nothing is checked out of the pool until a repository first needs the connection, and the
    transaction begins with the first statement (SQLAlchemy's autobegin), not at ``with``: a
    launch whose bookkeeping all went through the thread's statement connection (see
    ``statements``), or found nothing to write, costs no checkout, no BEGIN/COMMIT round trips,
    and no SQLite write lock.
    """

    def __init__(
        self,
        engine: Engine,
        recent: RecentWrites,
        statements: ThreadConnections,
        sis_platform_issuer: str = "",
    ) -> None:
        self._engine = engine
        self._sis_platform_issuer = sis_platform_issuer
        self._recent = recent
        self._statements = statements
        self._conn: Connection | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        for name in _REPOSITORIES:
            # A later ``with`` gets repositories on its own connection.
            self.__dict__.pop(name, None)
        if conn is not None:
            try:
                if conn.in_transaction() and not conn.invalidated:
                    conn.rollback()
            except SQLAlchemyError:
                conn.invalidate()  # the rollback failed with the connection: never reuse it
            finally:
                conn.close()
        error = storage_error(exc) if exc is not None else None
        if error is not None:
            # Callers above the adapters see the tool's own errors, never SQLAlchemy's.
            raise error from exc

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            self._conn = self._engine.connect()
        return self._conn

    @cached_property
    def lti(self) -> SqlAlchemyLtiRepository:
        return SqlAlchemyLtiRepository(lambda: self.conn, self._statements, self._recent)

    @cached_property
    def gate(self) -> SqlAlchemyGateRepository:
        return SqlAlchemyGateRepository(self._statements, self._sis_platform_issuer)

    @cached_property
    def roster(self) -> SqlAlchemyRosterRepository:
        return SqlAlchemyRosterRepository(lambda: self.conn, self._sis_platform_issuer)

    @cached_property
    def sis(self) -> SqlAlchemySisRepository:
        return SqlAlchemySisRepository(self.conn, self._recent)

    @cached_property
    def onboarding(self) -> SqlAlchemyOnboardingRepository:
        return SqlAlchemyOnboardingRepository(self.conn)

    @cached_property
    def catalog(self) -> SqlAlchemyCatalogRepository:
        return SqlAlchemyCatalogRepository(self.conn)

    @cached_property
    def outbox(self) -> SqlAlchemyOutboxRepository:
        return SqlAlchemyOutboxRepository(self.conn)

    @cached_property
    def grades(self) -> SqlAlchemyGradesRepository:
        return SqlAlchemyGradesRepository(self.conn)

    @cached_property
    def carryover(self) -> SqlAlchemyCarryoverRepository:
        return SqlAlchemyCarryoverRepository(self.conn, self._sis_platform_issuer)

    @cached_property
    def tokens(self) -> SqlAlchemyTokenRepository:
        return SqlAlchemyTokenRepository(self.conn)

    def commit(self, *, durable: bool = False) -> None:
        """Commit the transaction, then what the repositories keep for the commit (a launch's
        first access). ``durable``: the use case's records survive a crash once this returns,
        even where the thread's statement connection relaxes its commits (PostgreSQL's
        ``synchronous_commit = off`` for launch bookkeeping, ``db/thread_connections.py``)."""
        if self._conn is not None:
            self._conn.commit()
        if "gate" in self.__dict__ and self.gate.pending:
            self.gate.flush(durable=durable)
        if "sis" in self.__dict__ and self.sis.pending:
            self._recent.remember(self.sis.pending)
            self.sis.pending = []
