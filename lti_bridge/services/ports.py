"""The one port every use case works through: the unit of work and its repositories.

Each repository's protocol lives with the values it returns in a ``*_ports`` module; adapters
implement them (``adapters/db/uow.py``: ``SqlAlchemyUnitOfWork``).
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self

from lti_bridge.services.api_tokens_ports import TokenRepository
from lti_bridge.services.carryover_ports import CarryoverRepository
from lti_bridge.services.catalog_ports import CatalogRepository
from lti_bridge.services.gate_ports import GateRepository
from lti_bridge.services.grades_ports import GradesRepository
from lti_bridge.services.lti_ports import LtiRepository
from lti_bridge.services.onboarding_ports import OnboardingRepository
from lti_bridge.services.outbox_ports import OutboxRepository
from lti_bridge.services.roster_ports import RosterRepository
from lti_bridge.services.sis_ports import SisRepository


class UnitOfWork(Protocol):
    """One transaction per ``with``; ``commit()`` ends it, leaving without one rolls back.

    A database failure leaves the ``with`` as ``ConcurrentWriteError`` (another transaction
    took the same key first: the same request again settles it) or ``StorageUnavailableError``
    (the database did not answer), never as a driver's or SQLAlchemy's exception.

    ``commit(durable=True)``: what the use case wrote is a record of consequence that must
    survive a crash once ``commit`` returns; without it the adapter may relax durability for
    bookkeeping a later request rebuilds anyway.

    One write is made as it happens rather than at commit: a launch's bookkeeping
    (``lti.record_launch``: the learner, context and link a verified launch names). Each is an
    idempotent upsert of what the platform asserted, and the next launch writes it again, so the
    SQL adapter spends no transaction on it; it stays written when the ``with`` is left without
    a commit. Nothing else a use case writes does.

    The repositories are read-only properties, so an implementation may declare its own
    concrete types (or build them lazily, as the SQL one does).
    """

    @property
    def lti(self) -> LtiRepository: ...

    @property
    def gate(self) -> GateRepository: ...

    @property
    def roster(self) -> RosterRepository: ...

    @property
    def sis(self) -> SisRepository: ...

    @property
    def onboarding(self) -> OnboardingRepository: ...

    @property
    def catalog(self) -> CatalogRepository: ...

    @property
    def outbox(self) -> OutboxRepository: ...

    @property
    def grades(self) -> GradesRepository: ...

    @property
    def carryover(self) -> CarryoverRepository: ...

    @property
    def tokens(self) -> TokenRepository: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self, *, durable: bool = False) -> None: ...
