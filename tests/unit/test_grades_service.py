"""The grades use cases on the fake unit of work (no database, no network): who is released,
when a reason is needed, what a version is, and what is refused."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from lti_bridge.domain.errors import NotFoundError, ValidationError
from lti_bridge.domain.grading import (
    GradebookItem,
    GradingScheme,
    ItemResult,
    ScaleBand,
    SectionGradebook,
    result_sourced_id,
)
from lti_bridge.domain.outbox import OutboxState
from lti_bridge.services import grades as svc
from lti_bridge.services.grades import GradebookUnavailableError, Standing
from lti_bridge.services.grades_ports import GradedStudent, GradingSetup
from tests.fakes import FakeUnitOfWork

NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)
SECTION = "SEC-1"
SCHEME = GradingScheme(
    scale=(ScaleBand(Decimal(90), "A"), ScaleBand(Decimal(80), "B"), ScaleBand(Decimal(0), "F")),
    weights={"exam": Decimal(1)},
)
SETUP = GradingSetup(
    SECTION, "DTSA 5509", 3, "2026-S1", date(2026, 3, 1), SCHEME, "ctx", 1, "https://lms",
    "client", "https://lms/lineitems",
)


class FakeGradebook:
    def __init__(self, scores: Mapping[str, int]) -> None:
        self.scores = dict(scores)

    def read(self, setup: GradingSetup) -> SectionGradebook:
        item = GradebookItem("exam", "Exam", Decimal(100), tag="exam")
        return SectionGradebook(
            (item,),
            {
                sub: {"exam": ItemResult("exam", Decimal(score))}
                for sub, score in self.scores.items()
            },
        )


def student(name: str, status: str = "registered", tuition: str = "paid") -> GradedStudent:
    return GradedStudent(f"reg-{name}", f"s-{name}", status, tuition, name, (f"u-{name}",))


@pytest.fixture
def uow() -> FakeUnitOfWork:
    work = FakeUnitOfWork()
    work.grades.setups[SECTION] = SETUP
    work.grades.students_by_section[SECTION] = [
        student("ada"),
        student("ben"),
        student("carl", status="withdrawn"),
        student("dana", tuition="refunded"),
        student("eve"),
    ]
    return work


def release(uow: FakeUnitOfWork, scores: Mapping[str, int], reason: str | None = None) -> Any:
    report = svc.grade_report(SECTION, uow=uow, gradebook=FakeGradebook(scores), now=NOW)
    return svc.release_grades(report, uow=uow, now=NOW, actor="grace", reason=reason)


SCORES = {"u-ada": 95, "u-ben": 85, "u-carl": 99, "u-dana": 99}


def test_only_registered_paid_learners_with_a_grade_are_queued(uow: FakeUnitOfWork) -> None:
    summary = release(uow, SCORES)

    # Eve has no result; the session has ended, so her exam counts zero: an F, released.
    assert [r for r, _, _ in summary.queued] == ["reg-ada", "reg-ben", "reg-eve"]
    assert summary.not_eligible == 2
    assert [m.payload["result"]["textScore"] for m in uow.outbox.messages()] == ["A", "B", "F"]
    assert [m.key for m in uow.outbox.messages()][0] == result_sourced_id("reg-ada", 1)
    assert uow.commits == 1
    assert uow.grades.actions()[-1] == "release"


def test_a_change_needs_a_reason_and_becomes_the_next_version(uow: FakeUnitOfWork) -> None:
    release(uow, SCORES)
    changed = SCORES | {"u-ben": 91}

    refused = release(uow, changed)
    assert refused.queued == () and refused.needs_reason == ("reg-ben",)
    assert refused.unchanged == 2

    summary = release(uow, changed, reason="regraded")
    assert summary.queued == (("reg-ben", 2, result_sourced_id("reg-ben", 2)),)
    body = uow.outbox.messages()[-1].payload["result"]
    assert (body["textScore"], body["metadata"]["ext:changeReason"]) == ("A", "regraded")


def test_a_reason_alone_sends_nothing_unchanged(uow: FakeUnitOfWork) -> None:
    release(uow, SCORES)
    again = release(uow, SCORES, reason="just in case")
    assert again.queued == () and again.unchanged == 3


def test_standings_name_why_a_learner_is_or_is_not_released(uow: FakeUnitOfWork) -> None:
    report = svc.grade_report(SECTION, uow=uow, gradebook=FakeGradebook(SCORES), now=NOW)
    standings = {r.student.registration_sis_id: r.standing for r in report.rows}
    assert standings == {
        "reg-ada": Standing.READY,
        "reg-ben": Standing.READY,
        "reg-carl": Standing.NEVER,
        "reg-dana": Standing.NOT_PAID,
        "reg-eve": Standing.READY,
    }
    assert report.post_by == date(2026, 3, 15)


def test_overrides_and_incompletes_need_a_reason_and_a_known_learner(uow: FakeUnitOfWork) -> None:
    def override(registration: str, letter: str | None, reason: str | None) -> Any:
        return svc.override_grade(
            SECTION, registration, letter, reason, uow=uow, now=NOW, actor="grace"
        )

    with pytest.raises(ValidationError):
        override("reg-ada", "A", None)
    with pytest.raises(ValidationError, match="not in the scale"):
        override("reg-ada", "A+", "typo")
    with pytest.raises(NotFoundError):
        override("reg-zed", "A", "not in the section")
    with pytest.raises(ValidationError, match="reason of 1001 characters"):
        override("reg-ada", "A", "x" * 1001)
    override("reg-ben", "A", "extra credit")
    svc.mark_incomplete(
        SECTION, "reg-eve", True, "illness", uow=uow, now=NOW, actor="grace"
    )

    summary = release(uow, SCORES)
    messages = uow.outbox.messages()
    letters = {m.registration_sis_id: m.payload["result"]["textScore"] for m in messages}
    assert letters == {"reg-ada": "A", "reg-ben": "A", "reg-eve": "I"}
    assert len(summary.queued) == 3
    assert uow.grades.actions()[:2] == ["override", "incomplete"]


def test_a_section_without_grading_or_gradebook_address_is_refused(uow: FakeUnitOfWork) -> None:
    del uow.grades.setups[SECTION]
    with pytest.raises(NotFoundError):
        release(uow, SCORES)
    uow.grades.setups[SECTION] = GradingSetup(
        SECTION, "DTSA 5509", 3, "2026-S1", None, SCHEME, "ctx"
    )
    with pytest.raises(GradebookUnavailableError):
        release(uow, SCORES)


def test_a_rejected_submission_is_sent_again_as_it_was_and_the_resend_audited(
    uow: FakeUnitOfWork,
) -> None:
    release(uow, SCORES)
    with uow:
        claims = uow.outbox.claim(["sis.result"], NOW, limit=10, lease_seconds=60)
        (ada,) = [c for c in claims if c.entry.message.registration_sis_id == "reg-ada"]
        uow.outbox.finish(ada, OutboxState.REJECTED, NOW, status=400, error="unknown term")
        uow.commit()

    def send_again(registration: str, version: int) -> Any:
        return svc.send_again(SECTION, registration, version, uow=uow, now=NOW, actor="grace")

    with pytest.raises(ValidationError, match="is sent"):
        send_again("reg-ben", 1)  # in flight: not rejected or dead
    with pytest.raises(NotFoundError):
        send_again("reg-ada", 2)
    entry = send_again("reg-ada", 1)

    assert entry.state is OutboxState.QUEUED and entry.attempts == 0
    assert entry.key == result_sourced_id("reg-ada", 1)
    assert entry.payload == ada.entry.payload
    assert uow.grades.actions()[-1] == "send_again"
    report = svc.grade_report(SECTION, uow=uow, gradebook=FakeGradebook(SCORES), now=NOW)
    row = report.row("reg-ada")
    assert row is not None and row.delivery == "queued" and row.standing is Standing.RELEASED


def test_a_refused_override_writes_nothing(uow: FakeUnitOfWork) -> None:
    with pytest.raises(ValidationError):
        svc.override_grade(SECTION, "reg-ada", "A+", "typo", uow=uow, now=NOW, actor="grace")
    assert uow.grades.adjustments(SECTION) == {} and uow.grades.actions() == []
    assert uow.commits == 0
