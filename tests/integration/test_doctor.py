"""``lti-bridge doctor`` on a healthy installation, then with each thing it checks broken in
turn: every failure shows as its own FAIL (or WARN) line with what to do, and FAIL exits 1."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.wrappers import Request, Response

from lti_bridge.adapters.db.engine import make_engine
from lti_bridge.adapters.doctor import Status, run_checks
from lti_bridge.bootstrap import build_http_session
from lti_bridge.config import load_settings
from tests.fixtures.loopback import serve
from tests.fixtures.processes import LTI_BRIDGE, free_port, run_cli, tool_env
from tests.fixtures.sis_events import SECRET

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID, CLIENT_SECRET = "tool-at-sis", "sis-client-secret"
ISSUER = "https://lms.example.edu"


def sis_token_endpoint(environ: dict[str, Any], start_response: Any) -> Any:
    """A SIS's OAuth 2 token endpoint: client credentials in Basic auth."""
    request = Request(environ)
    expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    granted = (
        request.headers.get("Authorization") == f"Basic {expected}"
        and request.form.get("grant_type") == "client_credentials"
    )
    if granted:
        body = {"access_token": "tok-1", "token_type": "bearer", "expires_in": 3600}
        response = Response(json.dumps(body), mimetype="application/json")
    else:
        response = Response(json.dumps({"error": "invalid_client"}), 401,
                            mimetype="application/json")
    return response(environ, start_response)


def platform_jwks(environ: dict[str, Any], start_response: Any) -> Any:
    keys = {"keys": [{"kty": "RSA", "kid": "p1", "n": "AQAB", "e": "AQAB"}]}
    return Response(json.dumps(keys), mimetype="application/json")(environ, start_response)


@dataclass
class Installation:
    template: Path
    sis_url: str
    jwks_url: str

    def env(self, tmp_path: Path, **changes: str | None) -> dict[str, str]:
        database = tmp_path / "tool.sqlite3"
        shutil.copyfile(self.template, database)
        env = tool_env(
            f"sqlite:///{database}",
            LTI_BRIDGE_PUBLIC_URL="https://tool.example.edu",
            LTI_BRIDGE_WEBHOOK_SECRETS=SECRET,
            LTI_BRIDGE_SIS_BASE_URL=self.sis_url,
            LTI_BRIDGE_SIS_TOKEN_URL=self.sis_url + "/token",
            LTI_BRIDGE_SIS_CLIENT_ID=CLIENT_ID,
            LTI_BRIDGE_SIS_CLIENT_SECRET=CLIENT_SECRET,
        )
        for name, value in changes.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    """A migrated database with a platform and the example catalog, a SIS and a platform."""
    folder = tmp_path_factory.mktemp("doctor")
    template = folder / "template.sqlite3"
    with serve(sis_token_endpoint) as sis_url, serve(platform_jwks) as platform_url:
        env = tool_env(f"sqlite:///{template}")
        run_cli(env, "db", "upgrade")
        run_cli(
            env, "platform", "add", "--issuer", ISSUER, "--client-id", "tool-client-1",
            "--auth-login-url", ISSUER + "/auth", "--auth-token-url", ISSUER + "/token",
            "--key-set-url", platform_url + "/jwks", "--deployment-id", "deployment-1",
        )
        run_cli(env, "catalog", "import", str(ROOT / "config" / "catalog.example.toml"))
        yield Installation(template, sis_url, platform_url + "/jwks")


def doctor(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LTI_BRIDGE, "doctor"], env=env, capture_output=True, text=True, timeout=120
    )


def line_for(output: str, name: str) -> str:
    found = [line for line in output.splitlines() if line[5:].startswith(name + ":")]
    assert len(found) == 1, output
    return found[0]


def fix_after(output: str, line: str) -> str:
    lines = output.splitlines()
    following = lines[lines.index(line) + 1]
    assert following.strip().startswith("->"), output
    return following


def test_a_healthy_installation_passes_every_check(
    installation: Installation, tmp_path: Path
) -> None:
    done = doctor(installation.env(tmp_path))

    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("database", "migrations", "public URL", "webhook secrets", "SIS credentials",
                 f"platform {ISSUER} (tool-client-1)", "catalog", "clock"):
        assert line_for(done.stdout, name).startswith("OK   "), done.stdout
    assert "0 failed, 0 warnings" in done.stdout


