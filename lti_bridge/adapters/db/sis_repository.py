"""Students, sessions, sections, registrations and webhook deliveries in SQL.

Every write is one ``INSERT … ON CONFLICT`` statement. Where an event must only apply when it is
newer, the sequence test sits in the statement's ``DO UPDATE … WHERE``: PostgreSQL locks the
conflicting row and re-reads it before testing, so two workers racing on one registration
cannot both win, and no separate ``SELECT … FOR UPDATE`` round trip is needed.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Table, bindparam, case, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from lti_bridge.adapters.db.driver import DriverStatement
from lti_bridge.adapters.db.recent import RecentWrites
from lti_bridge.adapters.db.tables import (
    registrations,
    sis_sections,
    sis_sessions,
    sis_students,
    webhook_deliveries,
)
from lti_bridge.domain.sis import (
    Delivery,
    DeliveryOutcome,
    RegistrationSnapshot,
    SessionInfo,
    SisSection,
    StudentRef,
    TuitionSnapshot,
)


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything the tool stores is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


_STUDENT_FILL_IN = ("email", "platform_user_id")


@dataclass(frozen=True)
class _Statements:
    """The upserts, built once per dialect: building them per call cost more than running them."""

    add_delivery: DriverStatement
    save_registration: DriverStatement
    save_student: DriverStatement
    save_section: DriverStatement
    save_session: DriverStatement
    save_hold: DriverStatement
    save_onboarding: DriverStatement


def _student_named(payload: Mapping[str, Any]) -> str | None:
    """The SIS student an event's payload names (``data.student.sis_id``), if any."""
    data = payload.get("data")
    student = data.get("student") if isinstance(data, Mapping) else None
    sis_id = student.get("sis_id") if isinstance(student, Mapping) else None
    return sis_id if isinstance(sis_id, str) else None


def _fill_in(stmt: Any) -> dict[str, Any]:
    # A field the event leaves out (null) keeps what the tool already knew. The platform a
    # platform user id belongs to travels with the id: a new id replaces both, issuer or none.
    new_id = stmt.excluded.platform_user_id
    return {
        name: func.coalesce(stmt.excluded[name], sis_students.c[name]) for name in _STUDENT_FILL_IN
    } | {
        "platform_issuer": case(
            (new_id.is_(None), sis_students.c.platform_issuer), else_=stmt.excluded.platform_issuer
        ),
        "updated_at": stmt.excluded.updated_at,
    }


def _if_changed(dialect: Any, table: Table, key: str, columns: list[str]) -> Any:
    stmt = dialect.insert(table)
    return stmt.on_conflict_do_update(
        index_elements=[key],
        set_={name: stmt.excluded[name] for name in columns},
        # Only rewrite a row that changes: hot section and session rows stay unwritten.
        where=or_(*(table.c[n].is_distinct_from(stmt.excluded[n]) for n in columns)),
    )


def _student_event(dialect: Any, sequence_column: str, columns: list[str], **merge: Any) -> Any:
    stmt = dialect.insert(sis_students)
    stored = sis_students.c[sequence_column]
    set_ = _fill_in(stmt) | {name: stmt.excluded[name] for name in columns}
    set_ |= {name: build(stmt) for name, build in merge.items()}
    return stmt.on_conflict_do_update(
        index_elements=["sis_id"],
        set_=set_,
        where=or_(stored.is_(None), stored < stmt.excluded[sequence_column]),
    ).returning(sis_students.c.id)


def _earliest_pass(stmt: Any) -> Any:
    # DOMAIN R2: passed stays passed, at the earliest completion the tool has heard of.
    stored, new = sis_students.c.onboarding_passed_at, stmt.excluded.onboarding_passed_at
    return case((or_(stored.is_(None), new < stored), new), else_=stored)


