"""One database transaction per use case."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine

from lti_bridge.adapters.db.catalog_repository import SqlAlchemyCatalogRepository
from lti_bridge.adapters.db.engine import relax_durability
from lti_bridge.adapters.db.gate_repository import SqlAlchemyGateRepository
from lti_bridge.adapters.db.lti_repository import SqlAlchemyLtiRepository
from lti_bridge.adapters.db.onboarding_repository import SqlAlchemyOnboardingRepository
from lti_bridge.adapters.db.recent import RecentWrites
from lti_bridge.adapters.db.sis_repository import SqlAlchemySisRepository


class SqlAlchemyUnitOfWork:
    """``with uow:`` opens a transaction; ``commit()`` ends it; leaving without one rolls back.

    The transaction begins with the first statement (SQLAlchemy's autobegin), not at ``with``:
    a use case that finds nothing to do (a relaunch whose rows are all recent) then costs no
    BEGIN/COMMIT round trips, nor SQLite's write lock.
    """

    conn: Connection

    def __init__(self, engine: Engine, recent: RecentWrites | None = None) -> None:
        self._engine = engine
        self._recent = recent

    def __enter__(self) -> Self:
        self.conn = self._engine.connect()
        self.lti = SqlAlchemyLtiRepository(self.conn, self._recent)
        self.sis = SqlAlchemySisRepository(self.conn, self._recent)
        self.onboarding = SqlAlchemyOnboardingRepository(self.conn)
        self.catalog = SqlAlchemyCatalogRepository(self.conn)
        self.gate = SqlAlchemyGateRepository(self.conn)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.conn.in_transaction():
                self.conn.rollback()
        finally:
            self.conn.close()

    def relax_durability(self) -> None:
        """Commit without waiting for the WAL flush (see ``engine.relax_durability``).

        Launch bookkeeping is written through the LTI repository, which lists its writes in
        ``pending``. A transaction that wrote none of them (not begun, or one that only read the
        gate's facts) has nothing to flush: it is spared the SET round trip. Skipping it can
        only make a commit more durable, never less.
        """
        if self.conn.in_transaction() and self.lti.pending:
            relax_durability(self.conn)

    def commit(self) -> None:
        self.conn.commit()
        if self._recent is not None:
            for repository in (self.lti, self.sis):
                if repository.pending:
                    self._recent.remember(repository.pending)
                    repository.pending = []