def test_an_unreachable_database_fails_and_says_what_to_check(tmp_path: Path) -> None:
    env = tool_env(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere")

    done = doctor(env)

    assert done.returncode == 1
    line = line_for(done.stdout, "database")
    assert line.startswith("FAIL ") and "not reachable" in line
    assert "LTI_BRIDGE_DATABASE_URL" in fix_after(done.stdout, line)
    assert "Traceback" not in done.stderr


def test_a_database_without_schema_fails_with_db_upgrade_as_the_fix(tmp_path: Path) -> None:
    done = doctor(tool_env(f"sqlite:///{tmp_path / 'empty.sqlite3'}"))

    assert done.returncode == 1
    line = line_for(done.stdout, "migrations")
    assert line.startswith("FAIL ")
    assert "lti-bridge db upgrade" in fix_after(done.stdout, line)


def test_a_database_behind_the_latest_migration_fails(tmp_path: Path) -> None:
    env = tool_env(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    run_cli(env, "db", "upgrade", "--revision", "0001")

    done = doctor(env)

    assert done.returncode == 1
    line = line_for(done.stdout, "migrations")
    assert line.startswith("FAIL ") and "revision 0001" in line


def test_a_public_url_without_https_fails(installation: Installation, tmp_path: Path) -> None:
    done = doctor(installation.env(tmp_path, LTI_BRIDGE_PUBLIC_URL="http://tool.example.edu"))

    assert done.returncode == 1
    line = line_for(done.stdout, "public URL")
    assert line.startswith("FAIL ") and "https" in line


def test_a_missing_public_url_warns(installation: Installation, tmp_path: Path) -> None:
    done = doctor(installation.env(tmp_path, LTI_BRIDGE_PUBLIC_URL=None))

    assert done.returncode == 0
    assert line_for(done.stdout, "public URL").startswith("WARN ")


@pytest.mark.parametrize(
    ("secrets", "expected"),
    [(None, "not set"), ("whsec_***not-base64***", "not valid base64")],
)
def test_missing_or_malformed_webhook_secrets_fail(
    installation: Installation, tmp_path: Path, secrets: str | None, expected: str
) -> None:
    done = doctor(installation.env(tmp_path, LTI_BRIDGE_WEBHOOK_SECRETS=secrets))

    assert done.returncode == 1
    line = line_for(done.stdout, "webhook secrets")
    assert line.startswith("FAIL ") and expected in line


def test_sis_credentials_the_sis_refuses_fail(installation: Installation, tmp_path: Path) -> None:
    done = doctor(installation.env(tmp_path, LTI_BRIDGE_SIS_CLIENT_SECRET="wrong"))

    assert done.returncode == 1
    line = line_for(done.stdout, "SIS credentials")
    assert line.startswith("FAIL ") and "refused" in line and "401" in line
    assert "LTI_BRIDGE_SIS_CLIENT_SECRET" in fix_after(done.stdout, line)


def test_an_unreachable_sis_token_url_fails(installation: Installation, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/token"

    done = doctor(installation.env(tmp_path, LTI_BRIDGE_SIS_TOKEN_URL=url))

    assert done.returncode == 1
    line = line_for(done.stdout, "SIS credentials")
    assert line.startswith("FAIL ") and "not reachable" in line


def test_a_platform_whose_key_set_is_unreachable_fails(
    installation: Installation, tmp_path: Path
) -> None:
    env = installation.env(tmp_path)
    run_cli(
        env, "platform", "add", "--issuer", "https://other-lms.example.edu", "--client-id", "c2",
        "--auth-login-url", "https://other-lms.example.edu/auth",
        "--auth-token-url", "https://other-lms.example.edu/token",
        "--key-set-url", f"http://127.0.0.1:{free_port()}/jwks", "--deployment-id", "d2",
        "--no-check",
    )

    done = doctor(env)

    assert done.returncode == 1
    assert line_for(done.stdout, f"platform {ISSUER} (tool-client-1)").startswith("OK   ")
    line = line_for(done.stdout, "platform https://other-lms.example.edu (c2)")
    assert line.startswith("FAIL ") and "not reachable" in line
    assert "lti-bridge platform add" in fix_after(done.stdout, line)


def test_without_a_catalog_the_doctor_warns_and_names_the_import(tmp_path: Path) -> None:
    env = tool_env(f"sqlite:///{tmp_path / 'tool.sqlite3'}")
    run_cli(env, "db", "upgrade")

    done = doctor(env)

    line = line_for(done.stdout, "catalog")
    assert line.startswith("WARN ")
    assert "lti-bridge catalog import" in fix_after(done.stdout, line)
    assert line_for(done.stdout, "platforms").startswith("WARN ")


@pytest.mark.postgres
def test_a_clock_far_from_the_database_clock_fails(pg_database: str) -> None:
    settings = load_settings(environ={}, overrides={"database_url": pg_database})
    engine = make_engine(pg_database)
    try:
        skewed = run_checks(
            settings, engine, build_http_session(),
            lambda: datetime.now(UTC) + timedelta(minutes=2),
        )
        in_step = run_checks(settings, engine, build_http_session())
    finally:
        engine.dispose()

    (clock,) = [check for check in skewed if check.name == "clock"]
    assert clock.status is Status.FAIL
    assert "-120" in clock.detail or "-119" in clock.detail
    assert "NTP" in clock.fix
    (steady,) = [check for check in in_step if check.name == "clock"]
    assert steady.status is Status.OK


def test_the_token_endpoint_stand_in_refuses_wrong_credentials(
    installation: Installation,
) -> None:
    # The stand-in must be able to say no, or the refusal test above proves nothing.
    refused = requests.post(
        installation.sis_url + "/token", data={"grant_type": "client_credentials"},
        auth=(CLIENT_ID, "wrong"), timeout=10,
    )
    granted = requests.post(
        installation.sis_url + "/token", data={"grant_type": "client_credentials"},
        auth=(CLIENT_ID, CLIENT_SECRET), timeout=10,
    )
    assert refused.status_code == 401
    assert granted.json()["access_token"] == "tok-1"
