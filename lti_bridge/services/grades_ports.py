"""The ports final grades are computed and released through (``services/grades.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from lti_bridge.domain.grading import GradingScheme, SectionGradebook, SubmissionContent


@dataclass(frozen=True)
class GradingSetup:
    """What grading a section needs: the section, its scheme, where its gradebook is read."""

    section_sis_id: str
    course_code: str
    credit_hours: int
    session_code: str | None
    session_ends_on: date | None
    scheme: GradingScheme
    for_credit_context_id: str
    #: The platform whose for-credit context was launched (and so whose AGS endpoint is known).
    platform_id: int | None = None
    issuer: str | None = None
    client_id: str | None = None
    lineitems_url: str | None = None


@dataclass(frozen=True)
class GradedStudent:
    """A registration in the section, with the platform user ids the learner is known by."""

    registration_sis_id: str
    student_sis_id: str
    status: str
    tuition_status: str
    name: str | None = None
    platform_user_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Adjustment:
    """The instructor's standing decisions for one registration."""

    registration_sis_id: str
    override_letter: str | None
    override_reason: str | None
    incomplete: bool
    incomplete_reason: str | None
    updated_by: str
    updated_at: datetime


@dataclass(frozen=True)
class Submission:
    """One released version of a learner's final grade."""

    registration_sis_id: str
    student_sis_id: str
    version: int
    sourced_id: str
    letter: str
    percent: Decimal | None
    last_attended: date | None
    incomplete_grade: str | None
    incomplete_until: date | None
    reason: str | None
    released_by: str
    released_at: datetime

    @property
    def content(self) -> SubmissionContent:
        return SubmissionContent(
            self.letter,
            self.percent,
            self.last_attended,
            self.incomplete_grade,
            self.incomplete_until,
        )


@dataclass(frozen=True)
class AuditRecord:
    """One release, override or incomplete mark: who, when, what, why."""

    registration_sis_id: str | None
    action: str
    letter: str | None
    reason: str | None
    actor: str
    at: datetime
    detail: Mapping[str, Any] | None = None


class GradesRepository(Protocol):
    def setup(self, section_sis_id: str, platform_id: int | None = None) -> GradingSetup | None:
        """The section's grading setup; its gradebook on ``platform_id`` when given, else on
        the platform whose for-credit context was launched most recently."""
        ...

    def students(
        self, section_sis_id: str, platform_id: int | None, *, link_by_email: bool = False
    ) -> list[GradedStudent]:
        """Every registration in the section, in any status."""
        ...

    def adjustments(self, section_sis_id: str) -> dict[str, Adjustment]:
        """The instructor's decisions, by registration."""
        ...

    def submissions(self, section_sis_id: str) -> dict[str, list[Submission]]:
        """Every submission of the section, by registration, oldest version first."""
        ...

    def save_adjustment(self, section_sis_id: str, adjustment: Adjustment) -> None: ...

    def add_submissions(self, section_sis_id: str, submissions: Sequence[Submission]) -> None:
        """Insert submissions; a second one with the same registration and version fails."""
        ...

    def audit(self, section_sis_id: str, record: AuditRecord) -> None: ...

    def history(self, section_sis_id: str) -> list[AuditRecord]:
        """The section's audit trail, newest first."""
        ...


class CourseGradebook(Protocol):
    def read(self, setup: GradingSetup) -> SectionGradebook:
        """Read the for-credit course's line items and every learner's results."""
        ...
