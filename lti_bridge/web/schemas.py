"""marshmallow schemas for SIS webhook bodies (CONTRACT §4); ``@post_load`` builds domain values.

Unknown fields are ignored (``EXCLUDE``), not refused: the SIS may add fields to its events at any
time and must not see its deliveries bounce for it. Everything the tool stores is checked here —
lengths, NUL characters and unpaired surrogates included — so that no body can reach the database
with a value the database would refuse.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validates_schema
from marshmallow.validate import Length, OneOf, Range, Regexp

from lti_bridge.domain.sis import (
    IGNORED_EVENT_TYPES,
    REGISTRATION_EVENT_TYPES,
    STUDENT_EVENT_TYPES,
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

# Sequences and amounts are stored as 64-bit integers.
MAX_BIGINT = 2**63 - 1


class Text(fields.String):
    """A string the database can store: no NUL characters, no unpaired surrogates, not blank."""

    default_error_messages = {
        "nul": "Must not contain NUL characters.",
        "surrogate": "Must be valid Unicode (no unpaired surrogates).",
        "blank": "Must not be blank.",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise self.make_error("nul")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise self.make_error("surrogate") from None
        if not text.strip():
            raise self.make_error("blank")
        return text


class UtcDateTime(fields.AwareDateTime):
    """An ISO 8601 date-time with an offset, returned in UTC (SQLite keeps no offsets)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        parsed = super()._deserialize(value, attr, data, **kwargs)
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise self.make_error("invalid", input=value, obj_type=self.OBJ_TYPE) from None


def _sequence() -> fields.Integer:
    return fields.Integer(
        strict=True,
        required=True,
        validate=Range(min=0, max=MAX_BIGINT),
        metadata={"description": "The SIS's sequence number: only newer facts are applied."},
    )


class _Lenient(Schema):
    class Meta:
        unknown = EXCLUDE


class StudentSchema(_Lenient):
    sis_id = Text(required=True, validate=Length(min=1, max=255))
    email = Text(load_default=None, allow_none=True, validate=Length(min=1, max=320))
    platform_user_id = Text(load_default=None, allow_none=True, validate=Length(min=1, max=255))
    # The platform (issuer) platform_user_id is an id on; else LTI_BRIDGE_SIS_PLATFORM_ISSUER.
    platform_issuer = Text(load_default=None, allow_none=True, validate=Length(min=1, max=512))

    @post_load
    def _make(self, data: dict[str, Any], **_kwargs: Any) -> StudentRef:
        return StudentRef(**data)


