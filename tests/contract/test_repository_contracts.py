"""What the use cases rely on from the unit of work and its repositories, run against the fake
(``tests/fakes.py``) and the SQL unit of work on SQLite and on PostgreSQL: one set of assertions,
so the fake the unit tests use cannot drift from the real thing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from lti_bridge.adapters.db.engine import make_engine
from lti_bridge.adapters.db.recent import RecentWrites
from lti_bridge.adapters.db.thread_connections import ThreadConnections
from lti_bridge.adapters.db.uow import SqlAlchemyUnitOfWork
from lti_bridge.domain.errors import (
    ConcurrentWriteError,
    NotFoundError,
    OutboxConflictError,
    ValidationError,
)
from lti_bridge.domain.model import LaunchContext, MessageType, PlatformRegistration
from lti_bridge.domain.outbox import SIS_RESULT, OutboxMessage, OutboxState
from lti_bridge.domain.sis import (
    Delivery,
    DeliveryOutcome,
    RegistrationSnapshot,
    RegistrationStatus,
    SessionInfo,
    SisSection,
    StudentRef,
    TuitionSnapshot,
    TuitionStatus,
)
from lti_bridge.services.grades_ports import Adjustment, AuditRecord, Submission
from lti_bridge.services.ports import UnitOfWork
from tests.conftest import empty_database
from tests.fakes import FakeUnitOfWork

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)


@pytest.fixture(params=["fake", "sqlite", "postgresql"])
def uow(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UnitOfWork]:
    """The fake unit of work, or the SQL one on a migrated, empty database."""
    if request.param == "fake":
        yield FakeUnitOfWork()
        return
    with empty_database(request, request.param, tmp_path) as url:
        engine = make_engine(url)
        statements = ThreadConnections(engine)
        try:
            yield SqlAlchemyUnitOfWork(engine, RecentWrites(), statements)
        finally:
            statements.close_all()
            engine.dispose()


def message(key: str, score: float = 91.5, section: str = "SEC-1") -> OutboxMessage:
    return OutboxMessage(
        SIS_RESULT, key, {"result": {"sourcedId": key, "score": score}}, section, f"reg-{key}"
    )


def enqueue(uow: UnitOfWork, *messages: OutboxMessage, now: datetime = NOW) -> list[int]:
    with uow:
        ids = [uow.outbox.enqueue(m, now) for m in messages]
        uow.commit()
    return ids


def utc(value: datetime | None) -> datetime | None:
    """``value`` in UTC: the SQL repositories read some times back from SQLite without a zone."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def keys(uow: UnitOfWork, section: str = "SEC-1") -> list[str]:
    with uow:
        return [e.key for e in uow.outbox.by_section(section)]


# --- the transaction -------------------------------------------------------------------------


def test_writes_of_a_with_left_without_commit_are_discarded(uow: UnitOfWork) -> None:
    with uow:
        uow.outbox.enqueue(message("r1"), NOW)
        uow.tokens.add("ops", "hash-1", None, NOW)
        uow.sis.add_delivery(delivery("msg_1"))
    with uow:
        assert uow.outbox.by_key("r1") is None
        assert uow.tokens.all() == []
        assert uow.sis.get_delivery("msg_1") is None


def test_a_commit_keeps_the_writes_before_it_and_not_those_after_it(uow: UnitOfWork) -> None:
    with uow:
        uow.outbox.enqueue(message("r1"), NOW)
        uow.commit()
        uow.outbox.enqueue(message("r2"), NOW)
    assert keys(uow) == ["r1"]


def test_an_error_leaving_the_with_discards_its_writes_and_goes_on(uow: UnitOfWork) -> None:
    with pytest.raises(RuntimeError), uow:
        uow.outbox.enqueue(message("r1"), NOW)
        raise RuntimeError("the use case failed")
    assert keys(uow) == []


def test_each_with_is_a_transaction_of_its_own(uow: UnitOfWork) -> None:
    enqueue(uow, message("r1"))
    with uow:
        uow.outbox.enqueue(message("r2"), NOW)
    enqueue(uow, message("r3"))
    assert keys(uow) == ["r1", "r3"]


