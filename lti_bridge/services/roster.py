"""The credit roster: a section's whole class, each learner with what the gate decides for them.

Staff launches see it (CONTRACT §3). Each learner's status is the credit policy's own decision,
computed from the same facts the learner's launch would read, so the roster and the gate cannot
disagree; the load advisories (R14, R15) appear here as they do to the learner.

The class is the SIS's registrations joined with the platform's membership of the for-credit
context (LTI Names and Role Provisioning Services): a member the SIS has not registered appears
("in the course, not registered for credit"), and so does a registration the platform has no
member for who never launched ("registered, never launched"), each with what to do.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from lti_bridge.domain.errors import LtiBridgeError, NotFoundError
from lti_bridge.domain.model import LaunchContext
from lti_bridge.domain.policy import (
    AdvisoryCode,
    Decision,
    GateSettings,
    ReasonCode,
    RegistrationState,
    RegistrationStatus,
    SectionInfo,
    TuitionStatus,
)
from lti_bridge.services.gate import decide
from lti_bridge.services.ports import UnitOfWork
from lti_bridge.services.roster_ports import (
    CourseMembership,
    LearnerHistory,
    Member,
    MembershipSource,
    RosterRepository,
    RosterStudent,
)


class RowStatus(StrEnum):
    """What a roster row says at a glance, in the order rows needing action come first."""

    NOT_REGISTERED = "not_registered"
    NEVER_LAUNCHED = "never_launched"
    BLOCKED = "blocked"
    OPEN = "open"
    INACTIVE = "inactive"


#: Each status: its word, its icon (never colour alone) and what the instructor can do.
STATUS_LABELS: dict[RowStatus, tuple[str, str, str]] = {
    RowStatus.NOT_REGISTERED: (
        "in the course, not registered for credit",
        "!",
        "Ask them to register for credit with the university, or to move to the non-credit "
        "course.",
    ),
    RowStatus.NEVER_LAUNCHED: (
        "registered, never launched",
        "?",
        "Check that the platform enrolled them in this course, and remind them to open it.",
    ),
    RowStatus.BLOCKED: (
        "registered, for-credit material closed",
        "✕",
        "Point them to what is missing below; the SIS opens it once done.",
    ),
    RowStatus.OPEN: ("open", "✓", ""),
    RowStatus.INACTIVE: (
        "registration not active",
        "–",
        "Nothing to do here: the SIS owns dropped, withdrawn and canceled registrations.",
    ),
}
_STATUS_ORDER = {status: n for n, status in enumerate(RowStatus)}


@dataclass(frozen=True)
class RosterEntry:
    """One row: a registration (with or without a platform member) or a member without one."""

    student_sis_id: str
    name: str | None
    email: str | None
    registration: RegistrationState | None
    onboarding_passed: bool
    hold_active: bool
    hold_reason: str | None
    #: What the gate decides for this learner now: open, or every reason it is not; None for a
    #: member without a registration.
    decision: Decision | None
    status: RowStatus = RowStatus.OPEN
    #: The platform member this row is, when the membership was read and matched.
    member: Member | None = None
    #: Whether the learner launched the tool from this platform.
    launched: bool = False
    #: How many SIS records of the section carry this row's email (more than 1: not theirs alone).
    email_records: int = 1

    @property
    def first_opened_utc(self) -> datetime | None:
        """When the learner first opened for-credit material (R9), in UTC."""
        if self.registration is None:
            return None
        opened = self.registration.first_restricted_access_at
        return opened.astimezone(UTC) if opened is not None else None

    @property
    def key(self) -> str:
        """The row's identity on the page: the SIS id, else the platform user id."""
        if self.student_sis_id:
            return self.student_sis_id
        return self.member.user_id if self.member is not None else ""

    @property
    def reason_codes(self) -> tuple[ReasonCode, ...]:
        return self.decision.reason_codes if self.decision is not None else ()

    @property
    def allowed(self) -> bool:
        return self.decision is not None and self.decision.allowed


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
    #: Whether the platform's membership was read (members without registrations are shown).
    membership_read: bool = False
    #: Why the membership could not be read, when it could not.
    membership_error: str | None = None

    @property
    def counts(self) -> Counter[str]:
        """Rows per summary figure: each status; of the registered, how many paid, onboarded,
        and are blocked by each missing condition (``blocked:<reason>``)."""
        counts: Counter[str] = Counter()
        for entry in self.entries:
            counts[entry.status.value] += 1
            registration = entry.registration
            if registration is None:
                continue
            if registration.status is not RegistrationStatus.REGISTERED:
                continue
            counts["registered"] += 1
            if registration.tuition_status is TuitionStatus.PAID:
                counts["paid"] += 1
            if entry.onboarding_passed:
                counts["onboarded"] += 1
            if entry.allowed:
                counts["open_access"] += 1
            # What blocks registered learners, by condition (keys of their own: a row status
            # and a reason code may share a word).
            counts.update("blocked:" + code.value for code in entry.reason_codes)
        return counts


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
    uow: UnitOfWork,
    settings: GateSettings,
    now: datetime,
    link_by_email: bool = False,
    membership: CourseMembership | None = None,
) -> Roster:
    """The roster of the section a staff launch is in, each learner with the gate's decision,
    joined with the membership of the launch's context."""
    with uow:
        section_id, unconfirmed = roster_section(launch, uow.roster)
        section = uow.roster.section(section_id) if section_id else None
        if section is None:
            return Roster(section_id, None, unconfirmed_section=unconfirmed)
        students = uow.roster.students(
            platform_id, launch.issuer, section, link_by_email=link_by_email
        )
    source = MembershipSource(
        platform_id,
        launch.issuer,
        launch.client_id,
        launch.context_id,
        launch.nrps_memberships_url,
    )
    roster = _build(section, students, source, settings, now, link_by_email, membership)
    return replace(roster, unconfirmed_section=unconfirmed)


