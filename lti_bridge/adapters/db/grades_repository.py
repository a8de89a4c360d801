"""Final grades in SQL: the section's grading setup, its registrations with their platform user
ids, the instructor's adjustments, the versioned submissions and the audit trail."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, text

from lti_bridge.adapters.db.catalog_repository import ANY_PLATFORM
from lti_bridge.adapters.db.tables import (
    contexts,
    grade_adjustments,
    grade_audit,
    grade_submissions,
    learners,
    offerings,
    platforms,
    registrations,
    sis_sections,
    sis_sessions,
    sis_students,
)
from lti_bridge.adapters.db.upsert import insert_or_update
from lti_bridge.domain.grading import GradingScheme, ScaleBand, exact
from lti_bridge.services.grades_ports import (
    Adjustment,
    AuditRecord,
    GradedStudent,
    GradingSetup,
    Submission,
)


def scheme_from_offering(
    grade_scale: Any, weights: Any, grading: Mapping[str, Any] | None
) -> GradingScheme:
    """Build the exact grading scheme from an offering's stored scale, weights and settings."""
    scale = tuple(ScaleBand(exact(bound), str(letter)) for bound, letter in grade_scale)
    raw = {str(category): exact(weight) for category, weight in dict(weights).items()}
    total = sum(raw.values(), Decimal(0))
    settings = dict(grading or {})
    until = settings.get("incomplete_extension_until")
    return GradingScheme(
        scale=scale,
        # Fractions summing to 1, exactly: the catalog checked the sum to within float noise.
        weights={category: weight / total for category, weight in raw.items()},
        item_categories=dict(settings.get("line_item_categories") or {}),
        incomplete_grade=settings.get("incomplete_default_grade") or scale[-1].letter,
        incomplete_until=date.fromisoformat(until) if until else None,
    )


_SUBMISSION_COLUMNS = {
    "section_sis_id": "text",
    "registration_sis_id": "text",
    "student_sis_id": "text",
    "version": "integer",
    "sourced_id": "text",
    "letter": "text",
    "percent": "text",
    "last_attended": "date",
    "incomplete_grade": "text",
    "incomplete_until": "date",
    "reason": "text",
    "released_by": "text",
    "released_at": "timestamptz",
}
# The rows travel as one JSON document (text arrays would have psycopg escape every element).
_INSERT_SUBMISSIONS_PG = text(
    f"INSERT INTO grade_submissions ({', '.join(_SUBMISSION_COLUMNS)}) "
    f"SELECT {', '.join(_SUBMISSION_COLUMNS)} FROM json_to_recordset(CAST(:rows AS json)) AS r("
    + ", ".join(f"{name} {kind}" for name, kind in _SUBMISSION_COLUMNS.items())
    + ")"
)


