"""Carry-over's use cases on the fake unit of work: arming on events, planning again, running a
plan, and the reports."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from lti_bridge.domain.carryover import (
    AGS_SCORE,
    CARRYOVER_PLAN,
    CourseItem,
    LearnerResult,
    Outcome,
    PlatformGradebookError,
    ReportStatus,
)
from lti_bridge.domain.errors import NotFoundError
from lti_bridge.domain.outbox import OutboxState
from lti_bridge.services.carryover import (
    arm,
    arm_for_learner,
    learner_reports,
    reports,
    rerun_section,
    run_plan,
)
from lti_bridge.services.carryover_ports import Candidate, Endpoint, PlanSetup, Report
from tests.fakes import FakeUnitOfWork

NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
SECTION, STUDENT = "SEC-1", "110123456"


def candidate(**changes: Any) -> Candidate:
    base = Candidate(SECTION, STUDENT, "reg-1", "registered", "paid", True)
    return replace(base, **changes)


def setup(**changes: Any) -> PlanSetup:
    base = PlanSetup(
        section_sis_id=SECTION,
        student_sis_id=STUDENT,
        registration_sis_id="reg-1",
        status=ReportStatus.QUEUED,
        generation=1,
        platform_id=1,
        issuer="https://lms.example.edu",
        client_id="tool",
        non_credit=Endpoint("https://lms.example.edu/open/lineitems"),
        for_credit=Endpoint("https://lms.example.edu/credit/lineitems"),
        learner_subs=("sub-ada",),
    )
    return replace(base, **changes)


def uow_with(**carryover: Any) -> FakeUnitOfWork:
    """A unit of work whose carry-over repository holds ``carryover`` (candidates, a plan, …)."""
    work = FakeUnitOfWork()
    for name, value in carryover.items():
        setattr(work.carryover, name, value)
    return work


QUIZ_OPEN = CourseItem("open/quiz", "Quiz", Decimal(10), "quiz")
QUIZ_CREDIT = CourseItem("credit/quiz", "Quiz", Decimal(10), "quiz")
TALK_OPEN = CourseItem("open/talk", "Talk", Decimal(5), "discussion")


@dataclass
class FakeGradebook:
    failure: PlatformGradebookError | None = None
    credit_scores: dict[str, Decimal] = field(default_factory=dict)
    reads: list[str] = field(default_factory=list)

    def line_items(self, s: PlanSetup, endpoint: Endpoint) -> list[CourseItem]:
        if self.failure is not None:
            raise self.failure
        if endpoint == s.non_credit:
            return [QUIZ_OPEN, TALK_OPEN]
        return [QUIZ_CREDIT]

    def results(
        self, s: PlanSetup, endpoint: Endpoint, item: CourseItem, user_ids: Any
    ) -> list[LearnerResult]:
        self.reads.append(item.id)
        if item.id in self.credit_scores:
            return [LearnerResult(item.id, self.credit_scores[item.id])]
        if item.id.startswith("open/"):
            return [LearnerResult(item.id, Decimal(8), Decimal(10))]
        return []


PAYLOAD = {"section_sis_id": SECTION, "student_sis_id": STUDENT, "generation": 1}


def run(uow: FakeUnitOfWork, gradebook: FakeGradebook) -> Any:
    return run_plan(PAYLOAD, uow=lambda: uow, gradebook=gradebook, clock=lambda: NOW)


def arm_in_a_transaction(uow: FakeUnitOfWork) -> int:
    """``arm`` inside the caller's transaction (a SIS event's), which commits."""
    with uow:
        queued = arm(uow, [STUDENT], NOW)
        uow.commit()
    return queued


def test_a_paid_onboarded_registration_queues_one_plan_in_the_same_transaction() -> None:
    uow = uow_with(found=[candidate()])
    with uow:
        assert arm(uow, [STUDENT], NOW) == 1
        assert uow.commits == 0  # the caller's transaction commits
        uow.commit()
    assert uow.carryover.status_changes == [(STUDENT, ReportStatus.QUEUED, 1)]
    (message,) = uow.outbox.messages()
    assert message.kind == CARRYOVER_PLAN and message.payload["generation"] == 1


def test_before_onboarding_it_waits_and_a_drop_cancels() -> None:
    uow = uow_with(found=[candidate(onboarded=False)])
    arm_in_a_transaction(uow)
    assert uow.carryover.status_changes == [(STUDENT, ReportStatus.WAITING, 0)]
    uow.carryover.found = [candidate(status="dropped", report=ReportStatus.QUEUED, generation=1)]
    arm_in_a_transaction(uow)
    assert uow.carryover.status_changes[-1] == (STUDENT, ReportStatus.CANCELED, 1)
    assert uow.outbox.messages() == []


def test_run_plans_again_only_where_missing_failed_or_dead() -> None:
    found = [
        candidate(student_sis_id="a", report=ReportStatus.PLANNED, generation=1),
        candidate(student_sis_id="b", report=ReportStatus.FAILED, generation=1),
        candidate(student_sis_id="c", report=ReportStatus.QUEUED, generation=2,
                  plan_state=OutboxState.DEAD),
        candidate(student_sis_id="d"),
        candidate(student_sis_id="e", onboarded=False),
        candidate(student_sis_id="f", status="dropped"),
    ]
    uow = uow_with(found=found)
    rerun = rerun_section(SECTION, uow=uow, now=NOW)
    assert [c.student_sis_id for c in rerun.queued] == ["b", "c", "d"]
    assert [c.student_sis_id for c in rerun.waiting] == ["e"]
    assert rerun.skipped == 2
    assert (("c", ReportStatus.QUEUED, 3)) in uow.carryover.status_changes
    assert uow.commits == 1
    assert uow.carryover.actions == []  # the CLI records no actor


def test_an_instructors_run_again_is_recorded_with_who_for_each_learner_it_moved() -> None:
    found = [
        candidate(student_sis_id="a", report=ReportStatus.PLANNED, generation=1),
        candidate(student_sis_id="b", report=ReportStatus.FAILED, generation=1),
        candidate(student_sis_id="e", onboarded=False),
    ]
    uow = uow_with(found=found)
    rerun_section(SECTION, uow=uow, now=NOW, actor="Ian (instructor-1)")
    assert uow.carryover.actions == [
        ("b", "carryover_again", "Ian (instructor-1)"),
        ("e", "carryover_waiting", "Ian (instructor-1)"),
    ]
    assert uow.commits == 1


def test_a_plan_records_its_report_and_queues_one_score_per_carried_item() -> None:
    uow = uow_with(plan=setup())
    reply = run(uow, FakeGradebook())
    assert reply.status == 200
    (items,) = uow.carryover.recorded
    assert [(i.outcome, key is not None) for i, key in items] == [
        (Outcome.CARRY, True),
        (Outcome.EXCLUDED, False),
    ]
    (message,) = uow.outbox.messages()
    assert message.kind == AGS_SCORE
    assert message.payload["lineitem"] == QUIZ_CREDIT.id
    assert message.payload["score"]["scoreGiven"] == 8
    assert message.payload["score"]["userId"] == "sub-ada"


def test_only_items_about_to_carry_have_their_for_credit_results_read() -> None:
    gradebook = FakeGradebook()
    run(uow_with(plan=setup()), gradebook)
    assert gradebook.reads == ["open/quiz", "open/talk", "credit/quiz"]


def test_a_for_credit_score_already_there_is_kept() -> None:
    uow = uow_with(plan=setup())
    run(uow, FakeGradebook(credit_scores={QUIZ_CREDIT.id: Decimal(3)}))
    assert uow.carryover.recorded[0][0][0].outcome is Outcome.KEPT
    assert uow.outbox.messages() == []


def test_a_superseded_or_finished_plan_does_nothing() -> None:
    for stale in (None, setup(generation=2), setup(status=ReportStatus.PLANNED)):
        uow = uow_with(plan=stale)
        assert run(uow, FakeGradebook()).status == 200
        assert uow.carryover.recorded == [] and uow.outbox.messages() == []


def test_a_plan_due_after_a_drop_cancels_itself() -> None:
    uow = uow_with(plan=setup(active=False))
    assert run(uow, FakeGradebook()).status == 200
    assert uow.carryover.canceled and uow.carryover.recorded == []


def test_a_missing_endpoint_fails_the_plan_for_good() -> None:
    uow = uow_with(plan=setup(non_credit=None))
    reply = run(uow, FakeGradebook())
    assert reply.status == 422
    assert "non-credit" in uow.carryover.failed[0]


def test_throttling_and_outages_are_retried_not_failed() -> None:
    throttled = PlatformGradebookError("slow", status=403, throttled=True, retry_after=2.0)
    uow = uow_with(plan=setup())
    reply = run(uow, FakeGradebook(failure=throttled))
    assert (reply.status, reply.retry_after_seconds) == (429, 2.0)
    assert run(uow, FakeGradebook(failure=PlatformGradebookError("down", status=503))).status == 503
    assert run(uow, FakeGradebook(failure=PlatformGradebookError("no answer"))).status == 503
    assert uow.carryover.failed == []


def test_a_refusal_for_good_fails_the_plan() -> None:
    uow = uow_with(plan=setup())
    refused = PlatformGradebookError("gone", status=404, retryable=False)
    assert run(uow, FakeGradebook(failure=refused)).status == 422
    assert uow.carryover.failed == ["gone"]


def test_another_relay_that_recorded_first_wins_and_nothing_is_queued() -> None:
    uow = uow_with(plan=setup(), fence=False)
    assert run(uow, FakeGradebook()).status == 200
    assert uow.outbox.messages() == []


def test_a_score_already_queued_under_its_key_is_not_queued_again() -> None:
    uow = uow_with(plan=setup())
    run(uow, FakeGradebook())
    first = uow.outbox.messages()
    uow.carryover.plan = setup()
    later = run_plan(
        PAYLOAD, uow=lambda: uow, gradebook=FakeGradebook(),
        clock=lambda: NOW.replace(day=6),
    )
    assert later.status == 200
    assert uow.outbox.messages() == first  # the first body stays, not a second one


def test_a_drop_after_the_plan_withdraws_the_scores_not_sent_yet() -> None:
    planned = candidate(status="dropped", report=ReportStatus.PLANNED, generation=1)
    uow = uow_with(found=[planned], withdrawable=3)
    arm_in_a_transaction(uow)
    assert uow.carryover.status_changes == [(STUDENT, ReportStatus.CANCELED, 1)]

    # Everything already sent: the report stays planned.
    uow = uow_with(found=[planned], withdrawable=0)
    arm_in_a_transaction(uow)
    assert uow.carryover.status_changes == []


def test_a_learner_who_passed_onboarding_has_the_students_they_are_armed() -> None:
    uow = uow_with(found=[candidate()], learner_students={(1, "sub-ada"): [STUDENT]})
    assert arm_for_learner(1, "sub-ada", uow=uow, now=NOW) == 1
    assert uow.commits == 1
    assert [m.kind for m in uow.outbox.messages()] == [CARRYOVER_PLAN]
    assert arm_for_learner(1, "sub-nobody", uow=uow, now=NOW) == 0


def report(student: str = STUDENT) -> Report:
    return Report(SECTION, student, f"reg-{student}", ReportStatus.PLANNED, 1, NOW, NOW)


def test_reports_are_the_sections_or_one_students_and_a_missing_one_is_not_found() -> None:
    uow = uow_with(saved_reports=[report(), report("other")])
    assert [r.student_sis_id for r in reports(SECTION, uow=uow)] == [STUDENT, "other"]
    assert [r.student_sis_id for r in reports(SECTION, uow=uow, student_sis_id="other")] == [
        "other"
    ]
    with pytest.raises(NotFoundError):
        reports(SECTION, uow=uow, student_sis_id="nobody")
    assert reports("SEC-2", uow=uow) == []


def test_a_launching_learner_sees_their_own_reports_for_the_context() -> None:
    uow = uow_with(saved_learner_reports={(1, "sub-ada", "credit-ctx"): [report()]})
    assert learner_reports(1, "sub-ada", "credit-ctx", uow=uow) == [report()]
    assert learner_reports(1, "sub-ada", "other-ctx", uow=uow) == []