def section_roster(
    section_sis_id: str,
    *,
    uow: UnitOfWork,
    settings: GateSettings,
    now: datetime,
    link_by_email: bool = False,
    membership: CourseMembership | None = None,
) -> Roster | None:
    """The roster of a section by its SIS id (the API), matched to the platform that launched
    its for-credit context last; None for a section the tool does not know."""
    with uow:
        section = uow.roster.section(section_sis_id)
        if section is None:
            return None
        source = uow.roster.membership_source(section_sis_id) or MembershipSource(
            0, "", "", None, None
        )
        students = uow.roster.students(
            source.platform_id, source.issuer, section, link_by_email=link_by_email
        )
    return _build(section, students, source, settings, now, link_by_email, membership)


def _build(
    section: SectionInfo,
    students: Sequence[RosterStudent],
    source: MembershipSource,
    settings: GateSettings,
    now: datetime,
    link_by_email: bool,
    membership: CourseMembership | None,
) -> Roster:
    # Read after the transaction ended: no connection is held while the platform answers.
    members: tuple[Member, ...] | None = None
    error = None
    if membership is not None and source.memberships_url:
        try:
            members = membership.members(source)
        except LtiBridgeError as exc:
            # The roster stays useful without the platform's side; the reason is shown.
            error = f"{exc.public_message} ({exc})"
    entries = join_membership(
        students, members, settings=settings, now=now, link_by_email=link_by_email
    )
    return Roster(
        section.sis_id,
        section,
        tuple(entries),
        membership_read=members is not None,
        membership_error=error,
    )


def _email_key(email: str | None) -> str:
    return (email or "").strip().casefold()


def join_membership(
    students: Sequence[RosterStudent],
    members: Iterable[Member] | None,
    *,
    settings: GateSettings,
    now: datetime,
    link_by_email: bool = False,
) -> list[RosterEntry]:
    """Join the SIS's registrations with the platform's members (None: not read), rows that
    need action first.

    A member is a registration's learner when the platform's LIS person id is the SIS id, when
    the member's user id is one the student launched with or the SIS names for this platform,
    or (with linking by email) when their email is the student's and no other SIS record of
    the section shares it.
    """
    emails = Counter(_email_key(s.email) for s in students if s.email)
    by_sourcedid: dict[str, Member] = {}
    by_user: dict[str, Member] = {}
    by_email: dict[str, Member] = {}
    active = [m for m in members or () if m.active]
    for person in active:
        by_user.setdefault(person.user_id, person)
        if person.person_sourcedid:
            by_sourcedid.setdefault(person.person_sourcedid, person)
        if person.email:
            by_email.setdefault(_email_key(person.email), person)
    matched: set[str] = set()
    entries: list[RosterEntry] = []
    for student in students:
        registration = student.facts.registration
        if registration is None:
            continue
        shared = emails[_email_key(student.email)] if student.email else 1
        member: Member | None = by_sourcedid.get(student.student_sis_id)
        for user_id in (*student.subs, student.platform_user_id):
            if member is None and user_id:
                member = by_user.get(user_id)
        if member is None and link_by_email and student.email and shared == 1:
            member = by_email.get(_email_key(student.email))
        if member is not None:
            matched.add(member.user_id)
        name = student.name
        if name is None and shared == 1:
            name = student.name_by_email
        if name is None and member is not None:
            name = member.name
        learner = student.facts.learner
        decision = decide(student.facts, settings=settings, now=now)
        launched = bool(student.subs)
        if registration.status is not RegistrationStatus.REGISTERED:
            status = RowStatus.INACTIVE
        elif not launched and member is None:
            status = RowStatus.NEVER_LAUNCHED
        elif decision.allowed:
            status = RowStatus.OPEN
        else:
            status = RowStatus.BLOCKED
        entries.append(
            RosterEntry(
                student_sis_id=student.student_sis_id,
                name=name,
                email=student.email,
                registration=registration,
                onboarding_passed=learner.onboarding_passed,
                hold_active=learner.hold_active,
                hold_reason=learner.hold_reason,
                decision=decision,
                status=status,
                member=member,
                launched=launched,
                email_records=shared,
            )
        )
    for person in active:
        if person.user_id in matched or not person.is_learner:
            continue
        matched.add(person.user_id)
        entries.append(
            RosterEntry(
                student_sis_id=person.person_sourcedid or "",
                name=person.name,
                email=person.email,
                registration=None,
                onboarding_passed=False,
                hold_active=False,
                hold_reason=None,
                decision=None,
                status=RowStatus.NOT_REGISTERED,
                member=person,
            )
        )
    entries.sort(key=_action_order)
    return entries


