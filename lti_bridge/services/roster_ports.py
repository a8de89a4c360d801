"""The ports the roster reads through (``adapters/db/roster_repository.py``,
``adapters/platform/nrps.py``), and the values they return."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from lti_bridge.domain.policy import RegistrationState, SectionInfo
from lti_bridge.domain.roles import is_staff, parse_role
from lti_bridge.services.gate_ports import GateFacts


@dataclass(frozen=True)
class RosterStudent:
    """A student registered in the section, as the database knows them."""

    student_sis_id: str
    #: From the launch platform's record of the learner; None before their first launch.
    name: str | None
    email: str | None
    facts: GateFacts
    #: The launch platform's user ids (``sub``) the student is known by: they launched.
    subs: tuple[str, ...] = ()
    #: The SIS's platform user id, when it is an identity on the launch platform.
    platform_user_id: str | None = None
    #: A name known only through a learner matched by email (dropped when the email is shared).
    name_by_email: str | None = None


@dataclass(frozen=True)
class Member:
    """One person of the platform's course membership (NRPS ``members``)."""

    user_id: str
    roles: tuple[str, ...] = ()
    name: str | None = None
    email: str | None = None
    person_sourcedid: str | None = None
    active: bool = True

    @property
    def is_learner(self) -> bool:
        """A context Learner who is not also staff there."""
        if is_staff(self.roles):
            return False
        parsed = (parse_role(role) for role in self.roles)
        return any(r is not None and r.name == "Learner" for r in parsed)


@dataclass(frozen=True)
class MembershipSource:
    """Where a for-credit context's membership is read: the platform and its NRPS URL."""

    platform_id: int
    issuer: str
    client_id: str
    context_id: str | None
    memberships_url: str | None


class CourseMembership(Protocol):
    def members(self, source: MembershipSource) -> tuple[Member, ...]:
        """The context's members (cached briefly); an ``LtiBridgeError`` when unreadable."""
        ...


@dataclass(frozen=True)
class SisEventRecord:
    """One SIS event the tool applied (or ignored as older) for the student."""

    at: datetime
    type: str
    sequence: int | None
    outcome: str


@dataclass(frozen=True)
class SubmissionRecord:
    """One released version of the learner's final grade and where its delivery stands."""

    registration_sis_id: str
    version: int
    letter: str
    percent: str | None
    reason: str | None
    released_by: str
    released_at: datetime
    #: The outbox's state (queued, sent, accepted, rejected, dead); None if not queued.
    state: str | None
    last_error: str | None
    attempts: int

    @property
    def may_send_again(self) -> bool:
        """A rejected or dead submission: the instructor can have it sent again."""
        return self.state in ("rejected", "dead")


@dataclass(frozen=True)
class ActionRecord:
    """An instructor's action on the learner's grade: who, when, what, why."""

    at: datetime
    actor: str
    action: str
    letter: str | None
    reason: str | None


@dataclass(frozen=True)
class LearnerHistory:
    student_sis_id: str
    registrations: tuple[RegistrationState, ...]
    events: tuple[SisEventRecord, ...] = ()
    submissions: tuple[SubmissionRecord, ...] = ()
    actions: tuple[ActionRecord, ...] = ()

    @property
    def first_opened_utc(self) -> datetime | None:
        """When the learner first opened for-credit material of the section (R9)."""
        opened = [
            r.first_restricted_access_at
            for r in self.registrations
            if r.first_restricted_access_at is not None
        ]
        return min(opened).astimezone(UTC) if opened else None


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

    def membership_source(self, section_sis_id: str) -> MembershipSource | None:
        """The platform and for-credit context most recently launched for the section, with
        the NRPS URL its launches carried; None when no staff or learner launched it yet."""
        ...

    def history(self, section_sis_id: str, student_sis_id: str) -> LearnerHistory | None:
        """The student's history in the section; None when they have no registration in it."""
        ...
