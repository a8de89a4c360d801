"""The failure run at a small scale: a few hundred grades, a SIS failing 20% of calls with 500 and
refusing everything for a few seconds mid-run. Every grade ends accepted, none lost, none ever
sent with different content under its id; on PostgreSQL also with two ``lti-bridge worker``
processes, one of them killed with SIGKILL mid-run."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import requests

from lti_bridge.adapters.db.recent import RecentWrites
from lti_bridge.adapters.db.thread_connections import ThreadConnections
from lti_bridge.adapters.db.uow import SqlAlchemyUnitOfWork
from lti_bridge.adapters.sis.oneroster import OneRosterGradebook
from lti_bridge.domain.outbox import SIS_RESULT, OutboxMessage, OutboxState, RetryPolicy
from lti_bridge.services.relay import RelaySettings, RelayStats, relay_once
from tests.conftest import _empty_postgres
from tests.fixtures.processes import LTI_BRIDGE, tool_env
from tests.oneroster.checks import check_delivery
from tests.oneroster.standin import sample_result

GRADES = 300
SECTIONS = 3


def fill_outbox(engine) -> dict[str, dict]:
    expected = {}
    uow = SqlAlchemyUnitOfWork(engine, RecentWrites(), ThreadConnections(engine))
    with uow:
        for i in range(GRADES):
            section = f"SEC-{i % SECTIONS}"
            key = f"{section}-reg-{i}-v1"
            body = sample_result(key, section=section, student=f"stu-{i}", score=50 + i % 50)
            expected[key] = body
            uow.outbox.enqueue(
                OutboxMessage(SIS_RESULT, key, body, section, f"reg-{i}"), datetime.now(UTC)
            )
        uow.commit()
    return expected


def outbox_states(engine) -> dict[OutboxState, int]:
    uow = SqlAlchemyUnitOfWork(engine, RecentWrites(), ThreadConnections(engine))
    with uow:
        return uow.outbox.counts()


def test_a_flaky_sis_with_an_outage_gets_every_grade_exactly_once(engine, oneroster):
    expected = fill_outbox(engine)
    oneroster.configure(fail_rate=0.2, fail_status=500, latency_ms=2)
    recent, statements = RecentWrites(), ThreadConnections(engine)
    gradebook = OneRosterGradebook(
        requests.Session(),
        base_url=oneroster.url,
        token_url=oneroster.token_url,
        client_id=oneroster.state.client_id,
        client_secret=oneroster.state.client_secret,
        timeout=2.0,
        clock=lambda: datetime.now(UTC),
    )
    settings = RelaySettings(
        batch_size=25,
        lease_seconds=30,
        request_timeout_seconds=4,
        policy=RetryPolicy(base_seconds=0.1, cap_seconds=1.0, max_attempts=1000),
    )
    total = RelayStats()
    outage_started = outage_ended = None
    deadline = time.monotonic() + 90
    with ThreadPoolExecutor(8) as pool:
        while time.monotonic() < deadline:
            total += relay_once(
                uow=lambda: SqlAlchemyUnitOfWork(engine, recent, statements),
                gradebook=gradebook,
                clock=lambda: datetime.now(UTC),
                settings=settings,
                executor=pool,
                rng=random.Random(),
            )
            if outage_started is None and total.accepted >= GRADES // 3:
                oneroster.outage(3)
                outage_started = time.monotonic()
                outage_ended = outage_started + 3
            if total.accepted == GRADES:
                break
            time.sleep(0.02)
    drained_at = time.monotonic()
    check = check_delivery(expected, oneroster.results, oneroster.received)
    assert check.ok, str(check)
    assert check.accepted_twice == []
    assert total.accepted == GRADES and total.dead == 0 and total.rejected == 0
    assert total.retried > GRADES * 0.2  # the 500s and the outage really happened
    assert any(r.status == 503 for r in oneroster.received)
    assert outbox_states(engine)[OutboxState.ACCEPTED] == GRADES
    assert outage_ended is not None and drained_at > outage_ended


@pytest.mark.postgres
def test_two_workers_on_postgresql_deliver_everything_once_when_one_is_killed_mid_run(
    pg_database, oneroster, tmp_path
):
    from lti_bridge.adapters.db.engine import make_engine

    engine = make_engine(pg_database)
    try:
        expected = fill_outbox(engine)
        oneroster.configure(fail_rate=0.2, fail_status=500, latency_ms=40)
        env = tool_env(
            pg_database,
            **oneroster.tool_env(),
            LTI_BRIDGE_RELAY_POLL_SECONDS="0.1",
            LTI_BRIDGE_RELAY_BACKOFF_BASE_SECONDS="0.1",
            LTI_BRIDGE_RELAY_BACKOFF_CAP_SECONDS="1",
            LTI_BRIDGE_RELAY_MAX_ATTEMPTS="1000",
            LTI_BRIDGE_RELAY_BATCH_SIZE="20",
            LTI_BRIDGE_RELAY_CONCURRENCY="4",
            # A killed worker's rows come back after the lease; a request (connect + read,
            # 2 x 1 s) plus the relay's 5 s margin fits inside it, so no two overlap.
            LTI_BRIDGE_RELAY_LEASE_SECONDS="8",
            LTI_BRIDGE_HTTP_TIMEOUT_SECONDS="1",
        )
        logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
        procs = []
        for path in logs:
            with open(path, "wb") as log:
                procs.append(
                    subprocess.Popen(
                        [LTI_BRIDGE, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT
                    )
                )
        killed, survivor = procs
        try:
            deadline = time.monotonic() + 30
            while len(oneroster.puts()) < 40 and time.monotonic() < deadline:
                time.sleep(0.01)
            killed.send_signal(signal.SIGKILL)
            killed.wait(timeout=10)
            in_flight_at_kill = outbox_states(engine)[OutboxState.SENT]
            deadline = time.monotonic() + 30
            while len(oneroster.results) < GRADES // 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            oneroster.outage(3)
            outage_ended = time.monotonic() + 3
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if outbox_states(engine)[OutboxState.ACCEPTED] == GRADES:
                    break
                time.sleep(0.2)
            drained_at = time.monotonic()
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait(timeout=20)
        counts = outbox_states(engine)
        check = check_delivery(expected, oneroster.results, oneroster.received)
        assert counts[OutboxState.ACCEPTED] == GRADES, (counts, str(check))
        assert check.ok, str(check)
        # Only a row whose answer was lost with the killed process can be accepted twice.
        assert len(check.accepted_twice) <= 20
        assert killed.returncode == -signal.SIGKILL
        assert survivor.returncode == 0
        survivor_log = logs[1].read_text()
        assert "accepted" in survivor_log
        assert in_flight_at_kill >= 1  # the kill interrupted claimed work
        assert drained_at > outage_ended
    finally:
        engine.dispose()
        _empty_postgres(pg_database)  # the session's database, shared with later tests
