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

from sqlalchemy import (
    Connection,
    Integer,
    String,
    and_,
    bindparam,
    case,
    func,
    null,
    or_,
    select,
    true,
)

from lti_bridge.adapters.db.catalog_repository import section_for_context
from lti_bridge.adapters.db.gate_repository import (
    STUDENT_COLUMNS,
    honours_section,
    on_platform,
    section_by_id,
    student_records,
    with_registrations,
)
from lti_bridge.adapters.db.tables import (
    contexts,
    grade_audit,
    grade_submissions,
    learners,
    offerings,
    outbox,
    platforms,
    registrations,
    sis_students,
    webhook_deliveries,
)
from lti_bridge.domain.policy import RegistrationState, SectionInfo
from lti_bridge.domain.student import learner_state
from lti_bridge.services.gate_ports import GateFacts
from lti_bridge.services.roster_ports import (
    ActionRecord,
    LearnerHistory,
    MembershipSource,
    RosterStudent,
    SisEventRecord,
    SubmissionRecord,
)

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
    # Names by the launch's own identities first; one known only by email is kept apart, since
    # two SIS records may share an email and only one of them is that learner.
    by_identity = [t for t, _ in matches[:2]]
    email_columns = (
        [matches[2][0].c.name.label("name_by_email"), matches[2][0].c.sub.label("sub_email")]
        if by_email
        else [null().label("name_by_email"), null().label("sub_email")]
    )
    return (
        select(
            func.coalesce(*(t.c.onboarding_passed_at for t, _ in matches)).label(
                "learner_onboarding_passed_at"
            ),
            *STUDENT_COLUMNS,
            func.coalesce(*(t.c.name for t in by_identity)).label("learner_name"),
            by_identity[0].c.sub.label("sub_sourcedid"),
            by_identity[1].c.sub.label("sub_platform_id"),
            *email_columns,
            case((on_platform(issuer), sis_students.c.platform_user_id), else_=None).label(
                "platform_user_id_here"
            ),
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

    def membership_source(self, section_sis_id: str) -> MembershipSource | None:
        # The for-credit context a launch named the section for (LIS claim), or the catalog's
        # for-credit context on its platform; the most recently launched one.
        offering = (
            select(offerings.c.for_credit_context_id, offerings.c.issuer)
            .where(offerings.c.section_sis_id == section_sis_id)
            .subquery()
        )
        named = contexts.c.course_section_sourcedid == section_sis_id
        mapped = and_(
            contexts.c.context_id == offering.c.for_credit_context_id,
            or_(offering.c.issuer == "", offering.c.issuer == platforms.c.issuer),
        )
        row = self._connect().execute(
            select(
                platforms.c.id,
                platforms.c.issuer,
                platforms.c.client_id,
                contexts.c.context_id,
                contexts.c.nrps_memberships_url,
            )
            .select_from(
                contexts.join(platforms, platforms.c.id == contexts.c.platform_id).outerjoin(
                    offering, true()
                )
            )
            .where(or_(named, mapped))
            .order_by(contexts.c.updated_at.desc(), contexts.c.id.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        return MembershipSource(
            row.id, row.issuer, row.client_id, row.context_id, row.nrps_memberships_url
        )

    def history(self, section_sis_id: str, student_sis_id: str) -> LearnerHistory | None:
        conn = self._connect()
        found = conn.execute(
            select(registrations)
            .where(
                registrations.c.student_sis_id == student_sis_id,
                registrations.c.section_sis_id == section_sis_id,
            )
            .order_by(registrations.c.sis_id)
        ).all()
        if not found:
            return None
        ids = [r.sis_id for r in found]
        events = conn.execute(
            select(
                webhook_deliveries.c.received_at,
                webhook_deliveries.c.type,
                webhook_deliveries.c.sequence,
                webhook_deliveries.c.outcome,
            )
            .where(webhook_deliveries.c.student_sis_id == student_sis_id)
            .order_by(webhook_deliveries.c.received_at, webhook_deliveries.c.id)
        ).all()
        submissions = conn.execute(
            select(
                grade_submissions,
                outbox.c.state,
                outbox.c.last_error,
                outbox.c.attempts,
            )
            .select_from(
                grade_submissions.outerjoin(outbox, outbox.c.key == grade_submissions.c.sourced_id)
            )
            .where(grade_submissions.c.registration_sis_id.in_(ids))
            .order_by(grade_submissions.c.registration_sis_id, grade_submissions.c.version)
        ).all()
        actions = conn.execute(
            select(grade_audit)
            .where(grade_audit.c.registration_sis_id.in_(ids))
            .order_by(grade_audit.c.at, grade_audit.c.id)
        ).all()
        return LearnerHistory(
            student_sis_id=student_sis_id,
            registrations=tuple(
                RegistrationState(
                    r.sis_id, r.status, r.tuition_status, r.enrolled_at,
                    r.first_restricted_access_at,
                )
                for r in found
            ),
            events=tuple(SisEventRecord(e.received_at, e.type, e.sequence, e.outcome)
                         for e in events),
            submissions=tuple(
                SubmissionRecord(
                    registration_sis_id=s.registration_sis_id,
                    version=s.version,
                    letter=s.letter,
                    percent=s.percent,
                    reason=s.reason,
                    released_by=s.released_by,
                    released_at=s.released_at,
                    state=s.state,
                    last_error=s.last_error,
                    attempts=s.attempts or 0,
                )
                for s in submissions
            ),
            actions=tuple(
                ActionRecord(a.at, a.actor, a.action, a.letter, a.reason) for a in actions
            ),
        )

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
    by_email = sorted({r.name_by_email for r in rows if r.name_by_email})
    subs = sorted(
        {sub for r in rows for sub in (r.sub_sourcedid, r.sub_platform_id, r.sub_email) if sub}
    )
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
        subs=tuple(subs),
        platform_user_id=first.platform_user_id_here,
        name_by_email=by_email[0] if by_email else None,
    )