# --- the outbox ------------------------------------------------------------------------------


def test_the_same_key_and_body_again_is_the_same_message(uow: UnitOfWork) -> None:
    (first,) = enqueue(uow, message("r1"))
    assert enqueue(uow, message("r1")) == [first]
    with uow:
        assert uow.outbox.enqueue_many([message("r2"), message("r1")], NOW)[1] == first
        uow.commit()
    with uow:
        entry = uow.outbox.get(first)
    assert entry is not None and entry.state is OutboxState.QUEUED and entry.attempts == 0
    assert entry.payload == {"result": {"sourcedId": "r1", "score": 91.5}}
    assert keys(uow) == ["r1", "r2"]


def test_another_body_under_a_used_key_is_refused(uow: UnitOfWork) -> None:
    enqueue(uow, message("r1"))
    with pytest.raises(OutboxConflictError):
        enqueue(uow, message("r1", score=55.0))
    with pytest.raises(OutboxConflictError), uow:
        uow.outbox.enqueue_many([message("r2"), message("r1", score=55.0)], NOW)
    with pytest.raises(ValidationError), uow:
        uow.outbox.enqueue_many([message("r3"), message("r3")], NOW)
    assert keys(uow) == ["r1"]


def test_a_claim_takes_due_messages_of_its_kinds_oldest_due_first(uow: UnitOfWork) -> None:
    enqueue(uow, message("late"), now=NOW + timedelta(seconds=1))
    enqueue(uow, message("r1"), message("r2"))
    enqueue(uow, OutboxMessage("ags.score", "s1", {"scoreGiven": 1}))
    enqueue(uow, message("future"), now=NOW + timedelta(hours=1))
    with uow:
        first = uow.outbox.claim([SIS_RESULT], LATER, limit=2, lease_seconds=60)
        second = uow.outbox.claim([SIS_RESULT], LATER, limit=10, lease_seconds=60)
        uow.commit()
    assert [c.entry.key for c in first] == ["r1", "r2"]
    assert [c.entry.key for c in second] == ["late"]
    for claim in first + second:
        assert claim.entry.state is OutboxState.SENT and claim.entry.attempts == 1
        assert claim.entry.lease_until == LATER + timedelta(seconds=60)
    with uow:
        assert uow.outbox.claim([SIS_RESULT], LATER, limit=10, lease_seconds=60) == []
        assert uow.outbox.next_due([SIS_RESULT]) == LATER + timedelta(seconds=60)
        assert uow.outbox.next_due(["ags.score"]) == NOW


def test_an_expired_lease_is_claimed_again_and_only_the_new_claim_records(
    uow: UnitOfWork,
) -> None:
    enqueue(uow, message("r1"))
    with uow:
        (old,) = uow.outbox.claim([SIS_RESULT], NOW, limit=10, lease_seconds=60)
        uow.commit()
    expired = NOW + timedelta(seconds=61)
    with uow:
        (new,) = uow.outbox.claim([SIS_RESULT], expired, limit=10, lease_seconds=60)
        assert not uow.outbox.finish(old, OutboxState.ACCEPTED, expired, status=200, error=None)
        assert not uow.outbox.reschedule(old, expired, expired, status=503, error=None)
        assert not uow.outbox.release(old, expired)
        assert uow.outbox.finish(new, OutboxState.REJECTED, expired, status=400, error="bad")
        assert not uow.outbox.finish(new, OutboxState.DEAD, expired, status=400, error="again")
        uow.commit()
    with uow:
        entry = uow.outbox.get(new.entry.id)
    assert entry is not None and entry.state is OutboxState.REJECTED and entry.attempts == 2
    assert (entry.last_status, entry.last_error, entry.finished_at) == (400, "bad", expired)


