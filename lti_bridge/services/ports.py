"""The ports the use cases depend on; adapters implement them."""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from lti_bridge.domain.model import LaunchContext, PlatformRegistration
from lti_bridge.services.carryover_ports import CarryoverRepository
from lti_bridge.services.catalog_ports import CatalogRepository
from lti_bridge.services.gate import GateRepository
from lti_bridge.services.outbox_ports import OutboxRepository
from lti_bridge.services.roster import RosterRepository
from lti_bridge.services.sis_ports import SisRepository


class LtiRepository(Protocol):
    def save_platform(self, registration: PlatformRegistration, now: datetime) -> int: ...

    def add_platform(self, registration: PlatformRegistration, now: datetime) -> int | None:
        """Insert a platform not registered yet; None when its (issuer, client id) exists."""
        ...

    def add_deployment(self, platform_id: int, deployment_id: str, now: datetime) -> bool: ...

    def list_platforms(self) -> list[PlatformRegistration]: ...

    def record_launch(self, platform_id: int, launch: LaunchContext, now: datetime) -> int: ...


class UnitOfWork(Protocol):
    """One transaction per ``with``; ``commit()`` ends it, leaving without one rolls back.

    A database failure leaves the ``with`` as ``ConcurrentWriteError`` (another transaction
    took the same key first: the same request again settles it) or ``StorageUnavailableError``
    (the database did not answer), never as a driver's or SQLAlchemy's exception.

    ``commit(durable=True)``: what the use case wrote is a record of consequence that must
    survive a crash once ``commit`` returns; without it the adapter may relax durability for
    bookkeeping a later request rebuilds anyway.
    """

    lti: LtiRepository
    sis: SisRepository
    catalog: CatalogRepository
    gate: GateRepository
    roster: RosterRepository
    carryover: CarryoverRepository
    outbox: OutboxRepository

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self, *, durable: bool = False) -> None: ...