@lru_cache(maxsize=4)
def _statements(dialect_name: str) -> _Statements:
    dialect: Any = postgresql if dialect_name == "postgresql" else sqlite

    # DO NOTHING rather than catching IntegrityError: on PostgreSQL a concurrent insert of the
    # same id waits for the first transaction to commit and then skips, without aborting this one.
    add_delivery = (
        dialect.insert(webhook_deliveries)
        .on_conflict_do_nothing(index_elements=["webhook_id"])
        .returning(webhook_deliveries.c.id)
    )

    registration = dialect.insert(registrations)
    registration_columns = [
        "student_sis_id",
        "section_sis_id",
        "status",
        "enrolled_at",
        "tuition_status",
        "tuition_amount_cents",
        "tuition_currency",
        "sequence",
        "updated_at",
    ]
    save_registration = registration.on_conflict_do_update(
        index_elements=["sis_id"],
        set_={name: registration.excluded[name] for name in registration_columns},
        where=registrations.c.sequence < registration.excluded.sequence,
    ).returning(registrations.c.id)

    student = dialect.insert(sis_students)
    save_student = student.on_conflict_do_update(
        index_elements=["sis_id"],
        set_=_fill_in(student),
        # Only rewrite the row when it learns something.
        where=or_(
            *(
                student.excluded[name].is_not(None)
                & student.excluded[name].is_distinct_from(sis_students.c[name])
                for name in _STUDENT_FILL_IN
            ),
            student.excluded.platform_user_id.is_not(None)
            & student.excluded.platform_issuer.is_distinct_from(sis_students.c.platform_issuer),
        ),
    )
    return _Statements(
        add_delivery=DriverStatement(add_delivery),
        save_registration=DriverStatement(save_registration),
        save_student=DriverStatement(save_student),
        save_section=DriverStatement(
            _if_changed(
                dialect, sis_sections, "sis_id", ["course_code", "credit_hours", "session_code"]
            )
        ),
        save_session=DriverStatement(
            _if_changed(
                dialect,
                sis_sessions,
                "code",
                ["starts_on", "ends_on", "enrollment_opens_at", "enrollment_closes_at"],
            )
        ),
        save_hold=DriverStatement(
            _student_event(
                dialect, "hold_sequence", ["hold_active", "hold_reason", "hold_sequence"]
            )
        ),
        save_onboarding=DriverStatement(
            _student_event(
                dialect,
                "onboarding_sequence",
                ["onboarding_sequence"],
                onboarding_passed_at=_earliest_pass,
            )
        ),
    )


_SET_OUTCOME = DriverStatement(
    update(webhook_deliveries)
    .where(webhook_deliveries.c.webhook_id == bindparam("wid"))
    .values(outcome=bindparam("outcome"), error=bindparam("error"))
)