def test_a_rescheduled_message_waits_and_a_released_one_gives_its_attempt_back(
    uow: UnitOfWork,
) -> None:
    enqueue(uow, message("r1"), message("r2"))
    retry_at = NOW + timedelta(seconds=30)
    with uow:
        first, second = uow.outbox.claim([SIS_RESULT], NOW, limit=10, lease_seconds=60)
        assert uow.outbox.reschedule(first, retry_at, NOW, status=503, error="busy")
        assert uow.outbox.release(second, NOW)
        uow.commit()
    with uow:
        (again,) = uow.outbox.claim([SIS_RESULT], NOW, limit=10, lease_seconds=60)
        assert again.entry.key == "r2" and again.entry.attempts == 1
        assert uow.outbox.next_due([SIS_RESULT]) == retry_at
        (later,) = uow.outbox.claim([SIS_RESULT], retry_at, limit=10, lease_seconds=60)
    assert later.entry.key == "r1" and later.entry.attempts == 2
    assert (later.entry.last_status, later.entry.last_error) == (503, "busy")


def test_accept_many_records_only_claims_still_current(uow: UnitOfWork) -> None:
    enqueue(uow, message("r1"), message("r2"))
    with uow:
        old = uow.outbox.claim([SIS_RESULT], NOW, limit=1, lease_seconds=60)
        current = uow.outbox.claim([SIS_RESULT], NOW, limit=1, lease_seconds=60)
        uow.commit()
    expired = NOW + timedelta(seconds=61)
    with uow:
        uow.outbox.claim([SIS_RESULT], expired, limit=1, lease_seconds=60)
        recorded = uow.outbox.accept_many([*old, *current], expired, status=201)
        uow.commit()
    assert recorded == {current[0].entry.id}
    with uow:
        counts = uow.outbox.counts()
        accepted = uow.outbox.list(state=OutboxState.ACCEPTED)
    assert (counts[OutboxState.ACCEPTED], counts[OutboxState.SENT]) == (1, 1)
    assert [e.last_status for e in accepted] == [201]


def test_retry_queues_a_finished_message_afresh_but_never_an_accepted_or_one_in_flight(
    uow: UnitOfWork,
) -> None:
    enqueue(uow, message("r1"), message("r2"), message("r3"))
    with uow:
        dead, accepted, flying = uow.outbox.claim([SIS_RESULT], NOW, limit=10, lease_seconds=60)
        uow.outbox.finish(dead, OutboxState.DEAD, NOW, status=503, error="gave up")
        uow.outbox.finish(accepted, OutboxState.ACCEPTED, NOW, status=200, error=None)
        uow.commit()
    with uow:
        entry = uow.outbox.retry(dead.entry.id, LATER)
        uow.commit()
    assert (entry.state, entry.attempts, entry.finished_at) == (OutboxState.QUEUED, 0, None)
    assert entry.next_attempt_at == LATER
    with pytest.raises(ValidationError, match="R13"), uow:
        uow.outbox.retry(accepted.entry.id, LATER)
    with pytest.raises(ValidationError, match="in flight"), uow:
        uow.outbox.retry(flying.entry.id, NOW + timedelta(seconds=30))
    with pytest.raises(NotFoundError), uow:
        uow.outbox.retry(999, LATER)


def test_the_outbox_is_read_by_key_section_state_and_age(uow: UnitOfWork) -> None:
    enqueue(uow, message("r1"), message("r2"), message("x1", section="SEC-2"))
    with uow:
        assert [e.key for e in uow.outbox.list()] == ["x1", "r2", "r1"]
        assert [e.key for e in uow.outbox.list(limit=1)] == ["x1"]
        assert uow.outbox.list(state=OutboxState.DEAD) == []
        found = uow.outbox.by_key("r2")
        assert found is not None and found.message == message("r2")
        assert uow.outbox.by_key("nope") is None
        assert uow.outbox.get(999) is None
        assert [e.key for e in uow.outbox.by_section("SEC-2")] == ["x1"]
        assert uow.outbox.counts()[OutboxState.QUEUED] == 3
        depth = uow.outbox.depth(LATER)
    assert depth[OutboxState.QUEUED] == (3, 300.0)
    assert depth[OutboxState.DEAD] == (0, None)


