"""The credit roster's reads: a section's registrations, each with what the gate would see.

One query for the whole section: its registrations' students, each student's registrations
across the program (for the load advisories, R14 and R15), and the ``learners`` rows of the
launch's own platform that are that student (for names and onboarding read from the platform's
gradebook). Another platform's learners never appear, and the SIS's platform user id and email
match only learners of the platform the SIS names for them.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import groupby
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection, Integer, String, and_, bindparam, func, select

from lti_bridge.adapters.db.catalog_repository import section_for_context
from lti_bridge.adapters.db.gate_repository import (
    STUDENT_COLUMNS,
    honours_section,
    on_platform,
    section_by_id,
    student_records,
    with_registrations,
)
from lti_bridge.adapters.db.tables import learners, offerings, registrations, sis_students
from lti_bridge.domain.policy import SectionInfo
from lti_bridge.domain.student import learner_state
from lti_bridge.services.gate import GateFacts
from lti_bridge.services.roster import RosterStudent

_IN_SECTION = registrations.alias("in_section")


def _roster_select(*, by_email: bool) -> Any:
    # The platform's learners who are this student, each way a launch is matched to one; three
    # equality joins rather than one OR, so each can use its index (or a hash) on a large table.
    # The SIS's platform user id and email are identities on one platform only (CONTRACT §3).
    issuer = bindparam("issuer", type_=String)
    matches = [
        (learners.alias("by_sourcedid"), lambda t: t.c.person_sourcedid == sis_students.c.sis_id),
        (
            learners.alias("by_platform_id"),
            lambda t: and_(t.c.sub == sis_students.c.platform_user_id, on_platform(issuer)),
        ),
    ]
    if by_email:
        matches.append(
            (
                learners.alias("by_email"),
                lambda t: and_(
                    func.lower(t.c.email) == func.lower(sis_students.c.email), on_platform(issuer)
                ),
            )
        )
    students = _IN_SECTION.join(sis_students, sis_students.c.sis_id == _IN_SECTION.c.student_sis_id)
    for table, match in matches:
        own_platform = table.c.platform_id == bindparam("platform_id", type_=Integer)
        students = students.outerjoin(table, and_(own_platform, match(table)))
    return (
        select(
            func.coalesce(*(t.c.onboarding_passed_at for t, _ in matches)).label(
                "learner_onboarding_passed_at"
            ),
            *STUDENT_COLUMNS,
            func.coalesce(*(t.c.name for t, _ in matches)).label("learner_name"),
            sis_students.c.email.label("student_email"),
        )
        .select_from(with_registrations(students))
        .where(_IN_SECTION.c.section_sis_id == bindparam("section", type_=String))
        .order_by(sis_students.c.sis_id)
    )


_ROSTER = {by_email: _roster_select(by_email=by_email) for by_email in (False, True)}


class SqlAlchemyRosterRepository:
    def __init__(self, connect: Callable[[], Connection], sis_platform_issuer: str = "") -> None:
        self._connect = connect
        self._sis_platform_issuer = sis_platform_issuer

    def section_for_context(self, context_id: str, issuer: str) -> str | None:
        return section_for_context(self._connect(), context_id, issuer)

    def may_name_section(self, sis_id: str, issuer: str) -> bool:
        bound = self._connect().execute(
            select(offerings.c.issuer).where(offerings.c.section_sis_id == sis_id)
        ).scalar()
        return honours_section(bound, issuer)

    def section(self, sis_id: str) -> SectionInfo | None:
        return section_by_id(self._connect(), sis_id)

    def students(
        self, platform_id: int, issuer: str, section: SectionInfo, *, link_by_email: bool
    ) -> list[RosterStudent]:
        rows = self._connect().execute(
            _ROSTER[link_by_email],
            {
                "platform_id": platform_id,
                "issuer": issuer,
                "sis_platform_issuer": self._sis_platform_issuer or None,
                "section": section.sis_id,
            },
        )
        return [
            _student(list(student_rows), section)
            for _, student_rows in groupby(rows, key=attrgetter("student_sis_id"))
        ]


def _student(rows: list[Any], section: SectionInfo) -> RosterStudent:
    [student] = student_records(rows)
    found = student.seen_from(section.sis_id)
    # Onboarding passed in the SIS, or read from this platform's gradebook (R2).
    onboarding = student.onboarding_passed or any(
        r.learner_onboarding_passed_at is not None for r in rows
    )
    names = sorted({r.learner_name for r in rows if r.learner_name})
    first = rows[0]
    return RosterStudent(
        student_sis_id=first.student_sis_id,
        name=names[0] if names else None,
        email=first.student_email,
        facts=GateFacts(
            learner_state(student, found, section, onboarding_passed=onboarding),
            section,
            found.registration,
        ),
    )