def _action_order(entry: RosterEntry) -> tuple[int, bool, str, str]:
    return (
        _STATUS_ORDER[entry.status],
        entry.name is None,
        (entry.name or "").casefold(),
        entry.key,
    )


# --- a learner's history (the roster's detail view) ---------------------------------------------


def learner_history(
    section_sis_id: str, student_sis_id: str, *, uow: UnitOfWork
) -> LearnerHistory:
    """A registered learner's history in the section: SIS events applied, first access, grade
    submissions and the instructor's actions. NotFoundError for anyone not registered in it:
    the roster's staff see their own section's learners only."""
    with uow:
        found = uow.roster.history(section_sis_id, student_sis_id)
    if found is None:
        raise NotFoundError(
            f"no registration of {student_sis_id} in {section_sis_id}",
            public_message="This learner has no registration in this section.",
        )
    return found


# --- finding rows: filter, search, sort (query parameters of the page, the CSV and the API) -----

#: The columns rows sort by, each a key function.
SORT_KEYS = ("action", "name", "sis_id", "email", "status", "registration", "tuition",
             "onboarding", "hold", "first_opened")


def _sort_key(column: str) -> Callable[[RosterEntry], Any]:
    def text(value: str | None) -> tuple[bool, str]:
        return (not value, (value or "").casefold())

    keys: dict[str, Callable[[RosterEntry], Any]] = {
        "name": lambda e: (text(e.name), e.key),
        "sis_id": lambda e: (text(e.student_sis_id), e.key),
        "email": lambda e: (text(e.email), e.key),
        "status": lambda e: (e.status.value, e.key),
        "registration": lambda e: (
            e.registration.status.value if e.registration else "~", e.key
        ),
        "tuition": lambda e: (e.registration.tuition_status.value if e.registration else "~",
                              e.key),
        "onboarding": lambda e: (e.onboarding_passed, e.key),
        "hold": lambda e: (e.hold_active, e.key),
        "first_opened": lambda e: (
            e.first_opened_utc is None,
            e.first_opened_utc.isoformat() if e.first_opened_utc else "",
            e.key,
        ),
    }
    return keys.get(column, _action_order)


@dataclass(frozen=True)
class RosterQuery:
    """What the instructor asked to see: a status or missing condition, a search, an order."""

    status: str = ""
    q: str = ""
    sort: str = "action"
    descending: bool = False

    @classmethod
    def parse(cls, args: dict[str, str]) -> RosterQuery:
        """Read the page's query parameters; unknown values fall back to the defaults."""
        status = (args.get("status") or "").strip()
        if status not in FILTERS:
            status = ""
        sort = (args.get("sort") or "action").strip()
        if sort not in SORT_KEYS:
            sort = "action"
        return cls(
            status=status,
            q=(args.get("q") or "").strip()[:200],
            sort=sort,
            descending=(args.get("dir") or "").strip() == "desc",
        )

    def params(self, **changes: str) -> dict[str, str]:
        """The query as URL parameters (with ``changes``), defaults left out."""
        values = {
            "status": self.status,
            "q": self.q,
            "sort": self.sort if self.sort != "action" else "",
            "dir": "desc" if self.descending else "",
        } | changes
        return {k: v for k, v in values.items() if v}


#: What ``status=`` accepts: a row status, or a condition the gate names as missing.
FILTERS: dict[str, str] = {
    **{status.value: STATUS_LABELS[status][0] for status in RowStatus},
}


def find_rows(roster: Roster, query: RosterQuery) -> list[RosterEntry]:
    """The roster's rows the query selects, in the order it asks for."""
    rows: Iterable[RosterEntry] = roster.entries
    if query.status:
        wanted = query.status
        rows = (
            e for e in rows
            if e.status.value == wanted or any(c.value == wanted for c in e.reason_codes)
        )
    if query.q:
        needle = query.q.casefold()
        rows = (
            e for e in rows
            if needle in (e.name or "").casefold()
            or needle in e.student_sis_id.casefold()
            or needle in (e.email or "").casefold()
            or (e.member is not None and needle == e.member.user_id.casefold())
        )
    found = list(rows)
    if query.sort != "action" or query.descending:
        found.sort(key=_sort_key(query.sort), reverse=query.descending)
    return found


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
FILTERS.update({code.value: label for code, label in REASON_LABELS.items()})

#: The load advisories (R14, R15) as the roster names them.
ADVISORY_LABELS = {
    AdvisoryCode.FIRST_SESSION_ONE_COURSE: "first session: one course advised",
    AdvisoryCode.COURSE_LOAD_LIMIT: "over the course limit for the session",
    AdvisoryCode.PROGRAM_TIME_LIMIT: "ends past the program's time limit",
}
