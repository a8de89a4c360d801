"""The credit gate as values: who may open restricted content, and why not (DOMAIN.md R1-R4, R8,
R9, R14, R15).

Nothing here reads a clock, a database or a request: the caller gathers the facts, passes ``now``
and gets a ``Decision`` it can render, log and test.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum

from lti_bridge.domain.errors import ValidationError

# One definition of the SIS's statuses, shared with the webhook events; re-exported for callers.
from lti_bridge.domain.sis import RegistrationStatus, TuitionStatus

__all__ = [
    "Advisory",
    "AdvisoryCode",
    "Decision",
    "GateSettings",
    "LearnerState",
    "Reason",
    "ReasonCode",
    "RegistrationState",
    "RegistrationStatus",
    "SectionInfo",
    "SessionWindow",
    "TuitionStatus",
    "UpgradeWindow",
    "WINDOW_LEAD",
    "WindowState",
    "credit_access",
    "default_window",
    "format_day",
    "upgrade_window",
]

#: How far the enrollment window sits before the session's start and end (DOMAIN.md "Words").
WINDOW_LEAD = timedelta(days=14)

# Spelled out rather than strftime("%B"): the server's locale must not change what learners read.
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def format_day(day: date) -> str:
    """Return a date the way learners read it: ``23 February 2024``."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def _require_aware(value: datetime, name: str) -> None:
    # Naive and aware datetimes cannot be compared; refusing early beats a TypeError mid-decision.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(f"{name} must carry a time zone, got {value.isoformat()}")


class ReasonCode(StrEnum):
    """Why restricted content stays closed; stable names for templates, logs and API clients."""

    NOT_LINKED = "not_linked"
    NO_SECTION = "no_section"
    NOT_REGISTERED = "not_registered"
    REGISTRATION_INACTIVE = "registration_inactive"
    TUITION_UNPAID = "tuition_unpaid"
    TUITION_FAILED = "tuition_failed"
    TUITION_REFUNDED = "tuition_refunded"
    FINANCIAL_HOLD = "financial_hold"
    ONBOARDING_REQUIRED = "onboarding_required"


class AdvisoryCode(StrEnum):
    """Advice shown next to the content; never a reason to close it."""

    FIRST_SESSION_ONE_COURSE = "first_session_one_course"
    COURSE_LOAD_LIMIT = "course_load_limit"
    PROGRAM_TIME_LIMIT = "program_time_limit"


class WindowState(StrEnum):
    NOT_YET_OPEN = "not_yet_open"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class SessionWindow:
    """A for-credit session and its enrollment window; times are time-zone aware."""

    code: str
    starts_on: date
    ends_on: date
    enrollment_opens_at: datetime
    enrollment_closes_at: datetime

    def __post_init__(self) -> None:
        _require_aware(self.enrollment_opens_at, "enrollment_opens_at")
        _require_aware(self.enrollment_closes_at, "enrollment_closes_at")
        if self.ends_on < self.starts_on:
            raise ValidationError(f"session {self.code} ends before it starts")
        if self.enrollment_closes_at < self.enrollment_opens_at:
            raise ValidationError(f"session {self.code}'s enrollment closes before it opens")


def default_window(code: str, starts_on: date, ends_on: date, *, tz: tzinfo = UTC) -> SessionWindow:
    """Return the session with the default window: 14 days before start to 14 days before end."""
    # Whole days in the university's zone: opens at the first second of the opening day and
    # closes at the last second of the closing day, as the SIS examples do (23:59:59).
    opens_at = datetime.combine(starts_on - WINDOW_LEAD, time(0, 0, 0), tzinfo=tz)
    closes_at = datetime.combine(ends_on - WINDOW_LEAD, time(23, 59, 59), tzinfo=tz)
    return SessionWindow(code, starts_on, ends_on, opens_at, closes_at)


