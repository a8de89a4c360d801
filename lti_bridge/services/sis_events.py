"""Applying SIS events exactly once and in sequence (CONTRACT §4, DOMAIN "The SIS's view")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from lti_bridge.domain.errors import NotFoundError
from lti_bridge.domain.sis import (
    Delivery,
    DeliveryOutcome,
    SisEvent,
    SisEventType,
    StudentRef,
)
from lti_bridge.services.carryover import arm
from lti_bridge.services.ports import UnitOfWork
from lti_bridge.services.sis_ports import SisRepository


@dataclass(frozen=True)
class Applied:
    """What applying one event did, and why when it did nothing."""

    outcome: DeliveryOutcome
    reason: str | None = None


Handler = Callable[[SisEvent, SisRepository, datetime], Applied]


def _require_student(event: SisEvent) -> tuple[StudentRef, int]:
    # The schemas guarantee both for every acted-on type; a missing one is a programming error.
    if event.student is None or event.sequence is None:
        raise ValueError(f"{event.type} event without student or sequence")
    return event.student, event.sequence


def _apply_registration(event: SisEvent, repo: SisRepository, now: datetime) -> Applied:
    """Store the registration and tuition snapshot when it is newer than the stored one."""
    student, sequence = _require_student(event)
    registration, tuition = event.registration, event.tuition
    if registration is None or tuition is None:
        raise ValueError(f"{event.type} event without registration or tuition snapshot")
    # The conditional write comes first: a stale event then touches nothing at all.
    if not repo.save_registration(student, registration, tuition, sequence, now):
        return Applied(
            DeliveryOutcome.STALE,
            f"registration {registration.sis_id} already has sequence {sequence} or newer",
        )
    repo.save_student(student, now)
    repo.save_offering(registration.section, registration.session)
    return Applied(DeliveryOutcome.APPLIED)


def _apply_hold(event: SisEvent, repo: SisRepository, now: datetime) -> Applied:
    """Place or release the student's hold (DOMAIN R8) when the event is newer."""
    student, sequence = _require_student(event)
    active = event.type == SisEventType.HOLD_PLACED
    reason = event.hold.description if (active and event.hold) else None
    if not repo.save_hold(student, active, reason, sequence, now):
        return Applied(
            DeliveryOutcome.STALE,
            f"student {student.sis_id} hold already at sequence {sequence} or newer",
        )
    return Applied(DeliveryOutcome.APPLIED)


def _apply_onboarding(event: SisEvent, repo: SisRepository, now: datetime) -> Applied:
    """Mark onboarding passed; once passed it stays passed (DOMAIN R2)."""
    student, sequence = _require_student(event)
    if not repo.save_onboarding_passed(student, event.occurred_at, sequence, now):
        return Applied(
            DeliveryOutcome.STALE,
            f"student {student.sis_id} onboarding already at sequence {sequence} or newer",
        )
    return Applied(DeliveryOutcome.APPLIED)


HANDLERS: dict[SisEventType, Handler] = {
    SisEventType.ENROLLMENT_REGISTERED: _apply_registration,
    SisEventType.ENROLLMENT_DROPPED: _apply_registration,
    SisEventType.ENROLLMENT_WITHDRAWN: _apply_registration,
    SisEventType.ENROLLMENT_CANCELED: _apply_registration,
    SisEventType.TUITION_PAID: _apply_registration,
    SisEventType.TUITION_PAYMENT_FAILED: _apply_registration,
    SisEventType.TUITION_REFUNDED: _apply_registration,
    SisEventType.HOLD_PLACED: _apply_hold,
    SisEventType.HOLD_RELEASED: _apply_hold,
    SisEventType.ONBOARDING_COMPLETED: _apply_onboarding,
}


def _effect(event: SisEvent, repo: SisRepository, now: datetime) -> Applied:
    handler = HANDLERS.get(event.type)
    if handler is None:
        return Applied(DeliveryOutcome.IGNORED, f"{event.type} is not acted on")
    return handler(event, repo, now)


def apply_sis_event(
    event: SisEvent, webhook_id: str, *, uow: UnitOfWork, clock: Callable[[], datetime]
) -> Applied:
    """Record the delivery and apply its effect in one transaction, once per webhook id."""
    now = clock()
    ignored = event.type not in HANDLERS
    with uow:
        # The unique webhook id goes in first: a repeat stops here, before any effect.
        recorded = uow.sis.add_delivery(
            Delivery(
                webhook_id=webhook_id,
                type=event.type.value,
                sequence=event.sequence,
                received_at=now,
                outcome=DeliveryOutcome.IGNORED if ignored else DeliveryOutcome.APPLIED,
                payload=event.raw,
            )
        )
        if not recorded:
            return Applied(DeliveryOutcome.DUPLICATE, f"webhook id {webhook_id} already received")
        applied = _effect(event, uow.sis, now)
        if applied.outcome not in {DeliveryOutcome.APPLIED, DeliveryOutcome.IGNORED}:
            uow.sis.set_delivery_outcome(webhook_id, applied.outcome, applied.reason)
        _carryover(event, applied, uow, now)
        uow.commit()
    return applied


def _carryover(event: SisEvent, applied: Applied, uow: UnitOfWork, now: datetime) -> None:
    """A registration, tuition or onboarding change arms, holds or cancels the student's
    carry-over in the same transaction (R5, R7)."""
    if applied.outcome is not DeliveryOutcome.APPLIED or event.student is None:
        return
    if event.registration is None and event.type is not SisEventType.ONBOARDING_COMPLETED:
        return
    arm(uow, [event.student.sis_id], now)


def replay_sis_event(
    event: SisEvent, webhook_id: str, *, uow: UnitOfWork, clock: Callable[[], datetime]
) -> Applied:
    """Apply a recorded delivery's event again, still respecting sequences; note the result."""
    now = clock()
    with uow:
        if uow.sis.get_delivery(webhook_id) is None:
            raise NotFoundError(f"no delivery with webhook id {webhook_id}")
        applied = _effect(event, uow.sis, now)
        _carryover(event, applied, uow, now)
        note = f"replayed {now:%Y-%m-%dT%H:%M:%SZ}"
        if applied.reason:
            note += f": {applied.reason}"
        uow.sis.set_delivery_outcome(webhook_id, applied.outcome, note)
        uow.commit()
    return applied


def get_delivery(webhook_id: str, *, uow: UnitOfWork) -> Delivery:
    """Return the recorded delivery with ``webhook_id``."""
    with uow:
        delivery = uow.sis.get_delivery(webhook_id)
    if delivery is None:
        raise NotFoundError(f"no delivery with webhook id {webhook_id}")
    return delivery


def list_deliveries(*, uow: UnitOfWork, limit: int = 20, type: str | None = None) -> list[Delivery]:
    """Return the newest recorded deliveries first, optionally of one type."""
    with uow:
        return uow.sis.list_deliveries(limit=limit, type=type)
