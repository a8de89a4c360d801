"""Onboarding completion, read from the platform's gradebook and recorded once (DOMAIN R2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lti_bridge.domain.catalog import OnboardingCourse
from lti_bridge.domain.errors import LaunchError, NotFoundError
from lti_bridge.domain.onboarding import OnboardingOutcome, onboarding_passed
from lti_bridge.services.onboarding_ports import Gradebook
from lti_bridge.services.ports import UnitOfWork


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
    uow: UnitOfWork, context_id: str | None, issuer: str
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
    uow: UnitOfWork,
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