class SqlAlchemySisRepository:
    def __init__(self, conn: Connection, recent: RecentWrites | None = None) -> None:
        self.conn = conn
        self._sql = _statements(conn.dialect.name)
        self._recent = recent
        #: Writes to remember once the transaction commits (see ``RecentWrites``).
        self.pending: list[tuple[Hashable, Hashable, Any]] = []

    def _returns_row(self, stmt: DriverStatement, params: Mapping[str, Any]) -> bool:
        return bool(stmt.rows(self.conn, params))

    # --- deliveries -------------------------------------------------------------------------

    def add_delivery(self, delivery: Delivery) -> bool:
        return self._returns_row(
            self._sql.add_delivery,
            {
                "webhook_id": delivery.webhook_id,
                "type": delivery.type,
                "sequence": delivery.sequence,
                "received_at": delivery.received_at,
                "outcome": delivery.outcome.value,
                "payload": dict(delivery.payload),
                "error": delivery.error,
                "student_sis_id": _student_named(delivery.payload),
            },
        )

    def set_delivery_outcome(
        self, webhook_id: str, outcome: DeliveryOutcome, error: str | None
    ) -> None:
        _SET_OUTCOME.execute(
            self.conn, {"wid": webhook_id, "outcome": outcome.value, "error": error}
        )

    @staticmethod
    def _delivery(row: Mapping[str, Any]) -> Delivery:
        received_at = _utc(row["received_at"])
        assert received_at is not None
        return Delivery(
            id=row["id"],
            webhook_id=row["webhook_id"],
            type=row["type"],
            sequence=row["sequence"],
            received_at=received_at,
            outcome=DeliveryOutcome(row["outcome"]),
            payload=row["payload"],
            error=row["error"],
        )

    def get_delivery(self, webhook_id: str) -> Delivery | None:
        row = (
            self.conn.execute(
                select(webhook_deliveries).where(webhook_deliveries.c.webhook_id == webhook_id)
            )
            .mappings()
            .first()
        )
        return None if row is None else self._delivery(row)

    def list_deliveries(self, *, limit: int, type: str | None = None) -> list[Delivery]:
        query = select(webhook_deliveries).order_by(webhook_deliveries.c.id.desc()).limit(limit)
        if type:
            query = query.where(webhook_deliveries.c.type == type)
        return [self._delivery(row) for row in self.conn.execute(query).mappings()]

    # --- registrations and what they name ---------------------------------------------------

    def save_registration(
        self,
        student: StudentRef,
        registration: RegistrationSnapshot,
        tuition: TuitionSnapshot,
        sequence: int,
        now: datetime,
    ) -> bool:
        # The sequence test sits in DO UPDATE … WHERE, so "newer" is decided on the locked row.
        return self._returns_row(
            self._sql.save_registration,
            {
                "sis_id": registration.sis_id,
                "student_sis_id": student.sis_id,
                "section_sis_id": registration.section.sis_id,
                "status": registration.status.value,
                "enrolled_at": registration.enrolled_at,
                "tuition_status": tuition.status.value,
                "tuition_amount_cents": tuition.amount_cents,
                "tuition_currency": tuition.currency,
                "sequence": sequence,
                "updated_at": now,
            },
        )

    def _student(self, student: StudentRef, now: datetime) -> dict[str, Any]:
        return {
            "sis_id": student.sis_id,
            "email": student.email,
            "platform_user_id": student.platform_user_id,
            "platform_issuer": student.platform_issuer,
            "created_at": now,
            "updated_at": now,
        }

    def save_student(self, student: StudentRef, now: datetime) -> None:
        values = self._student(student, now)
        # Students recur in event after event with the same identity: skip a write this process
        # committed lately with the same values (the upsert only fills in and never clears).
        key = ("sis_student", student.sis_id)
        digest = (student.email, student.platform_user_id, student.platform_issuer)
        if self._recent is not None and self._recent.get(key, digest)[0]:
            return
        self._sql.save_student.execute(self.conn, values)
        self.pending.append((key, digest, None))

    def save_offering(self, section: SisSection, session: SessionInfo) -> None:
        # Every registration event repeats its section and session, which seldom change: a
        # process that committed these very values lately skips the two statements.
        for stmt, key, values in (
            (
                self._sql.save_section,
                ("sis_section", section.sis_id),
                {
                    "sis_id": section.sis_id,
                    "course_code": section.course_code,
                    "credit_hours": section.credit_hours,
                    "session_code": session.code,
                },
            ),
            (
                self._sql.save_session,
                ("sis_session", session.code),
                {
                    "code": session.code,
                    "starts_on": session.starts_on,
                    "ends_on": session.ends_on,
                    "enrollment_opens_at": session.enrollment_opens_at,
                    "enrollment_closes_at": session.enrollment_closes_at,
                },
            ),
        ):
            digest = tuple(sorted((k, repr(v)) for k, v in values.items()))
            if self._recent is not None and self._recent.get(key, digest)[0]:
                continue
            stmt.execute(self.conn, values)
            self.pending.append((key, digest, None))

    # --- student-level events ---------------------------------------------------------------

    def save_hold(
        self, student: StudentRef, active: bool, reason: str | None, sequence: int, now: datetime
    ) -> bool:
        return self._returns_row(
            self._sql.save_hold,
            self._student(student, now)
            | {"hold_active": active, "hold_reason": reason, "hold_sequence": sequence},
        )

    def save_onboarding_passed(
        self, student: StudentRef, passed_at: datetime, sequence: int, now: datetime
    ) -> bool:
        return self._returns_row(
            self._sql.save_onboarding,
            self._student(student, now)
            | {"onboarding_passed_at": passed_at, "onboarding_sequence": sequence},
        )
