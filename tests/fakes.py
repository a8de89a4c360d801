"""One in-memory unit of work for the use cases' unit tests (``services/ports.py: UnitOfWork``).

Its transaction behaves like the SQL one: what a ``with`` wrote is kept only if ``commit()`` ran
before the block was left (each repository's state is copied on enter and put back on a leaving
without commit), a commit ends the transaction and what follows it in the same ``with`` belongs
to a new one. It counts commits, records whether each asked for durability, and says whether a
transaction is open (a use case must not call out while one is).

The repositories keep what the SQL ones write, with the same rules where the use cases rely on
them (``tests/contract/test_repository_contracts.py`` runs both against the same assertions);
what the SQL ones compute by joining many tables (a launch's gate facts, a roster, a grading
setup, carry-over candidates) is seeded by the test instead.
"""

from __future__ import annotations

import builtins
import copy
import json
import uuid
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, ClassVar, Self

from lti_bridge.domain.carryover import PlannedItem, ReportStatus
from lti_bridge.domain.catalog import CatalogSection, OnboardingCourse
from lti_bridge.domain.errors import (
    ConcurrentWriteError,
    NotFoundError,
    OutboxConflictError,
    ValidationError,
)
from lti_bridge.domain.model import LaunchContext, PlatformRegistration
from lti_bridge.domain.outbox import Claim, OutboxEntry, OutboxMessage, OutboxState
from lti_bridge.domain.policy import LearnerState, SectionInfo, SessionWindow
from lti_bridge.domain.sis import (
    Delivery,
    DeliveryOutcome,
    RegistrationSnapshot,
    SessionInfo,
    SisSection,
    StudentRef,
    TuitionSnapshot,
)
from lti_bridge.services.api_tokens_ports import ApiToken
from lti_bridge.services.carryover_ports import Candidate, PlanSetup, Report
from lti_bridge.services.gate_ports import GateFacts
from lti_bridge.services.grades_ports import (
    Adjustment,
    AuditRecord,
    GradedStudent,
    GradingSetup,
    Submission,
)
from lti_bridge.services.ports import UnitOfWork
from lti_bridge.services.roster_ports import LearnerHistory, MembershipSource, RosterStudent

# --- platforms and launches ------------------------------------------------------------------


@dataclass
class FakeLtiRepository:
    platforms: dict[int, PlatformRegistration] = field(default_factory=dict)
    #: (platform id, deployment id), in the order they were added.
    deployments: list[tuple[int, str]] = field(default_factory=list)
    #: (platform id, sub) -> learner id.
    learners: dict[tuple[int, str], int] = field(default_factory=dict)
    launches: list[tuple[int, LaunchContext]] = field(default_factory=list)
    #: Launch bookkeeping is written when made, not at commit (``services/ports.py``).
    written_at_once: ClassVar[tuple[str, ...]] = ("learners", "launches")

    def _find(self, issuer: str, client_id: str) -> int | None:
        wanted = (issuer, client_id)
        found = (i for i, p in self.platforms.items() if (p.issuer, p.client_id) == wanted)
        return next(found, None)

    def save_platform(self, registration: PlatformRegistration, now: datetime) -> int:
        found = self._find(registration.issuer, registration.client_id)
        platform_id = found if found is not None else len(self.platforms) + 1
        self.platforms[platform_id] = replace(registration, id=platform_id, deployment_ids=())
        return platform_id

    def add_platform(self, registration: PlatformRegistration, now: datetime) -> int | None:
        if self._find(registration.issuer, registration.client_id) is not None:
            return None
        return self.save_platform(registration, now)

    def add_deployment(self, platform_id: int, deployment_id: str, now: datetime) -> bool:
        if (platform_id, deployment_id) in self.deployments:
            return False
        self.deployments.append((platform_id, deployment_id))
        return True

    def list_platforms(self) -> list[PlatformRegistration]:
        return [
            replace(p, deployment_ids=tuple(d for i, d in self.deployments if i == platform_id))
            for platform_id, p in sorted(self.platforms.items())
        ]

    def record_launch(self, platform_id: int, launch: LaunchContext, now: datetime) -> int:
        self.launches.append((platform_id, launch))
        key = (platform_id, launch.user_sub)
        return self.learners.setdefault(key, len(self.learners) + 1)


# --- the credit gate -------------------------------------------------------------------------


