"""The relay against the OneRoster stand-in over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import requests

from lti_bridge.adapters.db.recent import RecentWrites
from lti_bridge.adapters.db.thread_connections import ThreadConnections
from lti_bridge.adapters.db.uow import SqlAlchemyUnitOfWork
from lti_bridge.adapters.sis.oneroster import OneRosterGradebook
from lti_bridge.domain.outbox import SIS_RESULT, OutboxMessage, OutboxState, RetryPolicy
from lti_bridge.services.relay import RelaySettings, relay_once
from tests.oneroster.standin import sample_result


class Clock:
    """Real time plus an offset the test moves forward (backoff without waiting)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def uow(engine):
    recent, statements = RecentWrites(), ThreadConnections(engine)
    return lambda: SqlAlchemyUnitOfWork(engine, recent, statements)


@pytest.fixture
def gradebook(oneroster, clock):
    return OneRosterGradebook(
        requests.Session(),
        base_url=oneroster.url,
        token_url=oneroster.token_url,
        client_id=oneroster.state.client_id,
        client_secret=oneroster.state.client_secret,
        timeout=1.0,
        clock=clock,
    )


SETTINGS = RelaySettings(
    batch_size=20,
    lease_seconds=30,
    request_timeout_seconds=2.0,
    policy=RetryPolicy(base_seconds=2, cap_seconds=60, max_attempts=4),
)


def enqueue(uow, clock, *keys, section="SEC-1"):
    with uow() as work:
        ids = [
            work.outbox.enqueue(
                OutboxMessage(
                    SIS_RESULT, key, sample_result(key, section=section), section, f"reg-{key}"
                ),
                clock(),
            )
            for key in keys
        ]
        work.commit()
    return ids


def relay(uow, gradebook, clock, **kwargs):
    return relay_once(
        uow=uow,
        gradebook=gradebook,
        clock=clock,
        settings=SETTINGS,
        rng=random.Random(0),
        **kwargs,
    )


def entry(uow, entry_id):
    with uow() as work:
        return work.outbox.get(entry_id)


def test_queued_results_are_put_with_their_exact_body_and_marked_accepted(
    uow, gradebook, clock, oneroster
):
    ids = enqueue(uow, clock, "res-1", "res-2")
    stats = relay(uow, gradebook, clock)
    assert (stats.claimed, stats.accepted) == (2, 2)
    assert oneroster.results == {
        "res-1": sample_result("res-1"),
        "res-2": sample_result("res-2"),
    }
    for entry_id in ids:
        found = entry(uow, entry_id)
        assert (found.state, found.last_status, found.attempts) == (OutboxState.ACCEPTED, 201, 1)
        assert found.finished_at is not None
    assert relay(uow, gradebook, clock).claimed == 0
    assert len(oneroster.puts()) == 2


def test_a_500_is_retried_after_a_backoff_with_the_same_id_and_body(
    uow, gradebook, clock, oneroster
):
    (entry_id,) = enqueue(uow, clock, "res-1")
    oneroster.script("res-1", "500")
    stats = relay(uow, gradebook, clock)
    assert stats.retried == 1
    waiting = entry(uow, entry_id)
    assert (waiting.state, waiting.last_status) == (OutboxState.QUEUED, 500)
    assert waiting.last_error == "injected 500"
    assert 1 <= (waiting.next_attempt_at - clock()).total_seconds() <= 2
    assert relay(uow, gradebook, clock).claimed == 0  # not due yet
    clock.advance(2)
    assert relay(uow, gradebook, clock).accepted == 1
    bodies = [put.body for put in oneroster.puts("res-1")]
    assert bodies == [sample_result("res-1")] * 2
    assert entry(uow, entry_id).attempts == 2


def test_a_429_waits_at_least_its_retry_after(uow, gradebook, clock, oneroster):
    (entry_id,) = enqueue(uow, clock, "res-1")
    oneroster.script("res-1", "429:40")
    relay(uow, gradebook, clock)
    waiting = entry(uow, entry_id)
    assert waiting.last_status == 429
    assert (waiting.next_attempt_at - clock()).total_seconds() >= 39
    clock.advance(30)
    assert relay(uow, gradebook, clock).claimed == 0
    clock.advance(11)
    assert relay(uow, gradebook, clock).accepted == 1


def test_a_400_is_parked_as_rejected_with_the_sis_message(uow, gradebook, clock, oneroster):
    (entry_id,) = enqueue(uow, clock, "res-1")
    oneroster.script("res-1", "400")
    stats = relay(uow, gradebook, clock)
    assert stats.rejected == 1
    found = entry(uow, entry_id)
    assert (found.state, found.last_status, found.last_error) == (
        OutboxState.REJECTED,
        400,
        "injected 400",
    )
    clock.advance(3600)
    assert relay(uow, gradebook, clock).claimed == 0


def test_a_body_the_sis_refuses_is_rejected_with_its_reason(uow, gradebook, clock, oneroster):
    with uow() as work:
        entry_id = work.outbox.enqueue(
            OutboxMessage(SIS_RESULT, "res-1", {"result": {"sourcedId": "res-1"}}, "SEC-1", None),
            clock(),
        )
        work.commit()
    relay(uow, gradebook, clock)
    found = entry(uow, entry_id)
    assert found.state is OutboxState.REJECTED
    assert "result lacks status" in found.last_error