@dataclass(frozen=True)
class UpgradeWindow:
    """Whether upgrading to for-credit is possible now (R4), with the dates and words to show."""

    session_code: str
    state: WindowState
    opens_at: datetime
    closes_at: datetime
    message: str
    #: When this window has closed: the next session's window that has not, if one is known.
    next_window: UpgradeWindow | None = None

    @property
    def is_open(self) -> bool:
        return self.state is WindowState.OPEN


def upgrade_window(
    session: SessionWindow, now: datetime, upcoming: Iterable[SessionWindow] = ()
) -> UpgradeWindow:
    """Tell whether ``session``'s enrollment window is open at ``now`` (R4).

    ``upcoming`` are other sessions offering the same course; once this window has closed, the
    earliest of them whose window has not closed yet is given as the next chance.
    """
    _require_aware(now, "now")
    opens_at, closes_at = session.enrollment_opens_at, session.enrollment_closes_at
    if now < opens_at:
        state = WindowState.NOT_YET_OPEN
        message = f"Enrollment for {session.code} opens on {format_day(opens_at.date())}."
    elif now <= closes_at:
        state = WindowState.OPEN
        message = f"Enrollment for {session.code} is open until {format_day(closes_at.date())}."
    else:
        state = WindowState.CLOSED
        message = (
            f"The enrollment window for {session.code} closed on {format_day(closes_at.date())}."
        )
    next_window: UpgradeWindow | None = None
    if state is WindowState.CLOSED:
        later = [
            s
            for s in upcoming
            if s.code != session.code
            and s.enrollment_opens_at > opens_at
            and s.enrollment_closes_at >= now
        ]
        if later:
            following = min(later, key=lambda s: s.enrollment_opens_at)
            next_window = upgrade_window(following, now)
            message = f"{message} {next_window.message}"
    return UpgradeWindow(session.code, state, opens_at, closes_at, message, next_window)


@dataclass(frozen=True)
class SectionInfo:
    """The section a launch maps to: one course offered for credit in one session."""

    sis_id: str
    course_code: str
    credit_hours: int
    session: SessionWindow | None = None

    @property
    def label(self) -> str:
        """Name the section the way learners know it: ``DTSA 5509 (2024-S1)``."""
        if self.session is None:
            return self.course_code
        return f"{self.course_code} ({self.session.code})"


@dataclass(frozen=True)
class RegistrationState:
    """The learner's registration in the section, as the SIS last reported it."""

    sis_id: str
    status: RegistrationStatus
    tuition_status: TuitionStatus
    enrolled_at: datetime | None = None
    #: Set once the learner first opened restricted content (R9); it ends the right to drop.
    first_restricted_access_at: datetime | None = None

    def __post_init__(self) -> None:
        # Accept the SIS's plain strings too, and refuse unknown ones here rather than let an
        # unexpected status slip past the comparisons below.
        object.__setattr__(self, "status", RegistrationStatus(self.status))
        object.__setattr__(self, "tuition_status", TuitionStatus(self.tuition_status))


@dataclass(frozen=True)
class LearnerState:
    """What the tool knows about the learner across the program."""

    #: None when the launch could not be matched to a student record in the SIS.
    student_sis_id: str | None
    #: Passed once per program and never reset (R2).
    onboarding_passed: bool = False
    hold_active: bool = False
    hold_reason: str | None = None
    #: The learner's other active for-credit registrations as (session code, course code).
    other_registrations: tuple[tuple[str, str], ...] = ()
    #: Start date of the learner's first for-credit session; None when this is the first.
    first_session_starts_on: date | None = None


@dataclass(frozen=True)
class GateSettings:
    """The university's limits and links the gate needs (R15 limits are settings)."""

    max_courses_per_session: int = 3
    max_program_years: int = 8
    payment_url: str = ""
    help_url: str = ""
    onboarding_url: str | None = None


@dataclass(frozen=True)
class Reason:
    """One unmet condition, in the learner's terms, with where to go about it."""

    code: ReasonCode
    message: str
    action_url: str | None = None
    action_label: str | None = None
    #: For NOT_REGISTERED: the upgrade window of the section's session (R4).
    window: UpgradeWindow | None = None