@dataclass
class FakeGateRepository:
    #: The facts a launch by each user (``sub``) reads; anyone else is matched to no student.
    facts_by_sub: dict[str, GateFacts] = field(default_factory=dict)
    #: Registration -> when its restricted content was first opened (R9).
    first_access: dict[str, datetime] = field(default_factory=dict)

    def facts(self, platform_id: int, launch: LaunchContext, *, link_by_email: bool) -> GateFacts:
        unknown = GateFacts(LearnerState(None), None, None)
        return self.facts_by_sub.get(launch.user_sub, unknown)

    def record_first_access(self, registration_sis_id: str, now: datetime) -> None:
        self.first_access.setdefault(registration_sis_id, now)


# --- the roster ------------------------------------------------------------------------------


@dataclass
class FakeRosterRepository:
    sections: dict[str, SectionInfo] = field(default_factory=dict)
    #: (context id, issuer) -> the section the catalog maps it to.
    contexts: dict[tuple[str, str], str] = field(default_factory=dict)
    #: Section -> the issuer its offering is bound to (None: any platform).
    offerings: dict[str, str | None] = field(default_factory=dict)
    students_by_section: dict[str, list[RosterStudent]] = field(default_factory=dict)
    sources: dict[str, MembershipSource] = field(default_factory=dict)
    histories: dict[tuple[str, str], LearnerHistory] = field(default_factory=dict)

    def section_for_context(self, context_id: str, issuer: str) -> str | None:
        return self.contexts.get((context_id, issuer))

    def may_name_section(self, sis_id: str, issuer: str) -> bool:
        return sis_id not in self.offerings or self.offerings[sis_id] in (None, issuer)

    def section(self, sis_id: str) -> SectionInfo | None:
        return self.sections.get(sis_id)

    def students(
        self, platform_id: int, issuer: str, section: SectionInfo, *, link_by_email: bool
    ) -> list[RosterStudent]:
        return list(self.students_by_section.get(section.sis_id, []))

    def membership_source(self, section_sis_id: str) -> MembershipSource | None:
        return self.sources.get(section_sis_id)

    def history(self, section_sis_id: str, student_sis_id: str) -> LearnerHistory | None:
        return self.histories.get((section_sis_id, student_sis_id))


# --- SIS events ------------------------------------------------------------------------------


@dataclass
class FakeStudent:
    email: str | None = None
    hold_active: bool = False
    hold_reason: str | None = None
    hold_sequence: int | None = None
    onboarding_passed_at: datetime | None = None
    onboarding_sequence: int | None = None


@dataclass
class FakeSisRepository:
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    #: Registration -> (sequence, snapshot, tuition).
    registrations: dict[str, tuple[int, RegistrationSnapshot, TuitionSnapshot]] = field(
        default_factory=dict
    )
    students: dict[str, FakeStudent] = field(default_factory=dict)
    sections: dict[str, SisSection] = field(default_factory=dict)
    sessions: dict[str, SessionInfo] = field(default_factory=dict)

    def add_delivery(self, delivery: Delivery) -> bool:
        if delivery.webhook_id in self.deliveries:
            return False
        self.deliveries[delivery.webhook_id] = replace(delivery, id=len(self.deliveries) + 1)
        return True

    def set_delivery_outcome(
        self, webhook_id: str, outcome: DeliveryOutcome, error: str | None
    ) -> None:
        if webhook_id in self.deliveries:
            self.deliveries[webhook_id] = replace(
                self.deliveries[webhook_id], outcome=outcome, error=error
            )

    def get_delivery(self, webhook_id: str) -> Delivery | None:
        return self.deliveries.get(webhook_id)

    def list_deliveries(self, *, limit: int, type: str | None = None) -> list[Delivery]:
        newest = sorted(self.deliveries.values(), key=lambda d: d.id or 0, reverse=True)
        return [d for d in newest if not type or d.type == type][:limit]

    def save_registration(
        self,
        student: StudentRef,
        registration: RegistrationSnapshot,
        tuition: TuitionSnapshot,
        sequence: int,
        now: datetime,
    ) -> bool:
        stored = self.registrations.get(registration.sis_id)
        if stored is not None and stored[0] >= sequence:
            return False
        self.registrations[registration.sis_id] = (sequence, registration, tuition)
        return True

    def _student(self, student: StudentRef) -> FakeStudent:
        row = self.students.setdefault(student.sis_id, FakeStudent())
        row.email = student.email or row.email
        return row

    def save_student(self, student: StudentRef, now: datetime) -> None:
        self._student(student)

    def save_offering(self, section: SisSection, session: SessionInfo) -> None:
        self.sections[section.sis_id] = section
        self.sessions[session.code] = session

    def save_hold(
        self, student: StudentRef, active: bool, reason: str | None, sequence: int, now: datetime
    ) -> bool:
        row = self._student(student)
        if row.hold_sequence is not None and row.hold_sequence >= sequence:
            return False
        row.hold_active, row.hold_reason, row.hold_sequence = active, reason, sequence
        return True

    def save_onboarding_passed(
        self, student: StudentRef, passed_at: datetime, sequence: int, now: datetime
    ) -> bool:
        row = self._student(student)
        if row.onboarding_sequence is not None and row.onboarding_sequence >= sequence:
            return False
        # DOMAIN R2: passed stays passed, at the earliest completion heard of.
        earlier = row.onboarding_passed_at
        row.onboarding_passed_at = passed_at if earlier is None else min(earlier, passed_at)
        row.onboarding_sequence = sequence
        return True


