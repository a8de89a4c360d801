"""Shared fixtures: real SQLite and real PostgreSQL, migrated by Alembic, emptied between tests.

PostgreSQL comes from ``LTI_BRIDGE_TEST_POSTGRES_URL`` (default: the local server, user
postgres). Each test session creates its own database and drops it at the end. Without a
reachable server the PostgreSQL variants skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from lti_bridge.adapters.db.engine import make_engine, upgrade

PG_ADMIN_URL = os.environ.get(
    "LTI_BRIDGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated once; each test gets a copy."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated to head."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"lti_bridge_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server
        admin.dispose()
        message = f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _empty_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        names = conn.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        ).scalars().all()
        if names:
            quoted = ", ".join(f'"{n}"' for n in names)
            conn.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
    engine.dispose()


@contextmanager
def empty_database(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of ``kind`` ("sqlite" or "postgresql"), for a fixture."""
    if kind == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "lti_bridge.sqlite3"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("pg_database")
    try:
        yield url
    finally:
        _empty_postgres(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: an SQLite file, or the session's PostgreSQL database."""
    with empty_database(request, request.param, tmp_path) as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[object]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def app_config(db_url: str, tmp_path: Path) -> dict[str, object]:
    return {
        "database_url": db_url,
        "instance_path": str(tmp_path / "instance"),
        "secret_key": "test-secret-key-not-for-production",
    }


@pytest.fixture
def app(app_config: dict[str, object]) -> Iterator[object]:
    from lti_bridge.web import create_app

    flask_app = create_app(app_config)
    flask_app.config["TESTING"] = True
    yield flask_app
    flask_app.extensions["lti_bridge"].engine.dispose()


@pytest.fixture
def client(app: object) -> object:
    return app.test_client()  # type: ignore[attr-defined]


@pytest.fixture
def oneroster() -> Iterator[object]:
    """A OneRoster gradebook stand-in on a loopback port (``tests/oneroster/standin.py``)."""
    from tests.oneroster.standin import StandIn

    standin = StandIn().start()
    try:
        yield standin
    finally:
        standin.stop()
