from __future__ import annotations

import copy
from datetime import UTC, date, datetime

import pytest
from marshmallow import ValidationError

from lti_bridge.domain.sis import (
    HoldInfo,
    RegistrationStatus,
    SisEventType,
    StudentRef,
    TuitionStatus,
)
from lti_bridge.web.schemas import load_event

CONTRACT_EXAMPLE = {
    "type": "tuition.paid",
    "timestamp": "2024-01-03T16:02:11Z",
    "data": {
        "sequence": 42,
        "student": {"sis_id": "110123456", "email": "ab12@example.edu", "platform_user_id": None},
        "registration": {
            "sis_id": "reg-7c1e",
            "status": "registered",
            "enrolled_at": "2024-01-03T15:58:40Z",
            "section": {
                "sis_id": "DTSA5509-100-2024S1",
                "course_code": "DTSA 5509",
                "credit_hours": 3,
            },
            "session": {
                "code": "2024-S1",
                "starts_on": "2024-01-15",
                "ends_on": "2024-03-08",
                "enrollment_opens_at": "2024-01-01T16:00:00Z",
                "enrollment_closes_at": "2024-02-23T23:59:59Z",
            },
        },
        "tuition": {"status": "paid", "amount_cents": 200100, "currency": "USD"},
    },
}


def example(**changes: object) -> dict:
    body = copy.deepcopy(CONTRACT_EXAMPLE)
    body.update(changes)
    return body


def errors_of(payload: object) -> dict:
    with pytest.raises(ValidationError) as caught:
        load_event(payload)
    return caught.value.messages  # type: ignore[return-value]


def test_the_contracts_example_becomes_a_complete_event():
    event = load_event(example())
    assert event.type is SisEventType.TUITION_PAID
    assert event.occurred_at == datetime(2024, 1, 3, 16, 2, 11, tzinfo=UTC)
    assert event.sequence == 42
    assert event.student == StudentRef("110123456", "ab12@example.edu", None)
    assert event.registration is not None and event.tuition is not None
    assert event.registration.status is RegistrationStatus.REGISTERED
    assert event.registration.section.credit_hours == 3
    assert event.registration.session.starts_on == date(2024, 1, 15)
    assert event.tuition.status is TuitionStatus.PAID and event.tuition.amount_cents == 200100
    assert event.raw == example()


def test_unknown_fields_are_ignored_so_the_sis_can_add_fields():
    body = example(new_top_level="x")
    body["data"]["registration"]["section"]["instructor"] = "Dr. Who"
    body["data"]["tuition"]["installments"] = [1, 2]
    event = load_event(body)
    assert event.registration is not None
    assert event.raw["new_top_level"] == "x", "the stored payload keeps what the SIS sent"


def test_times_with_an_offset_are_converted_to_utc():
    event = load_event(example(timestamp="2024-01-03T11:02:11-05:00"))
    assert event.occurred_at == datetime(2024, 1, 3, 16, 2, 11, tzinfo=UTC)
    assert event.occurred_at.utcoffset() is not None


def test_a_time_without_an_offset_is_refused():
    assert "timestamp" in errors_of(example(timestamp="2024-01-03T16:02:11"))


def test_an_unknown_type_is_named():
    messages = errors_of(example(type="enrollment.exploded"))
    assert list(messages) == ["type"]


@pytest.mark.parametrize("payload", [[], "text", 42, None, [CONTRACT_EXAMPLE]])
def test_a_body_that_is_not_an_object_is_refused(payload):
    assert errors_of(payload)


def test_every_bad_field_is_named_at_its_path():
    body = example()
    data = body["data"]
    data["sequence"] = "42"
    del data["registration"]["status"]
    data["registration"]["section"]["credit_hours"] = 3.5
    data["registration"]["session"]["ends_on"] = "someday"
    data["tuition"]["currency"] = "usd"
    messages = errors_of(body)["data"]
    assert messages["sequence"] == ["Not a valid integer."]
    assert messages["registration"]["status"] == ["Missing data for required field."]
    assert messages["registration"]["section"]["credit_hours"] == ["Not a valid integer."]
    assert messages["registration"]["session"]["ends_on"] == ["Not a valid date."]
    assert messages["tuition"]["currency"] == ["Must be a three-letter ISO 4217 code, e.g. USD."]


@pytest.mark.parametrize("value", [True, -1, 2**63, 1.0])
def test_a_sequence_must_be_a_non_negative_64_bit_integer(value):
    body = example()
    body["data"]["sequence"] = value
    assert "sequence" in errors_of(body)["data"]


@pytest.mark.parametrize("value", ["bad\x00id", "\ud800", "   ", "", "x" * 256])
def test_ids_the_database_could_not_store_are_refused(value):
    body = example()
    body["data"]["student"]["sis_id"] = value
    assert "sis_id" in errors_of(body)["data"]["student"]


def test_registration_statuses_are_the_four_the_sis_uses():
    body = example()
    body["data"]["registration"]["status"] = "enrolled"
    assert errors_of(body)["data"]["registration"]["status"] == [
        "Must be one of: registered, dropped, withdrawn, canceled."
    ]


def test_a_session_that_ends_before_it_starts_is_refused():
    body = example()
    body["data"]["registration"]["session"]["ends_on"] = "2024-01-01"
    assert "ends_on" in errors_of(body)["data"]["registration"]["session"]


@pytest.mark.parametrize("missing", ["student", "registration", "tuition", "sequence"])
def test_registration_events_need_the_full_snapshot(missing):
    body = example(type="enrollment.registered")
    del body["data"][missing]
    assert errors_of(body)["data"][missing] == ["Missing data for required field."]


def test_hold_events_carry_the_student_the_sequence_and_an_optional_hold():
    event = load_event(
        {
            "type": "student.hold.placed",
            "timestamp": "2024-01-04T09:00:00Z",
            "data": {
                "sequence": 7,
                "student": {"sis_id": "110123456"},
                "hold": {"code": "FIN", "reason": "Payment failed"},
            },
        }
    )
    assert event.type is SisEventType.HOLD_PLACED
    assert event.sequence == 7 and event.student == StudentRef("110123456")
    assert event.hold == HoldInfo("FIN", "Payment failed")
    assert event.registration is None


def test_onboarding_completion_needs_only_the_student_and_the_sequence():
    event = load_event(
        {
            "type": "student.onboarding_completed",
            "timestamp": "2024-01-04T09:00:00Z",
            "data": {"sequence": 1, "student": {"sis_id": "110123456"}},
        }
    )
    assert event.type is SisEventType.ONBOARDING_COMPLETED and event.hold is None


def test_a_student_event_without_a_student_is_refused():
    messages = errors_of(
        {"type": "student.hold.released", "timestamp": "2024-01-04T09:00:00Z", "data": {}}
    )
    assert set(messages["data"]) == {"student", "sequence"}