# --- onboarding ------------------------------------------------------------------------------


@dataclass
class FakeOnboardingRepository:
    #: The platforms' learners are the launches' (``FakeLtiRepository.learners``).
    _lti: FakeLtiRepository
    course: OnboardingCourse | None = None
    passes: dict[tuple[int, str], datetime] = field(default_factory=dict)

    def onboarding_course(self) -> OnboardingCourse | None:
        return self.course

    def passed_at(self, platform_id: int, learner_sub: str) -> datetime | None:
        return self.passes.get((platform_id, learner_sub))

    def record_pass(
        self, platform_id: int, learner_sub: str, now: datetime
    ) -> tuple[datetime, bool] | None:
        key = (platform_id, learner_sub)
        if key not in self._lti.learners:
            return None
        if key in self.passes:
            return self.passes[key], False
        self.passes[key] = now
        return now, True


# --- the catalog -----------------------------------------------------------------------------


@dataclass
class FakeCatalogRepository:
    sessions: dict[str, SessionWindow] = field(default_factory=dict)
    sections: dict[str, tuple[str, int, str]] = field(default_factory=dict)
    offerings: dict[str, CatalogSection] = field(default_factory=dict)
    settings: dict[str, object] | None = None

    def context_owners(
        self, contexts: Collection[tuple[str, str | None]]
    ) -> dict[tuple[str, str | None], str]:
        held = {(s.for_credit_context_id, s.issuer): s.sis_id for s in self.offerings.values()}
        return {key: held[key] for key in contexts if key in held}

    def save_session(self, session: SessionWindow) -> bool:
        changed = self.sessions.get(session.code) != session
        self.sessions[session.code] = session
        return changed

    def save_section(self, section: CatalogSection) -> bool:
        row = (section.course_code, section.credit_hours, section.session_code)
        changed = self.sections.get(section.sis_id) != row
        self.sections[section.sis_id] = row
        return changed

    def save_offerings(self, sections: Sequence[CatalogSection], now: datetime) -> int:
        changed = 0
        for section in sections:
            changed += self.offerings.get(section.sis_id) != section
            self.offerings[section.sis_id] = section
        return changed

    def save_settings(self, document: Mapping[str, object], now: datetime) -> None:
        self.settings = dict(document)


# --- the outbox ------------------------------------------------------------------------------


def _canonical(payload: Mapping[str, Any], key: str) -> str:
    try:
        return json.dumps(payload, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"outbox payload for {key!r} is not JSON: {exc}") from None


