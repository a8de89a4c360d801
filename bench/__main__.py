"""The benchmark: ``python -m bench``. Figures are ratios to a bare Flask "hello" app served with
the same gunicorn settings in the same run, so they compare across machines.

For each database (SQLite, PostgreSQL) it starts ``lti-bridge serve --workers 2`` and the hello
app, a platform whose JWKS endpoint answers in 50 ms, pre-generates unique valid launches through
real login round trips (each with its own state cookie and nonce), then drives 16 concurrent
clients from separate processes at the launch POST and at hello, each request sent once.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.load import Req, Result, run
from tests.fixtures.loopback import serve
from tests.fixtures.platform import Login, ScriptedPlatform
from tests.fixtures.processes import free_port, lti_bridge_serve, run_cli, tool_env

PG_ADMIN_URL = os.environ.get(
    "LTI_BRIDGE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
JWKS_DELAY = 0.05
RESULTS = Path(__file__).parent / "results"


@contextmanager
def database(kind: str) -> Iterator[str]:
    """A fresh, empty database of ``kind`` for one run."""
    if kind == "sqlite":
        path = Path(os.environ.get("TMPDIR", "/tmp")) / f"lti-bridge-bench-{uuid.uuid4().hex}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"lti_bridge_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def cpu_seconds(master_pid: int) -> float:
    """CPU time used so far by a gunicorn master's worker processes (Linux /proc)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master_pid:  # ppid
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return total


def measured(master_pid: int, requests_: list[Req], args: argparse.Namespace) -> Result:
    """Run the load; attach the server's CPU milliseconds per answered request."""
    before = cpu_seconds(master_pid)
    result = run(requests_, clients=args.clients, time_limit=args.time_limit)
    result.server_cpu_ms = (cpu_seconds(master_pid) - before) * 1000 / max(1, result.count)
    return result


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
    session: requests.Session, tool: str, platform: ScriptedPlatform, i: int
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
    claims = platform.claims(
        login,
        sub=f"learner-{i}",
        target_link_uri=tool + "/lti/launch",
        resource_link={"id": f"link-{i % 50}", "title": "Week 1 reading"},
    )
    cookie = "; ".join(f"{c.name}={c.value}" for c in response.cookies)
    body = urlencode({"id_token": platform.sign(claims), "state": login.state}).encode()
    return Req(
        "POST",
        tool + "/lti/launch",
        body,
        (("Content-Type", "application/x-www-form-urlencoded"), ("Cookie", cookie)),
    )


def prepare_launches(tool: str, platform: ScriptedPlatform, count: int) -> list[Req]:
    def one(i: int) -> Req:
        with requests.Session() as session:
            return login_round_trip(session, tool, platform, i)

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, range(count)))


def bench_database(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    with database(kind) as url, hello_server(args.workers, args.threads) as (hello, hello_pid):
        env = tool_env(url)
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
            with lti_bridge_serve(env, workers=args.workers, args=serve_args) as tool:
                launches = prepare_launches(tool.url, platform, args.launches)
                # One warm-up launch per worker process so no figure includes start-up work.
                run(prepare_launches(tool.url, platform, 4), clients=2, processes=1)
                hellos = [Req("GET", hello + "/hello")] * args.launches
                hello_result = measured(hello_pid, hellos, args)
                launch_result = measured(tool.proc.pid, launches, args)
    return {"database": kind, "hello": hello_result, "launch": launch_result}


def report(rows: list[dict[str, Any]]) -> str:
    lines = [
        "",
        "database    figure                     ratio to hello   p99 ms   errors"
        "   server CPU ms/request",
    ]
    for row in rows:
        hello: Result = row["hello"]
        for name in ("hello", "launch"):
            result: Result = row[name]
            ratio = result.throughput / hello.throughput if hello.throughput else 0.0
            lines.append(
                f"{row['database']:<11} {name + ' throughput':<26} {ratio:>14.2f}   "
                f"{result.percentile(99) * 1000:>6.1f}   {result.errors:>6}"
                f"   {result.server_cpu_ms:.2f}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--launches", type=int, default=3000, help="unique launches per database")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per figure")
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    rows = []
    for kind in kinds:
        row = bench_database(kind, args)
        print(f"[{kind}] hello:  {row['hello'].summary()}", flush=True)
        print(f"[{kind}] launch: {row['launch'].summary()}", flush=True)
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
                        }
                        for name in ("hello", "launch")
                    },
                }
                for row in rows
            ],
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
