"""Carry-over use cases: arm it when a registration and onboarding allow (R7), run a plan from
the relay (read both gradebooks, decide, queue the score posts), and show the reports.

A plan is outbox work like a grade submission: ``arm`` queues a ``carryover.plan`` message in
the same transaction as the SIS event or onboarding pass that allowed it; the relay runs it with
``run_plan``, which reads the platform with no transaction open, then writes the report and queues
one ``ags.score`` message per carried item in one transaction, fenced by the report's generation
(a plan run twice, by two relays or after a lost lease, writes once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lti_bridge.domain.carryover import (
    AGS_SCORE,
    CARRYOVER_PLAN,
    LearnerResult,
    Outcome,
    PlannedItem,
    PlatformGradebookError,
    ReportStatus,
    Step,
    next_step,
    plan,
    plan_key,
    score_body,
    score_key,
)
from lti_bridge.domain.errors import NotFoundError
from lti_bridge.domain.outbox import OutboxMessage, OutboxState, SisReply
from lti_bridge.services.carryover_ports import (
    Candidate,
    CarryoverGradebook,
    PlanSetup,
    Report,
)
from lti_bridge.services.ports import UnitOfWork

log = logging.getLogger("lti_bridge.carryover")

CANCELED_REASON = "the registration was dropped, canceled or refunded before carry-over ran"
WITHDRAWN_REASON = "the registration was dropped, canceled or refunded while scores were queued"


def plan_message(candidate: Candidate, generation: int) -> OutboxMessage:
    return OutboxMessage(
        kind=CARRYOVER_PLAN,
        key=plan_key(candidate.section_sis_id, candidate.student_sis_id, generation),
        payload={
            "section_sis_id": candidate.section_sis_id,
            "student_sis_id": candidate.student_sis_id,
            "registration_sis_id": candidate.registration_sis_id,
            "generation": generation,
        },
        section_sis_id=candidate.section_sis_id,
        registration_sis_id=candidate.registration_sis_id,
    )


def _queue(uow: UnitOfWork, candidate: Candidate, now: datetime) -> None:
    generation = candidate.generation + 1
    uow.carryover.set_status(candidate, ReportStatus.QUEUED, generation, now)
    uow.outbox.enqueue(plan_message(candidate, generation), now)


def arm(uow: UnitOfWork, student_sis_ids: Iterable[str], now: datetime) -> int:
    """Inside the caller's transaction: queue, hold or cancel the students' carry-overs as their
    registrations and onboarding now stand (R5, R7); the number of plans queued."""
    ids = sorted(set(student_sis_ids))
    if not ids:
        return 0
    queued = 0
    for candidate in uow.carryover.candidates(ids):
        step = next_step(
            candidate.status, candidate.tuition_status, candidate.onboarded, candidate.report
        )
        if step is Step.WAIT:
            uow.carryover.set_status(candidate, ReportStatus.WAITING, candidate.generation, now)
        elif step is Step.QUEUE:
            _queue(uow, candidate, now)
            queued += 1
        elif step is Step.CANCEL:
            uow.carryover.set_status(
                candidate, ReportStatus.CANCELED, candidate.generation, now, CANCELED_REASON
            )
        elif step is Step.WITHDRAW:
            withdrawn = uow.carryover.withdraw_posts(candidate, WITHDRAWN_REASON, now)
            if withdrawn:
                uow.carryover.set_status(
                    candidate,
                    ReportStatus.CANCELED,
                    candidate.generation,
                    now,
                    f"{WITHDRAWN_REASON}: {withdrawn} score(s) not sent",
                )
    return queued


def arm_for_learner(
    platform_id: int, learner_sub: str, *, uow: UnitOfWork, now: datetime
) -> int:
    """A platform learner passed onboarding (the AGS check): arm their carry-overs."""
    with uow:
        queued = arm(uow, uow.carryover.students_of_learner(platform_id, learner_sub), now)
        uow.commit()
    return queued


@dataclass(frozen=True)
class Rerun:
    queued: list[Candidate]
    waiting: list[Candidate]
    skipped: int


def rerun_section(
    section_sis_id: str,
    *,
    uow: UnitOfWork,
    now: datetime,
    student_sis_id: str | None = None,
    actor: str | None = None,
) -> Rerun:
    """Plan again where a report is missing or failed (``lti-bridge carryover run``, or an
    instructor's "Run carry-over again" on the roster: ``actor`` is then recorded with each
    learner it queued or set waiting, in the same transaction)."""
    queued: list[Candidate] = []
    waiting: list[Candidate] = []
    skipped = 0
    with uow:
        candidates = uow.carryover.section_candidates(section_sis_id)
        if not candidates and student_sis_id is None:
            log.info("carryover run %s: no registrations with a non-credit course", section_sis_id)
        for c in candidates:
            if student_sis_id is not None and c.student_sis_id != student_sis_id:
                continue
            active = c.status == "registered" and c.tuition_status == "paid"
            lost = c.report is ReportStatus.QUEUED and c.plan_state in (
                OutboxState.DEAD,
                OutboxState.REJECTED,
            )
            missing = c.report in (None, ReportStatus.FAILED, ReportStatus.CANCELED) or lost
            if not active or not missing:
                skipped += 1
            elif not c.onboarded:
                if c.report is None:
                    uow.carryover.set_status(c, ReportStatus.WAITING, c.generation, now)
                waiting.append(c)
            else:
                _queue(uow, c, now)
                queued.append(c)
        if actor is not None:
            for c in queued:
                uow.carryover.record_action(c, "carryover_again", actor, now)
            for c in waiting:
                uow.carryover.record_action(c, "carryover_waiting", actor, now)
        uow.commit()
    return Rerun(queued, waiting, skipped)


def reports(
    section_sis_id: str, *, uow: UnitOfWork, student_sis_id: str | None = None
) -> list[Report]:
    """The section's carry-over reports, or one student's."""
    with uow:
        found = uow.carryover.reports(section_sis_id, student_sis_id)
    if student_sis_id is not None and not found:
        raise NotFoundError(f"no carry-over report for {student_sis_id} in {section_sis_id}")
    return found


def learner_reports(
    platform_id: int, learner_sub: str, context_id: str, *, uow: UnitOfWork
) -> list[Report]:
    """The launching learner's carry-over into the for-credit course of ``context_id``."""
    with uow:
        return uow.carryover.learner_reports(platform_id, learner_sub, context_id)


