"""The SIS event use case against an in-memory fake: no database, no Flask, a fixed clock."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

import pytest

from lti_bridge.domain.errors import NotFoundError
from lti_bridge.domain.sis import (
    Delivery,
    DeliveryOutcome,
    HoldInfo,
    RegistrationSnapshot,
    RegistrationStatus,
    SessionInfo,
    SisEvent,
    SisEventType,
    SisSection,
    StudentRef,
    TuitionSnapshot,
    TuitionStatus,
)
from lti_bridge.services.sis_events import apply_sis_event, replay_sis_event

NOW = datetime(2024, 1, 3, 17, 0, tzinfo=UTC)
STUDENT = StudentRef("110123456", "ab12@example.edu")
SESSION = SessionInfo(
    "2024-S1",
    date(2024, 1, 15),
    date(2024, 3, 8),
    datetime(2024, 1, 1, 16, tzinfo=UTC),
    datetime(2024, 2, 23, 23, 59, 59, tzinfo=UTC),
)
SECTION = SisSection("DTSA5509-100-2024S1", "DTSA 5509", 3)


@dataclass
class FakeSisRepository:
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    registrations: dict[str, tuple[int, RegistrationSnapshot, TuitionSnapshot]] = field(
        default_factory=dict
    )
    students: dict[str, dict[str, Any]] = field(default_factory=dict)
    offerings: list[tuple[SisSection, SessionInfo]] = field(default_factory=list)

    def add_delivery(self, delivery: Delivery) -> bool:
        if delivery.webhook_id in self.deliveries:
            return False
        self.deliveries[delivery.webhook_id] = delivery
        return True

    def set_delivery_outcome(self, webhook_id, outcome, error) -> None:
        self.deliveries[webhook_id] = replace(
            self.deliveries[webhook_id], outcome=outcome, error=error
        )

    def get_delivery(self, webhook_id):
        return self.deliveries.get(webhook_id)

    def list_deliveries(self, *, limit, type=None):
        found = [d for d in self.deliveries.values() if type in (None, d.type)]
        return found[::-1][:limit]

    def save_registration(self, student, registration, tuition, sequence, now) -> bool:
        stored = self.registrations.get(registration.sis_id)
        if stored and stored[0] >= sequence:
            return False
        self.registrations[registration.sis_id] = (sequence, registration, tuition)
        return True

    def _student(self, student):
        return self.students.setdefault(
            student.sis_id,
            {"hold_active": False, "hold_sequence": None, "passed_at": None, "ob_sequence": None},
        )

    def save_student(self, student, now) -> None:
        self._student(student)

    def save_offering(self, section, session) -> None:
        self.offerings.append((section, session))

    def save_hold(self, student, active, reason, sequence, now) -> bool:
        row = self._student(student)
        if row["hold_sequence"] is not None and row["hold_sequence"] >= sequence:
            return False
        row.update(hold_active=active, hold_reason=reason, hold_sequence=sequence)
        return True

    def save_onboarding_passed(self, student, passed_at, sequence, now) -> bool:
        row = self._student(student)
        if row["ob_sequence"] is not None and row["ob_sequence"] >= sequence:
            return False
        row.update(passed_at=min(filter(None, [row["passed_at"], passed_at])), ob_sequence=sequence)
        return True


@dataclass
class FakeCarryover:
    """No offering has a non-credit course here: carry-over is only asked (tests/unit/
    test_carryover_service.py covers what it does)."""

    asked: list[list[str]] = field(default_factory=list)

    def candidates(self, student_sis_ids: list[str]) -> list[Any]:
        self.asked.append(list(student_sis_ids))
        return []


@dataclass
class FakeUnitOfWork:
    sis: FakeSisRepository = field(default_factory=FakeSisRepository)
    commits: int = 0
    lti: Any = None
    carryover: FakeCarryover = field(default_factory=FakeCarryover)
    outbox: Any = None

    def __enter__(self) -> FakeUnitOfWork:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def commit(self) -> None:
        self.commits += 1


def registration_event(sequence: int, status: str = "registered", tuition: str = "unpaid"):
    return SisEvent(
        type=SisEventType.ENROLLMENT_REGISTERED,
        occurred_at=NOW,
        sequence=sequence,
        student=STUDENT,
        registration=RegistrationSnapshot(
            "reg-1", RegistrationStatus(status), SECTION, SESSION, NOW
        ),
        tuition=TuitionSnapshot(TuitionStatus(tuition), 200100, "USD"),
        raw={"sequence": sequence},
    )


def apply(uow: FakeUnitOfWork, event: SisEvent, webhook_id: str) -> DeliveryOutcome:
    return apply_sis_event(event, webhook_id, uow=uow, clock=lambda: NOW).outcome


def test_a_new_registration_snapshot_is_applied_and_its_delivery_recorded():
    uow = FakeUnitOfWork()
    assert apply(uow, registration_event(1), "msg_1") is DeliveryOutcome.APPLIED
    assert uow.sis.registrations["reg-1"][0] == 1
    assert uow.sis.offerings == [(SECTION, SESSION)]
    recorded = uow.sis.deliveries["msg_1"]
    assert (recorded.outcome, recorded.received_at, recorded.payload) == (
        DeliveryOutcome.APPLIED,
        NOW,
        {"sequence": 1},
    )
    assert uow.commits == 1


def test_a_repeated_webhook_id_is_a_duplicate_and_commits_nothing():
    uow = FakeUnitOfWork()
    apply(uow, registration_event(1), "msg_1")
    assert apply(uow, registration_event(2, "dropped"), "msg_1") is DeliveryOutcome.DUPLICATE
    assert uow.sis.registrations["reg-1"][0] == 1
    assert uow.commits == 1


def test_an_older_snapshot_is_stale_touches_nothing_and_says_why():
    uow = FakeUnitOfWork()
    apply(uow, registration_event(5, "withdrawn"), "msg_5")
    uow.sis.offerings.clear()
    assert apply(uow, registration_event(4), "msg_4") is DeliveryOutcome.STALE
    assert uow.sis.registrations["reg-1"][1].status is RegistrationStatus.WITHDRAWN
    assert uow.sis.offerings == []
    assert uow.sis.deliveries["msg_4"].outcome is DeliveryOutcome.STALE
    assert "sequence 4 or newer" in (uow.sis.deliveries["msg_4"].error or "")


def test_a_hold_carries_its_description_and_a_release_clears_it():
    uow = FakeUnitOfWork()
    placed = SisEvent(
        SisEventType.HOLD_PLACED, NOW, 1, STUDENT, hold=HoldInfo("FIN", "Payment failed")
    )
    assert apply(uow, placed, "msg_h1") is DeliveryOutcome.APPLIED
    assert uow.sis.students[STUDENT.sis_id]["hold_reason"] == "FIN: Payment failed"
    released = SisEvent(SisEventType.HOLD_RELEASED, NOW, 2, STUDENT, hold=HoldInfo("FIN"))
    assert apply(uow, released, "msg_h2") is DeliveryOutcome.APPLIED
    assert uow.sis.students[STUDENT.sis_id]["hold_active"] is False
    assert uow.sis.students[STUDENT.sis_id]["hold_reason"] is None


def test_a_known_type_without_a_handler_is_recorded_as_ignored():
    uow = FakeUnitOfWork()
    event = SisEvent(SisEventType.TEST, NOW)
    assert apply(uow, event, "msg_t") is DeliveryOutcome.IGNORED
    assert uow.sis.deliveries["msg_t"].outcome is DeliveryOutcome.IGNORED


def test_replay_reapplies_respecting_sequence_and_notes_it_on_the_delivery():
    uow = FakeUnitOfWork()
    apply(uow, registration_event(2), "msg_2")
    del uow.sis.registrations["reg-1"]
    applied = replay_sis_event(registration_event(2), "msg_2", uow=uow, clock=lambda: NOW)
    assert applied.outcome is DeliveryOutcome.APPLIED
    assert uow.sis.deliveries["msg_2"].error == "replayed 2024-01-03T17:00:00Z"
    again = replay_sis_event(registration_event(2), "msg_2", uow=uow, clock=lambda: NOW)
    assert again.outcome is DeliveryOutcome.STALE


def test_replay_of_an_unknown_delivery_is_refused():
    with pytest.raises(NotFoundError):
        replay_sis_event(registration_event(1), "msg_x", uow=FakeUnitOfWork(), clock=lambda: NOW)
