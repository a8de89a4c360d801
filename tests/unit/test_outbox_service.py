"""The operator's outbox use cases on the fake unit of work: list, depth, retry, reconcile."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lti_bridge.domain.errors import SisUnavailableError, ValidationError
from lti_bridge.domain.outbox import SIS_RESULT, OutboxMessage, OutboxState, SisReply
from lti_bridge.services.outbox import list_outbox, outbox_depth, reconcile_section, retry_outbox
from tests.fakes import FakeUnitOfWork

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=10)


def result(key: str, score: float = 91.5) -> OutboxMessage:
    return OutboxMessage(SIS_RESULT, key, {"result": {"sourcedId": key, "score": score}}, "SEC-1")


def queued(*messages: OutboxMessage) -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    with uow:
        uow.outbox.enqueue_many(messages, NOW)
        uow.commit()
    return uow


def finish(uow: FakeUnitOfWork, *states: OutboxState) -> None:
    """Claim the queued messages and finish them in ``states``, in order."""
    with uow:
        claims = uow.outbox.claim([SIS_RESULT], NOW, limit=len(states), lease_seconds=60)
        for claim, state in zip(claims, states, strict=True):
            uow.outbox.finish(claim, state, NOW, status=200, error=None)
        uow.commit()


def test_the_outbox_is_listed_newest_first_with_counts_per_state() -> None:
    uow = queued(result("r1"), result("r2"), result("r3"))
    finish(uow, OutboxState.DEAD)

    entries, counts = list_outbox(uow=uow)
    assert [e.key for e in entries] == ["r3", "r2", "r1"]
    assert (counts[OutboxState.QUEUED], counts[OutboxState.DEAD]) == (2, 1)
    dead, _ = list_outbox(uow=uow, state=OutboxState.DEAD)
    assert [e.key for e in dead] == ["r1"]
    assert [e.key for e in list_outbox(uow=uow, limit=1)[0]] == ["r3"]
    assert uow.commits == 2  # listing writes nothing


def test_the_depth_is_per_state_with_the_oldest_age() -> None:
    uow = queued(result("r1"))
    depth = outbox_depth(uow=uow, now=LATER)
    assert depth["queued"] == (1, 600.0) and depth["dead"] == (0, None)


def test_a_dead_message_is_retried_at_once_but_an_accepted_one_is_not() -> None:
    uow = queued(result("r1"), result("r2"))
    finish(uow, OutboxState.DEAD, OutboxState.ACCEPTED)
    dead, accepted = (uow.outbox.by_key(k) for k in ("r1", "r2"))
    assert dead is not None and accepted is not None

    entry = retry_outbox(dead.id, uow=uow, now=LATER)
    assert (entry.state, entry.attempts, entry.next_attempt_at) == (OutboxState.QUEUED, 0, LATER)
    assert uow.commits == 3
    with pytest.raises(ValidationError):
        retry_outbox(accepted.id, uow=uow, now=LATER)
    assert uow.commits == 3


class FakeSisGradebook:
    def __init__(self, held: Mapping[str, Mapping[str, Any] | None | Exception]) -> None:
        self.held = dict(held)
        self.asked: list[str] = []

    def put_result(
        self, sourced_id: str, body: Mapping[str, Any], *, deadline: datetime | None = None
    ) -> SisReply:
        raise AssertionError("reconciling only reads")

    def get_result(self, sourced_id: str) -> Mapping[str, Any] | None:
        self.asked.append(sourced_id)
        found = self.held.get(sourced_id)
        if isinstance(found, Exception):
            raise found
        return found


def test_reconciling_reads_back_each_accepted_result_and_names_what_differs() -> None:
    uow = queued(result("same"), result("changed"), result("lost"), result("down"), result("new"))
    finish(uow, *[OutboxState.ACCEPTED] * 4)
    gradebook = FakeSisGradebook(
        {
            "same": {"sourcedId": "same", "score": 91.5, "href": "added by the SIS"},
            "changed": {"sourcedId": "changed", "score": 80},
            "lost": None,
            "down": SisUnavailableError("no answer"),
        }
    )

    report = reconcile_section("SEC-1", uow=uow, gradebook=gradebook)

    assert (report.checked, report.matching) == (4, 1)
    assert [e.key for e in report.lost] == ["lost"]
    assert [(e.key, changes) for e, changes in report.different] == [
        ("changed", ["score: sent 91.5, SIS holds 80"])
    ]
    assert [e.key for e, _ in report.unreadable] == ["down"]
    assert [e.key for e in report.not_accepted] == ["new"]
    assert not report.ok and "new" not in gradebook.asked
    assert not uow.in_transaction