@dataclass
class FakeOutboxRepository:
    entries: dict[int, OutboxEntry] = field(default_factory=dict)
    #: Entry id -> the token of the claim that holds it.
    tokens: dict[int, str] = field(default_factory=dict)

    # --- writing ---

    def enqueue(self, message: OutboxMessage, now: datetime) -> int:
        body = json.loads(_canonical(message.payload, message.key))
        held = self.by_key(message.key)
        if held is not None:
            if held.kind != message.kind or _canonical(held.payload, held.key) != _canonical(
                body, message.key
            ):
                raise OutboxConflictError(
                    f"outbox key {message.key!r} already holds a different {held.kind} message "
                    f"(id {held.id}); a changed body needs a new key"
                )
            return held.id
        entry_id = max(self.entries, default=0) + 1
        self.entries[entry_id] = OutboxEntry(
            id=entry_id,
            message=replace(message, payload=body),
            state=OutboxState.QUEUED,
            attempts=0,
            next_attempt_at=now,
            lease_until=None,
            last_status=None,
            last_error=None,
            created_at=now,
            updated_at=now,
            finished_at=None,
        )
        return entry_id

    def enqueue_many(self, messages: Sequence[OutboxMessage], now: datetime) -> list[int]:
        keys = [m.key for m in messages]
        if len(set(keys)) != len(keys):
            raise ValidationError("one batch names an outbox key twice")
        return [self.enqueue(m, now) for m in messages]

    @staticmethod
    def _claimable(entry: OutboxEntry, now: datetime) -> bool:
        if entry.state is OutboxState.QUEUED:
            return entry.next_attempt_at <= now
        return (
            entry.state is OutboxState.SENT
            and entry.lease_until is not None
            and entry.lease_until <= now
        )

    def claim(
        self, kinds: Collection[str], now: datetime, *, limit: int, lease_seconds: float
    ) -> list[Claim]:
        token = uuid.uuid4().hex
        due = sorted(
            (e for e in self.entries.values() if e.kind in kinds and self._claimable(e, now)),
            key=lambda e: (e.next_attempt_at, e.id),
        )[:limit]
        claims = []
        for entry in due:
            taken = replace(
                entry,
                state=OutboxState.SENT,
                attempts=entry.attempts + 1,
                lease_until=now + timedelta(seconds=lease_seconds),
                updated_at=now,
            )
            self.entries[entry.id], self.tokens[entry.id] = taken, token
            claims.append(Claim(taken, token))
        return sorted(claims, key=lambda c: c.entry.id)

    def _current(self, claim: Claim) -> OutboxEntry | None:
        entry = self.entries.get(claim.entry.id)
        if entry is None or entry.state is not OutboxState.SENT:
            return None
        return entry if self.tokens.get(entry.id) == claim.token else None

    def _set(self, entry: OutboxEntry, **changes: Any) -> None:
        self.tokens.pop(entry.id, None)
        self.entries[entry.id] = replace(entry, lease_until=None, **changes)

    def finish(
        self,
        claim: Claim,
        state: OutboxState,
        now: datetime,
        *,
        status: int | None,
        error: str | None,
    ) -> bool:
        if state not in (OutboxState.ACCEPTED, OutboxState.REJECTED, OutboxState.DEAD):
            raise ValueError(f"{state} is not a final state")
        entry = self._current(claim)
        if entry is None:
            return False
        self._set(
            entry,
            state=state,
            last_status=status,
            last_error=error,
            updated_at=now,
            finished_at=now,
        )
        return True

    def accept_many(self, claims: Sequence[Claim], now: datetime, *, status: int) -> set[int]:
        return {
            claim.entry.id
            for claim in claims
            if self.finish(claim, OutboxState.ACCEPTED, now, status=status, error=None)
        }

    def reschedule(
        self,
        claim: Claim,
        next_attempt_at: datetime,
        now: datetime,
        *,
        status: int | None,
        error: str | None,
    ) -> bool:
        entry = self._current(claim)
        if entry is None:
            return False
        self._set(
            entry,
            state=OutboxState.QUEUED,
            next_attempt_at=next_attempt_at,
            last_status=status,
            last_error=error,
            updated_at=now,
        )
        return True

    def release(self, claim: Claim, now: datetime) -> bool:
        entry = self._current(claim)
        if entry is None:
            return False
        self._set(
            entry,
            state=OutboxState.QUEUED,
            attempts=entry.attempts - 1,
            next_attempt_at=now,
            updated_at=now,
        )
        return True

    def retry(self, entry_id: int, now: datetime) -> OutboxEntry:
        entry = self.get(entry_id)
        if entry is None:
            raise NotFoundError(f"no outbox message {entry_id}")
        if entry.state is OutboxState.ACCEPTED:
            raise ValidationError(
                f"outbox message {entry_id} was accepted; a changed grade is a new submission "
                "with a reason (DOMAIN R13), not a retry"
            )
        if (
            entry.state is OutboxState.SENT
            and entry.lease_until is not None
            and entry.lease_until > now
        ):
            raise ValidationError(
                f"outbox message {entry_id} is in flight until {entry.lease_until:%H:%M:%SZ}; "
                "retry it after that if it is still not delivered"
            )
        self._set(
            entry,
            state=OutboxState.QUEUED,
            attempts=0,
            next_attempt_at=now,
            finished_at=None,
            updated_at=now,
        )
        return self.entries[entry_id]

    # --- reading ---

    def get(self, entry_id: int) -> OutboxEntry | None:
        return self.entries.get(entry_id)

    def by_key(self, key: str) -> OutboxEntry | None:
        return next((e for e in self.entries.values() if e.key == key), None)

    def by_section(self, section_sis_id: str) -> list[OutboxEntry]:
        held = [e for _, e in sorted(self.entries.items())]
        return [e for e in held if e.message.section_sis_id == section_sis_id]

    def list(
        self, *, state: OutboxState | None = None, limit: int = 100
    ) -> builtins.list[OutboxEntry]:
        newest = [e for _, e in sorted(self.entries.items(), reverse=True)]
        return [e for e in newest if state is None or e.state is state][:limit]

    def counts(self) -> dict[OutboxState, int]:
        found = dict.fromkeys(OutboxState, 0)
        for entry in self.entries.values():
            found[entry.state] += 1
        return found

    def depth(self, now: datetime) -> dict[OutboxState, tuple[int, float | None]]:
        found: dict[OutboxState, tuple[int, float | None]] = dict.fromkeys(OutboxState, (0, None))
        for state in OutboxState:
            held = [e for e in self.entries.values() if e.state is state]
            if held:
                oldest = min(e.created_at for e in held)
                found[state] = (len(held), max(0.0, (now - oldest).total_seconds()))
        return found

    def next_due(self, kinds: Collection[str]) -> datetime | None:
        times = [
            e.next_attempt_at if e.state is OutboxState.QUEUED else e.lease_until
            for e in self.entries.values()
            if e.kind in kinds and e.state in (OutboxState.QUEUED, OutboxState.SENT)
        ]
        return min((t for t in times if t is not None), default=None)

    # --- for tests ---

    def messages(self) -> builtins.list[OutboxMessage]:
        """Every message queued, oldest first."""
        return [e.message for _, e in sorted(self.entries.items())]


