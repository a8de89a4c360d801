"""The rules that read a student's SIS record, with plain values: which student a launch is,
their registration in a section, their other courses and their first session."""

from __future__ import annotations

from datetime import date

from lti_bridge.domain.policy import SectionInfo, SessionWindow, default_window
from lti_bridge.domain.sis import RegistrationStatus, TuitionStatus
from lti_bridge.domain.student import (
    CourseRegistration,
    SectionView,
    StudentRecord,
    learner_state,
    the_student,
)

REGISTERED, DROPPED = RegistrationStatus.REGISTERED, RegistrationStatus.DROPPED
PAID = TuitionStatus.PAID


def section(sis_id: str, starts: date) -> SectionInfo:
    window: SessionWindow = default_window(f"S-{starts:%Y%m}", starts, date(starts.year, 12, 1))
    return SectionInfo(sis_id, "DTSA 5509", 3, window)


def course(sis_id: str, section_id: str, starts: date, status: RegistrationStatus = REGISTERED,
           code: str = "DTSA 5509") -> CourseRegistration:
    return CourseRegistration(
        sis_id, section_id, status, PAID, course_code=code, session_code=f"S-{starts:%Y%m}",
        starts_on=starts, section=section(section_id, starts),
    )


def test_the_registration_in_the_section_and_the_other_active_ones() -> None:
    here = course("r1", "SEC-A", date(2025, 5, 1))
    elsewhere = course("r2", "SEC-B", date(2025, 5, 1), code="DTSA 5510")
    dropped = course("r3", "SEC-C", date(2025, 1, 1), status=DROPPED, code="DTSA 5511")
    student = StudentRecord("s1", registrations=(here, elsewhere, dropped))

    view = student.seen_from("SEC-A")

    assert view.registration is not None and view.registration.sis_id == "r1"
    assert view.section == here.section
    # Dropped registrations are neither other courses (R14) nor a start (R15).
    assert view.others == (("S-202505", "DTSA 5510"),)
    assert view.starts == (date(2025, 5, 1), date(2025, 5, 1))


def test_a_registration_sent_twice_counts_once() -> None:
    twice = course("r2", "SEC-B", date(2025, 5, 1), code="DTSA 5510")
    student = StudentRecord("s1", registrations=(twice, twice))
    assert student.seen_from("SEC-A").others == (("S-202505", "DTSA 5510"),)


def test_no_registration_in_the_section_and_no_section_named() -> None:
    student = StudentRecord("s1", registrations=(course("r1", "SEC-A", date(2025, 5, 1)),))
    assert student.seen_from("SEC-Z").registration is None
    assert student.seen_from(None) == SectionView(
        None, None, (("S-202505", "DTSA 5509"),), (date(2025, 5, 1),)
    )


def test_the_first_session_is_the_earliest_that_started_before_this_one() -> None:
    now = course("r1", "SEC-A", date(2025, 9, 1))
    earlier = course("r2", "SEC-B", date(2025, 1, 1), code="DTSA 5510")
    later = course("r3", "SEC-C", date(2026, 1, 1), code="DTSA 5511")
    student = StudentRecord("s1", hold_active=True, hold_reason="bursar",
                            registrations=(now, earlier, later))
    view = student.seen_from("SEC-A")

    learner = learner_state(student, view, now.section, onboarding_passed=True)

    assert learner.student_sis_id == "s1"
    assert learner.first_session_starts_on == date(2025, 1, 1)
    assert (learner.hold_active, learner.hold_reason, learner.onboarding_passed) == (
        True, "bursar", True
    )
    first = learner_state(student, StudentRecord("s1", registrations=(now,)).seen_from("SEC-A"),
                          now.section, onboarding_passed=False)
    assert first.first_session_starts_on is None


def test_a_learner_unknown_to_the_sis() -> None:
    learner = learner_state(None, SectionView(), None, onboarding_passed=True)
    assert learner.student_sis_id is None and learner.onboarding_passed
    assert not learner.hold_active and learner.other_registrations == ()


def test_the_student_a_launch_is_sis_id_first_then_platform_id_then_email() -> None:
    by_email = StudentRecord("s-email")
    by_platform = StudentRecord("s-platform", platform_user_id="sub-1")
    by_sis_id = StudentRecord("s-sis")
    candidates = [by_email, by_platform, by_sis_id]

    assert the_student(candidates, person_sourcedid="s-sis", user_sub="sub-1") is by_sis_id
    assert the_student(candidates, person_sourcedid=None, user_sub="sub-1") is by_platform
    assert the_student([by_email], person_sourcedid="other", user_sub="sub-1") is by_email
    assert the_student([], person_sourcedid="s-sis", user_sub="sub-1") is None