# --- SIS events ------------------------------------------------------------------------------


def delivery(webhook_id: str, type: str = "enrollment.registered") -> Delivery:
    return Delivery(webhook_id, type, 1, NOW, DeliveryOutcome.APPLIED, {"id": webhook_id})


STUDENT = StudentRef("110123456", "ab12@example.edu")
SESSION = SessionInfo(
    "2026-S1",
    NOW.date(),
    NOW.date() + timedelta(days=50),
    NOW - timedelta(days=30),
    NOW + timedelta(days=10),
)
SECTION = SisSection("DTSA5509-100-2026S1", "DTSA 5509", 3)


def snapshot(status: str = "registered") -> RegistrationSnapshot:
    return RegistrationSnapshot("reg-1", RegistrationStatus(status), SECTION, SESSION, NOW)


PAID = TuitionSnapshot(TuitionStatus.PAID, 200100, "USD")


def test_a_webhook_id_is_recorded_once_and_read_back(uow: UnitOfWork) -> None:
    with uow:
        assert uow.sis.add_delivery(delivery("msg_1"))
        assert not uow.sis.add_delivery(delivery("msg_1", type="student.hold_placed"))
        assert uow.sis.add_delivery(delivery("msg_2", type="webhook.test"))
        assert uow.sis.add_delivery(delivery("msg_3"))
        uow.sis.set_delivery_outcome("msg_3", DeliveryOutcome.STALE, "older")
        uow.commit()
    with uow:
        found = uow.sis.get_delivery("msg_1")
        stale = uow.sis.get_delivery("msg_3")
        newest = uow.sis.list_deliveries(limit=2)
        registered = uow.sis.list_deliveries(limit=10, type="enrollment.registered")
        assert uow.sis.get_delivery("msg_x") is None
    assert found is not None
    assert (found.type, found.sequence, found.received_at) == ("enrollment.registered", 1, NOW)
    assert (found.outcome, found.payload) == (DeliveryOutcome.APPLIED, {"id": "msg_1"})
    assert stale is not None and (stale.outcome, stale.error) == (DeliveryOutcome.STALE, "older")
    assert [d.webhook_id for d in newest] == ["msg_3", "msg_2"]
    assert [d.webhook_id for d in registered] == ["msg_3", "msg_1"]


def test_a_registration_snapshot_applies_only_when_its_sequence_is_newer(
    uow: UnitOfWork,
) -> None:
    with uow:
        assert uow.sis.save_registration(STUDENT, snapshot(), PAID, 2, NOW)
        uow.sis.save_student(STUDENT, NOW)
        uow.sis.save_offering(SECTION, SESSION)
        assert not uow.sis.save_registration(STUDENT, snapshot("dropped"), PAID, 2, NOW)
        assert not uow.sis.save_registration(STUDENT, snapshot("dropped"), PAID, 1, NOW)
        assert uow.sis.save_registration(STUDENT, snapshot("dropped"), PAID, 3, NOW)
        uow.commit()
    with uow:
        assert not uow.sis.save_registration(STUDENT, snapshot(), PAID, 3, NOW)


def test_holds_and_onboarding_apply_only_when_their_sequence_is_newer(uow: UnitOfWork) -> None:
    with uow:
        assert uow.sis.save_hold(STUDENT, True, "FIN", 5, NOW)
        assert not uow.sis.save_hold(STUDENT, False, None, 5, NOW)
        assert not uow.sis.save_hold(STUDENT, False, None, 4, NOW)
        assert uow.sis.save_hold(STUDENT, False, None, 6, NOW)
        assert uow.sis.save_onboarding_passed(STUDENT, NOW, 1, NOW)
        assert not uow.sis.save_onboarding_passed(STUDENT, NOW, 1, NOW)
        assert uow.sis.save_onboarding_passed(STUDENT, NOW, 2, NOW)
        uow.commit()


# --- final grades ----------------------------------------------------------------------------