# --- final grades ----------------------------------------------------------------------------


@dataclass
class FakeGradesRepository:
    setups: dict[str, GradingSetup] = field(default_factory=dict)
    students_by_section: dict[str, list[GradedStudent]] = field(default_factory=dict)
    #: Section -> registration -> the instructor's decisions.
    saved_adjustments: dict[str, dict[str, Adjustment]] = field(default_factory=dict)
    #: (section, submission), in the order they were added.
    stored: list[tuple[str, Submission]] = field(default_factory=list)
    #: (section, record), in the order they were written.
    audited: list[tuple[str, AuditRecord]] = field(default_factory=list)

    def setup(self, section_sis_id: str, platform_id: int | None = None) -> GradingSetup | None:
        return self.setups.get(section_sis_id)

    def students(
        self, section_sis_id: str, platform_id: int | None, *, link_by_email: bool = False
    ) -> list[GradedStudent]:
        return list(self.students_by_section.get(section_sis_id, []))

    def adjustments(self, section_sis_id: str) -> dict[str, Adjustment]:
        return dict(self.saved_adjustments.get(section_sis_id, {}))

    def submissions(self, section_sis_id: str) -> dict[str, list[Submission]]:
        found: dict[str, list[Submission]] = {}
        held = sorted(
            (s for section, s in self.stored if section == section_sis_id),
            key=lambda s: (s.registration_sis_id, s.version),
        )
        for submission in held:
            found.setdefault(submission.registration_sis_id, []).append(submission)
        return found

    def save_adjustment(self, section_sis_id: str, adjustment: Adjustment) -> None:
        for held in self.saved_adjustments.values():
            held.pop(adjustment.registration_sis_id, None)
        self.saved_adjustments.setdefault(section_sis_id, {})[
            adjustment.registration_sis_id
        ] = adjustment

    def add_submissions(self, section_sis_id: str, submissions: Sequence[Submission]) -> None:
        versions = {(s.registration_sis_id, s.version) for _, s in self.stored}
        sourced = {s.sourced_id for _, s in self.stored}
        for submission in submissions:
            key = (submission.registration_sis_id, submission.version)
            if key in versions or submission.sourced_id in sourced:
                # The unique (registration, version) of the SQL table, as the unit of work says it.
                raise ConcurrentWriteError(f"submission {key} exists")
            versions.add(key)
            sourced.add(submission.sourced_id)
        self.stored.extend((section_sis_id, s) for s in submissions)

    def audit(self, section_sis_id: str, record: AuditRecord) -> None:
        self.audited.append((section_sis_id, record))

    def history(self, section_sis_id: str) -> list[AuditRecord]:
        held = [(n, r) for n, (s, r) in enumerate(self.audited) if s == section_sis_id]
        return [r for _, r in sorted(held, key=lambda nr: (nr[1].at, nr[0]), reverse=True)]

    # --- for tests ---

    def actions(self) -> list[str]:
        """The audit trail's actions, oldest first."""
        return [record.action for _, record in self.audited]


