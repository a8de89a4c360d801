"""End-to-end: ``lti-bridge serve --workers 2`` launched by the real LTI platform implementation
(``tests.devplatform``, on lti1p3platform) in headless Chromium, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.devplatform import DevPlatform
from tests.fixtures.loopback import serve
from tests.fixtures.processes import ServedTool, lti_bridge_serve, run_cli, tool_env
from tests.fixtures.sis_events import SECRET as SIS_SECRET

CHROMIUM = os.environ.get("LTI_BRIDGE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-gpu",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Any]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        message = f"headless Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright_instance: Any) -> Iterator[Any]:
    chromium = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def env(db_url: str) -> dict[str, str]:
    return tool_env(db_url, LTI_BRIDGE_WEBHOOK_SECRETS=SIS_SECRET)


@pytest.fixture
def tool(env: dict[str, str]) -> Iterator[ServedTool]:
    with lti_bridge_serve(env, workers=2, args=("--no-relay",)) as served:
        yield served


@contextmanager
def running_platform(
    env: dict[str, str], tool_url: str, *, host: str = "127.0.0.1", **kwargs: Any
) -> Iterator[DevPlatform]:
    """Serve a dev platform and register it with the tool through the documented CLI."""
    platform = DevPlatform(tool_url, **kwargs)
    with serve(platform.create_app()) as base:
        platform.issuer = base.replace("127.0.0.1", host)
        run_cli(env, *platform.platform_add_args())
        yield platform


@pytest.fixture
def platform(env: dict[str, str], tool: ServedTool) -> Iterator[DevPlatform]:
    with running_platform(env, tool.url) as dev:
        yield dev
