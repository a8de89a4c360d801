"""One relay round on the fake unit of work: claimed and committed before sending, each answer
recorded as the retry policy says, and nothing sent without lease to spare."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from lti_bridge.domain.errors import SisUnavailableError
from lti_bridge.domain.outbox import (
    SIS_RESULT,
    OutboxEntry,
    OutboxMessage,
    OutboxState,
    RetryPolicy,
    SisReply,
)
from lti_bridge.services.relay import RelaySettings, relay_once
from tests.fakes import FakeUnitOfWork

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
SETTINGS = RelaySettings(
    batch_size=10,
    lease_seconds=60,
    request_timeout_seconds=5,
    policy=RetryPolicy(base_seconds=2, cap_seconds=60, max_attempts=2),
)


class FakeSisGradebook:
    """Answers each sourcedId as told (a status, or no answer at all); notes what it was sent."""

    def __init__(self, uow: FakeUnitOfWork, answers: Mapping[str, int | None]) -> None:
        self.uow = uow
        self.answers = dict(answers)
        self.sent: list[str] = []

    def put_result(
        self, sourced_id: str, body: Mapping[str, Any], *, deadline: datetime | None = None
    ) -> SisReply:
        # The claim is committed before anything is sent, and no transaction is open meanwhile.
        assert not self.uow.in_transaction
        entry = self.uow.outbox.by_key(sourced_id)
        assert entry is not None and entry.state is OutboxState.SENT
        self.sent.append(sourced_id)
        status = self.answers.get(sourced_id, 200)
        if status is None:
            raise SisUnavailableError("no answer")
        return SisReply(status, "" if status < 300 else f"status {status}")

    def get_result(self, sourced_id: str) -> Mapping[str, Any] | None:
        return None


def queued(*keys: str) -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    with uow:
        for key in keys:
            uow.outbox.enqueue(OutboxMessage(SIS_RESULT, key, {"sourcedId": key}, "SEC-1"), NOW)
        uow.commit()
    return uow


def state(uow: FakeUnitOfWork, key: str) -> OutboxEntry:
    entry = uow.outbox.by_key(key)
    assert entry is not None
    return entry


def run(uow: FakeUnitOfWork, gradebook: Any, now: datetime = NOW, **kw: Any) -> Any:
    return relay_once(
        uow=lambda: uow,
        gradebook=gradebook,
        clock=lambda: now,
        settings=SETTINGS,
        rng=random.Random(1),
        **kw,
    )


def test_each_answer_is_recorded_as_the_retry_policy_says() -> None:
    uow = queued("ok", "bad", "busy", "silent")
    gradebook = FakeSisGradebook(uow, {"bad": 422, "busy": 503, "silent": None})

    stats = run(uow, gradebook)

    assert (stats.claimed, stats.accepted, stats.rejected, stats.retried) == (4, 1, 1, 2)
    assert state(uow, "ok").state is OutboxState.ACCEPTED
    rejected = state(uow, "bad")
    assert (rejected.state, rejected.last_status, rejected.last_error) == (
        OutboxState.REJECTED,
        422,
        "status 422",
    )
    for key in ("busy", "silent"):
        retried = state(uow, key)
        assert retried.state is OutboxState.QUEUED and retried.next_attempt_at > NOW
    assert state(uow, "silent").last_error == "no answer"
    assert uow.commits == 3  # enqueue, claim, outcomes


def test_a_message_out_of_retries_is_dead() -> None:
    uow = queued("busy")
    gradebook = FakeSisGradebook(uow, {"busy": 503})
    run(uow, gradebook)
    second = run(uow, gradebook, now=NOW + timedelta(minutes=5))
    assert second.dead == 1 and state(uow, "busy").state is OutboxState.DEAD


def test_nothing_due_sends_nothing() -> None:
    uow = FakeUnitOfWork()
    gradebook = FakeSisGradebook(uow, {})
    assert run(uow, gradebook).claimed == 0 and gradebook.sent == []


def test_other_kinds_go_to_their_sender() -> None:
    uow = FakeUnitOfWork()
    with uow:
        uow.outbox.enqueue(OutboxMessage("ags.score", "s1", {"scoreGiven": 1}), NOW)
        uow.commit()
    delivered: list[str] = []

    def send(entry: OutboxEntry, deadline: datetime) -> SisReply:
        delivered.append(entry.key)
        return SisReply(200)

    stats = run(uow, None, kinds=("ags.score",), senders={"ags.score": send})
    assert stats.accepted == 1 and delivered == ["s1"]
    assert state(uow, "s1").state is OutboxState.ACCEPTED


def test_a_claim_without_lease_to_spare_is_given_back_unsent() -> None:
    uow = queued("r1")
    gradebook = FakeSisGradebook(uow, {})
    short = RelaySettings(lease_seconds=5, request_timeout_seconds=5)
    stats = relay_once(uow=lambda: uow, gradebook=gradebook, clock=lambda: NOW, settings=short)
    assert stats.released == 1 and gradebook.sent == []
    entry = state(uow, "r1")
    assert (entry.state, entry.attempts) == (OutboxState.QUEUED, 0)
