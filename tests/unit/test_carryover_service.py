"""Carry-over's use cases with fakes: arming on events, planning again, running a plan."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Self

from lti_bridge.domain.carryover import (
    AGS_SCORE,
    CARRYOVER_PLAN,
    CourseItem,
    LearnerResult,
    Outcome,
    PlannedItem,
    PlatformGradebookError,
    ReportStatus,
)
from lti_bridge.domain.outbox import OutboxMessage, OutboxState
from lti_bridge.services.carryover import arm, rerun_section, run_plan
from lti_bridge.services.carryover_ports import Candidate, Endpoint, PlanSetup

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


@dataclass
class FakeCarryover:
    found: list[Candidate] = field(default_factory=list)
    statuses: list[tuple[str, ReportStatus, int]] = field(default_factory=list)
    plan: PlanSetup | None = None
    recorded: list[list[tuple[PlannedItem, str | None]]] = field(default_factory=list)
    fence: bool = True
    failed: list[str] = field(default_factory=list)
    canceled: list[str] = field(default_factory=list)
    actions: list[tuple[str, str, str]] = field(default_factory=list)

    def record_action(self, c: Candidate, action: str, actor: str, now: datetime) -> None:
        self.actions.append((c.student_sis_id, action, actor))

    def candidates(self, student_sis_ids: list[str]) -> list[Candidate]:
        return [c for c in self.found if c.student_sis_id in student_sis_ids]

    def section_candidates(self, section_sis_id: str) -> list[Candidate]:
        return [c for c in self.found if c.section_sis_id == section_sis_id]

    def set_status(
        self, c: Candidate, status: ReportStatus, generation: int, now: datetime,
        error: str | None = None,
    ) -> None:
        self.statuses.append((c.student_sis_id, status, generation))

    withdrawable: int = 0

    def withdraw_posts(self, c: Candidate, reason: str, now: datetime) -> int:
        withdrawn, self.withdrawable = self.withdrawable, 0
        return withdrawn

    def plan_setup(self, section_sis_id: str, student_sis_id: str) -> PlanSetup | None:
        return self.plan

    def record_plan(self, s: PlanSetup, sub: str, items: Any, now: datetime) -> bool:
        if self.fence:
            self.recorded.append(list(items))
        return self.fence

    outbox: Any = None

    def key_states(self, keys: list[str]) -> dict[str, OutboxState]:
        return {key: OutboxState.QUEUED for key in keys if key in self.outbox.messages}

    def fail(self, s: PlanSetup, error: str, now: datetime) -> bool:
        self.failed.append(error)
        return True

    def cancel(self, s: PlanSetup, reason: str, now: datetime) -> bool:
        self.canceled.append(reason)
        return True


@dataclass
class FakeOutbox:
    messages: dict[str, OutboxMessage] = field(default_factory=dict)

    def enqueue(self, message: OutboxMessage, now: datetime) -> int:
        self.messages.setdefault(message.key, message)
        return len(self.messages)

    def enqueue_many(self, messages: list[OutboxMessage], now: datetime) -> list[int]:
        return [self.enqueue(m, now) for m in messages]

    def by_key(self, key: str) -> object | None:
        return self.messages.get(key)


@dataclass
class FakeUow:
    carryover: FakeCarryover = field(default_factory=FakeCarryover)
    outbox: FakeOutbox = field(default_factory=FakeOutbox)
    commits: int = 0

    def __post_init__(self) -> None:
        self.carryover.outbox = self.outbox

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def commit(self) -> None:
        self.commits += 1


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


def run(uow: FakeUow, gradebook: FakeGradebook) -> Any:
    return run_plan(PAYLOAD, uow=lambda: uow, gradebook=gradebook, clock=lambda: NOW)


def test_a_paid_onboarded_registration_queues_one_plan_in_the_same_transaction() -> None:
    uow = FakeUow(FakeCarryover(found=[candidate()]))
    assert arm(uow, [STUDENT], NOW) == 1
    assert uow.carryover.statuses == [(STUDENT, ReportStatus.QUEUED, 1)]
    (message,) = uow.outbox.messages.values()
    assert message.kind == CARRYOVER_PLAN and message.payload["generation"] == 1
    assert uow.commits == 0  # the caller's transaction commits


def test_before_onboarding_it_waits_and_a_drop_cancels() -> None:
    uow = FakeUow(FakeCarryover(found=[candidate(onboarded=False)]))
    arm(uow, [STUDENT], NOW)
    assert uow.carryover.statuses == [(STUDENT, ReportStatus.WAITING, 0)]
    uow.carryover.found = [candidate(status="dropped", report=ReportStatus.QUEUED, generation=1)]
    arm(uow, [STUDENT], NOW)
    assert uow.carryover.statuses[-1] == (STUDENT, ReportStatus.CANCELED, 1)
    assert uow.outbox.messages == {}


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
    uow = FakeUow(FakeCarryover(found=found))
    rerun = rerun_section(SECTION, uow=uow, now=NOW)
    assert [c.student_sis_id for c in rerun.queued] == ["b", "c", "d"]
    assert [c.student_sis_id for c in rerun.waiting] == ["e"]
    assert rerun.skipped == 2
    assert (("c", ReportStatus.QUEUED, 3)) in uow.carryover.statuses
    assert uow.commits == 1
    assert uow.carryover.actions == []  # the CLI records no actor


def test_an_instructors_run_again_is_recorded_with_who_for_each_learner_it_moved() -> None:
    found = [
        candidate(student_sis_id="a", report=ReportStatus.PLANNED, generation=1),
        candidate(student_sis_id="b", report=ReportStatus.FAILED, generation=1),
        candidate(student_sis_id="e", onboarded=False),
    ]
    uow = FakeUow(FakeCarryover(found=found))
    rerun_section(SECTION, uow=uow, now=NOW, actor="Ian (instructor-1)")
    assert uow.carryover.actions == [
        ("b", "carryover_again", "Ian (instructor-1)"),
        ("e", "carryover_waiting", "Ian (instructor-1)"),
    ]
    assert uow.commits == 1


def test_a_plan_records_its_report_and_queues_one_score_per_carried_item() -> None:
    uow = FakeUow(FakeCarryover(plan=setup()))
    reply = run(uow, FakeGradebook())
    assert reply.status == 200
    (items,) = uow.carryover.recorded
    assert [(i.outcome, key is not None) for i, key in items] == [
        (Outcome.CARRY, True),
        (Outcome.EXCLUDED, False),
    ]
    (message,) = uow.outbox.messages.values()
    assert message.kind == AGS_SCORE
    assert message.payload["lineitem"] == QUIZ_CREDIT.id
    assert message.payload["score"]["scoreGiven"] == 8
    assert message.payload["score"]["userId"] == "sub-ada"


def test_only_items_about_to_carry_have_their_for_credit_results_read() -> None:
    gradebook = FakeGradebook()
    run(FakeUow(FakeCarryover(plan=setup())), gradebook)
    assert gradebook.reads == ["open/quiz", "open/talk", "credit/quiz"]


def test_a_for_credit_score_already_there_is_kept() -> None:
    uow = FakeUow(FakeCarryover(plan=setup()))
    run(uow, FakeGradebook(credit_scores={QUIZ_CREDIT.id: Decimal(3)}))
    assert uow.carryover.recorded[0][0][0].outcome is Outcome.KEPT
    assert uow.outbox.messages == {}


def test_a_superseded_or_finished_plan_does_nothing() -> None:
    for stale in (None, setup(generation=2), setup(status=ReportStatus.PLANNED)):
        uow = FakeUow(FakeCarryover(plan=stale))
        assert run(uow, FakeGradebook()).status == 200
        assert uow.carryover.recorded == [] and uow.outbox.messages == {}


def test_a_plan_due_after_a_drop_cancels_itself() -> None:
    uow = FakeUow(FakeCarryover(plan=setup(active=False)))
    assert run(uow, FakeGradebook()).status == 200
    assert uow.carryover.canceled and uow.carryover.recorded == []


def test_a_missing_endpoint_fails_the_plan_for_good() -> None:
    uow = FakeUow(FakeCarryover(plan=setup(non_credit=None)))
    reply = run(uow, FakeGradebook())
    assert reply.status == 422
    assert "non-credit" in uow.carryover.failed[0]


def test_throttling_and_outages_are_retried_not_failed() -> None:
    throttled = PlatformGradebookError("slow", status=403, throttled=True, retry_after=2.0)
    uow = FakeUow(FakeCarryover(plan=setup()))
    reply = run(uow, FakeGradebook(failure=throttled))
    assert (reply.status, reply.retry_after_seconds) == (429, 2.0)
    assert run(uow, FakeGradebook(failure=PlatformGradebookError("down", status=503))).status == 503
    assert run(uow, FakeGradebook(failure=PlatformGradebookError("no answer"))).status == 503
    assert uow.carryover.failed == []


def test_a_refusal_for_good_fails_the_plan() -> None:
    uow = FakeUow(FakeCarryover(plan=setup()))
    refused = PlatformGradebookError("gone", status=404, retryable=False)
    assert run(uow, FakeGradebook(failure=refused)).status == 422
    assert uow.carryover.failed == ["gone"]


def test_another_relay_that_recorded_first_wins_and_nothing_is_queued() -> None:
    uow = FakeUow(FakeCarryover(plan=setup(), fence=False))
    assert run(uow, FakeGradebook()).status == 200
    assert uow.outbox.messages == {}


def test_a_score_already_queued_under_its_key_is_not_queued_again() -> None:
    uow = FakeUow(FakeCarryover(plan=setup()))
    run(uow, FakeGradebook())
    first = dict(uow.outbox.messages)
    uow.carryover.plan = setup()
    later = run_plan(
        PAYLOAD, uow=lambda: uow, gradebook=FakeGradebook(),
        clock=lambda: NOW.replace(day=6),
    )
    assert later.status == 200
    assert uow.outbox.messages == first  # the first body stays, not a second one


def test_a_drop_after_the_plan_withdraws_the_scores_not_sent_yet() -> None:
    planned = candidate(status="dropped", report=ReportStatus.PLANNED, generation=1)
    uow = FakeUow(FakeCarryover(found=[planned], withdrawable=3))
    arm(uow, [STUDENT], NOW)
    assert uow.carryover.statuses == [(STUDENT, ReportStatus.CANCELED, 1)]

    # Everything already sent: the report stays planned.
    uow = FakeUow(FakeCarryover(found=[planned], withdrawable=0))
    arm(uow, [STUDENT], NOW)
    assert uow.carryover.statuses == []
