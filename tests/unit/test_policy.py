from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lti_bridge.domain.errors import ValidationError
from lti_bridge.domain.policy import (
    AdvisoryCode,
    Decision,
    GateSettings,
    LearnerState,
    ReasonCode,
    RegistrationState,
    RegistrationStatus,
    SectionInfo,
    SessionWindow,
    TuitionStatus,
    WindowState,
    credit_access,
    default_window,
    format_day,
    upgrade_window,
)

# A fixed clock inside session 2024-S1's enrollment window.
NOW = datetime(2024, 1, 20, 12, 0, tzinfo=UTC)

S1 = SessionWindow(
    "2024-S1",
    date(2024, 1, 15),
    date(2024, 3, 8),
    datetime(2024, 1, 1, 16, 0, tzinfo=UTC),
    datetime(2024, 2, 23, 23, 59, 59, tzinfo=UTC),
)
S2 = default_window("2024-S2", date(2024, 3, 11), date(2024, 5, 3))
SECTION = SectionInfo("DTSA5509-100-2024S1", "DTSA 5509", 3, S1)
SETTINGS = GateSettings(
    max_courses_per_session=3,
    max_program_years=8,
    payment_url="https://pay.example.edu",
    help_url="https://help.example.edu",
    onboarding_url="https://lms.example.edu/onboarding",
)
READY = LearnerState("110123456", onboarding_passed=True)
PAID = RegistrationState(
    "reg-7c1e",
    RegistrationStatus.REGISTERED,
    TuitionStatus.PAID,
    enrolled_at=datetime(2024, 1, 3, 15, 58, 40, tzinfo=UTC),
)


def decide(
    learner: LearnerState | None = READY,
    section: SectionInfo | None = SECTION,
    registration: RegistrationState | None = PAID,
    settings: GateSettings = SETTINGS,
    now: datetime = NOW,
    upcoming: tuple[SessionWindow, ...] = (),
) -> Decision:
    return credit_access(
        learner=learner,
        section=section,
        registration=registration,
        settings=settings,
        now=now,
        upcoming_sessions=upcoming,
    )


# R1: the three conditions together open restricted content.


def test_registered_paid_onboarded_learner_without_hold_is_allowed():
    decision = decide()

    assert decision.allowed
    assert decision.reasons == ()
    assert decision.advisories == ()


def test_first_allowed_access_asks_the_caller_to_record_it():
    decision = decide()

    assert decision.first_access


def test_access_after_the_first_is_not_recorded_again():
    opened = replace(PAID, first_restricted_access_at=NOW - timedelta(days=2))

    decision = decide(registration=opened)

    assert decision.allowed
    assert not decision.first_access


def test_refused_access_is_never_a_first_access():
    decision = decide(registration=replace(PAID, tuition_status=TuitionStatus.UNPAID))

    assert not decision.allowed
    assert not decision.first_access


def test_unpaid_tuition_names_the_course_and_session_and_links_to_payment():
    decision = decide(registration=replace(PAID, tuition_status=TuitionStatus.UNPAID))

    (reason,) = decision.reasons
    assert reason.code is ReasonCode.TUITION_UNPAID
    assert reason.message == "Your tuition payment for DTSA 5509 (2024-S1) has not been received."
    assert reason.action_url == "https://pay.example.edu"


def test_failed_payment_closes_content_and_links_to_payment():
    decision = decide(registration=replace(PAID, tuition_status=TuitionStatus.FAILED))

    assert decision.reason_codes == (ReasonCode.TUITION_FAILED,)
    assert decision.reasons[0].action_url == "https://pay.example.edu"


def test_refunded_tuition_closes_restricted_content():
    decision = decide(registration=replace(PAID, tuition_status=TuitionStatus.REFUNDED))

    assert not decision.allowed
    assert decision.reason_codes == (ReasonCode.TUITION_REFUNDED,)
    assert "refunded" in decision.reasons[0].message