def test_a_hang_past_the_timeout_is_retried_and_the_sis_ends_with_one_result(
    uow, gradebook, clock, oneroster
):
    (entry_id,) = enqueue(uow, clock, "res-1")
    oneroster.script("res-1", "hang:1.5")
    stats = relay(uow, gradebook, clock)
    assert stats.retried == 1
    assert "ReadTimeout" in entry(uow, entry_id).last_error
    clock.advance(5)
    assert relay(uow, gradebook, clock).accepted == 1
    assert oneroster.results == {"res-1": sample_result("res-1")}
    deadline = time.monotonic() + 5
    while len(oneroster.puts("res-1")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # the hung call is stored when the stand-in wakes, like a slow SIS
    assert [p.body for p in oneroster.puts("res-1")] == [sample_result("res-1")] * 2


def test_a_spent_retry_budget_parks_the_row_as_dead_and_raises_an_alert(
    uow, gradebook, clock, oneroster, caplog
):
    (entry_id,) = enqueue(uow, clock, "res-1")
    oneroster.script("res-1", "503", "503", "503", "503")
    with caplog.at_level(logging.INFO, logger="lti_bridge.relay"):
        for _ in range(4):
            relay(uow, gradebook, clock)
            clock.advance(120)
    found = entry(uow, entry_id)
    assert (found.state, found.attempts, found.last_status) == (OutboxState.DEAD, 4, 503)
    alerts = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(alerts) == 1
    assert alerts[0].getMessage().startswith("ALERT outbox")
    assert f"lti-bridge outbox retry {entry_id}" in alerts[0].getMessage()
    assert relay(uow, gradebook, clock).claimed == 0


def test_a_full_outage_is_retried_until_the_sis_is_back(uow, gradebook, clock, oneroster):
    ids = enqueue(uow, clock, *(f"res-{i}" for i in range(5)))
    oneroster.outage(30)
    assert relay(uow, gradebook, clock).retried == 5
    oneroster.outage(0)
    clock.advance(5)
    assert relay(uow, gradebook, clock).accepted == 5
    assert {entry(uow, i).state for i in ids} == {OutboxState.ACCEPTED}
    assert len(oneroster.results) == 5


def test_a_revoked_token_is_replaced_and_the_put_goes_through(uow, gradebook, clock, oneroster):
    enqueue(uow, clock, "res-1")
    gradebook.access_token(["https://purl.imsglobal.org/spec/or/v1p2/scope/gradebook.createput"])
    oneroster.revoke_tokens()
    assert relay(uow, gradebook, clock).accepted == 1
    assert oneroster.state.token_requests == 2


def test_a_claim_whose_lease_is_running_out_is_given_back_unsent(uow, gradebook, clock, oneroster):
    (entry_id,) = enqueue(uow, clock, "res-1")
    short = RelaySettings(batch_size=5, lease_seconds=6, request_timeout_seconds=2.0)
    stats = relay_once(uow=uow, gradebook=gradebook, clock=clock, settings=short)
    assert (stats.claimed, stats.released) == (1, 1)
    assert oneroster.puts() == []
    found = entry(uow, entry_id)
    assert (found.state, found.attempts) == (OutboxState.QUEUED, 0)


def test_a_batch_is_sent_concurrently_and_every_row_accepted_once(uow, gradebook, clock, oneroster):
    keys = [f"res-{i}" for i in range(60)]
    enqueue(uow, clock, *keys)
    oneroster.configure(latency_ms=20)
    with ThreadPoolExecutor(8) as pool:
        total = 0
        while (stats := relay(uow, gradebook, clock, executor=pool)).claimed:
            total += stats.accepted
    assert total == 60
    assert sorted(oneroster.accepted_counts().items()) == sorted((k, 1) for k in keys)


def test_while_the_sis_is_down_the_worker_probes_with_one_batch_instead_of_burning_attempts(
    db_url, engine, oneroster, tmp_path
):
    from lti_bridge.bootstrap import build_services
    from lti_bridge.config import load_settings
    from lti_bridge.web.worker import Worker

    settings = load_settings(
        environ={},
        overrides={
            "database_url": db_url,
            "instance_path": str(tmp_path),
            "sis_base_url": oneroster.url,
            "sis_token_url": oneroster.token_url,
            "sis_client_id": oneroster.state.client_id,
            "sis_client_secret": oneroster.state.client_secret,
            "relay_batch_size": 10,
            "relay_poll_seconds": 0.2,
            "relay_backoff_base_seconds": 0.1,
            "relay_backoff_cap_seconds": 0.2,
        },
    )
    svc = build_services(settings)
    loop = Worker(svc)
    try:
        clock = Clock()
        recent, statements = RecentWrites(), ThreadConnections(engine)
        enqueue(
            lambda: SqlAlchemyUnitOfWork(engine, recent, statements),
            clock,
            *(f"res-{i}" for i in range(50)),
        )
        oneroster.outage(2.5)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            loop.round()
            time.sleep(0.05)
        # Probes at about 0, 0.4, 1.2 s: a few batches of 10, not every row again and again.
        with SqlAlchemyUnitOfWork(engine, recent, statements) as work:
            spent = sum(e.attempts for e in work.outbox.list(limit=100))
        assert 10 <= spent <= 30
        time.sleep(1.0)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(oneroster.results) < 50:
            loop.round()
            time.sleep(0.05)
        assert len(oneroster.results) == 50
        with SqlAlchemyUnitOfWork(engine, recent, statements) as work:
            entries = work.outbox.list(limit=100)
        assert {e.state for e in entries} == {OutboxState.ACCEPTED}
        assert max(e.attempts for e in entries) <= 4
    finally:
        loop.close()
        svc.engine.dispose()
