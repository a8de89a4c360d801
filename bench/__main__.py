"""The benchmark: ``python -m bench``. Figures are ratios to a bare Flask "hello" app served with
the same gunicorn settings in the same run, so they compare across machines.

For each database (SQLite, PostgreSQL) it starts ``lti-bridge serve --workers 2`` and the hello
app, a platform whose JWKS endpoint answers in 50 ms, pre-generates unique valid launches through
real login round trips (each with its own state cookie and nonce), then drives 16 concurrent
clients from separate processes at the launch POST and at hello, each request sent once. The
figures are measured in interleaved rounds (hello, open launch, for-credit launch, then again in
another order), so a slow patch of the machine or the database's background work (autovacuum)
falls on all of them alike rather than on whichever came last.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from sqlalchemy import create_engine

from bench import wrk
from bench.databases import fresh_database
from bench.load import Req, Result, run
from bench.webhooks import run_burst
from tests.fixtures.loopback import serve
from tests.fixtures.platform import Login, ScriptedPlatform
from tests.fixtures.processes import free_port, lti_bridge_serve, run_cli, tool_env
from tests.fixtures.sis_events import SECRET as SIS_SECRET
from tests.fixtures.sis_events import (
    registration_event,
    session_around,
    signed_headers,
    student_event,
)

JWKS_DELAY = 0.05
SECTION = "DTSA5509-100-2024S1"
LAUNCHES_PER_LEARNER = 4
RESULTS = Path(__file__).parent / "results"
ROUNDS = LAUNCHES_PER_LEARNER


def cpu_seconds(master_pid: int) -> tuple[float, float]:
    """CPU time used so far by a gunicorn master's worker processes, and by PostgreSQL's
    processes (Linux /proc; PostgreSQL's only when this user may read them)."""
    server = database = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name, rest = (entry / "stat").read_text().rsplit(")", 1)
        except OSError:
            continue
        fields = rest.split()
        used = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
        if int(fields[1]) == master_pid:  # ppid
            server += used
        elif name.endswith("(postgres"):
            database += used
    return server, database


def measured(master_pid: int, requests_: list[Req], args: argparse.Namespace) -> Result:
    """Run the load; attach the server's and the database's CPU milliseconds per answered
    request."""
    server, database = cpu_seconds(master_pid)
    drive = run if args.client == "python" else wrk.run
    result = drive(requests_, clients=args.clients, time_limit=args.time_limit / ROUNDS)
    server_after, database_after = cpu_seconds(master_pid)
    result.server_cpu_ms = (server_after - server) * 1000 / max(1, result.count)
    result.database_cpu_ms = (database_after - database) * 1000 / max(1, result.count)
    return result


def measured_in_rounds(
    figures: dict[str, tuple[int, list[Req]]], args: argparse.Namespace
) -> dict[str, list[Result]]:
    """Each figure's requests in ``ROUNDS`` consecutive slices, run round-robin, each round in a
    new order; the results of each round. The first round holds every learner's first launch
    (``LAUNCHES_PER_LEARNER`` = ``ROUNDS``), the later ones their returns."""
    names = list(figures)
    parts: dict[str, list[Result]] = {name: [] for name in names}
    for round_ in range(ROUNDS):
        for name in names[round_ % len(names):] + names[: round_ % len(names)]:
            pid, requests_ = figures[name]
            size = -(-len(requests_) // ROUNDS)
            parts[name].append(measured(pid, requests_[round_ * size:(round_ + 1) * size], args))
    return parts


@contextmanager
def hello_server(workers: int, threads: int) -> Iterator[tuple[str, int]]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.serve_hello", "--port", str(port),
         "--workers", str(workers), "--threads", str(threads), "--no-access-log"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(url + "/hello", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=20)


class SlowJwksPlatform(ScriptedPlatform):
    """A platform whose key set answers in 50 ms, as a busy LMS's does."""

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        time.sleep(JWKS_DELAY)
        return super().wsgi(environ, start_response)


def login_round_trip(
    session: requests.Session,
    tool: str,
    platform: ScriptedPlatform,
    i: int,
    for_credit: bool,
    people: int,
    first_person: int = 0,
) -> Req:
    """Log in through the tool's OIDC endpoint and build the launch the platform would post."""
    params = {
        "iss": platform.issuer,
        "login_hint": f"user-{i}",
        "target_link_uri": tool + "/lti/launch",
        "lti_message_hint": "bench",
        "client_id": platform.client_id,
        "lti_deployment_id": platform.deployment_id,
    }
    response = session.get(tool + "/lti/login", params=params, allow_redirects=False, timeout=30)
    if response.status_code != 302:
        raise SystemExit(f"login answered {response.status_code}: {response.text[:300]}")
    query = {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}
    login = Login(query["state"], query["nonce"], query["redirect_uri"], query["client_id"], query)
    # Each learner launches several times, as learners do: every launch is still unique.
    person = first_person + i % people
    # The same learners in the same course launch both kinds of link; only the link differs.
    if for_credit:
        # A registered, paid, onboarded student (see ``admit``): the gate opens the exam.
        link = {"id": f"exam-{i % 50}", "title": "Final exam"}
        custom = {"access": "for_credit", "item": "final-exam"}
    else:
        link = {"id": f"link-{i % 50}", "title": "Week 1 reading"}
        custom = {"access": "open", "item": "week1-reading"}
    claims = platform.claims(
        login,
        sub=f"learner-{person}",
        target_link_uri=tool + "/lti/launch",
        resource_link=link,
        custom=custom,
        lis={"person_sourcedid": f"bench-{person}", "course_section_sourcedid": SECTION},
    )
    cookie = "; ".join(f"{c.name}={c.value}" for c in response.cookies)
    body = urlencode({"id_token": platform.sign(claims), "state": login.state}).encode()
    return Req(
        "POST",
        tool + "/lti/launch",
        body,
        (("Content-Type", "application/x-www-form-urlencoded"), ("Cookie", cookie)),
    )


def prepare_launches(
    tool: str,
    platform: ScriptedPlatform,
    count: int,
    *,
    for_credit: bool = False,
    first_person: int = 0,
) -> list[Req]:
    people = max(1, count // LAUNCHES_PER_LEARNER)

    def one(i: int) -> Req:
        with requests.Session() as session:
            return login_round_trip(session, tool, platform, i, for_credit, people, first_person)

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, range(count)))


def core_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` for a tool whose ``DriverStatement``s run through SQLAlchemy Core
    (``bench/core_statements.py``)."""
    root = Path(__file__).resolve().parent
    path = os.pathsep.join(
        [str(root / "core"), str(root.parent), *filter(None, [env.get("PYTHONPATH")])]
    )
    return {**env, "PYTHONPATH": path, "LTI_BRIDGE_BENCH_STATEMENTS": "core"}


def before_env(env: dict[str, str], checkout: str) -> dict[str, str]:
    """``env`` for the tool of another checkout (its ``lti_bridge`` package first on the path,
    ahead of this one's editable install), with this environment's dependencies."""
    path = os.pathsep.join([checkout, *filter(None, [env.get("PYTHONPATH")])])
    return {**env, "PYTHONPATH": path}


def analyze(url: str) -> None:
    """Give PostgreSQL's planner the statistics a running deployment's tables have.

    The benchmark fills its tables moments before it measures; autovacuum would analyze them
    within a minute or so, and until then the planner guesses: the gate's read of a learner's
    SIS student (an OR of two indexed columns) then scans the table instead of using both
    indexes, and figures depend on whether autovacuum got there first. pgbench analyzes after
    loading for the same reason.
    """
    if not url.startswith("postgresql"):
        return
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()


def admit(tool: str, count: int) -> None:
    """Tell the tool, as the SIS does, that ``count`` students are registered, paid, onboarded."""
    now = datetime.now(UTC)
    sends = []
    for i in range(count):
        for event in (
            registration_event(
                "tuition.paid",
                student=f"bench-{i}",
                registration=f"bench-reg-{i}",
                tuition="paid",
                section=SECTION,
                session=session_around(now.date()),
            ),
            student_event("student.onboarding_completed", student=f"bench-{i}"),
        ):
            body = json.dumps(event)
            headers = tuple(signed_headers(body, secret=SIS_SECRET, at=now).items())
            sends.append(Req("POST", tool + "/webhooks/sis", body.encode(), headers))
    result = run(sends, clients=8, time_limit=300)
    if result.errors:
        raise SystemExit(f"the SIS events for the for-credit launches failed: {result.statuses}")


def bench_database(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    hello_app = hello_server(args.workers, args.threads)
    with fresh_database(kind) as url, hello_app as (hello, hello_pid):
        env = tool_env(url, LTI_BRIDGE_WEBHOOK_SECRETS=SIS_SECRET, LTI_BRIDGE_LOG_LEVEL="WARNING")
        run_cli(env, "db", "upgrade")
        platform = SlowJwksPlatform()
        with serve(platform.wsgi) as jwks_base:
            platform.jwks_url = jwks_base + "/jwks"
            run_cli(
                env, "platform", "add", "--issuer", platform.issuer,
                "--client-id", platform.client_id,
                "--auth-login-url", platform.issuer + "/auth",
                "--auth-token-url", platform.issuer + "/token",
                "--key-set-url", platform.jwks_url,
                "--deployment-id", platform.deployment_id,
            )
            serve_args = ("--no-relay", "--no-access-log", "--threads", str(args.threads))
            with ExitStack() as servers:
                tool = servers.enter_context(
                    lti_bridge_serve(env, workers=args.workers, args=serve_args)
                )
                variants = 1 + (args.statements == "both") + bool(args.before)
                people = max(1, args.launches // LAUNCHES_PER_LEARNER)
                # Each tool served has learners of its own: sharing them would leave the first
                # access and the learner rows to whichever tool launched first.
                admit(tool.url, people * variants)
                analyze(url)
                figures = {"hello": (hello_pid, [Req("GET", hello + "/hello")] * args.launches)}
                tools = {"": tool}
                if args.statements == "both":
                    # The same tool with its hot statements through SQLAlchemy Core (issue 12).
                    tools[" (Core)"] = servers.enter_context(
                        lti_bridge_serve(core_env(env), workers=args.workers, args=serve_args)
                    )
                if args.before:
                    # Another checkout of the tool (an earlier commit) on the same database.
                    tools[" (before)"] = servers.enter_context(
                        lti_bridge_serve(
                            before_env(env, args.before), workers=args.workers, args=serve_args
                        )
                    )
                for n, (suffix, served) in enumerate(tools.items()):
                    launches = prepare_launches(
                        served.url, platform, args.launches, first_person=n * people
                    )
                    credit = prepare_launches(
                        served.url, platform, args.launches, for_credit=True,
                        first_person=n * people,
                    )
                    # One warm-up launch per worker process so no figure includes start-up work.
                    run(prepare_launches(served.url, platform, 4), clients=2, processes=1)
                    figures["launch" + suffix] = (served.proc.pid, launches)
                    figures["for-credit launch" + suffix] = (served.proc.pid, credit)
                rounds = measured_in_rounds(figures, args)
    row: dict[str, Any] = {
        "database": kind,
        **{name: Result.combined(parts) for name, parts in rounds.items()},
        # Learners who have opened the exam before: no first access to record (DOMAIN R9).
        "returning": {
            name: Result.combined(parts[1:])
            for name, parts in rounds.items()
            if name != "hello"
        },
    }
    if args.burst_events:
        with fresh_database(kind) as burst_url:
            row["burst"] = run_burst(
                burst_url,
                events=args.burst_events,
                registrations_count=args.burst_events // 4,
                workers=args.workers,
                threads=args.threads,
            )
    return row




def report(rows: list[dict[str, Any]]) -> str:
    lines = [
        "",
        "database    figure                               ratio to hello   requests/s"
        "   p99 ms   errors   CPU ms/request: server  database",
    ]
    for row in rows:
        hello: Result = row["hello"]
        for name in [name for name in row if isinstance(row[name], Result)]:
            result: Result = row[name]
            ratio = result.throughput / hello.throughput if hello.throughput else 0.0
            lines.append(
                f"{row['database']:<11} {name + ' throughput':<36} {ratio:>14.2f}   "
                f"{result.throughput:>10.0f}   "
                f"{result.percentile(99) * 1000:>6.1f}   {result.errors:>6}"
                f"   {result.server_cpu_ms:>22.2f}  {result.database_cpu_ms:>8.2f}"
            )
        for suffix in ("", " (Core)", " (before)"):
            credit, launch = row.get("for-credit launch" + suffix), row.get("launch" + suffix)
            if not launch or not credit or not launch.throughput:
                continue
            lines.append(
                f"{row['database']:<11} {'for-credit / open launch' + suffix:<36} "
                f"{credit.throughput / launch.throughput:>14.2f}"
            )
            returning = row["returning"]
            if returning["launch" + suffix].throughput:
                ratio = (
                    returning["for-credit launch" + suffix].throughput
                    / returning["launch" + suffix].throughput
                )
                lines.append(
                    f"{row['database']:<11} {'  returning learners only':<36} {ratio:>14.2f}"
                )
        for name in ("launch", "for-credit launch"):
            for suffix, label in ((" (Core)", ": raw / Core"), (" (before)", ": after / before")):
                other = row.get(name + suffix)
                if other and other.throughput:
                    lines.append(
                        f"{row['database']:<11} {name + label:<36} "
                        f"{row[name].throughput / other.throughput:>14.2f}"
                    )
        burst = row.get("burst")
        if burst:
            ratio = burst["events_per_second"] / hello.throughput if hello.throughput else 0.0
            lines.append(
                f"{row['database']:<11} {'webhook burst events/s':<36} {ratio:>14.2f}   "
                f"{burst['p99_ms']:>6.1f}   {'none lost' if burst['correct'] else 'WRONG STATE'}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--launches", type=int, default=3000, help="unique launches per database")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--before",
        metavar="CHECKOUT",
        help="also serve the tool of another checkout (e.g. git worktree add /tmp/before "
        "COMMIT) on the same database, and report after / before in the same run",
    )
    parser.add_argument(
        "--statements",
        choices=["raw", "both"],
        default="raw",
        help="both: also serve the tool with its hot statements through SQLAlchemy Core "
        "(bench/core_statements.py) and report the two side by side, in the same run",
    )
    parser.add_argument(
        "--client",
        choices=["wrk", "python"],
        default=os.environ.get("LTI_BRIDGE_BENCH_CLIENT", "wrk"),
        help="load generator: wrk (default; Debian's package) or the slower Python client, "
        "which saturates before a bare Flask app does",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per figure")
    parser.add_argument(
        "--burst-events", type=int, default=20_000,
        help="SIS events in the term-start burst (0 skips it)",
    )
    parser.add_argument(
        "--part",
        choices=["launches", "relay", "release", "carryover", "roster", "all"],
        default="launches",
        help="launches (the figures above), relay (grades to the SIS: bench/relay.py), "
        "release (a 500-learner section's release vs its AGS read: bench/release.py), "
        "carryover (a 2,000-learner upgrade wave vs its floor: bench/carryover.py), "
        "roster (the 5,000-learner credit roster and its CSV: bench/roster.py), or all",
    )
    parser.add_argument(
        "--quick", action="store_true", help="carryover: 200 learners instead of 2,000"
    )
    from bench.relay import add_arguments as add_relay_arguments
    from bench.relay import run_relay_bench

    add_relay_arguments(parser)
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    if args.part in ("launches", "all") and args.client == "wrk" and not wrk.available():
        parser.error("the load generator is wrk: apt-get install wrk (or --client python)")
    if args.part in ("relay", "all"):
        run_relay_bench(args, kinds)
        if args.part == "relay":
            return
    if args.part in ("carryover", "all"):
        from bench.carryover import run_carryover_bench

        run_carryover_bench(kinds, 200 if args.quick else 2000)
        if args.part == "carryover":
            return
    if args.part in ("release", "all"):
        from bench.release import run_release_bench

        run_release_bench(kinds)
        if args.part == "release":
            return
    if args.part in ("roster", "all"):
        from bench.roster import run_roster_bench

        run_roster_bench(kinds)
        if args.part == "roster":
            return
    rows = []
    for kind in kinds:
        row = bench_database(kind, args)
        print(f"[{kind}] hello:  {row['hello'].summary()}", flush=True)
        print(f"[{kind}] launch: {row['launch'].summary()}", flush=True)
        print(f"[{kind}] for-credit launch: {row['for-credit launch'].summary()}", flush=True)
        if "burst" in row:
            print(f"[{kind}] webhook burst: {json.dumps(row['burst'])}", flush=True)
        rows.append(row)
    print(report(rows))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(
        json.dumps(
            [
                {
                    "database": row["database"],
                    **{
                        name: {
                            "throughput": row[name].throughput,
                            "p99_ms": row[name].percentile(99) * 1000,
                            "errors": row[name].errors,
                            "server_cpu_ms": row[name].server_cpu_ms,
                            "database_cpu_ms": row[name].database_cpu_ms,
                        }
                        for name in row
                        if isinstance(row[name], Result)
                    },
                    "for-credit / open launch, returning learners": (
                        row["returning"]["for-credit launch"].throughput
                        / max(1e-9, row["returning"]["launch"].throughput)
                    ),
                    "burst": row.get("burst"),
                }
                for row in rows
            ],
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
