"""``lti-bridge worker``, ``outbox list|retry``, ``grades reconcile`` and ``serve``'s relay, run as
operators run them (real processes), against the OneRoster stand-in."""

from __future__ import annotations

import subprocess
import time
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from lti_bridge.adapters.db.engine import make_engine, upgrade
from lti_bridge.adapters.db.recent import RecentWrites
from lti_bridge.adapters.db.thread_connections import ThreadConnections
from lti_bridge.adapters.db.uow import SqlAlchemyUnitOfWork
from lti_bridge.domain.outbox import SIS_RESULT, OutboxMessage, OutboxState
from tests.conftest import PG_ADMIN_URL
from tests.fixtures.processes import LTI_BRIDGE, lti_bridge_serve, run_cli, tool_env
from tests.oneroster.standin import sample_result

FAST_RELAY = {
    "LTI_BRIDGE_RELAY_POLL_SECONDS": "0.2",
    "LTI_BRIDGE_RELAY_BACKOFF_BASE_SECONDS": "0.2",
    "LTI_BRIDGE_RELAY_BACKOFF_CAP_SECONDS": "1",
    "LTI_BRIDGE_HTTP_TIMEOUT_SECONDS": "2",
}


def enqueue(engine, *keys, section="SEC-1"):
    uow = SqlAlchemyUnitOfWork(engine, RecentWrites(), ThreadConnections(engine))
    with uow:
        ids = [
            uow.outbox.enqueue(
                OutboxMessage(
                    SIS_RESULT, key, sample_result(key, section=section), section, f"reg-{key}"
                ),
                datetime.now(UTC),
            )
            for key in keys
        ]
        uow.commit()
    return ids


def states(engine):
    uow = SqlAlchemyUnitOfWork(engine, RecentWrites(), ThreadConnections(engine))
    with uow:
        return {e.key: e.state for e in uow.outbox.list(limit=10_000)}


