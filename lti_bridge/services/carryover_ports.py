"""The ports carry-over works through (``adapters/db/carryover_repository.py``,
``adapters/platform/carryover.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from lti_bridge.domain.carryover import (
    CourseItem,
    LearnerResult,
    Outcome,
    PlannedItem,
    ReportStatus,
)
from lti_bridge.domain.outbox import OutboxState


@dataclass(frozen=True)
class Candidate:
    """A registration in a section whose offering has a non-credit context, with its learner's
    onboarding and carry-over report as they stand."""

    section_sis_id: str
    student_sis_id: str
    registration_sis_id: str
    status: str
    tuition_status: str
    onboarded: bool
    report: ReportStatus | None = None
    generation: int = 0
    #: The state of the report's plan message in the outbox, when it has one.
    plan_state: OutboxState | None = None


@dataclass(frozen=True)
class Endpoint:
    """A context's AGS line items URL and the scopes its launches granted."""

    lineitems_url: str
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlanSetup:
    """What running one plan needs: where both gradebooks are, on which platform, for whom."""

    section_sis_id: str
    student_sis_id: str
    registration_sis_id: str
    status: ReportStatus
    generation: int
    platform_id: int | None
    issuer: str | None
    client_id: str | None
    non_credit: Endpoint | None
    for_credit: Endpoint | None
    #: The learner's user ids on that platform (the AGS ``userId``).
    learner_subs: tuple[str, ...]
    kinds: Mapping[str, str] = field(default_factory=dict)
    #: False once the registration is dropped, canceled or refunded.
    active: bool = True


@dataclass(frozen=True)
class ReportItem:
    position: int
    outcome: Outcome
    label: str
    score_given: Decimal | None
    score_maximum: Decimal | None
    result_at: datetime | None
    message: str | None
    non_credit_item_id: str | None = None
    for_credit_item_id: str | None = None
    outbox_key: str | None = None
    #: Where the score post stands (carried items only).
    post_state: OutboxState | None = None
    post_error: str | None = None


@dataclass(frozen=True)
class Report:
    section_sis_id: str
    student_sis_id: str
    registration_sis_id: str
    status: ReportStatus
    generation: int
    created_at: datetime
    updated_at: datetime
    planned_at: datetime | None = None
    error: str | None = None
    learner_sub: str | None = None
    items: tuple[ReportItem, ...] = ()
    plan_state: OutboxState | None = None

    def count(self, outcome: Outcome) -> int:
        return sum(1 for item in self.items if item.outcome is outcome)

    @property
    def posted(self) -> int:
        return sum(1 for item in self.items if item.post_state is OutboxState.ACCEPTED)


class CarryoverRepository(Protocol):
    def record_action(
        self, candidate: Candidate, action: str, actor: str, now: datetime
    ) -> None:
        """Record a staff action on the candidate's carry-over (the roster's actions history)."""
        ...

    def candidates(self, student_sis_ids: Sequence[str]) -> list[Candidate]:
        """The students' registrations in sections with a non-credit context."""
        ...

    def section_candidates(self, section_sis_id: str) -> list[Candidate]:
        """Every registration of the section, when its offering has a non-credit context."""
        ...

    def students_of_learner(self, platform_id: int, learner_sub: str) -> list[str]:
        """The SIS student ids a platform's learner is (LIS person id, SIS platform user id)."""
        ...

    def set_status(
        self,
        candidate: Candidate,
        status: ReportStatus,
        generation: int,
        now: datetime,
        error: str | None = None,
    ) -> None:
        """Create or update the candidate's report."""
        ...

    def withdraw_posts(self, candidate: Candidate, reason: str, now: datetime) -> int:
        """Finish the registration's score posts still queued as rejected with ``reason``
        (a post in flight is past stopping); how many."""
        ...

    def plan_setup(self, section_sis_id: str, student_sis_id: str) -> PlanSetup | None: ...

    def record_plan(
        self,
        setup: PlanSetup,
        learner_sub: str,
        items: Sequence[tuple[PlannedItem, str | None]],
        now: datetime,
    ) -> bool:
        """Write the plan's items (with each carried score's outbox key) and mark it planned,
        only while the report is queued at ``setup.generation``; False otherwise."""
        ...

    def key_states(self, keys: Sequence[str]) -> dict[str, OutboxState]:
        """The state of each of ``keys`` the outbox already holds."""
        ...

    def fail(self, setup: PlanSetup, error: str, now: datetime) -> bool:
        """Mark a queued plan failed for good (fenced like ``record_plan``)."""
        ...

    def cancel(self, setup: PlanSetup, reason: str, now: datetime) -> bool: ...

    def reports(self, section_sis_id: str, student_sis_id: str | None = None) -> list[Report]:
        """The section's reports (or one student's), with their items and outbox states."""
        ...

    def learner_reports(self, platform_id: int, learner_sub: str, context_id: str) -> list[Report]:
        """A launching learner's reports for the section(s) of a for-credit context."""
        ...

    def statuses(self, section_sis_id: str) -> dict[str, Report]:
        """Each student's report of the section, without items (the roster's column)."""
        ...


class CarryoverGradebook(Protocol):
    """A platform's gradebooks through AGS, read for one learner (``adapters/platform``)."""

    def line_items(self, setup: PlanSetup, endpoint: Endpoint) -> list[CourseItem]:
        """Every line item of the context (all pages)."""
        ...

    def results(
        self, setup: PlanSetup, endpoint: Endpoint, item: CourseItem, user_ids: Sequence[str]
    ) -> list[LearnerResult]:
        """The learner's results on one line item (all pages)."""
        ...
