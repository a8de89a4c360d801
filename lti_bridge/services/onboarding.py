"""Onboarding completion, read from the platform's gradebook and recorded once (DOMAIN R2)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from lti_bridge.domain.catalog import OnboardingCourse
from lti_bridge.domain.errors import LaunchError, NotFoundError
from lti_bridge.domain.onboarding import (
    LineItem,
    OnboardingOutcome,
    ResultScore,
    onboarding_passed,
)


@dataclass(frozen=True)
class GradebookView:
    """The onboarding course's line items, and the learner's results on the required ones."""

    line_items: tuple[LineItem, ...]
    results: Mapping[str, ResultScore | None] = field(default_factory=dict)


class Gradebook(Protocol):
    """The platform's gradebook of the onboarding course (``adapters/platform``: AGS)."""

    def results_for(self, learner_sub: str, required: tuple[str, ...]) -> GradebookView:
        """Return the line items and the learner's results on those ``required`` names.

        Raises an ``LtiBridgeError`` when the platform cannot be read.
        """
        ...


class OnboardingRepository(Protocol):
    def onboarding_course(self) -> OnboardingCourse | None:
        """Return the catalog's onboarding course, or None before one is imported."""
        ...

    def passed_at(self, platform_id: int, learner_sub: str) -> datetime | None:
        """Return when the learner's pass was recorded, if it was."""
        ...

    def record_pass(
        self, platform_id: int, learner_sub: str, now: datetime
    ) -> tuple[datetime, bool] | None:
        """Record the pass unless one is; copy it to the linked SIS student where it has none.

        Returns the learner's pass time and whether this call set it; None for an unknown
        learner.
        """
        ...


class OnboardingUnitOfWork(Protocol):
    # Read-only, so an implementation may declare its concrete repository type.
    @property
    def onboarding(self) -> OnboardingRepository: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...


@dataclass(frozen=True)
class OnboardingCheck:
    passed: bool
    course: OnboardingCourse
    passed_at: datetime | None = None
    #: The gradebook's verdict; None when an earlier pass made reading it unnecessary.
    outcome: OnboardingOutcome | None = None
    #: True when this check recorded the pass.
    newly_passed: bool = False


def _onboarding_course(
    uow: OnboardingUnitOfWork, context_id: str | None, issuer: str
) -> OnboardingCourse:
    course = uow.onboarding.onboarding_course()
    if course is None:
        raise NotFoundError(
            "no onboarding course in the catalog",
            public_message="The onboarding check is not set up yet.",
            admin_hint="Import a catalog with an [onboarding] table (lti-bridge catalog import).",
        )
    if context_id != course.context_id or (course.issuer and course.issuer != issuer):
        raise LaunchError(
            f"onboarding link launched from context {context_id!r} of {issuer}; the catalog's "
            f"onboarding course is {course.context_id!r}"
            + (f" of {course.issuer}" if course.issuer else ""),
            public_message="This link checks onboarding, but this course is not the onboarding "
            "course.",
            admin_hint=f"Place the link with custom parameter purpose=onboarding in the "
            f"onboarding course (context {course.context_id}), or correct the catalog's "
            "onboarding.context_id.",
        )
    return course


def check_onboarding(
    *,
    platform_id: int,
    learner_sub: str,
    context_id: str | None,
    issuer: str,
    gradebook: Gradebook,
    uow: OnboardingUnitOfWork,
    now: datetime,
) -> OnboardingCheck:
    """Judge the learner's onboarding from the gradebook and record a pass once (DOMAIN R2).

    A recorded pass is final: the gradebook is not read again, and a lower score later changes
    nothing. No transaction stays open while the platform is called.
    """
    with uow:
        course = _onboarding_course(uow, context_id, issuer)
        passed_at = uow.onboarding.passed_at(platform_id, learner_sub)
        if passed_at is not None:
            # Also links a pass made before the SIS knew the student.
            uow.onboarding.record_pass(platform_id, learner_sub, now)
            uow.commit()
            return OnboardingCheck(True, course, passed_at)

    view = gradebook.results_for(learner_sub, course.line_items)
    outcome = onboarding_passed(
        view.line_items, view.results, course.line_items, course.pass_threshold
    )
    if not outcome.passed:
        return OnboardingCheck(False, course, outcome=outcome)

    with uow:
        recorded = uow.onboarding.record_pass(platform_id, learner_sub, now)
        if recorded is None:
            raise NotFoundError(
                f"learner {learner_sub!r} of platform {platform_id} is not recorded",
                public_message="Please open the onboarding check again from the course.",
            )
        uow.commit()
    passed_at, newly_passed = recorded
    return OnboardingCheck(True, course, passed_at, outcome, newly_passed)
