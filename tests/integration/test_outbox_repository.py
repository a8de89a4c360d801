"""The outbox table through the unit of work, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lti_bridge.adapters.db.recent import RecentWrites
from lti_bridge.adapters.db.thread_connections import ThreadConnections
from lti_bridge.adapters.db.uow import SqlAlchemyUnitOfWork
from lti_bridge.domain.errors import OutboxConflictError, ValidationError
from lti_bridge.domain.outbox import SIS_RESULT, OutboxMessage, OutboxState

NOW = datetime(2024, 3, 20, 12, 0, tzinfo=UTC)


def message(key: str, score: float = 91.5, section: str = "SEC-1") -> OutboxMessage:
    return OutboxMessage(
        kind=SIS_RESULT,
        key=key,
        payload={"result": {"sourcedId": key, "score": score, "textScore": "A-"}},
        section_sis_id=section,
        registration_sis_id=f"reg-{key}",
    )


@pytest.fixture
def uow(engine):
    return SqlAlchemyUnitOfWork(engine, RecentWrites(), ThreadConnections(engine))


def enqueue(uow, *messages, now=NOW):
    with uow:
        ids = [uow.outbox.enqueue(m, now) for m in messages]
        uow.commit()
    return ids


def test_enqueuing_the_same_key_and_body_twice_keeps_one_row(uow):
    (first,) = enqueue(uow, message("r1"))
    (again,) = enqueue(uow, message("r1"))
    assert again == first
    with uow:
        entries = uow.outbox.by_section("SEC-1")
    assert [e.id for e in entries] == [first]
    assert entries[0].state is OutboxState.QUEUED
    assert entries[0].payload == {"result": {"sourcedId": "r1", "score": 91.5, "textScore": "A-"}}


def test_enqueuing_a_different_body_under_a_used_key_is_refused_and_changes_nothing(uow):
    enqueue(uow, message("r1"))
    with pytest.raises(OutboxConflictError, match="r1"):
        enqueue(uow, message("r1", score=55.0))
    with uow:
        (entry,) = uow.outbox.by_section("SEC-1")
    assert entry.payload["result"]["score"] == 91.5


def test_an_enqueue_rolled_back_with_its_transaction_leaves_nothing(uow):
    with uow:
        uow.outbox.enqueue(message("r1"), NOW)
    with uow:
        assert uow.outbox.by_section("SEC-1") == []


def test_a_claim_takes_due_rows_once_and_counts_the_attempt(uow):
    enqueue(uow, message("r1"), message("r2"))
    with uow:
        claims = uow.outbox.claim([SIS_RESULT], NOW, limit=10, lease_seconds=60)
        again = uow.outbox.claim([SIS_RESULT], NOW, limit=10, lease_seconds=60)
        uow.commit()
    assert [c.entry.key for c in claims] == ["r1", "r2"]
    assert again == []
    assert all(c.entry.state is OutboxState.SENT and c.entry.attempts == 1 for c in claims)
    assert claims[0].entry.lease_until == NOW + timedelta(seconds=60)


def test_a_row_whose_lease_expired_is_claimed_again_and_the_old_claim_cannot_record(uow):
    enqueue(uow, message("r1"))
    with uow:
        (old,) = uow.outbox.claim([SIS_RESULT], NOW, limit=10, lease_seconds=60)
        uow.commit()
    later = NOW + timedelta(seconds=61)
    with uow:
        (new,) = uow.outbox.claim([SIS_RESULT], later, limit=10, lease_seconds=60)
        assert not uow.outbox.finish(old, OutboxState.ACCEPTED, later, status=200, error=None)
        assert uow.outbox.finish(new, OutboxState.REJECTED, later, status=400, error="bad")
        uow.commit()
    with uow:
        entry = uow.outbox.get(new.entry.id)
    assert entry.state is OutboxState.REJECTED
    assert entry.attempts == 2
    assert (entry.last_status, entry.last_error) == (400, "bad")
    assert entry.finished_at == later


def test_a_rescheduled_row_waits_until_its_next_attempt(uow):
    enqueue(uow, message("r1"))
    with uow:
        (claim,) = uow.outbox.claim([SIS_RESULT], NOW, limit=10, lease_seconds=60)
        retry_at = NOW + timedelta(seconds=30)
        assert uow.outbox.reschedule(claim, retry_at, NOW, status=503, error="busy")
        uow.commit()
    with uow:
        assert (
            uow.outbox.claim([SIS_RESULT], NOW + timedelta(seconds=29), limit=10, lease_seconds=60)
            == []
        )
        assert uow.outbox.next_due([SIS_RESULT]) == retry_at
        (claim,) = uow.outbox.claim([SIS_RESULT], retry_at, limit=10, lease_seconds=60)
    assert claim.entry.attempts == 2
    assert claim.entry.last_status == 503


def test_a_released_claim_gives_its_attempt_back(uow):
    enqueue(uow, message("r1"))
    with uow:
        (claim,) = uow.outbox.claim([SIS_RESULT], NOW, limit=10, lease_seconds=60)
        assert uow.outbox.release(claim, NOW)
        (claim,) = uow.outbox.claim([SIS_RESULT], NOW, limit=10, lease_seconds=60)
    assert claim.entry.attempts == 1


def test_claims_ignore_other_kinds(uow):
    enqueue(uow, OutboxMessage("ags.score", "s1", {"scoreGiven": 1}, None, None))
    with uow:
        assert uow.outbox.claim([SIS_RESULT], NOW, limit=10, lease_seconds=60) == []


def test_retry_requeues_a_dead_row_with_a_fresh_budget_but_never_an_accepted_one(uow):
    enqueue(uow, message("r1"), message("r2"))
    with uow:
        c1, c2 = uow.outbox.claim([SIS_RESULT], NOW, limit=10, lease_seconds=60)
        uow.outbox.finish(c1, OutboxState.DEAD, NOW, status=503, error="gave up")
        uow.outbox.finish(c2, OutboxState.ACCEPTED, NOW, status=200, error=None)
        uow.commit()
    with uow:
        entry = uow.outbox.retry(c1.entry.id, NOW + timedelta(hours=1))
        with pytest.raises(ValidationError, match="R13"):
            uow.outbox.retry(c2.entry.id, NOW)
        uow.commit()
    assert entry.state is OutboxState.QUEUED
    assert entry.attempts == 0
    assert entry.finished_at is None
    with uow:
        counts = uow.outbox.counts()
        listed = uow.outbox.list(state=OutboxState.ACCEPTED)
    assert counts[OutboxState.QUEUED] == 1 and counts[OutboxState.ACCEPTED] == 1
    assert [e.key for e in listed] == ["r2"]


def test_retry_refuses_a_row_in_flight(uow):
    enqueue(uow, message("r1"))
    with uow:
        (claim,) = uow.outbox.claim([SIS_RESULT], NOW, limit=10, lease_seconds=60)
        uow.commit()
    with uow, pytest.raises(ValidationError, match="in flight"):
        uow.outbox.retry(claim.entry.id, NOW)


def test_a_claim_takes_no_more_than_its_limit_and_leaves_the_rest_queued(uow):
    enqueue(uow, *(message(f"r{i}") for i in range(60)))
    with uow:
        first = uow.outbox.claim([SIS_RESULT], NOW, limit=20, lease_seconds=60)
        second = uow.outbox.claim([SIS_RESULT], NOW, limit=20, lease_seconds=60)
        uow.commit()
    assert len(first) == len(second) == 20
    assert not {c.entry.id for c in first} & {c.entry.id for c in second}
    with uow:
        counts = uow.outbox.counts()
    assert (counts[OutboxState.SENT], counts[OutboxState.QUEUED]) == (40, 20)


def test_two_relays_claiming_at_once_on_postgresql_take_disjoint_batches(engine):
    import threading

    if engine.dialect.name != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite serializes writers")
    make = lambda: SqlAlchemyUnitOfWork(engine, RecentWrites(), ThreadConnections(engine))  # noqa: E731
    enqueue(make(), *(message(f"r{i}") for i in range(100)))
    taken: list[list[int]] = []
    barrier = threading.Barrier(4)

    def relay() -> None:
        work = make()
        with work:
            barrier.wait()
            claims = work.outbox.claim([SIS_RESULT], NOW, limit=20, lease_seconds=60)
            taken.append([c.entry.id for c in claims])
            work.commit()

    threads = [threading.Thread(target=relay) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    ids = [i for batch in taken for i in batch]
    assert [len(batch) for batch in taken] == [20, 20, 20, 20]
    assert len(set(ids)) == 80


def test_accept_many_records_only_the_claims_still_current(uow):
    enqueue(uow, message("r1"), message("r2"))
    with uow:
        old = uow.outbox.claim([SIS_RESULT], NOW, limit=1, lease_seconds=60)
        current = uow.outbox.claim([SIS_RESULT], NOW, limit=1, lease_seconds=60)
        uow.commit()
    later = NOW + timedelta(seconds=61)
    with uow:
        (retaken,) = uow.outbox.claim([SIS_RESULT], later, limit=1, lease_seconds=60)
        assert retaken.entry.id == old[0].entry.id
        recorded = uow.outbox.accept_many([*old, *current], later, status=201)
        uow.commit()
    assert recorded == {current[0].entry.id}
    with uow:
        assert uow.outbox.get(current[0].entry.id).state is OutboxState.ACCEPTED
        assert uow.outbox.get(old[0].entry.id).state is OutboxState.SENT