def submission(registration: str, version: int, letter: str = "A") -> Submission:
    return Submission(
        registration_sis_id=registration,
        student_sis_id=f"s-{registration}",
        version=version,
        sourced_id=f"{registration}-v{version}",
        letter=letter,
        percent=Decimal("91.50"),
        last_attended=None,
        incomplete_grade=None,
        incomplete_until=None,
        reason=None if version == 1 else "regraded",
        released_by="grace",
        released_at=NOW,
    )


def test_submissions_are_read_by_registration_oldest_version_first(uow: UnitOfWork) -> None:
    with uow:
        uow.grades.add_submissions("SEC-1", [submission("reg-b", 1), submission("reg-a", 1)])
        uow.grades.add_submissions("SEC-1", [submission("reg-a", 2, "B")])
        uow.grades.add_submissions("SEC-2", [submission("reg-c", 1)])
        uow.grades.add_submissions("SEC-1", [])
        uow.commit()
    with uow:
        found = uow.grades.submissions("SEC-1")
    assert {r: [s.version for s in held] for r, held in found.items()} == {
        "reg-a": [1, 2],
        "reg-b": [1],
    }
    held = found["reg-a"][1]
    assert replace(held, released_at=utc(held.released_at)) == submission("reg-a", 2, "B")


def test_a_second_submission_of_the_same_version_fails_the_transaction(uow: UnitOfWork) -> None:
    with uow:
        uow.grades.add_submissions("SEC-1", [submission("reg-a", 1)])
        uow.commit()
    with pytest.raises(ConcurrentWriteError), uow:
        uow.grades.add_submissions("SEC-1", [submission("reg-b", 1)])
        uow.grades.add_submissions("SEC-1", [replace(submission("reg-a", 1), sourced_id="x")])
    with uow:
        assert list(uow.grades.submissions("SEC-1")) == ["reg-a"]


def test_an_adjustment_is_one_per_registration_and_the_audit_reads_newest_first(
    uow: UnitOfWork,
) -> None:
    first = Adjustment("reg-a", "A", "extra credit", False, None, "grace", NOW)
    second = replace(first, incomplete=True, incomplete_reason="illness", updated_at=LATER)
    with uow:
        uow.grades.save_adjustment("SEC-1", first)
        uow.grades.save_adjustment("SEC-1", second)
        uow.grades.audit("SEC-1", AuditRecord("reg-a", "override", "A", "extra", "grace", NOW))
        release = AuditRecord(None, "release", None, None, "grace", LATER, {"n": 1})
        uow.grades.audit("SEC-1", release)
        uow.grades.audit("SEC-2", AuditRecord(None, "release", None, None, "ian", NOW))
        uow.commit()
    with uow:
        adjustments = uow.grades.adjustments("SEC-1")
        assert uow.grades.adjustments("SEC-2") == {}
        history = uow.grades.history("SEC-1")
    (held,) = adjustments.values()
    assert replace(held, updated_at=utc(held.updated_at)) == second
    assert [(r.action, r.detail) for r in history] == [("release", {"n": 1}), ("override", None)]


# --- operator tokens -------------------------------------------------------------------------


def test_a_token_is_found_by_name_and_hash_revoked_once_and_its_uses_recorded(
    uow: UnitOfWork,
) -> None:
    with uow:
        uow.tokens.add("ops", "hash-ops", ["SEC-1", "SEC-2"], NOW)
        uow.tokens.add("all", "hash-all", None, NOW)
        uow.commit()
    with uow:
        ops = uow.tokens.by_hash("hash-ops")
        assert uow.tokens.by_hash("hash-nope") is None and uow.tokens.by_name("nope") is None
        assert [t.name for t in uow.tokens.all()] == ["all", "ops"]
        uow.tokens.record_use("ops", "SEC-1", "allowed", LATER)
        uow.tokens.record_use("all", "SEC-9", "revoked", LATER)
        assert uow.tokens.revoke("all", LATER)
        assert uow.tokens.revoke("all", LATER + timedelta(minutes=1))
        assert not uow.tokens.revoke("nope", LATER)
        uow.commit()
    assert ops is not None and ops.name == "ops" and ops.sections == ("SEC-1", "SEC-2")
    assert ops.may_read("SEC-2") and not ops.may_read("SEC-3")
    with uow:
        used, revoked = uow.tokens.by_name("ops"), uow.tokens.by_name("all")
    assert used is not None and (utc(used.last_used_at), used.revoked_at) == (LATER, None)
    assert revoked is not None and (utc(revoked.revoked_at), revoked.last_used_at) == (LATER, None)
    assert revoked.sections is None and revoked.may_read("SEC-9")