def test_failed_then_paid_tuition_stays_closed_until_the_hold_is_released():
    failed = replace(PAID, tuition_status=TuitionStatus.FAILED)
    held = replace(READY, hold_active=True)

    while_failed = decide(learner=held, registration=failed)
    paid_but_held = decide(learner=held, registration=PAID)
    released = decide(learner=replace(held, hold_active=False), registration=PAID)

    assert while_failed.reason_codes == (ReasonCode.TUITION_FAILED, ReasonCode.FINANCIAL_HOLD)
    assert paid_but_held.reason_codes == (ReasonCode.FINANCIAL_HOLD,)
    assert released.allowed


@pytest.mark.parametrize(
    "status",
    [RegistrationStatus.DROPPED, RegistrationStatus.WITHDRAWN, RegistrationStatus.CANCELED],
)
def test_inactive_registration_closes_content_and_says_what_happened(status):
    decision = decide(registration=replace(PAID, status=status))

    assert decision.reason_codes == (ReasonCode.REGISTRATION_INACTIVE,)
    assert f"was {status.value}" in decision.reasons[0].message
    assert decision.reasons[0].action_url == "https://help.example.edu"


def test_inactive_registration_does_not_also_ask_for_payment():
    canceled_unpaid = replace(
        PAID, status=RegistrationStatus.CANCELED, tuition_status=TuitionStatus.UNPAID
    )

    decision = decide(registration=canceled_unpaid)

    assert decision.reason_codes == (ReasonCode.REGISTRATION_INACTIVE,)


def test_registration_accepts_the_sis_plain_strings():
    registration = RegistrationState("reg-1", "registered", "paid")  # type: ignore[arg-type]

    assert registration.status is RegistrationStatus.REGISTERED
    assert registration.tuition_status is TuitionStatus.PAID


def test_registration_refuses_an_unknown_status():
    with pytest.raises(ValueError):
        RegistrationState("reg-1", "graduated", "paid")  # type: ignore[arg-type]


# R2: onboarding.


def test_learner_who_has_not_passed_onboarding_is_sent_there_first():
    decision = decide(learner=replace(READY, onboarding_passed=False))

    (reason,) = decision.reasons
    assert reason.code is ReasonCode.ONBOARDING_REQUIRED
    assert reason.message == "Pass the onboarding course first."
    assert reason.action_url == "https://lms.example.edu/onboarding"


def test_onboarding_without_a_configured_url_still_explains_itself():
    decision = decide(
        learner=replace(READY, onboarding_passed=False),
        settings=replace(SETTINGS, onboarding_url=None),
    )

    assert decision.reasons[0].action_url is None
    assert decision.reasons[0].message == "Pass the onboarding course first."


def test_passed_onboarding_stays_passed_in_a_later_session():
    later_section = SectionInfo("CSCA5622-100-2024S2", "CSCA 5622", 3, S2)
    later_now = datetime(2024, 3, 20, tzinfo=UTC)

    decision = decide(
        learner=replace(READY, first_session_starts_on=S1.starts_on),
        section=later_section,
        now=later_now,
    )

    assert decision.allowed
    assert ReasonCode.ONBOARDING_REQUIRED not in decision.reason_codes


# R8: financial hold.


def test_paid_learner_with_a_financial_hold_is_refused():
    decision = decide(learner=replace(READY, hold_active=True, hold_reason="unpaid fees"))

    (reason,) = decision.reasons
    assert reason.code is ReasonCode.FINANCIAL_HOLD
    assert "(unpaid fees)" in reason.message
    assert reason.action_url == "https://pay.example.edu"


def test_failed_payment_with_its_hold_lists_both():
    decision = decide(
        learner=replace(READY, hold_active=True),
        registration=replace(PAID, tuition_status=TuitionStatus.FAILED),
    )

    assert decision.reason_codes == (ReasonCode.TUITION_FAILED, ReasonCode.FINANCIAL_HOLD)


