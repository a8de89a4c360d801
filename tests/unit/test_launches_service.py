"""The launch use case on the fake unit of work: what it records, and that the first access to
restricted content is committed durably while other launches are not asked to be."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

from lti_bridge.domain.model import LaunchContext, MessageType
from lti_bridge.domain.policy import (
    GateSettings,
    LearnerState,
    RegistrationState,
    RegistrationStatus,
    SectionInfo,
    SessionWindow,
    TuitionStatus,
)
from lti_bridge.services.gate_ports import GateFacts
from lti_bridge.services.launches import record_launch
from tests.fakes import FakeUnitOfWork

NOW = datetime(2024, 1, 20, 12, 0, tzinfo=UTC)
S1 = SessionWindow(
    "2024-S1",
    date(2024, 1, 15),
    date(2024, 3, 8),
    datetime(2024, 1, 1, 16, 0, tzinfo=UTC),
    datetime(2024, 2, 23, 23, 59, 59, tzinfo=UTC),
)
SECTION = SectionInfo("DTSA5509-100-2024S1", "DTSA 5509", 3, S1)
PAID = RegistrationState("reg-1", RegistrationStatus.REGISTERED, TuitionStatus.PAID)
SETTINGS = GateSettings(max_courses_per_session=3, max_program_years=8)
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"


def launch(access: str = "for_credit", role: str = LEARNER) -> LaunchContext:
    return LaunchContext(
        issuer="https://lms.example.edu",
        client_id="c",
        deployment_id="d",
        message_type=MessageType.RESOURCE_LINK,
        user_sub="learner-1",
        roles=(role,),
        context_id="course-1",
        resource_link_id="link-1",
        custom={"access": access},
    )


def uow(registration: RegistrationState | None = PAID) -> FakeUnitOfWork:
    work = FakeUnitOfWork()
    learner = LearnerState("s-1", onboarding_passed=True)
    work.gate.facts_by_sub["learner-1"] = GateFacts(learner, SECTION, registration)
    return work


def test_a_first_access_is_recorded_and_committed_durably() -> None:
    work = uow()
    recorded = record_launch(launch(), platform_id=1, uow=work, now=NOW, gate=SETTINGS)
    assert recorded.learner_id == work.lti.learners[(1, "learner-1")]
    assert recorded.decision is not None and recorded.decision.first_access
    assert work.gate.first_access == {"reg-1": NOW}
    assert work.durable == [True]


def test_a_later_opening_records_nothing_and_asks_no_durability() -> None:
    opened = replace(PAID, first_restricted_access_at=datetime(2024, 1, 16, tzinfo=UTC))
    work = uow(opened)
    recorded = record_launch(launch(), platform_id=1, uow=work, now=NOW, gate=SETTINGS)
    assert recorded.decision is not None and recorded.decision.allowed
    assert work.gate.first_access == {} and work.durable == [False]


def test_a_refusal_records_no_first_access() -> None:
    unpaid = replace(PAID, tuition_status=TuitionStatus.UNPAID)
    work = uow(unpaid)
    recorded = record_launch(launch(), platform_id=1, uow=work, now=NOW, gate=SETTINGS)
    assert recorded.decision is not None and not recorded.decision.allowed
    assert work.gate.first_access == {} and work.durable == [False]


def test_open_content_and_staff_are_recorded_without_the_gate() -> None:
    for context in (launch(access="open"), launch(role=LEARNER.replace("Learner", "Instructor"))):
        work = uow()
        recorded = record_launch(context, platform_id=1, uow=work, now=NOW, gate=SETTINGS)
        assert recorded.decision is None
        assert work.lti.launches == [(1, context)] and work.durable == [False]