def test_a_token_name_is_taken_once(uow: UnitOfWork) -> None:
    with uow:
        uow.tokens.add("ops", "hash-1", None, NOW)
        uow.commit()
    with pytest.raises(ConcurrentWriteError), uow:
        uow.tokens.add("ops", "hash-2", None, NOW)


# --- platforms, launches and onboarding ------------------------------------------------------


def platform(client_id: str = "tool", key_set_url: str = "https://lms.example.edu/jwks") -> (
    PlatformRegistration
):
    return PlatformRegistration(
        "https://lms.example.edu",
        client_id,
        "https://lms.example.edu/auth",
        "https://lms.example.edu/token",
        key_set_url,
    )


def test_a_platform_is_one_per_issuer_and_client_with_its_deployments(uow: UnitOfWork) -> None:
    with uow:
        first = uow.lti.save_platform(platform(), NOW)
        assert uow.lti.save_platform(platform(key_set_url="https://new/jwks"), NOW) == first
        assert uow.lti.add_platform(platform(), NOW) is None
        other = uow.lti.add_platform(platform("other"), NOW)
        assert uow.lti.add_deployment(first, "d1", NOW)
        assert not uow.lti.add_deployment(first, "d1", NOW)
        assert uow.lti.add_deployment(first, "d2", NOW)
        uow.commit()
    with uow:
        listed = uow.lti.list_platforms()
    assert [(p.id, p.client_id, p.deployment_ids) for p in listed] == [
        (first, "tool", ("d1", "d2")),
        (other, "other", ()),
    ]
    assert listed[0].key_set_url == "https://new/jwks"


def learner_launch(sub: str) -> LaunchContext:
    """A learner's launch on ``platform()``."""
    return LaunchContext(
        issuer="https://lms.example.edu",
        client_id="tool",
        deployment_id="d1",
        message_type=MessageType.RESOURCE_LINK,
        user_sub=sub,
        roles=(),
    )


def test_an_onboarding_pass_is_recorded_once_for_a_learner_who_launched(uow: UnitOfWork) -> None:
    with uow:
        platform_id = uow.lti.save_platform(platform(), NOW)
        uow.commit()
    launch = learner_launch("ada")
    with uow:
        assert uow.onboarding.record_pass(platform_id, "ada", NOW) is None
    with uow:
        learner_id = uow.lti.record_launch(platform_id, launch, NOW)
        uow.commit()
    with uow:
        assert uow.lti.record_launch(platform_id, launch, LATER) == learner_id
        assert uow.onboarding.passed_at(platform_id, "ada") is None
        assert uow.onboarding.record_pass(platform_id, "ada", NOW) == (NOW, True)
        uow.commit()
    with uow:
        assert uow.onboarding.record_pass(platform_id, "ada", LATER) == (NOW, False)
        assert uow.onboarding.passed_at(platform_id, "ada") == NOW


def test_launch_bookkeeping_stays_written_when_the_with_is_left_without_commit(
    uow: UnitOfWork,
) -> None:
    with uow:
        platform_id = uow.lti.save_platform(platform(), NOW)
        uow.commit()
    launch = learner_launch("grace")
    with uow:
        learner_id = uow.lti.record_launch(platform_id, launch, NOW)
    with uow:
        # The learner is known (an onboarding pass is recorded only for one who launched) ...
        assert uow.onboarding.record_pass(platform_id, "grace", NOW) == (NOW, True)
        # ... and a later launch finds the same learner.
        assert uow.lti.record_launch(platform_id, launch, LATER) == learner_id