def _iso(value: object) -> str:
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _percent(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


class SqlAlchemyGradesRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def setup(self, section_sis_id: str, platform_id: int | None = None) -> GradingSetup | None:
        row = self.conn.execute(
            select(
                offerings.c.for_credit_context_id,
                offerings.c.issuer,
                offerings.c.grade_scale,
                offerings.c.weights,
                offerings.c.grading,
                sis_sections.c.course_code,
                sis_sections.c.credit_hours,
                sis_sections.c.session_code,
                sis_sessions.c.ends_on,
            )
            .select_from(
                offerings.join(
                    sis_sections, sis_sections.c.sis_id == offerings.c.section_sis_id
                ).outerjoin(sis_sessions, sis_sessions.c.code == sis_sections.c.session_code)
            )
            .where(offerings.c.section_sis_id == section_sis_id)
        ).first()
        if row is None:
            return None
        # The for-credit context as launched: its platform, and the AGS endpoint its launches
        # carried. Only the offering's own platform (or any, for an offering naming none).
        where = [
            contexts.c.context_id == row.for_credit_context_id,
            contexts.c.ags_lineitems_url.is_not(None),
        ]
        if row.issuer != ANY_PLATFORM:
            where.append(platforms.c.issuer == row.issuer)
        if platform_id is not None:
            where.append(contexts.c.platform_id == platform_id)
        launched = self.conn.execute(
            select(
                contexts.c.platform_id,
                contexts.c.ags_lineitems_url,
                platforms.c.issuer,
                platforms.c.client_id,
            )
            .select_from(contexts.join(platforms, platforms.c.id == contexts.c.platform_id))
            .where(*where)
            .order_by(contexts.c.updated_at.desc(), contexts.c.id.desc())
            .limit(1)
        ).first()
        return GradingSetup(
            section_sis_id=section_sis_id,
            course_code=row.course_code,
            credit_hours=row.credit_hours,
            session_code=row.session_code,
            session_ends_on=row.ends_on,
            scheme=scheme_from_offering(row.grade_scale, row.weights, row.grading),
            for_credit_context_id=row.for_credit_context_id,
            platform_id=launched.platform_id if launched else platform_id,
            issuer=launched.issuer if launched else None,
            client_id=launched.client_id if launched else None,
            lineitems_url=launched.ags_lineitems_url if launched else None,
        )

    def students(
        self, section_sis_id: str, platform_id: int | None, *, link_by_email: bool = False
    ) -> list[GradedStudent]:
        rows = self.conn.execute(
            select(
                registrations.c.sis_id,
                registrations.c.student_sis_id,
                registrations.c.status,
                registrations.c.tuition_status,
                sis_students.c.email,
                sis_students.c.platform_user_id,
            )
            .select_from(
                registrations.outerjoin(
                    sis_students, sis_students.c.sis_id == registrations.c.student_sis_id
                )
            )
            .where(registrations.c.section_sis_id == section_sis_id)
            .order_by(registrations.c.student_sis_id, registrations.c.sis_id)
        ).all()
        # The platform's learners who are these students, matched the ways a launch matches
        # them: the LIS person_sourcedid, the SIS's platform user id, the email where allowed.
        subs: dict[str, list[str]] = {}
        names: dict[str, str] = {}
        if platform_id is not None and rows:
            student_ids = [r.student_sis_id for r in rows]
            platform_users = [r.platform_user_id for r in rows if r.platform_user_id]
            emails = {r.email.lower(): r.student_sis_id for r in rows if r.email}
            match = [learners.c.person_sourcedid.in_(student_ids)]
            if platform_users:
                match.append(learners.c.sub.in_(platform_users))
            if link_by_email and emails:
                match.append(func.lower(learners.c.email).in_(list(emails)))
            by_sub = {r.platform_user_id: r.student_sis_id for r in rows if r.platform_user_id}
            known = set(student_ids)
            for learner in self.conn.execute(
                select(
                    learners.c.sub, learners.c.person_sourcedid, learners.c.email, learners.c.name
                ).where(and_(learners.c.platform_id == platform_id, or_(*match)))
            ):
                owner = (
                    learner.person_sourcedid
                    if learner.person_sourcedid in known
                    else by_sub.get(learner.sub)
                    or (emails.get(learner.email.lower()) if learner.email else None)
                )
                if owner is None:
                    continue
                subs.setdefault(owner, []).append(learner.sub)
                if learner.name:
                    names.setdefault(owner, learner.name)
        students = []
        for r in rows:
            ids = list(subs.get(r.student_sis_id, []))
            if r.platform_user_id and r.platform_user_id not in ids:
                ids.append(r.platform_user_id)
            students.append(
                GradedStudent(
                    registration_sis_id=r.sis_id,
                    student_sis_id=r.student_sis_id,
                    status=r.status,
                    tuition_status=r.tuition_status,
                    name=names.get(r.student_sis_id),
                    platform_user_ids=tuple(ids),
                )
            )
        return students

    def adjustments(self, section_sis_id: str) -> dict[str, Adjustment]:
        rows = self.conn.execute(
            select(grade_adjustments).where(grade_adjustments.c.section_sis_id == section_sis_id)
        )
        return {
            r.registration_sis_id: Adjustment(
                r.registration_sis_id,
                r.override_letter,
                r.override_reason,
                bool(r.incomplete),
                r.incomplete_reason,
                r.updated_by,
                r.updated_at,
            )
            for r in rows
        }

    def submissions(self, section_sis_id: str) -> dict[str, list[Submission]]:
        rows = self.conn.execute(
            select(grade_submissions)
            .where(grade_submissions.c.section_sis_id == section_sis_id)
            .order_by(grade_submissions.c.registration_sis_id, grade_submissions.c.version)
        )
        found: dict[str, list[Submission]] = {}
        for r in rows:
            found.setdefault(r.registration_sis_id, []).append(
                Submission(
                    registration_sis_id=r.registration_sis_id,
                    student_sis_id=r.student_sis_id,
                    version=r.version,
                    sourced_id=r.sourced_id,
                    letter=r.letter,
                    percent=_percent(r.percent),
                    last_attended=r.last_attended,
                    incomplete_grade=r.incomplete_grade,
                    incomplete_until=r.incomplete_until,
                    reason=r.reason,
                    released_by=r.released_by,
                    released_at=r.released_at,
                )
            )
        return found

    def save_adjustment(self, section_sis_id: str, adjustment: Adjustment) -> None:
        insert_or_update(
            self.conn,
            grade_adjustments,
            {
                "registration_sis_id": adjustment.registration_sis_id,
                "section_sis_id": section_sis_id,
                "override_letter": adjustment.override_letter,
                "override_reason": adjustment.override_reason,
                "incomplete": adjustment.incomplete,
                "incomplete_reason": adjustment.incomplete_reason,
                "updated_by": adjustment.updated_by,
                "updated_at": adjustment.updated_at,
            },
            keys=("registration_sis_id",),
            update=(
                "override_letter",
                "override_reason",
                "incomplete",
                "incomplete_reason",
                "updated_by",
                "updated_at",
            ),
            returning=None,
        )

    def add_submissions(self, section_sis_id: str, submissions: Sequence[Submission]) -> None:
        if not submissions:
            return
        rows = [
            {
                "section_sis_id": section_sis_id,
                "registration_sis_id": s.registration_sis_id,
                "student_sis_id": s.student_sis_id,
                "version": s.version,
                "sourced_id": s.sourced_id,
                "letter": s.letter,
                "percent": str(s.percent) if s.percent is not None else None,
                "last_attended": s.last_attended,
                "incomplete_grade": s.incomplete_grade,
                "incomplete_until": s.incomplete_until,
                "reason": s.reason,
                "released_by": s.released_by,
                "released_at": s.released_at,
            }
            for s in submissions
        ]
        if self.conn.dialect.name == "postgresql":
            # One statement over one JSON document: a section's hundreds of rows in one round
            # trip and one plan, where an executemany costs a pipelined statement per row.
            self.conn.execute(_INSERT_SUBMISSIONS_PG, {"rows": json.dumps(rows, default=_iso)})
            return
        self.conn.execute(insert(grade_submissions), rows)

    def audit(self, section_sis_id: str, record: AuditRecord) -> None:
        self.conn.execute(
            insert(grade_audit).values(
                section_sis_id=section_sis_id,
                registration_sis_id=record.registration_sis_id,
                action=record.action,
                letter=record.letter,
                reason=record.reason,
                detail=dict(record.detail) if record.detail is not None else None,
                actor=record.actor,
                at=record.at,
            )
        )

    def history(self, section_sis_id: str) -> list[AuditRecord]:
        rows = self.conn.execute(
            select(grade_audit)
            .where(grade_audit.c.section_sis_id == section_sis_id)
            .order_by(grade_audit.c.at.desc(), grade_audit.c.id.desc())
        )
        return [
            AuditRecord(
                r.registration_sis_id, r.action, r.letter, r.reason, r.actor, r.at, r.detail
            )
            for r in rows
        ]
