"""The port platforms and launches are recorded through (``adapters/db/lti_repository.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from lti_bridge.domain.model import LaunchContext, PlatformRegistration


class LtiRepository(Protocol):
    def save_platform(self, registration: PlatformRegistration, now: datetime) -> int: ...

    def add_platform(self, registration: PlatformRegistration, now: datetime) -> int | None:
        """Insert a platform not registered yet; None when its (issuer, client id) exists."""
        ...

    def add_deployment(self, platform_id: int, deployment_id: str, now: datetime) -> bool: ...

    def list_platforms(self) -> list[PlatformRegistration]: ...

    def record_launch(self, platform_id: int, launch: LaunchContext, now: datetime) -> int:
        """Upsert the learner, context and link a verified launch names; the learner's id.

        Written when made, not at commit (``ports.UnitOfWork``): idempotent bookkeeping the
        next launch writes again.
        """
        ...
