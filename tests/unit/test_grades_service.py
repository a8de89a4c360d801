"""The grades use cases against fakes of their ports (no database, no network): who is released,
when a reason is needed, what a version is, and what is refused."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Self

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
from lti_bridge.domain.outbox import OutboxMessage
from lti_bridge.services import grades as svc
from lti_bridge.services.grades import GradebookUnavailableError, Standing
from lti_bridge.services.grades_ports import (
    Adjustment,
    AuditRecord,
    GradedStudent,
    GradingSetup,
    Submission,
)

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


@dataclass
class FakeGrades:
    setup_: GradingSetup | None = SETUP
    students_: list[GradedStudent] = field(default_factory=list)
    adjustments_: dict[str, Adjustment] = field(default_factory=dict)
    stored: list[Submission] = field(default_factory=list)
    audited: list[AuditRecord] = field(default_factory=list)

    def setup(self, section_sis_id: str, platform_id: int | None = None) -> GradingSetup | None:
        return self.setup_

    def students(
        self, section_sis_id: str, platform_id: int | None, *, link_by_email: bool = False
    ) -> list[GradedStudent]:
        return list(self.students_)

    def adjustments(self, section_sis_id: str) -> dict[str, Adjustment]:
        return dict(self.adjustments_)

    def submissions(self, section_sis_id: str) -> dict[str, list[Submission]]:
        found: dict[str, list[Submission]] = {}
        for s in sorted(self.stored, key=lambda s: s.version):
            found.setdefault(s.registration_sis_id, []).append(s)
        return found

    def save_adjustment(self, section_sis_id: str, adjustment: Adjustment) -> None:
        self.adjustments_[adjustment.registration_sis_id] = adjustment

    def add_submissions(self, section_sis_id: str, submissions: Sequence[Submission]) -> None:
        self.stored.extend(submissions)

    def audit(self, section_sis_id: str, record: AuditRecord) -> None:
        self.audited.append(record)

    def history(self, section_sis_id: str) -> list[AuditRecord]:
        return list(reversed(self.audited))


@dataclass
class FakeOutbox:
    messages: list[OutboxMessage] = field(default_factory=list)

    def enqueue_many(self, messages: Sequence[OutboxMessage], now: datetime) -> list[int]:
        start = len(self.messages)
        self.messages.extend(messages)
        return list(range(start + 1, start + 1 + len(messages)))

    def by_section(self, section_sis_id: str) -> list[Any]:
        return []


class FakeUow:
    def __init__(self) -> None:
        self.grades = FakeGrades()
        self.outbox = FakeOutbox()
        self.commits = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def commit(self) -> None:
        self.commits += 1


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
def uow() -> FakeUow:
    work = FakeUow()
    work.grades.students_ = [
        student("ada"),
        student("ben"),
        student("carl", status="withdrawn"),
        student("dana", tuition="refunded"),
        student("eve"),
    ]
    return work


def release(uow: FakeUow, scores: Mapping[str, int], reason: str | None = None) -> Any:
    report = svc.grade_report(SECTION, uow=uow, gradebook=FakeGradebook(scores), now=NOW)
    return svc.release_grades(report, uow=uow, now=NOW, actor="grace", reason=reason)


SCORES = {"u-ada": 95, "u-ben": 85, "u-carl": 99, "u-dana": 99}


def test_only_registered_paid_learners_with_a_grade_are_queued(uow: FakeUow) -> None:
    summary = release(uow, SCORES)

    # Eve has no result; the session has ended, so her exam counts zero: an F, released.
    assert [r for r, _, _ in summary.queued] == ["reg-ada", "reg-ben", "reg-eve"]
    assert summary.not_eligible == 2
    assert [m.payload["result"]["textScore"] for m in uow.outbox.messages] == ["A", "B", "F"]
    assert [m.key for m in uow.outbox.messages][0] == result_sourced_id("reg-ada", 1)
    assert uow.commits == 1
    assert uow.grades.audited[-1].action == "release"


def test_a_change_needs_a_reason_and_becomes_the_next_version(uow: FakeUow) -> None:
    release(uow, SCORES)
    changed = SCORES | {"u-ben": 91}

    refused = release(uow, changed)
    assert refused.queued == () and refused.needs_reason == ("reg-ben",)
    assert refused.unchanged == 2

    summary = release(uow, changed, reason="regraded")
    assert summary.queued == (("reg-ben", 2, result_sourced_id("reg-ben", 2)),)
    body = uow.outbox.messages[-1].payload["result"]
    assert (body["textScore"], body["metadata"]["ext:changeReason"]) == ("A", "regraded")


def test_a_reason_alone_sends_nothing_unchanged(uow: FakeUow) -> None:
    release(uow, SCORES)
    again = release(uow, SCORES, reason="just in case")
    assert again.queued == () and again.unchanged == 3


def test_standings_name_why_a_learner_is_or_is_not_released(uow: FakeUow) -> None:
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


def test_overrides_and_incompletes_need_a_reason_and_a_known_learner(uow: FakeUow) -> None:
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
    letters = {m.registration_sis_id: m.payload["result"]["textScore"] for m in uow.outbox.messages}
    assert letters == {"reg-ada": "A", "reg-ben": "A", "reg-eve": "I"}
    assert len(summary.queued) == 3
    assert [a.action for a in uow.grades.audited[:2]] == ["override", "incomplete"]


def test_a_section_without_grading_or_gradebook_address_is_refused(uow: FakeUow) -> None:
    uow.grades.setup_ = None
    with pytest.raises(NotFoundError):
        release(uow, SCORES)
    uow.grades.setup_ = GradingSetup(
        SECTION, "DTSA 5509", 3, "2026-S1", None, SCHEME, "ctx"
    )
    with pytest.raises(GradebookUnavailableError):
        release(uow, SCORES)