@dataclass(frozen=True)
class Advisory:
    """Advice that does not close content (R14, R15)."""

    code: AdvisoryCode
    message: str


@dataclass(frozen=True)
class Decision:
    """The gate's verdict: allowed, or every reason it is not, plus advice either way."""

    allowed: bool
    reasons: tuple[Reason, ...] = ()
    advisories: tuple[Advisory, ...] = ()
    #: Allowed and never opened before: the caller records the first access now (R9).
    first_access: bool = False

    @property
    def reason_codes(self) -> tuple[ReasonCode, ...]:
        return tuple(reason.code for reason in self.reasons)

    @property
    def advisory_codes(self) -> tuple[AdvisoryCode, ...]:
        return tuple(advisory.code for advisory in self.advisories)


def _url(url: str | None) -> str | None:
    return url or None


def _registration_reasons(
    section: SectionInfo, registration: RegistrationState, settings: GateSettings
) -> list[Reason]:
    """List what the registration and its tuition lack (R1, R8)."""
    label = section.label
    status = registration.status
    if status is not RegistrationStatus.REGISTERED:
        # Tuition is not listed on top: paying would not reopen a dropped or canceled
        # registration, and a payment link here would send the learner the wrong way.
        return [
            Reason(
                ReasonCode.REGISTRATION_INACTIVE,
                f"Your registration in {label} was {status.value}, so its for-credit material "
                "is closed. Contact the help desk if this is not what you expected.",
                _url(settings.help_url),
                "Get help",
            )
        ]
    tuition = registration.tuition_status
    if tuition is TuitionStatus.UNPAID:
        return [
            Reason(
                ReasonCode.TUITION_UNPAID,
                f"Your tuition payment for {label} has not been received.",
                _url(settings.payment_url),
                "Pay tuition",
            )
        ]
    if tuition is TuitionStatus.FAILED:
        return [
            Reason(
                ReasonCode.TUITION_FAILED,
                f"Your tuition payment for {label} did not go through.",
                _url(settings.payment_url),
                "Update your payment",
            )
        ]
    if tuition is TuitionStatus.REFUNDED:
        return [
            Reason(
                ReasonCode.TUITION_REFUNDED,
                f"Your tuition for {label} was refunded, so its for-credit material is closed.",
                _url(settings.help_url),
                "Get help",
            )
        ]
    return []


def _not_registered(
    section: SectionInfo, settings: GateSettings, now: datetime, upcoming: Iterable[SessionWindow]
) -> Reason:
    """Explain the non-credit learner's way in: upgrade inside the window (R3, R4)."""
    intro = f"This material is for students taking {section.course_code} for credit."
    if section.session is None:
        return Reason(
            ReasonCode.NOT_REGISTERED,
            f"{intro} Ask the help desk when you can upgrade.",
            _url(settings.help_url),
            "Get help",
        )
    window = upgrade_window(section.session, now, upcoming)
    return Reason(
        ReasonCode.NOT_REGISTERED,
        f"{intro} {window.message}",
        _url(settings.help_url),
        "How to upgrade",
        window,
    )


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        # 29 February in a year without one: the limit falls on the 28th.
        return day.replace(year=day.year + years, day=28)


