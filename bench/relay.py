"""Grades to the SIS: the outbox relay against a OneRoster stand-in, then a failure run.

One run, same machine, same stand-in (``tests/oneroster``, its own process, answering each
result call after ``--latency-ms``, as a real SIS does not answer instantly):

- ``loop``: a plain sequential ``requests`` PUT loop sending the outbox's bodies over one pooled
  session (time-limited: its rate is what counts);
- ``1 worker``: ``--results`` results across ``--sections`` sections queued in the outbox,
  delivered by one ``lti-bridge worker``; timed from the process's start to the last acceptance;
- ``2 workers`` (PostgreSQL): the same with two workers at once;
- ``failure``: one worker while the stand-in fails 20% of calls with 500 and refuses everything
  for ``--outage`` seconds once a third is accepted; every result must end accepted, held once
  with the outbox's body, never sent with other content under its id; reports the time to drain
  after the outage ended.

    .venv/bin/python -m bench.relay [--db sqlite|postgresql|both] [--results N] [--latency-ms L]
    .venv/bin/python -m bench --part relay
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import delete, func, select

from bench.databases import fresh_database
from lti_bridge.adapters.db.engine import make_engine, upgrade
from lti_bridge.adapters.db.recent import RecentWrites
from lti_bridge.adapters.db.tables import outbox
from lti_bridge.adapters.db.thread_connections import ThreadConnections
from lti_bridge.adapters.db.uow import SqlAlchemyUnitOfWork
from lti_bridge.domain.outbox import SIS_RESULT, OutboxMessage
from tests.fixtures.processes import LTI_BRIDGE, tool_env
from tests.oneroster.checks import check_delivery
from tests.oneroster.standin import (
    CLIENT_ID,
    CLIENT_SECRET,
    RESULTS_PREFIX,
    SCOPE_CREATEPUT,
    Received,
    sample_result,
)

RESULTS = Path(__file__).parent / "results"


@contextmanager
def standin(latency_ms: float) -> Iterator[str]:
    """The stand-in in its own process (its CPU is not the relay's); yields its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.oneroster", "--latency-ms", str(latency_ms)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://"):
            raise SystemExit(f"the stand-in did not start: {url!r}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def control(url: str, **settings: Any) -> None:
    requests.post(url + "/_control", json=settings, timeout=10).raise_for_status()


def records(url: str) -> dict[str, Any]:
    document = requests.get(url + "/_records", timeout=120).json()
    document["received"] = [Received(**r) for r in document["received"]]
    return dict(document)


def bodies(count: int, sections: int) -> dict[str, dict[str, Any]]:
    """``count`` result bodies spread over ``sections`` sections, keyed by sourcedId."""
    found = {}
    for i in range(count):
        section = f"BENCH{i % sections:03d}-100-2024S1"
        key = f"{section}:reg-{i}:v1"
        found[key] = sample_result(
            key, section=section, student=f"stu-{i}", score=40 + (i * 7) % 61
        )
    return found


def fill(engine: Any, expected: dict[str, dict[str, Any]]) -> float:
    """Empty the outbox and queue every body, as a release does; seconds taken."""
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(delete(outbox))
    uow = SqlAlchemyUnitOfWork(engine, RecentWrites(), ThreadConnections(engine))
    now = datetime.now(UTC)
    with uow:
        for key, body in expected.items():
            section = body["result"]["class"]["sourcedId"]
            uow.outbox.enqueue(OutboxMessage(SIS_RESULT, key, body, section, key), now)
        uow.commit()
    return time.perf_counter() - started


def accepted(engine: Any) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.state == "accepted")
            ).scalar_one()
        )