def wait_for(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_worker_once_delivers_what_is_queued_and_says_what_it_did(db_url, engine, oneroster):
    enqueue(engine, "res-1", "res-2")
    done = run_cli(tool_env(db_url, **oneroster.tool_env()), "worker", "--once")
    assert "accepted=2" in done.stdout
    assert states(engine) == {"res-1": OutboxState.ACCEPTED, "res-2": OutboxState.ACCEPTED}
    assert oneroster.results == {"res-1": sample_result("res-1"), "res-2": sample_result("res-2")}


def test_without_a_sis_base_url_grades_stay_queued_and_nothing_is_sent(db_url, engine, oneroster):
    enqueue(engine, "res-1")
    done = run_cli(tool_env(db_url), "worker", "--once")
    assert "no SIS configured" in done.stdout
    assert states(engine) == {"res-1": OutboxState.QUEUED}
    assert oneroster.received == []


def test_outbox_list_and_retry_show_and_requeue_a_rejected_result(db_url, engine, oneroster):
    (rejected_id, _) = enqueue(engine, "res-1", "res-2")
    oneroster.script("res-1", "400")
    env = tool_env(db_url, **oneroster.tool_env())
    run_cli(env, "worker", "--once")
    listed = run_cli(env, "outbox", "list", "--state", "rejected").stdout
    assert listed.splitlines()[0] == ("outbox: 0 queued, 0 sent, 1 accepted, 1 rejected, 0 dead")
    (line,) = listed.splitlines()[1:]
    assert line.startswith(f"{rejected_id}\trejected\tattempts=1\tstatus=400\tsis.result\tres-1")
    assert line.endswith("injected 400")
    assert "queued again" in run_cli(env, "outbox", "retry", str(rejected_id)).stdout
    run_cli(env, "worker", "--once")
    assert states(engine)["res-1"] is OutboxState.ACCEPTED


def test_outbox_retry_refuses_an_accepted_result_and_an_unknown_id(db_url, engine, oneroster):
    (entry_id,) = enqueue(engine, "res-1")
    env = tool_env(db_url, **oneroster.tool_env())
    run_cli(env, "worker", "--once")
    for args, message in [
        ((str(entry_id),), "a changed grade is a new submission"),
        (("999",), "no outbox message 999"),
    ]:
        done = subprocess.run(
            [LTI_BRIDGE, "outbox", "retry", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode != 0
        assert message in done.stderr


def test_outbox_list_refuses_an_unknown_state(db_url):
    done = subprocess.run(
        [LTI_BRIDGE, "outbox", "list", "--state", "lost"],
        env=tool_env(db_url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "'lost' is not one of" in done.stderr


def test_grades_reconcile_reports_results_the_sis_lost_or_changed(db_url, engine, oneroster):
    enqueue(engine, "res-1", "res-2", "res-3")
    enqueue(engine, "other-1", section="SEC-2")
    env = tool_env(db_url, **oneroster.tool_env())
    run_cli(env, "worker", "--once")
    clean = run_cli(env, "grades", "reconcile", "SEC-1").stdout
    assert "3 accepted results checked, 3 match, 0 lost, 0 different" in clean
    with oneroster.lock:
        del oneroster.state.results["res-1"]
        oneroster.state.results["res-2"]["result"]["textScore"] = "F"
    done = subprocess.run(
        [LTI_BRIDGE, "grades", "reconcile", "SEC-1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "LOST\tres-1\t" in done.stdout
    assert "DIFFERENT\tres-2\t" in done.stdout
    assert "textScore: sent 'A-', SIS holds 'F'" in done.stdout
    assert "res-3" not in done.stdout.replace("3 accepted", "")
    assert "other-1" not in done.stdout
    assert "3 accepted results checked, 1 match, 1 lost, 1 different" in done.stdout


def test_grades_reconcile_without_a_sis_says_what_to_set(db_url):
    done = subprocess.run(
        [LTI_BRIDGE, "grades", "reconcile", "SEC-1"],
        env=tool_env(db_url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "LTI_BRIDGE_SIS_BASE_URL" in done.stderr


def _worker(env, log_path, *args):
    with open(log_path, "wb") as log:
        # The child keeps its own copy of the descriptor.
        return subprocess.Popen(
            [LTI_BRIDGE, "worker", *args], env=env, stdout=log, stderr=subprocess.STDOUT
        )


def _stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def test_the_worker_survives_a_database_without_schema_and_delivers_once_it_has_one(
    tmp_path, oneroster
):
    # Today's failure mode was exiting on the first database error; the loop must wait it out.
    url = f"sqlite:///{tmp_path / 'late.sqlite3'}"
    env = tool_env(url, **oneroster.tool_env(), **FAST_RELAY)
    log_path = tmp_path / "worker.log"
    proc = _worker(env, log_path, "--summary-every", "0.5")
    try:
        wait_for(
            lambda: "worker round failed (2 in a row)" in log_path.read_text(),
            what="two failed rounds",
        )
        assert proc.poll() is None
        # The periodic summary says so too, and the loop goes on.
        wait_for(lambda: "outbox unreadable" in log_path.read_text(), what="a summary")
        engine = make_engine(url)
        upgrade(engine)
        enqueue(engine, "res-1")
        wait_for(lambda: "res-1" in oneroster.results, what="delivery after recovery")
        wait_for(lambda: states(engine) == {"res-1": OutboxState.ACCEPTED}, what="accepted")
        assert "worker recovered after" in log_path.read_text()
        engine.dispose()
    finally:
        _stop(proc)
    assert proc.returncode == 0
    log = log_path.read_text()
    assert "worker stopped: claimed=1 accepted=1" in log
    assert "outbox 1 sis.result res-1: accepted (201) on attempt 1" in log
    assert "outbox now: queued=0 sent=0 accepted=1 rejected=0 dead=0" in log


@pytest.mark.postgres
def test_the_worker_survives_a_postgresql_outage_and_goes_on(tmp_path, oneroster):
    # The database does not exist at first (as good as the server being down), then appears.
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"lti_bridge_outage_{uuid.uuid4().hex[:8]}"
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    env = tool_env(url, **oneroster.tool_env(), **FAST_RELAY)
    log_path = tmp_path / "worker.log"
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    proc = _worker(env, log_path)
    engine = None
    try:
        wait_for(
            lambda: "worker round failed (2 in a row)" in log_path.read_text(),
            what="two failed rounds",
        )
        assert "OperationalError" in log_path.read_text()
        assert proc.poll() is None
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine = make_engine(url)
        upgrade(engine)
        enqueue(engine, "res-1")
        wait_for(lambda: "res-1" in oneroster.results, what="delivery after recovery")
    finally:
        _stop(proc)
        if engine is not None:
            engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    assert proc.returncode == 0


def test_serve_runs_the_relay_in_process_unless_told_not_to(db_url, engine, oneroster):
    env = tool_env(db_url, **oneroster.tool_env(), **FAST_RELAY)
    enqueue(engine, "res-1")
    with lti_bridge_serve(env, workers=1, args=("--no-relay",)):
        time.sleep(2)
        assert states(engine) == {"res-1": OutboxState.QUEUED}
    with lti_bridge_serve(env, workers=1):
        wait_for(lambda: states(engine) == {"res-1": OutboxState.ACCEPTED}, what="relay in serve")
    assert oneroster.results == {"res-1": sample_result("res-1")}
