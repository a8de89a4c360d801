"""A user's mistake gets one line and a non-zero exit from every command, never a traceback; the
SIS-event sender (``lti-bridge events send``) and the worker say what they do."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook
from werkzeug.wrappers import Request, Response

from lti_bridge.adapters.db.tables import registrations
from tests.fixtures.loopback import serve
from tests.fixtures.processes import LTI_BRIDGE, free_port, run_cli, tool_env
from tests.fixtures.sis_events import SECRET

COMMANDS = [
    ("db", "upgrade"),
    ("platform", "list"),
    ("keys", "list"),
    ("events", "list"),
    ("catalog", "import", "config/catalog.example.toml"),
    ("worker", "--once"),
    ("serve", "--port", "1"),
    ("doctor",),
]
ROOT = Path(__file__).resolve().parents[2]


def lti_bridge(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LTI_BRIDGE, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def assert_one_line(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for text in expected:
        assert text in lines[0], lines[0]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("foo", "is not a database URL"),
        ("postgres://ops:hunter2@db.example.edu/lti", "postgresql+psycopg://"),
        ("mysql+nosuchdriver://x@h/d", "unknown database kind"),
    ],
    ids=["foo", "postgres-scheme", "unknown-driver"],
)
def test_a_bad_database_url_is_one_line_for_every_command(
    command: tuple[str, ...], url: str, expected: str
) -> None:
    done = lti_bridge(tool_env(url), *command)

    assert_one_line(done, "LTI_BRIDGE_DATABASE_URL", expected)
    assert "hunter2" not in done.stderr


@pytest.mark.parametrize(
    "command", [c for c in COMMANDS if c[0] != "doctor"], ids=lambda c: " ".join(c[:2])
)
def test_an_unreachable_database_server_is_one_line(command: tuple[str, ...]) -> None:
    env = tool_env(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/lti")

    done = lti_bridge(env, *command)

    assert_one_line(done, "database unavailable", "Connection refused")


@pytest.mark.parametrize(
    ("content", "expected"),
    [("[university\nname = ", "not valid TOML"), (None, "does not exist")],
    ids=["malformed", "missing"],
)
def test_a_malformed_or_missing_configuration_file_is_one_line(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    config = tmp_path / "lti_bridge.toml"
    if content is not None:
        config.write_text(content)
    env = tool_env(f"sqlite:///{tmp_path / 'tool.sqlite3'}", LTI_BRIDGE_CONFIG=str(config))

    done = lti_bridge(env, "platform", "list")

    assert_one_line(done, "configuration", expected)


def test_a_malformed_catalog_file_is_refused_without_a_traceback(tmp_path: Path) -> None:
    env = tool_env(f"sqlite:///{tmp_path / 'tool.sqlite3'}")
    run_cli(env, "db", "upgrade")
    catalog = tmp_path / "catalog.toml"
    catalog.write_text("[university\n")

    done = lti_bridge(env, "catalog", "import", str(catalog))

    assert_one_line(done, "catalog.toml")


def test_an_unwritable_sqlite_location_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")

    done = lti_bridge(tool_env(f"sqlite:///{blocker / 'sub' / 'tool.sqlite3'}"), "db", "upgrade")

    assert_one_line(done)


def test_a_platform_key_set_on_a_closed_port_is_one_line(tmp_path: Path) -> None:
    env = tool_env(f"sqlite:///{tmp_path / 'tool.sqlite3'}")
    run_cli(env, "db", "upgrade")

    done = lti_bridge(
        env, "platform", "add", "--issuer", "https://lms.example.edu", "--client-id", "c",
        "--auth-login-url", "https://lms.example.edu/auth",
        "--auth-token-url", "https://lms.example.edu/token",
        "--key-set-url", f"http://127.0.0.1:{free_port()}/jwks", "--deployment-id", "d",
    )

    assert_one_line(done, "not reachable")


# --- events send --------------------------------------------------------------------------------


class Receiver:
    """A webhook endpoint that checks signatures with the reference Standard Webhooks library."""

    def __init__(self, secret: str) -> None:
        self.webhook = Webhook(secret)
        self.received: list[dict[str, Any]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            payload = self.webhook.verify(request.get_data(), dict(request.headers))
        except Exception:  # noqa: BLE001 - any verification failure is a 401
            return Response("bad signature", 401)(environ, start_response)
        self.received.append({"path": request.path, "payload": payload})
        return Response(status=204)(environ, start_response)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    stand_in = Receiver(SECRET)
    with serve(stand_in) as url:
        yield stand_in, url


def test_events_send_signs_per_standard_webhooks_and_posts_the_full_snapshot(
    receiver: tuple[Receiver, str],
) -> None:
    stand_in, url = receiver

    done = lti_bridge(
        tool_env("foo"), "events", "send", "tuition.paid", "110123456", "--url", url,
        "--secret", SECRET,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("204 tuition.paid 110123456 webhook-id msg_")
    (delivery,) = stand_in.received
    assert delivery["path"] == "/webhooks/sis"
    data = delivery["payload"]["data"]
    assert delivery["payload"]["type"] == "tuition.paid"
    assert data["student"]["sis_id"] == "110123456"
    assert data["tuition"]["status"] == "paid"
    assert data["registration"]["status"] == "registered"
    assert data["registration"]["section"]["sis_id"] == "DTSA5509-100-2024S1"


def test_events_send_with_a_secret_the_tool_does_not_know_exits_non_zero(
    receiver: tuple[Receiver, str],
) -> None:
    stand_in, url = receiver

    done = lti_bridge(
        tool_env("foo"), "events", "send", "tuition.paid", "1", "--url", url + "/webhooks/sis",
        "--secret", "whsec_" + "B" * 32,
    )

    assert done.returncode == 1
    assert done.stdout.startswith("401 ")
    assert not stand_in.received


def test_events_send_reads_the_secret_from_the_environment(
    receiver: tuple[Receiver, str],
) -> None:
    stand_in, url = receiver
    env = tool_env("foo", LTI_BRIDGE_WEBHOOK_SECRETS=f"{SECRET} whsec_{'C' * 32}")

    done = lti_bridge(env, "events", "send", "student.onboarding_completed", "7", "--url", url)

    assert done.returncode == 0, done.stderr
    assert stand_in.received[0]["payload"]["data"] == {
        "sequence": stand_in.received[0]["payload"]["data"]["sequence"],
        "student": {"sis_id": "7"},
    }


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--url", "http://127.0.0.1:{port}", "--secret", SECRET), "could not reach"),
        (("--url", "http://127.0.0.1:{port}", "--secret", "not-a-secret"), "whsec_"),
        (("--url", "ftp://tool", "--secret", SECRET), "not an http(s) URL"),
    ],
    ids=["closed-port", "bad-secret", "bad-url"],
)
def test_events_send_mistakes_are_one_line(args: tuple[str, ...], expected: str) -> None:
    port = str(free_port())
    filled = [arg.replace("{port}", port) for arg in args]

    done = lti_bridge(tool_env("foo"), "events", "send", "tuition.paid", "1", *filled)

    assert_one_line(done, expected)


def test_events_send_an_unknown_type_is_refused_with_the_known_ones() -> None:
    done = lti_bridge(
        tool_env("foo"), "events", "send", "tuition.stolen", "1", "--url", "http://x",
        "--secret", SECRET,
    )

    assert done.returncode == 2
    assert "tuition.paid" in done.stderr and "Traceback" not in done.stderr


def test_events_send_reaches_the_tool_and_the_registration_is_stored(
    app_config: dict[str, Any], engine: Any
) -> None:
    from lti_bridge.web import create_app

    app = create_app({**app_config, "webhook_secrets": (SECRET,)})
    try:
        with serve(app) as url:
            done = lti_bridge(
                tool_env("foo"), "events", "send", "enrollment.registered", "110123456",
                "--url", url, "--secret", SECRET, "--tuition", "paid",
            )
    finally:
        app.extensions["lti_bridge"].engine.dispose()

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("204 ")
    with engine.connect() as conn:
        stored = conn.execute(select(registrations.c.status, registrations.c.tuition_status)).all()
    assert [tuple(row) for row in stored] == [("registered", "paid")]


# --- worker -------------------------------------------------------------------------------------


def test_the_worker_logs_a_start_line_and_periodic_summaries(tmp_path: Path) -> None:
    env = tool_env(f"sqlite:///{tmp_path / 'tool.sqlite3'}", LTI_BRIDGE_LOG_FORMAT="json")
    run_cli(env, "db", "upgrade")
    log = tmp_path / "worker.log"

    with log.open("w") as sink:
        proc = subprocess.Popen(
            [LTI_BRIDGE, "worker", "--interval", "0.1", "--summary-every", "0.3"],
            env=env, stdout=sink, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and log.read_text().count("worker summary") < 2:
                time.sleep(0.1)
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    started = [r for r in records if r["message"] == "worker started"]
    summaries = [r for r in records if r["message"] == "worker summary"]
    assert len(started) == 1
    assert started[0]["logger"] == "lti_bridge.worker" and started[0]["interval_s"] == 0.1
    assert "tool.sqlite3" in started[0]["database"]
    assert len(summaries) >= 2
    assert all(r["rounds"] >= 1 and r["purged_launch_state"] == 0 for r in summaries)