def sequential_loop(url: str, expected: dict[str, Any], time_limit: float) -> dict[str, Any]:
    """The baseline: one session, one PUT after another, the same bodies."""
    session = requests.Session()
    token = session.post(
        url + "/token",
        data={"grant_type": "client_credentials", "scope": SCOPE_CREATEPUT},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    sent = errors = 0
    started = time.perf_counter()
    for key, body in expected.items():
        response = session.put(url + RESULTS_PREFIX + key, json=body, headers=headers, timeout=10)
        sent += 1
        errors += not response.ok
        if time.perf_counter() - started > time_limit:
            break
    seconds = time.perf_counter() - started
    return {"sent": sent, "errors": errors, "seconds": seconds, "per_second": sent / seconds}


def run_workers(
    db_url: str,
    url: str,
    engine: Any,
    total: int,
    workers: int,
    time_limit: float,
    *,
    outage: float = 0.0,
) -> dict[str, Any]:
    """Start ``workers`` ``lti-bridge worker`` processes; time them until all is accepted."""
    env = tool_env(
        db_url,
        LTI_BRIDGE_SIS_BASE_URL=url,
        LTI_BRIDGE_SIS_TOKEN_URL=url + "/token",
        LTI_BRIDGE_SIS_CLIENT_ID=CLIENT_ID,
        LTI_BRIDGE_SIS_CLIENT_SECRET=CLIENT_SECRET,
        LTI_BRIDGE_RELAY_POLL_SECONDS="0.2",
        LTI_BRIDGE_RELAY_BACKOFF_BASE_SECONDS="0.5",
        LTI_BRIDGE_RELAY_BACKOFF_CAP_SECONDS="5",
        LTI_BRIDGE_RELAY_MAX_ATTEMPTS="1000",
    )
    logs = [
        tempfile.NamedTemporaryFile(prefix="relay-bench-", suffix=".log") for _ in range(workers)
    ]
    started = time.perf_counter()
    procs = [
        subprocess.Popen([LTI_BRIDGE, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
        for log in logs
    ]
    outage_end = None
    left_at_outage_end = None
    done = 0
    cpu = 0.0
    try:
        deadline = started + time_limit
        while time.perf_counter() < deadline:
            done = accepted(engine)
            if outage and outage_end is None and done >= total // 3:
                control(url, outage=outage)
                outage_end = time.perf_counter() + outage
            if outage_end is not None and left_at_outage_end is None:
                if time.perf_counter() >= outage_end:
                    left_at_outage_end = total - done
            if done >= total:
                break
            if any(p.poll() is not None for p in procs):
                raise SystemExit("a worker exited early; see its log")
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        cpu = sum(cpu_seconds(p.pid) for p in procs)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
        for log in logs:
            log.close()
    figure: dict[str, Any] = {
        "workers": workers,
        "accepted": done,
        "seconds": seconds,
        "per_second": done / seconds,
        "complete": done >= total,
        "worker_cpu_ms_per_result": cpu * 1000 / max(1, done),
    }
    if outage_end is not None:
        figure["drain_after_outage_s"] = (started + seconds) - outage_end
        figure["left_at_outage_end"] = left_at_outage_end
    return figure


def cpu_seconds(pid: int) -> float:
    """CPU time a process has used so far, all its threads (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_relay(kind: str, args: argparse.Namespace, url: str) -> dict[str, Any]:
    expected = bodies(args.results, args.sections)
    row: dict[str, Any] = {"database": kind}
    with fresh_database(kind) as db_url:
        engine = make_engine(db_url)
        upgrade(engine)
        try:
            row["fill_s"] = fill(engine, expected)
            control(url, reset=True)
            row["1 worker"] = run_workers(
                db_url, url, engine, args.results, 1, args.relay_time_limit
            )
            print(f"[{kind}] relay, 1 worker: {json.dumps(row['1 worker'])}", flush=True)
            if kind == "postgresql":
                fill(engine, expected)
                control(url, reset=True)
                row["2 workers"] = run_workers(
                    db_url, url, engine, args.results, 2, args.relay_time_limit
                )
                print(f"[{kind}] relay, 2 workers: {json.dumps(row['2 workers'])}", flush=True)
            if args.outage:
                fill(engine, expected)
                control(url, reset=True)
                control(url, fail_rate=0.2, fail_status=500, seed=13)
                failure = run_workers(
                    db_url, url, engine, args.results, 1, args.relay_time_limit, outage=args.outage
                )
                seen = records(url)
                check = check_delivery(expected, seen["results"], seen["received"])
                failure["check"] = str(check)
                failure["correct"] = check.ok and failure["complete"]
                row["failure"] = failure
                control(url, fail_rate=0.0)
                print(f"[{kind}] relay, failure run: {json.dumps(failure)}", flush=True)
        finally:
            engine.dispose()
    return row


def report(loop: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    lines = [
        f"sequential requests loop: {loop['per_second']:.1f} PUT/s ({loop['sent']} sent)",
        f"{'database':<11} {'figure':<34} {'results/s':>10} {'vs loop':>8}",
    ]
    for row in rows:
        one = row["1 worker"]["per_second"]
        lines.append(
            f"{row['database']:<11} {'1 worker':<34} {one:>10.1f} {one / loop['per_second']:>7.2f}x"
        )
        if "2 workers" in row:
            two = row["2 workers"]["per_second"]
            lines.append(
                f"{row['database']:<11} {'2 workers (vs 1 worker)':<34} {two:>10.1f} "
                f"{two / one:>7.2f}x"
            )
        if "failure" in row:
            f = row["failure"]
            steady = (f.get("left_at_outage_end") or 0) / one
            lines.append(
                f"{row['database']:<11} {'20% 500 + outage: drain after':<34} "
                f"{f.get('drain_after_outage_s', float('nan')):>9.1f}s "
                f"({f.get('left_at_outage_end')} left then; {steady:.1f} s at the clean rate) "
                f"{'correct' if f['correct'] else 'WRONG'}: {f['check']}"
            )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", type=int, default=10_000)
    parser.add_argument("--sections", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=40.0, help="the SIS's answer time")
    parser.add_argument(
        "--outage", type=float, default=10.0, help="seconds of full outage (0 skips the run)"
    )
    parser.add_argument(
        "--loop-time-limit", type=float, default=30.0, help="seconds the sequential loop runs"
    )
    parser.add_argument(
        "--relay-time-limit",
        type=float,
        default=300.0,
        dest="relay_time_limit",
        help="seconds any relay figure may take",
    )


def run_relay_bench(args: argparse.Namespace, kinds: list[str]) -> dict[str, Any]:
    with standin(args.latency_ms) as url:
        expected = bodies(args.results, args.sections)
        loop = sequential_loop(url, expected, args.loop_time_limit)
        print(f"relay: sequential loop: {json.dumps(loop)}", flush=True)
        rows = [bench_relay(kind, args, url) for kind in kinds]
    print(report(loop, rows))
    summary = {"latency_ms": args.latency_ms, "results": args.results, "loop": loop, "rows": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "relay.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.relay", description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    add_arguments(parser)
    args = parser.parse_args(argv)
    run_relay_bench(args, ["sqlite", "postgresql"] if args.db == "both" else [args.db])


if __name__ == "__main__":
    main()
