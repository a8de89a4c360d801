"""The port the SIS event use cases write through (``adapters/db/sis_repository.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from lti_bridge.domain.sis import (
    Delivery,
    DeliveryOutcome,
    RegistrationSnapshot,
    SessionInfo,
    SisSection,
    StudentRef,
    TuitionSnapshot,
)


class SisRepository(Protocol):
    def add_delivery(self, delivery: Delivery) -> bool:
        """Record a delivery; False when its webhook id is already recorded."""
        ...

    def set_delivery_outcome(
        self, webhook_id: str, outcome: DeliveryOutcome, error: str | None
    ) -> None: ...

    def get_delivery(self, webhook_id: str) -> Delivery | None: ...

    def list_deliveries(self, *, limit: int, type: str | None = None) -> list[Delivery]: ...

    def save_registration(
        self,
        student: StudentRef,
        registration: RegistrationSnapshot,
        tuition: TuitionSnapshot,
        sequence: int,
        now: datetime,
    ) -> bool:
        """Store the snapshot unless the stored one has the same or a newer sequence."""
        ...

    def save_student(self, student: StudentRef, now: datetime) -> None:
        """Create the student, or fill in the email and platform user id it now carries."""
        ...

    def save_offering(self, section: SisSection, session: SessionInfo) -> None: ...

    def save_hold(
        self, student: StudentRef, active: bool, reason: str | None, sequence: int, now: datetime
    ) -> bool:
        """Set the student's hold unless a same-or-newer hold event was applied."""
        ...

    def save_onboarding_passed(
        self, student: StudentRef, passed_at: datetime, sequence: int, now: datetime
    ) -> bool:
        """Mark onboarding passed unless a same-or-newer onboarding event was applied."""
        ...
