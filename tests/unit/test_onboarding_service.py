"""check_onboarding with a fake gradebook on the fake unit of work (DOMAIN R2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from lti_bridge.domain.catalog import OnboardingCourse
from lti_bridge.domain.errors import LaunchError, LtiBridgeError, NotFoundError
from lti_bridge.domain.onboarding import LineItem, ResultScore
from lti_bridge.services.onboarding import OnboardingCheck, check_onboarding
from lti_bridge.services.onboarding_ports import GradebookView
from tests.fakes import FakeUnitOfWork

NOW = datetime(2024, 1, 10, 12, 0, tzinfo=UTC)
COURSE = OnboardingCourse("onboarding-ctx", ("Quiz",), 0.8, issuer="https://lms.example.edu")
QUIZ = LineItem("https://lms.example.edu/li/1", "Quiz", 100)


@dataclass
class FakeGradebook:
    score: float | None = None
    failure: LtiBridgeError | None = None
    reads: int = 0

    def results_for(self, learner_sub: str, required: tuple[str, ...]) -> GradebookView:
        self.reads += 1
        if self.failure is not None:
            raise self.failure
        result = None if self.score is None else ResultScore(self.score, 100)
        return GradebookView((QUIZ,), {QUIZ.id: result})


def check(
    uow: FakeUnitOfWork,
    gradebook: FakeGradebook,
    *,
    context_id: str = "onboarding-ctx",
    issuer: str = "https://lms.example.edu",
) -> OnboardingCheck:
    return check_onboarding(
        platform_id=1,
        learner_sub="ada",
        context_id=context_id,
        issuer=issuer,
        gradebook=gradebook,
        uow=uow,
        now=NOW,
    )


def known_learner(passed_at: datetime | None = None) -> FakeUnitOfWork:
    """A unit of work whose platform 1 has launched the learner "ada" (passed at ``passed_at``)."""
    uow = FakeUnitOfWork()
    uow.onboarding.course = COURSE
    uow.lti.learners[(1, "ada")] = 1
    if passed_at is not None:
        uow.onboarding.passes[(1, "ada")] = passed_at
    return uow


def test_a_score_at_the_threshold_records_the_pass() -> None:
    uow = known_learner()

    result = check(uow, FakeGradebook(score=80))

    assert result.passed and result.newly_passed and result.passed_at == NOW
    assert uow.onboarding.passes == {(1, "ada"): NOW}
    assert uow.commits == 1


def test_a_score_below_the_threshold_records_nothing() -> None:
    uow = known_learner()

    result = check(uow, FakeGradebook(score=79))

    assert not result.passed
    assert result.outcome is not None and result.outcome.unmet[0].fraction == 0.79
    assert uow.onboarding.passes == {} and uow.commits == 0


def test_a_recorded_pass_stays_without_reading_the_gradebook_again() -> None:
    earlier = NOW - timedelta(days=30)
    uow = known_learner(earlier)
    gradebook = FakeGradebook(score=0)

    result = check(uow, gradebook)

    assert result.passed and not result.newly_passed and result.passed_at == earlier
    assert gradebook.reads == 0
    assert uow.onboarding.passes == {(1, "ada"): earlier}


def test_a_gradebook_failure_records_nothing_and_propagates() -> None:
    uow = known_learner()
    gradebook = FakeGradebook(score=100, failure=LtiBridgeError("platform down"))

    with pytest.raises(LtiBridgeError):
        check(uow, gradebook)

    assert uow.onboarding.passes == {}
    assert uow.commits == 0


def test_the_platform_is_not_called_inside_a_transaction() -> None:
    uow = known_learner()

    class Watching(FakeGradebook):
        def results_for(self, learner_sub: str, required: tuple[str, ...]) -> GradebookView:
            assert not uow.in_transaction
            return super().results_for(learner_sub, required)

    assert check(uow, Watching(score=100)).passed


def test_without_an_onboarding_course_in_the_catalog_the_check_is_not_found() -> None:
    uow = known_learner()
    uow.onboarding.course = None

    with pytest.raises(NotFoundError):
        check(uow, FakeGradebook(score=100))


@pytest.mark.parametrize(
    ("context_id", "issuer"),
    [("course-dtsa5509-credit", "https://lms.example.edu"), ("onboarding-ctx", "https://other")],
)
def test_a_launch_from_another_course_or_platform_is_refused(context_id: str, issuer: str) -> None:
    uow = known_learner()
    gradebook = FakeGradebook(score=100)

    with pytest.raises(LaunchError) as refused:
        check(uow, gradebook, context_id=context_id, issuer=issuer)

    assert "onboarding-ctx" in refused.value.admin_hint
    assert gradebook.reads == 0


def test_an_unrecorded_learner_is_not_found() -> None:
    uow = FakeUnitOfWork()
    uow.onboarding.course = COURSE

    with pytest.raises(NotFoundError):
        check(uow, FakeGradebook(score=100))
