"""A student's SIS record, and the rules that read it: which student a launch is, which
registration is theirs in a section, what else they take (R14, R15) and when they started.

The gate (a learner's launch) and the roster (a section's students) both load ``StudentRecord``s
and decide here, so the two cannot read one student differently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from lti_bridge.domain.policy import LearnerState, RegistrationState, SectionInfo
from lti_bridge.domain.sis import RegistrationStatus, TuitionStatus


@dataclass(frozen=True)
class CourseRegistration:
    """One course registration as the SIS last reported it, with its section and session when
    the SIS has named them."""

    sis_id: str
    section_sis_id: str | None
    status: RegistrationStatus
    tuition_status: TuitionStatus
    enrolled_at: datetime | None = None
    first_restricted_access_at: datetime | None = None
    course_code: str | None = None
    session_code: str | None = None
    starts_on: date | None = None
    #: The section as the policy sees it; None when the SIS has not described it.
    section: SectionInfo | None = None

    def state(self) -> RegistrationState:
        return RegistrationState(
            self.sis_id,
            self.status,
            self.tuition_status,
            self.enrolled_at,
            self.first_restricted_access_at,
        )


@dataclass(frozen=True)
class SectionView:
    """A student's registrations as seen from one section."""

    #: The registration in the section, if any.
    registration: RegistrationState | None = None
    #: The section, when the registration carried it.
    section: SectionInfo | None = None
    #: Other active registrations as (session code, course code) (R14, R15).
    others: tuple[tuple[str, str], ...] = ()
    #: Start dates of the sessions of every active registration.
    starts: tuple[date, ...] = ()


@dataclass(frozen=True)
class StudentRecord:
    """What the SIS says of one student."""

    sis_id: str
    #: The student's user id on the platform the SIS's ids refer to (matched per platform).
    platform_user_id: str | None = None
    hold_active: bool = False
    hold_reason: str | None = None
    #: Onboarding passed, as the SIS reported it (R2).
    onboarding_passed: bool = False
    registrations: tuple[CourseRegistration, ...] = ()

    def seen_from(self, section_id: str | None) -> SectionView:
        """The registrations as seen from the section ``section_id`` (a registration the SIS
        sent twice counts once)."""
        registration: RegistrationState | None = None
        section: SectionInfo | None = None
        others: list[tuple[str, str]] = []
        starts: list[date] = []
        seen: set[str] = set()
        for course in self.registrations:
            if course.sis_id in seen:
                continue
            seen.add(course.sis_id)
            active = course.status == RegistrationStatus.REGISTERED
            if course.section_sis_id == section_id:
                registration = course.state()
                if section_id is not None and course.section is not None:
                    section = course.section
            elif active and course.session_code:
                others.append((course.session_code, course.course_code or ""))
            if active and course.starts_on is not None:
                starts.append(course.starts_on)
        return SectionView(registration, section, tuple(others), tuple(starts))


def learner_state(
    student: StudentRecord | None,
    view: SectionView,
    section: SectionInfo | None,
    *,
    onboarding_passed: bool,
) -> LearnerState:
    """The policy's view of one learner: SIS record, hold, onboarding and other courses.

    ``onboarding_passed`` may come from the SIS or from the platform's gradebook (R2); the first
    session is the earliest one that started before ``section``'s own.
    """
    own_start = section.session.starts_on if section and section.session else None
    earlier = [d for d in view.starts if own_start is None or d < own_start]
    return LearnerState(
        student_sis_id=student.sis_id if student is not None else None,
        onboarding_passed=onboarding_passed,
        hold_active=bool(student is not None and student.hold_active),
        hold_reason=student.hold_reason if student is not None else None,
        other_registrations=view.others,
        first_session_starts_on=min(earlier) if earlier else None,
    )


def the_student(
    candidates: Sequence[StudentRecord], *, person_sourcedid: str | None, user_sub: str
) -> StudentRecord | None:
    """The one student a launch's learner is, of those the launch's identity matched on its own
    platform: by SIS id (the LIS person sourcedid) first, then by platform user id, then by
    email (the only way left to have matched)."""

    def rank(student: StudentRecord) -> int:
        if person_sourcedid and student.sis_id == person_sourcedid:
            return 0
        if student.platform_user_id and student.platform_user_id == user_sub:
            return 1
        return 2

    return min(candidates, key=rank, default=None)