def test_hold_links_to_help_when_no_payment_page_is_configured():
    decision = decide(
        learner=replace(READY, hold_active=True), settings=replace(SETTINGS, payment_url="")
    )

    assert decision.reasons[0].action_url == "https://help.example.edu"


def test_hold_is_reported_to_a_learner_who_is_not_registered_yet():
    decision = decide(learner=replace(READY, hold_active=True), registration=None)

    assert decision.reason_codes == (ReasonCode.NOT_REGISTERED, ReasonCode.FINANCIAL_HOLD)


# Every unmet condition is listed.


def test_every_unmet_condition_is_listed_at_once():
    troubled = LearnerState("110123456", onboarding_passed=False, hold_active=True)
    unpaid = replace(PAID, tuition_status=TuitionStatus.UNPAID)

    decision = decide(learner=troubled, registration=unpaid)

    assert decision.reason_codes == (
        ReasonCode.TUITION_UNPAID,
        ReasonCode.FINANCIAL_HOLD,
        ReasonCode.ONBOARDING_REQUIRED,
    )


def test_unknown_learner_on_an_unmapped_link_gets_both_reasons():
    decision = decide(learner=None, section=None, registration=None)

    assert decision.reason_codes == (ReasonCode.NOT_LINKED, ReasonCode.NO_SECTION)
    assert decision.advisories == ()


def test_unlinked_learner_is_not_told_they_are_unregistered():
    unlinked = LearnerState(None, onboarding_passed=False)

    decision = decide(learner=unlinked, registration=None)

    assert decision.reason_codes == (ReasonCode.NOT_LINKED, ReasonCode.ONBOARDING_REQUIRED)
    assert decision.reasons[0].action_url == "https://help.example.edu"


def test_link_without_a_section_is_refused_even_for_a_paid_learner():
    decision = decide(section=None)

    assert decision.reason_codes == (ReasonCode.NO_SECTION,)


def test_missing_links_leave_action_urls_empty_rather_than_blank():
    decision = decide(section=None, settings=GateSettings())

    assert decision.reasons[0].action_url is None


# R3, R4: a non-credit learner is told how and when to upgrade.


def test_non_credit_learner_inside_the_window_is_told_it_is_open():
    decision = decide(registration=None)

    (reason,) = decision.reasons
    assert reason.code is ReasonCode.NOT_REGISTERED
    assert reason.window is not None
    assert reason.window.state is WindowState.OPEN
    assert reason.message == (
        "This material is for students taking DTSA 5509 for credit. "
        "Enrollment for 2024-S1 is open until 23 February 2024."
    )


def test_non_credit_learner_after_the_window_is_told_when_it_closed_and_when_the_next_opens():
    after = datetime(2024, 2, 24, 9, 0, tzinfo=UTC)

    decision = decide(registration=None, now=after, upcoming=(S2,))

    (reason,) = decision.reasons
    assert reason.window is not None
    assert reason.window.state is WindowState.CLOSED
    assert reason.window.next_window is not None
    assert reason.window.next_window.session_code == "2024-S2"
    assert reason.message.endswith(
        "The enrollment window for 2024-S1 closed on 23 February 2024. "
        "Enrollment for 2024-S2 opens on 26 February 2024."
    )


def test_section_without_session_dates_points_to_the_help_desk():
    decision = decide(registration=None, section=replace(SECTION, session=None))

    (reason,) = decision.reasons
    assert reason.window is None
    assert "help desk" in reason.message


def test_window_is_not_yet_open_before_its_first_day():
    window = upgrade_window(S1, datetime(2023, 12, 31, tzinfo=UTC))

    assert window.state is WindowState.NOT_YET_OPEN
    assert not window.is_open
    assert window.message == "Enrollment for 2024-S1 opens on 1 January 2024."


