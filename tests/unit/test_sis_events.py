"""The SIS event use cases on the fake unit of work: no database, no Flask, a fixed clock."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from lti_bridge.domain.errors import NotFoundError
from lti_bridge.domain.sis import (
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
from lti_bridge.services.carryover_ports import Candidate
from lti_bridge.services.sis_events import (
    apply_sis_event,
    get_delivery,
    list_deliveries,
    replay_sis_event,
)
from tests.fakes import FakeUnitOfWork

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


def registration_event(
    sequence: int, status: str = "registered", tuition: str = "unpaid"
) -> SisEvent:
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


def test_a_new_registration_snapshot_is_applied_and_its_delivery_recorded() -> None:
    uow = FakeUnitOfWork()
    assert apply(uow, registration_event(1), "msg_1") is DeliveryOutcome.APPLIED
    assert uow.sis.registrations["reg-1"][0] == 1
    assert uow.sis.sections == {SECTION.sis_id: SECTION}
    assert uow.sis.sessions == {SESSION.code: SESSION}
    recorded = uow.sis.deliveries["msg_1"]
    assert (recorded.outcome, recorded.received_at, recorded.payload) == (
        DeliveryOutcome.APPLIED,
        NOW,
        {"sequence": 1},
    )
    assert uow.commits == 1


def test_a_repeated_webhook_id_is_a_duplicate_and_commits_nothing() -> None:
    uow = FakeUnitOfWork()
    apply(uow, registration_event(1), "msg_1")
    assert apply(uow, registration_event(2, "dropped"), "msg_1") is DeliveryOutcome.DUPLICATE
    assert uow.sis.registrations["reg-1"][0] == 1
    assert uow.commits == 1


def test_an_older_snapshot_is_stale_touches_nothing_and_says_why() -> None:
    uow = FakeUnitOfWork()
    apply(uow, registration_event(5, "withdrawn"), "msg_5")
    uow.sis.sections.clear()
    assert apply(uow, registration_event(4), "msg_4") is DeliveryOutcome.STALE
    assert uow.sis.registrations["reg-1"][1].status is RegistrationStatus.WITHDRAWN
    assert uow.sis.sections == {}
    assert uow.sis.deliveries["msg_4"].outcome is DeliveryOutcome.STALE
    assert "sequence 4 or newer" in (uow.sis.deliveries["msg_4"].error or "")


def test_a_hold_carries_its_description_and_a_release_clears_it() -> None:
    uow = FakeUnitOfWork()
    placed = SisEvent(
        SisEventType.HOLD_PLACED, NOW, 1, STUDENT, hold=HoldInfo("FIN", "Payment failed")
    )
    assert apply(uow, placed, "msg_h1") is DeliveryOutcome.APPLIED
    assert uow.sis.students[STUDENT.sis_id].hold_reason == "FIN: Payment failed"
    released = SisEvent(SisEventType.HOLD_RELEASED, NOW, 2, STUDENT, hold=HoldInfo("FIN"))
    assert apply(uow, released, "msg_h2") is DeliveryOutcome.APPLIED
    assert uow.sis.students[STUDENT.sis_id].hold_active is False
    assert uow.sis.students[STUDENT.sis_id].hold_reason is None


def test_a_known_type_without_a_handler_is_recorded_as_ignored() -> None:
    uow = FakeUnitOfWork()
    event = SisEvent(SisEventType.TEST, NOW)
    assert apply(uow, event, "msg_t") is DeliveryOutcome.IGNORED
    assert uow.sis.deliveries["msg_t"].outcome is DeliveryOutcome.IGNORED


def test_replay_reapplies_respecting_sequence_and_notes_it_on_the_delivery() -> None:
    uow = FakeUnitOfWork()
    apply(uow, registration_event(2), "msg_2")
    del uow.sis.registrations["reg-1"]
    applied = replay_sis_event(registration_event(2), "msg_2", uow=uow, clock=lambda: NOW)
    assert applied.outcome is DeliveryOutcome.APPLIED
    assert uow.sis.deliveries["msg_2"].error == "replayed 2024-01-03T17:00:00Z"
    again = replay_sis_event(registration_event(2), "msg_2", uow=uow, clock=lambda: NOW)
    assert again.outcome is DeliveryOutcome.STALE


def test_replay_of_an_unknown_delivery_is_refused() -> None:
    with pytest.raises(NotFoundError):
        replay_sis_event(registration_event(1), "msg_x", uow=FakeUnitOfWork(), clock=lambda: NOW)


def test_an_older_hold_or_onboarding_event_is_stale() -> None:
    uow = FakeUnitOfWork()
    placed = SisEvent(SisEventType.HOLD_PLACED, NOW, 5, STUDENT, hold=HoldInfo("FIN"))
    apply(uow, placed, "msg_h5")
    released = SisEvent(SisEventType.HOLD_RELEASED, NOW, 4, STUDENT, hold=HoldInfo("FIN"))
    assert apply(uow, released, "msg_h4") is DeliveryOutcome.STALE
    assert uow.sis.students[STUDENT.sis_id].hold_active is True
    onboarded = SisEvent(SisEventType.ONBOARDING_COMPLETED, NOW, 3, STUDENT)
    assert apply(uow, onboarded, "msg_o3") is DeliveryOutcome.APPLIED
    assert apply(uow, onboarded, "msg_o3b") is DeliveryOutcome.STALE
    assert uow.sis.students[STUDENT.sis_id].onboarding_passed_at == NOW


def test_an_applied_registration_arms_the_students_carry_over_in_the_same_transaction() -> None:
    uow = FakeUnitOfWork()
    uow.carryover.found = [
        Candidate("DTSA5509-100-2024S1", STUDENT.sis_id, "reg-1", "registered", "paid", True)
    ]
    apply(uow, registration_event(1, tuition="paid"), "msg_1")
    assert [m.kind for m in uow.outbox.messages()] == ["carryover.plan"]
    assert uow.commits == 1


def test_a_stale_event_arms_no_carry_over() -> None:
    uow = FakeUnitOfWork()
    apply(uow, registration_event(5), "msg_5")
    uow.carryover.found = [
        Candidate("DTSA5509-100-2024S1", STUDENT.sis_id, "reg-1", "registered", "paid", True)
    ]
    assert apply(uow, registration_event(4, tuition="paid"), "msg_4") is DeliveryOutcome.STALE
    assert uow.outbox.messages() == []


def test_deliveries_are_read_back_newest_first_and_by_type() -> None:
    uow = FakeUnitOfWork()
    apply(uow, registration_event(1), "msg_1")
    apply(uow, SisEvent(SisEventType.TEST, NOW), "msg_t")
    apply(uow, registration_event(2), "msg_2")

    assert get_delivery("msg_t", uow=uow).type == SisEventType.TEST.value
    assert [d.webhook_id for d in list_deliveries(uow=uow)] == ["msg_2", "msg_t", "msg_1"]
    assert [d.webhook_id for d in list_deliveries(uow=uow, limit=1)] == ["msg_2"]
    registered = SisEventType.ENROLLMENT_REGISTERED.value
    assert [d.webhook_id for d in list_deliveries(uow=uow, type=registered)] == [
        "msg_2",
        "msg_1",
    ]
    with pytest.raises(NotFoundError):
        get_delivery("msg_x", uow=uow)