# --- carry-over ------------------------------------------------------------------------------


@dataclass
class FakeCarryoverRepository:
    """Candidates, plan setups and reports are seeded; what the use cases write is logged."""

    #: Carry-over's score posts are the outbox's (``key_states``).
    _outbox: FakeOutboxRepository
    found: list[Candidate] = field(default_factory=list)
    #: (platform id, sub) -> the SIS student ids the learner is.
    learner_students: dict[tuple[int, str], list[str]] = field(default_factory=dict)
    plan: PlanSetup | None = None
    #: False: another relay recorded the plan first (``record_plan`` fenced out).
    fence: bool = True
    #: How many score posts a withdrawal finds still queued (then none).
    withdrawable: int = 0
    saved_reports: list[Report] = field(default_factory=list)
    #: (platform id, sub, context id) -> the learner's reports.
    saved_learner_reports: dict[tuple[int, str, str], list[Report]] = field(default_factory=dict)
    #: (student, status, generation) of each ``set_status``.
    status_changes: list[tuple[str, ReportStatus, int]] = field(default_factory=list)
    recorded: list[list[tuple[PlannedItem, str | None]]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    canceled: list[str] = field(default_factory=list)
    actions: list[tuple[str, str, str]] = field(default_factory=list)

    def record_action(self, candidate: Candidate, action: str, actor: str, now: datetime) -> None:
        self.actions.append((candidate.student_sis_id, action, actor))

    def candidates(self, student_sis_ids: Sequence[str]) -> list[Candidate]:
        return [c for c in self.found if c.student_sis_id in student_sis_ids]

    def section_candidates(self, section_sis_id: str) -> list[Candidate]:
        return [c for c in self.found if c.section_sis_id == section_sis_id]

    def students_of_learner(self, platform_id: int, learner_sub: str) -> list[str]:
        return list(self.learner_students.get((platform_id, learner_sub), []))

    def set_status(
        self,
        candidate: Candidate,
        status: ReportStatus,
        generation: int,
        now: datetime,
        error: str | None = None,
    ) -> None:
        self.status_changes.append((candidate.student_sis_id, status, generation))

    def withdraw_posts(self, candidate: Candidate, reason: str, now: datetime) -> int:
        withdrawn, self.withdrawable = self.withdrawable, 0
        return withdrawn

    def plan_setup(self, section_sis_id: str, student_sis_id: str) -> PlanSetup | None:
        return self.plan

    def record_plan(
        self,
        setup: PlanSetup,
        learner_sub: str,
        items: Sequence[tuple[PlannedItem, str | None]],
        now: datetime,
    ) -> bool:
        if self.fence:
            self.recorded.append(list(items))
        return self.fence

    def key_states(self, keys: Sequence[str]) -> dict[str, OutboxState]:
        held = (self._outbox.by_key(key) for key in keys)
        return {entry.key: entry.state for entry in held if entry is not None}

    def fail(self, setup: PlanSetup, error: str, now: datetime) -> bool:
        self.failed.append(error)
        return True

    def cancel(self, setup: PlanSetup, reason: str, now: datetime) -> bool:
        self.canceled.append(reason)
        return True

    def reports(self, section_sis_id: str, student_sis_id: str | None = None) -> list[Report]:
        return [
            r
            for r in self.saved_reports
            if r.section_sis_id == section_sis_id
            and student_sis_id in (None, r.student_sis_id)
        ]

    def learner_reports(self, platform_id: int, learner_sub: str, context_id: str) -> list[Report]:
        return list(self.saved_learner_reports.get((platform_id, learner_sub, context_id), []))

    def statuses(self, section_sis_id: str) -> dict[str, Report]:
        return {r.student_sis_id: r for r in self.reports(section_sis_id)}


# --- operator tokens -------------------------------------------------------------------------


@dataclass
class FakeTokenRepository:
    #: Name -> (hash, token).
    held: dict[str, tuple[str, ApiToken]] = field(default_factory=dict)
    #: (name, section, outcome, at) of each use.
    uses: list[tuple[str, str | None, str, datetime]] = field(default_factory=list)

    def add(
        self, name: str, token_hash: str, sections: Sequence[str] | None, now: datetime
    ) -> None:
        if name in self.held or any(h == token_hash for h, _ in self.held.values()):
            # The SQL table's unique name and hash, as the unit of work says it.
            raise ConcurrentWriteError(f"token {name!r} exists")
        scoped = tuple(sections) if sections is not None else None
        self.held[name] = (token_hash, ApiToken(name, scoped, now))

    def by_name(self, name: str) -> ApiToken | None:
        found = self.held.get(name)
        return found[1] if found is not None else None

    def by_hash(self, token_hash: str) -> ApiToken | None:
        return next((t for h, t in self.held.values() if h == token_hash), None)

    def revoke(self, name: str, now: datetime) -> bool:
        if name not in self.held:
            return False
        token_hash, token = self.held[name]
        if token.revoked_at is None:
            self.held[name] = (token_hash, replace(token, revoked_at=now))
        return True

    def all(self) -> list[ApiToken]:
        return [token for _, (_, token) in sorted(self.held.items())]

    def record_use(
        self, name: str, section_sis_id: str | None, outcome: str, now: datetime
    ) -> None:
        self.uses.append((name, section_sis_id, outcome, now))
        if outcome == "allowed" and name in self.held:
            token_hash, token = self.held[name]
            self.held[name] = (token_hash, replace(token, last_used_at=now))


# --- the unit of work ------------------------------------------------------------------------


class FakeUnitOfWork:
    """``services/ports.py: UnitOfWork`` in memory; see the module's docstring."""

    def __init__(self) -> None:
        self.lti = FakeLtiRepository()
        self.gate = FakeGateRepository()
        self.roster = FakeRosterRepository()
        self.sis = FakeSisRepository()
        self.onboarding = FakeOnboardingRepository(self.lti)
        self.catalog = FakeCatalogRepository()
        self.outbox = FakeOutboxRepository()
        self.grades = FakeGradesRepository()
        self.carryover = FakeCarryoverRepository(self.outbox)
        self.tokens = FakeTokenRepository()
        #: How many times ``commit`` ran, and whether each asked for durability.
        self.commits = 0
        self.durable: list[bool] = []
        self.in_transaction = False
        self._saved: list[dict[str, Any]] | None = None

    def _repositories(self) -> Iterator[object]:
        yield from (
            self.lti, self.gate, self.roster, self.sis, self.onboarding, self.catalog,
            self.outbox, self.grades, self.carryover, self.tokens,
        )

    def _snapshot(self) -> list[dict[str, Any]]:
        # Fields starting with "_" are links to other repositories, not state of their own;
        # a repository's ``written_at_once`` fields outlive a rollback, as the port says.
        return [
            copy.deepcopy(
                {
                    k: v
                    for k, v in vars(r).items()
                    if not k.startswith("_") and k not in getattr(r, "written_at_once", ())
                }
            )
            for r in self._repositories()
        ]

    def __enter__(self) -> Self:
        assert not self.in_transaction, "a unit of work's with blocks do not nest"
        self.in_transaction = True
        self._saved = self._snapshot()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        saved, self._saved = self._saved, None
        self.in_transaction = False
        if saved is not None:
            for repository, state in zip(self._repositories(), saved, strict=True):
                vars(repository).update(state)

    def commit(self, *, durable: bool = False) -> None:
        assert self.in_transaction, "commit outside a with"
        self.commits += 1
        self.durable.append(durable)
        self._saved = self._snapshot()


def _conforms(fake: FakeUnitOfWork) -> UnitOfWork:
    # mypy checks the fake against the port (pyproject.toml: [tool.mypy] files).
    return fake