# --- the relay's part -----------------------------------------------------------------------------


def _reply(exc: PlatformGradebookError) -> SisReply:
    """A retryable failure as the relay's retry answer (throttling backs off, never fails)."""
    if exc.throttled:
        return SisReply(429, str(exc), exc.retry_after)
    status = exc.status if exc.status is not None and exc.status >= 500 else 503
    return SisReply(status, str(exc), exc.retry_after)


def _unusable(setup: PlanSetup) -> str | None:
    if setup.platform_id is None or not setup.issuer:
        return "no launch of the for-credit context recorded on the offering's platform"
    if setup.non_credit is None:
        return "no AGS endpoint known for the non-credit context (no launch of it carried one)"
    if setup.for_credit is None:
        return "no AGS endpoint known for the for-credit context (no launch of it carried one)"
    if not setup.learner_subs:
        return f"student {setup.student_sis_id} is not matched to a learner on the platform"
    return None


def _read_plan(
    setup: PlanSetup, gradebook: CarryoverGradebook
) -> tuple[list[PlannedItem], str]:
    assert setup.non_credit is not None and setup.for_credit is not None
    subs = setup.learner_subs
    old_items = gradebook.line_items(setup, setup.non_credit)
    new_items = gradebook.line_items(setup, setup.for_credit)
    old_results = {
        item.id: gradebook.results(setup, setup.non_credit, item, subs) for item in old_items
    }
    first = plan(old_items, old_results, new_items, {}, setup.kinds)
    # The for-credit results only where something would carry: never overwrite one (R5).
    new_results: dict[str, list[LearnerResult]] = {}
    for item in first.carried:
        assert item.for_credit is not None
        new_results[item.for_credit.id] = gradebook.results(
            setup, setup.for_credit, item.for_credit, subs
        )
    final = plan(old_items, old_results, new_items, new_results, setup.kinds)
    return list(final.items), subs[0]


