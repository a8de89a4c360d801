"""The container set-up, checked without a Docker engine (none runs on the build machines): the
compose file against the Compose Specification's JSON schema, and the shape the issue asks for.

``tests/fixtures/compose_spec.json`` is the specification's schema as the ``docker-compose``
1.29.2 package on PyPI ships it (``compose/config/compose_spec.json``, Apache-2.0)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft201909Validator

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "tests" / "fixtures" / "compose_spec.json").read_text())


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())


def schema_errors(document: Any) -> list[str]:
    # The file names its draft by a URL the jsonschema package does not know; it is 2019-09.
    validator = Draft201909Validator(SCHEMA)
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def test_the_compose_file_is_valid_against_the_compose_specification_schema() -> None:
    assert schema_errors(compose()) == []


def test_the_schema_check_would_catch_a_misspelt_key() -> None:
    broken = compose()
    broken["services"]["worker"]["depends_onn"] = broken["services"]["worker"].pop("depends_on")

    assert any("depends_onn" in error for error in schema_errors(broken))


def test_the_worker_waits_for_a_healthy_app_and_restarts_on_failure() -> None:
    services = compose()["services"]

    assert services["worker"]["depends_on"] == {"app": {"condition": "service_healthy"}}
    assert services["worker"]["restart"] == "on-failure"
    assert services["worker"]["command"] == ["lti-bridge", "worker"]
    assert "/readyz" in " ".join(services["app"]["healthcheck"]["test"])
    assert services["app"]["depends_on"] == {"db": {"condition": "service_healthy"}}


def test_postgresql_keeps_its_data_in_a_named_volume() -> None:
    document = compose()

    assert "pgdata:/var/lib/postgresql/data" in document["services"]["db"]["volumes"]
    assert "pgdata" in document["volumes"]
    url = document["services"]["app"]["environment"]["LTI_BRIDGE_DATABASE_URL"]
    assert url.startswith("postgresql+psycopg://") and "@db/" in url


def test_the_tls_front_is_optional_and_proxies_to_the_app() -> None:
    caddy = compose()["services"]["caddy"]

    assert caddy["profiles"] == ["tls"]
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in caddy["volumes"]
    caddyfile = (ROOT / "docker" / "Caddyfile").read_text()
    assert "reverse_proxy app:8000" in caddyfile


def test_the_image_is_built_in_two_stages_from_the_wheel_and_runs_unprivileged() -> None:
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    stages = [line for line in dockerfile.splitlines() if line.startswith("FROM ")]

    assert len(stages) == 2
    assert "python -m build" in dockerfile
    assert "COPY --from=build /dist/*.whl" in dockerfile
    assert "pip install --no-cache-dir /tmp/wheels/*.whl" in dockerfile
    user = [line for line in dockerfile.splitlines() if line.startswith("USER ")]
    assert user and user[-1].split()[1] not in {"root", "0"}
    assert "HEALTHCHECK" in dockerfile and "/readyz" in dockerfile


@pytest.mark.parametrize("kept_out", [".venv", "instance", ".git", "tests", "bench"])
def test_the_build_context_leaves_out_the_venv_local_state_and_tests(kept_out: str) -> None:
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    # Everything is ignored, then only what the build needs is let back in.
    assert rules[0] == "*"
    assert not any(rule.lstrip("!").rstrip("/") == kept_out for rule in rules if rule[0] == "!")
    for needed in ("pyproject.toml", "README.md", "lti_bridge/", "migrations/"):
        assert f"!{needed}" in rules