def _advisories(
    learner: LearnerState,
    section: SectionInfo,
    registration: RegistrationState | None,
    settings: GateSettings,
    now: datetime,
) -> list[Advisory]:
    """Advise on course load and program time (R14, R15); advice never closes content."""
    session = section.session
    if session is None:
        return []
    courses = {course for code, course in learner.other_registrations if code == session.code}
    # A learner who is not registered yet is weighing an upgrade: count this course as theirs.
    if registration is None or registration.status is RegistrationStatus.REGISTERED:
        courses.add(section.course_code)
    load = len(courses)
    first_start = learner.first_session_starts_on
    first_start = session.starts_on if first_start is None else min(first_start, session.starts_on)

    advice: list[Advisory] = []
    if first_start == session.starts_on and load > 1:
        advice.append(
            Advisory(
                AdvisoryCode.FIRST_SESSION_ONE_COURSE,
                f"New students are advised to take one course in their first session; you are "
                f"taking {load} in {session.code}.",
            )
        )
    limit = settings.max_courses_per_session
    if load > limit:
        advice.append(
            Advisory(
                AdvisoryCode.COURSE_LOAD_LIMIT,
                f"You are taking {load} for-credit courses in {session.code}; the program allows "
                f"at most {limit} per session.",
            )
        )
    years = settings.max_program_years
    deadline = _add_years(first_start, years)
    # "All courses within M years of the first": the course must finish by then, so the
    # session's last day is measured, not the day of this launch.
    if session.ends_on > deadline:
        advice.append(
            Advisory(
                AdvisoryCode.PROGRAM_TIME_LIMIT,
                f"{section.label} ends more than {years} years after your first session, which "
                f"started on {format_day(first_start)}; the program expects every course to be "
                f"completed by {format_day(deadline)}.",
            )
        )
    return advice


def credit_access(
    *,
    learner: LearnerState | None,
    section: SectionInfo | None,
    registration: RegistrationState | None,
    settings: GateSettings,
    now: datetime,
    upcoming_sessions: Iterable[SessionWindow] = (),
) -> Decision:
    """Decide whether restricted content opens, listing every unmet condition (R1, R2, R4, R8, R9,
    R14, R15).

    Restricted content opens only when the learner is known to the SIS, the link maps to a
    section, the registration is ``registered`` with tuition paid, there is no financial hold
    and onboarding is passed. ``upcoming_sessions`` (later sessions offering the same course)
    lets a learner who missed the window see the next one.
    """
    _require_aware(now, "now")
    reasons: list[Reason] = []
    linked = learner is not None and learner.student_sis_id is not None
    if not linked:
        reasons.append(
            Reason(
                ReasonCode.NOT_LINKED,
                "We could not match your course account to your student record, so we cannot "
                "check your for-credit registration. Contact the help desk.",
                _url(settings.help_url),
                "Get help",
            )
        )
    if section is None:
        reasons.append(
            Reason(
                ReasonCode.NO_SECTION,
                "This course is not linked to a for-credit section yet. Your instructor or the "
                "help desk can fix this.",
                _url(settings.help_url),
                "Get help",
            )
        )
    # Registration facts only mean something for a known learner in a known section; without
    # them "you are not registered" could be false.
    if linked and section is not None:
        if registration is None:
            reasons.append(_not_registered(section, settings, now, upcoming_sessions))
        else:
            reasons.extend(_registration_reasons(section, registration, settings))
    if learner is not None:
        if learner.hold_active:
            why = f" ({learner.hold_reason})" if learner.hold_reason else ""
            reasons.append(
                Reason(
                    ReasonCode.FINANCIAL_HOLD,
                    f"Your student account has a financial hold{why}. For-credit material stays "
                    "closed, and new registrations are refused, until the hold is released.",
                    _url(settings.payment_url) or _url(settings.help_url),
                    "Resolve the hold",
                )
            )
        if not learner.onboarding_passed:
            reasons.append(
                Reason(
                    ReasonCode.ONBOARDING_REQUIRED,
                    "Pass the onboarding course first.",
                    settings.onboarding_url or None,
                    "Go to onboarding",
                )
            )

    advisories: list[Advisory] = []
    if linked and learner is not None and section is not None:
        advisories = _advisories(learner, section, registration, settings, now)

    allowed = not reasons
    return Decision(
        allowed=allowed,
        reasons=tuple(reasons),
        advisories=tuple(advisories),
        first_access=(
            allowed and registration is not None and registration.first_restricted_access_at is None
        ),
    )
