"""What a university installs is what is tested: the sdist and the wheel built from it, the wheel
installed into a clean virtual environment (no editable install, no source tree on the path),
its schema created on SQLite and PostgreSQL, and ``lti-bridge serve`` answering /readyz, the
landing page and a real launch."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import IN_CI, PG_ADMIN_URL
from tests.fixtures.loopback import serve
from tests.fixtures.platform import ScriptedPlatform
from tests.fixtures.processes import lti_bridge_serve, tool_env

pytestmark = pytest.mark.wheel

ROOT = Path(__file__).resolve().parents[2]
SKIP = shutil.ignore_patterns(
    ".venv", ".git", "instance", "__pycache__", "*.egg-info", "build", "dist", ".*_cache",
)


@dataclass
class Shipped:
    sdist: Path
    wheel: Path
    venv: Path

    @property
    def lti_bridge(self) -> str:
        return str(self.venv / "bin" / "lti-bridge")

    def run(self, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
        # From an empty folder: nothing of the source tree can be imported by accident.
        return subprocess.run(
            [self.lti_bridge, *args], env=env, cwd=self.venv, capture_output=True, text=True,
            timeout=120,
        )


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Shipped:
    work = tmp_path_factory.mktemp("shipped")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=SKIP)
    dist = work / "dist"
    # sdist first, then the wheel built from the unpacked sdist (what `python -m build` does).
    built = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--skip-dependency-check",
         "--outdir", str(dist), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", str(wheel)],
        capture_output=True, text=True, timeout=600,
    )
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    return Shipped(sdist, wheel, venv)


def source_packages() -> set[str]:
    found = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "lti_bridge").rglob("__init__.py")
    }
    found |= {
        "lti_bridge." + ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "migrations").rglob("__init__.py")
    }
    return found


def test_the_wheel_carries_every_package_migration_and_template(shipped: Shipped) -> None:
    names = set(zipfile.ZipFile(shipped.wheel).namelist())

    in_wheel = {
        name.rsplit("/", 1)[0].replace("/", ".") for name in names if name.endswith("__init__.py")
    }
    missing = source_packages() - in_wheel
    assert not missing, f"add these to [tool.setuptools] packages in pyproject.toml: {missing}"
    for migration in (ROOT / "migrations" / "versions").glob("*.py"):
        assert f"lti_bridge/migrations/versions/{migration.name}" in names
    assert "lti_bridge/migrations/env.py" in names
    assert "lti_bridge/migrations/script.py.mako" in names
    for template in (ROOT / "lti_bridge" / "web" / "templates").rglob("*.html"):
        assert template.relative_to(ROOT).as_posix() in names


def test_the_sdist_carries_the_migrations_and_templates(shipped: Shipped) -> None:
    with tarfile.open(shipped.sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}

    for migration in (ROOT / "migrations" / "versions").glob("*.py"):
        assert f"migrations/versions/{migration.name}" in names
    for template in (ROOT / "lti_bridge" / "web" / "templates").rglob("*.html"):
        assert template.relative_to(ROOT).as_posix() in names


def test_the_installed_command_prints_the_tool_version_and_only_its_own_options(
    shipped: Shipped, tmp_path: Path
) -> None:
    env = tool_env(f"sqlite:///{tmp_path / 'tool.sqlite3'}")

    version = shipped.run(env, "--version")
    usage = shipped.run(env, "--help")

    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == "lti-bridge 0.1.0"
    assert usage.returncode == 0, usage.stderr
    for command in ("db", "serve", "worker", "doctor", "platform", "catalog", "events"):
        assert f"  {command}" in usage.stdout
    for flask_own in ("--app", "--debug", "--env-file", "python-dotenv", "routes", "shell"):
        assert flask_own not in usage.stdout


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """An empty PostgreSQL database of its own (no schema), dropped afterwards."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"lti_bridge_wheel_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server
        admin.dispose()
        if IN_CI:
            pytest.fail(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    return str(request.getfixturevalue("fresh_postgres"))


class _Answer:
    """A ``requests`` response shaped like the Flask test client's, for ScriptedPlatform."""

    def __init__(self, response: requests.Response) -> None:
        self.status_code = response.status_code
        self.headers = response.headers
        self._text = response.text

    def get_data(self, as_text: bool = False) -> Any:
        return self._text if as_text else self._text.encode()


class _HttpClient:
    """A browser stand-in over real HTTP on loopback."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()

    def _kept(self, response: requests.Response) -> _Answer:
        # The tool marks its state cookie Secure; browsers send those to http://127.0.0.1
        # (a secure context), requests does not.
        for cookie in self.session.cookies:
            cookie.secure = False
        return _Answer(response)

    def post(self, path: str, data: dict[str, str]) -> _Answer:
        return self._kept(
            self.session.post(self.base + path, data=data, allow_redirects=False, timeout=20)
        )

    def get(self, path: str, query_string: dict[str, str]) -> _Answer:
        return self._kept(
            self.session.get(
                self.base + path, params=query_string, allow_redirects=False, timeout=20
            )
        )


def test_the_installed_wheel_creates_its_schema_and_serves_a_launch(
    shipped: Shipped, empty_database: str
) -> None:
    env = tool_env(empty_database)
    platform = ScriptedPlatform()

    upgraded = shipped.run(env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "at revision" in upgraded.stdout

    with serve(platform.wsgi) as platform_url:
        platform.jwks_url = platform_url + "/jwks"
        added = shipped.run(
            env, "platform", "add", "--issuer", platform.issuer, "--client-id",
            platform.client_id, "--auth-login-url", platform.issuer + "/auth",
            "--auth-token-url", platform.issuer + "/token", "--key-set-url", platform.jwks_url,
            "--deployment-id", platform.deployment_id,
        )
        assert added.returncode == 0, added.stderr

        with lti_bridge_serve(
            env, workers=1, args=("--no-relay",), executable=shipped.lti_bridge
        ) as tool:
            ready = requests.get(tool.url + "/readyz", timeout=10)
            landing = requests.get(tool.url + "/", timeout=10)
            client = _HttpClient(tool.url)
            target = tool.url + "/lti/launch"
            login = platform.login(client, target_link_uri=target)
            launched = platform.post_launch(
                client, login, platform.sign(platform.claims(login, target_link_uri=target))
            )
            time.sleep(0.2)  # the worker's log line is written as the answer goes out
            launch_lines = [
                line for line in tool.log().splitlines() if " lti_bridge.launch launch " in line
            ]

    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "ok"}
    assert landing.status_code == 200
    assert "lti_bridge" in landing.text and "0.1.0" in landing.text
    assert f"{tool.url}/lti/jwks" in landing.text
    assert launched.status_code == 200, launched.get_data(as_text=True)[:2000]
    assert "Week 1 reading" in launched.get_data(as_text=True)
    # The server's output holds the documented line, once (no second handler repeats it).
    assert len(launch_lines) == 1, launch_lines
    assert f"platform={platform.issuer}" in launch_lines[0]
    assert "outcome=opened" in launch_lines[0] and "duration_ms=" in launch_lines[0]
