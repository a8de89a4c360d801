"""What the SIS tells the tool through its webhooks, as plain values (CONTRACT §4)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any


class RegistrationStatus(StrEnum):
    REGISTERED = "registered"
    DROPPED = "dropped"
    WITHDRAWN = "withdrawn"
    CANCELED = "canceled"


class TuitionStatus(StrEnum):
    UNPAID = "unpaid"
    PAID = "paid"
    FAILED = "failed"
    REFUNDED = "refunded"


class SisEventType(StrEnum):
    ENROLLMENT_REGISTERED = "enrollment.registered"
    ENROLLMENT_DROPPED = "enrollment.dropped"
    ENROLLMENT_WITHDRAWN = "enrollment.withdrawn"
    ENROLLMENT_CANCELED = "enrollment.canceled"
    TUITION_PAID = "tuition.paid"
    TUITION_PAYMENT_FAILED = "tuition.payment_failed"
    TUITION_REFUNDED = "tuition.refunded"
    HOLD_PLACED = "student.hold.placed"
    HOLD_RELEASED = "student.hold.released"
    ONBOARDING_COMPLETED = "student.onboarding_completed"
    #: A connectivity check the SIS may send when its endpoint is set up: known, not acted on.
    TEST = "webhook.test"


#: Events that carry the full registration and tuition snapshot.
REGISTRATION_EVENT_TYPES = frozenset(
    {
        SisEventType.ENROLLMENT_REGISTERED,
        SisEventType.ENROLLMENT_DROPPED,
        SisEventType.ENROLLMENT_WITHDRAWN,
        SisEventType.ENROLLMENT_CANCELED,
        SisEventType.TUITION_PAID,
        SisEventType.TUITION_PAYMENT_FAILED,
        SisEventType.TUITION_REFUNDED,
    }
)
#: Events about the student alone: ``data.student`` and ``data.sequence`` (and maybe a hold).
STUDENT_EVENT_TYPES = frozenset(
    {SisEventType.HOLD_PLACED, SisEventType.HOLD_RELEASED, SisEventType.ONBOARDING_COMPLETED}
)
#: Known types the tool acknowledges (202) without acting on them.
IGNORED_EVENT_TYPES = frozenset({SisEventType.TEST})


class DeliveryOutcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    STALE = "stale"
    IGNORED = "ignored"


@dataclass(frozen=True)
class StudentRef:
    sis_id: str
    email: str | None = None
    platform_user_id: str | None = None
    #: The issuer of the platform ``platform_user_id`` is an id on, when the SIS names it.
    platform_issuer: str | None = None


@dataclass(frozen=True)
class SessionInfo:
    code: str
    starts_on: date
    ends_on: date
    enrollment_opens_at: datetime
    enrollment_closes_at: datetime


@dataclass(frozen=True)
class SisSection:
    """A section as the SIS names it in an event (the catalog's view of it is
    ``policy.SectionInfo``)."""

    sis_id: str
    course_code: str
    credit_hours: int


@dataclass(frozen=True)
class RegistrationSnapshot:
    sis_id: str
    status: RegistrationStatus
    section: SisSection
    session: SessionInfo
    enrolled_at: datetime | None = None


@dataclass(frozen=True)
class TuitionSnapshot:
    status: TuitionStatus
    amount_cents: int | None = None
    currency: str | None = None


@dataclass(frozen=True)
class HoldInfo:
    code: str | None = None
    reason: str | None = None

    @property
    def description(self) -> str | None:
        """Return the text a learner or administrator is shown for this hold."""
        if self.code and self.reason:
            return f"{self.code}: {self.reason}"
        return self.reason or self.code


@dataclass(frozen=True)
class SisEvent:
    """One SIS event: a registration snapshot, a hold change or an onboarding completion."""

    type: SisEventType
    occurred_at: datetime
    sequence: int | None = None
    student: StudentRef | None = None
    registration: RegistrationSnapshot | None = None
    tuition: TuitionSnapshot | None = None
    hold: HoldInfo | None = None
    #: The body as received, kept for audit and replay; unknown fields included.
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Delivery:
    """One accepted webhook delivery as the tool keeps it."""

    webhook_id: str
    type: str
    sequence: int | None
    received_at: datetime
    outcome: DeliveryOutcome
    payload: Mapping[str, Any]
    error: str | None = None
    id: int | None = None
