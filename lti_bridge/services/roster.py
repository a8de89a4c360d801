"""The credit roster: a section's for-credit learners, each with what the gate decides for them.

Staff launches see it (CONTRACT §3). Each learner's status is the credit policy's own decision,
computed from the same facts the learner's launch would read, so the roster and the gate cannot
disagree; the load advisories (R14, R15) appear here as they do to the learner.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from lti_bridge.domain.model import LaunchContext
from lti_bridge.domain.policy import (
    AdvisoryCode,
    Decision,
    GateSettings,
    ReasonCode,
    RegistrationState,
    RegistrationStatus,
    SectionInfo,
)
from lti_bridge.services.gate import GateFacts, decide


@dataclass(frozen=True)
class RosterStudent:
    """A student registered in the section, as the database knows them."""

    student_sis_id: str
    #: From the launch platform's record of the learner; None before their first launch.
    name: str | None
    email: str | None
    facts: GateFacts


@dataclass(frozen=True)
class RosterEntry:
    student_sis_id: str
    name: str | None
    email: str | None
    registration: RegistrationState
    onboarding_passed: bool
    hold_active: bool
    hold_reason: str | None
    #: What the gate decides for this learner now: open, or every reason it is not.
    decision: Decision

    @property
    def first_opened_utc(self) -> datetime | None:
        """When the learner first opened for-credit material (R9), in UTC."""
        opened = self.registration.first_restricted_access_at
        return opened.astimezone(UTC) if opened is not None else None


@dataclass(frozen=True)
class Roster:
    #: The section the roster is of; None when the course maps to none.
    section_sis_id: str | None
    #: None when the SIS has not told the tool about the section yet.
    section: SectionInfo | None
    entries: tuple[RosterEntry, ...] = ()
    #: A section the link's custom parameter (or another platform's LIS claim) named that the
    #: catalog does not confirm for this platform: not shown, since whoever places a link can
    #: set its parameters.
    unconfirmed_section: str | None = None

    @property
    def counts(self) -> Counter[str]:
        """Learners per summary line: registered, with access, and per missing condition."""
        counts: Counter[str] = Counter()
        for entry in self.entries:
            if entry.registration.status is RegistrationStatus.REGISTERED:
                counts["registered"] += 1
            if entry.decision.allowed:
                counts["open"] += 1
            counts.update(code.value for code in entry.decision.reason_codes)
        return counts


class RosterRepository(Protocol):
    def section_for_context(self, context_id: str, issuer: str) -> str | None:
        """The SIS section the catalog maps the context of the platform ``issuer`` to."""
        ...

    def may_name_section(self, sis_id: str, issuer: str) -> bool:
        """Whether a launch of the platform ``issuer`` may name the section: the catalog binds
        it to that platform, to any platform, or lists no offering for it."""
        ...

    def section(self, sis_id: str) -> SectionInfo | None: ...

    def students(
        self, platform_id: int, issuer: str, section: SectionInfo, *, link_by_email: bool
    ) -> list[RosterStudent]:
        """Every student with a registration in the section, in any status, each matched to the
        learners of the platform ``platform_id`` (whose issuer is ``issuer``)."""
        ...


def roster_section(
    launch: LaunchContext, repository: RosterRepository
) -> tuple[str | None, str | None]:
    """Return the section a staff launch may see, and a section the link named but may not.

    Only what the platform asserts (the LIS ``course_section_sourcedid``), for a section the
    catalog lets this platform name, or what the catalog maps the platform's context to names
    the roster (CONTRACT §3). The custom ``sis_section`` does not: an instructor can set it on
    any link they place, and the roster shows other people's tuition and holds.
    """
    claimed = launch.course_section_sourcedid
    refused = None
    if claimed and not repository.may_name_section(claimed, launch.issuer):
        claimed, refused = None, claimed
    section_id = claimed or (
        repository.section_for_context(launch.context_id, launch.issuer)
        if launch.context_id
        else None
    )
    named = refused or launch.custom.get("sis_section") or None
    return section_id, (named if named and named != section_id else None)


def credit_roster(
    launch: LaunchContext,
    *,
    platform_id: int,
    repository: RosterRepository,
    settings: GateSettings,
    now: datetime,
    link_by_email: bool = False,
) -> Roster:
    """The roster of the section a staff launch is in, each learner with the gate's decision."""
    section_id, unconfirmed = roster_section(launch, repository)
    section = repository.section(section_id) if section_id else None
    if section is None:
        return Roster(section_id, None, unconfirmed_section=unconfirmed)
    entries = []
    students = repository.students(
        platform_id, launch.issuer, section, link_by_email=link_by_email
    )
    for student in students:
        registration = student.facts.registration
        if registration is None:
            continue
        learner = student.facts.learner
        entries.append(
            RosterEntry(
                student_sis_id=student.student_sis_id,
                name=student.name,
                email=student.email,
                registration=registration,
                onboarding_passed=learner.onboarding_passed,
                hold_active=learner.hold_active,
                hold_reason=learner.hold_reason,
                decision=decide(student.facts, settings=settings, now=now),
            )
        )
    entries.sort(
        key=lambda e: (
            e.registration.status is not RegistrationStatus.REGISTERED,
            e.name is None,
            (e.name or "").casefold(),
            e.student_sis_id,
        )
    )
    return Roster(section_id, section, tuple(entries), unconfirmed)


#: How the roster names each reason the gate gives, for staff rather than the learner.
REASON_LABELS = {
    ReasonCode.NOT_LINKED: "not matched to a student record",
    ReasonCode.NO_SECTION: "no section",
    ReasonCode.NOT_REGISTERED: "not registered",
    ReasonCode.REGISTRATION_INACTIVE: "registration not active",
    ReasonCode.TUITION_UNPAID: "tuition not received",
    ReasonCode.TUITION_FAILED: "tuition payment failed",
    ReasonCode.TUITION_REFUNDED: "tuition refunded",
    ReasonCode.FINANCIAL_HOLD: "financial hold",
    ReasonCode.ONBOARDING_REQUIRED: "onboarding not passed",
}

#: The load advisories (R14, R15) as the roster names them.
ADVISORY_LABELS = {
    AdvisoryCode.FIRST_SESSION_ONE_COURSE: "first session: one course advised",
    AdvisoryCode.COURSE_LOAD_LIMIT: "over the course limit for the session",
    AdvisoryCode.PROGRAM_TIME_LIMIT: "ends past the program's time limit",
}