def test_window_is_open_from_its_opening_instant_to_its_closing_instant():
    assert upgrade_window(S1, S1.enrollment_opens_at).is_open
    assert upgrade_window(S1, S1.enrollment_closes_at).is_open


def test_window_is_closed_after_its_closing_instant():
    window = upgrade_window(S1, S1.enrollment_closes_at + timedelta(seconds=1))

    assert window.state is WindowState.CLOSED
    assert window.message == "The enrollment window for 2024-S1 closed on 23 February 2024."
    assert window.next_window is None


def test_closed_window_offers_the_earliest_later_window_that_has_not_closed():
    s3 = default_window("2024-S3", date(2024, 5, 13), date(2024, 7, 5))
    now = datetime(2024, 3, 1, tzinfo=UTC)

    window = upgrade_window(S1, now, [s3, S2, S1])

    assert window.next_window is not None
    assert window.next_window.session_code == "2024-S2"
    assert window.next_window.state is WindowState.OPEN
    assert window.message.endswith("Enrollment for 2024-S2 is open until 19 April 2024.")


def test_open_window_does_not_mention_the_next_session():
    window = upgrade_window(S1, NOW, [S2])

    assert window.next_window is None


def test_default_window_opens_and_closes_fourteen_days_ahead():
    session = default_window("2024-S1", date(2024, 1, 15), date(2024, 3, 8))

    assert session.enrollment_opens_at == datetime(2024, 1, 1, 0, 0, tzinfo=UTC)
    assert session.enrollment_closes_at == datetime(2024, 2, 23, 23, 59, 59, tzinfo=UTC)


def test_default_window_keeps_whole_days_in_the_universitys_zone():
    mountain = timezone(timedelta(hours=-7))

    session = default_window("2024-S1", date(2024, 1, 15), date(2024, 3, 8), tz=mountain)

    assert session.enrollment_closes_at.tzinfo is mountain
    assert session.enrollment_closes_at.date() == date(2024, 2, 23)


def test_session_refuses_naive_times():
    with pytest.raises(ValidationError, match="time zone"):
        SessionWindow(
            "x", date(2024, 1, 15), date(2024, 3, 8), datetime(2024, 1, 1), datetime(2024, 2, 23)
        )


def test_session_refuses_an_end_before_its_start():
    with pytest.raises(ValidationError, match="ends before it starts"):
        replace(S1, ends_on=date(2024, 1, 1))


def test_decision_refuses_a_naive_clock():
    with pytest.raises(ValidationError, match="now"):
        decide(now=datetime(2024, 1, 20))


def test_dates_are_written_in_english_whatever_the_locale():
    assert format_day(date(2024, 2, 23)) == "23 February 2024"


# R14, R15: advice never closes content.


def test_new_learner_with_two_courses_in_the_first_session_is_advised_to_take_one():
    two = replace(READY, other_registrations=(("2024-S1", "CSCA 5622"),))

    decision = decide(learner=two)

    assert decision.allowed
    assert decision.advisory_codes == (AdvisoryCode.FIRST_SESSION_ONE_COURSE,)
    assert "taking 2 in 2024-S1" in decision.advisories[0].message


def test_returning_learner_with_two_courses_gets_no_first_session_advice():
    returning = replace(
        READY,
        other_registrations=(("2024-S1", "CSCA 5622"),),
        first_session_starts_on=date(2023, 8, 28),
    )

    decision = decide(learner=returning)

    assert decision.advisories == ()


def test_courses_in_other_sessions_do_not_count_toward_this_sessions_load():
    elsewhere = replace(READY, other_registrations=(("2024-S2", "CSCA 5622"),))

    decision = decide(learner=elsewhere)

    assert decision.advisories == ()


def test_same_course_listed_twice_counts_once():
    duplicate = replace(READY, other_registrations=(("2024-S1", "DTSA 5509"),))

    decision = decide(learner=duplicate)

    assert decision.advisories == ()