def run_plan(
    payload: Mapping[str, Any],
    *,
    uow: Callable[[], UnitOfWork],
    gradebook: CarryoverGradebook,
    clock: Callable[[], datetime],
) -> SisReply:
    """Run one queued plan (a ``carryover.plan`` message); the answer the relay records."""
    section, student = str(payload["section_sis_id"]), str(payload["student_sis_id"])
    generation = int(payload["generation"])
    with uow() as work:
        setup = work.carryover.plan_setup(section, student)
    if setup is None or setup.generation != generation or setup.status is not ReportStatus.QUEUED:
        return SisReply(200, "nothing to do: the plan was superseded or already ran")
    if not setup.active:
        with uow() as work:
            work.carryover.cancel(setup, CANCELED_REASON, clock())
            work.commit()
        return SisReply(200, "canceled: " + CANCELED_REASON)
    problem = _unusable(setup)
    if problem is None:
        try:
            items, user_id = _read_plan(setup, gradebook)
        except PlatformGradebookError as exc:
            if exc.retryable:
                return _reply(exc)
            problem = str(exc)
    if problem is not None:
        with uow() as work:
            work.carryover.fail(setup, problem, clock())
            work.commit()
        log.warning("carry-over of %s into %s failed: %s", student, section, problem)
        return SisReply(422, problem)
    now = clock()
    assert setup.issuer is not None and setup.for_credit is not None
    written: list[tuple[PlannedItem, str | None]] = []
    messages: list[OutboxMessage] = []
    for item in items:
        key = None
        if item.outcome is Outcome.CARRY:
            assert item.for_credit is not None
            key = score_key(setup.issuer, item.for_credit.id, user_id)
            messages.append(
                OutboxMessage(
                    kind=AGS_SCORE,
                    key=key,
                    payload={
                        "issuer": setup.issuer,
                        "client_id": setup.client_id,
                        "lineitem": item.for_credit.id,
                        "scopes": list(setup.for_credit.scopes),
                        "score": score_body(item, user_id, now),
                        "section_sis_id": section,
                        "student_sis_id": student,
                    },
                    section_sis_id=section,
                    registration_sis_id=setup.registration_sis_id,
                )
            )
        written.append((item, key))
    with uow() as work:
        if not work.carryover.record_plan(setup, user_id, written, now):
            return SisReply(200, "nothing to do: another relay recorded this plan")
        # A score already queued under its key (an earlier plan) is not queued twice.
        held = work.carryover.key_states([m.key for m in messages]) if messages else {}
        fresh = [m for m in messages if m.key not in held]
        if fresh:
            work.outbox.enqueue_many(fresh, now)
        # A post withdrawn by a drop (or dead) goes again, as it was, for a learner back in
        # the section; one queued, in flight or accepted is left alone.
        for message in messages:
            if held.get(message.key) in (OutboxState.REJECTED, OutboxState.DEAD):
                entry = work.outbox.by_key(message.key)
                if entry is not None:
                    work.outbox.retry(entry.id, now)
        work.commit()
    log.info(
        "carry-over of %s into %s planned: %d to carry, %d already queued",
        student,
        section,
        len(fresh),
        len(messages) - len(fresh),
    )
    return SisReply(200, f"planned: {len(fresh)} scores queued")


def outcomes_summary(report: Report) -> str:
    """``carried 2, excluded 2, …`` for a CLI line or a roster cell's title."""
    parts = [
        f"{outcome.value.replace('_', ' ')} {report.count(outcome)}"
        for outcome in Outcome
        if report.count(outcome)
    ]
    return ", ".join(parts)


def carried_posts(report: Report) -> Sequence[tuple[str, OutboxState | None]]:
    return [
        (item.label, item.post_state) for item in report.items if item.outcome is Outcome.CARRY
    ]