class SessionSchema(_Lenient):
    code = Text(required=True, validate=Length(min=1, max=64))
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)
    enrollment_opens_at = UtcDateTime(required=True)
    enrollment_closes_at = UtcDateTime(required=True)

    @validates_schema
    def _ordered(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data["ends_on"] < data["starts_on"]:
            raise ValidationError("Must not be before starts_on.", "ends_on")
        if data["enrollment_closes_at"] < data["enrollment_opens_at"]:
            raise ValidationError("Must not be before enrollment_opens_at.", "enrollment_closes_at")

    @post_load
    def _make(self, data: dict[str, Any], **_kwargs: Any) -> SessionInfo:
        return SessionInfo(**data)


class SectionSchema(_Lenient):
    sis_id = Text(required=True, validate=Length(min=1, max=255))
    course_code = Text(required=True, validate=Length(min=1, max=64))
    credit_hours = fields.Integer(strict=True, required=True, validate=Range(min=0, max=60))

    @post_load
    def _make(self, data: dict[str, Any], **_kwargs: Any) -> SisSection:
        return SisSection(**data)


class RegistrationSchema(_Lenient):
    sis_id = Text(required=True, validate=Length(min=1, max=255))
    status = fields.Enum(RegistrationStatus, by_value=True, required=True)
    enrolled_at = UtcDateTime(load_default=None, allow_none=True)
    section = fields.Nested(SectionSchema, required=True)
    session = fields.Nested(SessionSchema, required=True)

    @post_load
    def _make(self, data: dict[str, Any], **_kwargs: Any) -> RegistrationSnapshot:
        return RegistrationSnapshot(**data)


class TuitionSchema(_Lenient):
    status = fields.Enum(
        TuitionStatus,
        by_value=True,
        required=True,
        metadata={"description": "Authoritative, whatever the event type says."},
    )
    amount_cents = fields.Integer(
        strict=True, load_default=None, allow_none=True, validate=Range(min=0, max=MAX_BIGINT)
    )
    currency = Text(
        load_default=None,
        allow_none=True,
        validate=Regexp(r"^[A-Z]{3}$", error="Must be a three-letter ISO 4217 code, e.g. USD."),
    )

    @post_load
    def _make(self, data: dict[str, Any], **_kwargs: Any) -> TuitionSnapshot:
        return TuitionSnapshot(**data)


class HoldSchema(_Lenient):
    code = Text(load_default=None, allow_none=True, validate=Length(min=1, max=64))
    reason = Text(load_default=None, allow_none=True, validate=Length(min=1, max=1000))

    @post_load
    def _make(self, data: dict[str, Any], **_kwargs: Any) -> HoldInfo:
        return HoldInfo(**data)


class RegistrationDataSchema(_Lenient):
    sequence = _sequence()
    student = fields.Nested(StudentSchema, required=True)
    registration = fields.Nested(RegistrationSchema, required=True)
    tuition = fields.Nested(TuitionSchema, required=True)


class StudentDataSchema(_Lenient):
    sequence = _sequence()
    student = fields.Nested(StudentSchema, required=True)
    hold = fields.Nested(HoldSchema, load_default=None, allow_none=True)


def _types(types: frozenset[SisEventType]) -> list[str]:
    return sorted(t.value for t in types)


class _EventSchema(_Lenient):
    timestamp = UtcDateTime(required=True, metadata={"description": "When the SIS saw it."})


class RegistrationEventSchema(_EventSchema):
    """An event carrying the full registration and tuition snapshot."""

    type = fields.String(required=True, validate=OneOf(_types(REGISTRATION_EVENT_TYPES)))
    data = fields.Nested(RegistrationDataSchema, required=True)

    @post_load
    def _make(self, data: dict[str, Any], **_kwargs: Any) -> SisEvent:
        body = data["data"]
        return SisEvent(
            type=SisEventType(data["type"]),
            occurred_at=data["timestamp"],
            sequence=body["sequence"],
            student=body["student"],
            registration=body["registration"],
            tuition=body["tuition"],
        )


class StudentEventSchema(_EventSchema):
    """A hold placed or released, or onboarding completed: the student and a sequence."""

    type = fields.String(required=True, validate=OneOf(_types(STUDENT_EVENT_TYPES)))
    data = fields.Nested(StudentDataSchema, required=True)

    @post_load
    def _make(self, data: dict[str, Any], **_kwargs: Any) -> SisEvent:
        body = data["data"]
        return SisEvent(
            type=SisEventType(data["type"]),
            occurred_at=data["timestamp"],
            sequence=body["sequence"],
            student=body["student"],
            hold=body["hold"],
        )


class IgnoredEventSchema(_EventSchema):
    """A known event the tool acknowledges without acting on it."""

    type = fields.String(required=True, validate=OneOf(_types(IGNORED_EVENT_TYPES)))
    data = fields.Raw(load_default=None)

    @post_load
    def _make(self, data: dict[str, Any], **_kwargs: Any) -> SisEvent:
        return SisEvent(type=SisEventType(data["type"]), occurred_at=data["timestamp"])


class EnvelopeSchema(_EventSchema):
    """Any event, before its type is known: reports an unknown type with the other errors."""

    type = fields.String(required=True, validate=OneOf([t.value for t in SisEventType]))
    data = fields.Raw(required=True)


EVENT_SCHEMAS: dict[str, Schema] = {
    **{t.value: RegistrationEventSchema() for t in REGISTRATION_EVENT_TYPES},
    **{t.value: StudentEventSchema() for t in STUDENT_EVENT_TYPES},
    **{t.value: IgnoredEventSchema() for t in IGNORED_EVENT_TYPES},
}
_ENVELOPE = EnvelopeSchema()


def load_event(payload: Any) -> SisEvent:
    """Validate a parsed body and return its event; raise ``ValidationError`` naming bad fields."""
    kind = payload.get("type") if isinstance(payload, dict) else None
    schema = EVENT_SCHEMAS.get(kind) if isinstance(kind, str) else None
    if schema is None:
        _ENVELOPE.load(payload)
        # The envelope accepts only known types, each of which has a schema: unreachable.
        raise ValidationError({"type": ["Unknown event type."]})
    event = schema.load(payload)
    assert isinstance(event, SisEvent)
    return dataclasses.replace(event, raw=payload)