def test_more_courses_than_the_session_limit_is_advised_not_blocked():
    heavy = replace(
        READY,
        first_session_starts_on=date(2023, 8, 28),
        other_registrations=(
            ("2024-S1", "CSCA 5622"),
            ("2024-S1", "CSCA 5632"),
            ("2024-S1", "CSCA 5642"),
        ),
    )

    decision = decide(learner=heavy)

    assert decision.allowed
    assert decision.advisory_codes == (AdvisoryCode.COURSE_LOAD_LIMIT,)
    assert "4 for-credit courses" in decision.advisories[0].message
    assert "at most 3" in decision.advisories[0].message


def test_session_limit_is_a_setting():
    two = replace(
        READY,
        first_session_starts_on=date(2023, 8, 28),
        other_registrations=(("2024-S1", "CSCA 5622"),),
    )

    decision = decide(learner=two, settings=replace(SETTINGS, max_courses_per_session=1))

    assert decision.advisory_codes == (AdvisoryCode.COURSE_LOAD_LIMIT,)


def test_non_credit_learner_weighing_an_upgrade_counts_this_course():
    full = replace(
        READY,
        first_session_starts_on=date(2023, 8, 28),
        other_registrations=(
            ("2024-S1", "CSCA 5622"),
            ("2024-S1", "CSCA 5632"),
            ("2024-S1", "CSCA 5642"),
        ),
    )

    decision = decide(learner=full, registration=None)

    assert decision.advisory_codes == (AdvisoryCode.COURSE_LOAD_LIMIT,)


def test_course_ending_more_than_eight_years_after_the_first_session_is_advised():
    veteran = replace(READY, first_session_starts_on=date(2016, 1, 11))

    decision = decide(learner=veteran)

    assert decision.allowed
    assert decision.advisory_codes == (AdvisoryCode.PROGRAM_TIME_LIMIT,)
    assert "11 January 2024" in decision.advisories[0].message


def test_course_ending_within_the_program_years_gets_no_time_advice():
    recent = replace(READY, first_session_starts_on=date(2016, 3, 9))

    decision = decide(learner=recent)

    assert decision.advisories == ()


def test_program_time_limit_from_a_leap_day_falls_on_the_28th():
    leap = replace(READY, first_session_starts_on=date(2016, 2, 29))

    decision = decide(learner=leap, settings=replace(SETTINGS, max_program_years=7))

    assert "28 February 2023" in decision.advisories[0].message


def test_advisories_are_given_alongside_refusals():
    two_unpaid = replace(READY, other_registrations=(("2024-S1", "CSCA 5622"),))

    decision = decide(
        learner=two_unpaid, registration=replace(PAID, tuition_status=TuitionStatus.UNPAID)
    )

    assert not decision.allowed
    assert decision.advisory_codes == (AdvisoryCode.FIRST_SESSION_ONE_COURSE,)


# The rule as a property: allowed iff registered, paid, onboarded and without a hold.


@given(
    status=st.sampled_from(RegistrationStatus),
    tuition=st.sampled_from(TuitionStatus),
    onboarded=st.booleans(),
    hold=st.booleans(),
    registered_at_all=st.booleans(),
)
def test_access_is_allowed_exactly_when_every_condition_holds(
    status, tuition, onboarded, hold, registered_at_all
):
    learner = LearnerState("110123456", onboarding_passed=onboarded, hold_active=hold)
    registration = RegistrationState("reg-1", status, tuition) if registered_at_all else None

    decision = decide(learner=learner, registration=registration)

    expected = (
        registered_at_all
        and status is RegistrationStatus.REGISTERED
        and tuition is TuitionStatus.PAID
        and onboarded
        and not hold
    )
    assert decision.allowed == expected
    assert decision.allowed == (decision.reasons == ())
    assert (ReasonCode.FINANCIAL_HOLD in decision.reason_codes) == hold
    assert (ReasonCode.ONBOARDING_REQUIRED in decision.reason_codes) == (not onboarded)
