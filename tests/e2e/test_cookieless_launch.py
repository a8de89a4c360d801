"""Launches inside the LMS's iframe when the browser blocks third-party cookies: the tool keeps
its login proof in the platform's frame through LTI client-side postMessage storage."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.devplatform import DevPlatform
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, running_platform
from tests.fixtures.processes import ServedTool

BLOCK_THIRD_PARTY = "--test-third-party-cookie-phaseout"


@pytest.fixture(scope="module")
def chips_browser(playwright_instance: Any) -> Iterator[Any]:
    """Chromium that blocks third-party cookies but keeps partitioned ones (CHIPS)."""
    chromium = playwright_instance.chromium.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, BLOCK_THIRD_PARTY]
    )
    yield chromium
    chromium.close()


def _page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def strict_page(chips_browser: Any, tool: ServedTool) -> Iterator[Any]:
    """A page whose frames keep no cookie from the tool, partitioned or not, as in Safari.

    Chromium has no switch for that, so the page does it itself: ``document.cookie`` in the
    tool's frames neither keeps nor shows anything, and a test that needs the server's cookie
    gone clears it mid-flight. Top-level windows keep cookies as usual.
    """
    for page in _page(chips_browser):
        page.add_init_script(
            f"if (window !== window.top && location.origin === {json.dumps(tool.url)})"
            "  Object.defineProperty(Document.prototype, 'cookie',"
            "    {get() { return ''; }, set(value) {}, configurable: true});"
        )

        yield page


@pytest.fixture
def chips_page(chips_browser: Any) -> Iterator[Any]:
    yield from _page(chips_browser)


@pytest.fixture
def other_site_platform(env: dict[str, str], tool: ServedTool) -> Iterator[DevPlatform]:
    # localhost and 127.0.0.1 are different sites: the tool's frame is third-party.
    with running_platform(env, tool.url, host="localhost") as dev:
        yield dev


def test_launch_in_a_third_party_frame_uses_platform_storage(
    strict_page: Any, tool: ServedTool, other_site_platform: DevPlatform
) -> None:
    platform = other_site_platform

    def forget_cookies(route: Any, request: Any) -> None:
        # Playwright cannot withhold a Cookie header, so the browser forgets the login's
        # (partitioned) cookie before the platform answers: the launch arrives without it.
        strict_page.context.clear_cookies()
        route.continue_()

    strict_page.route(platform.issuer + "/authorize?**", forget_cookies)
    strict_page.goto(platform.issuer + "/")
    strict_page.click("#storage-week1-reading-learner")

    frame = strict_page.frame_locator("#tool")
    assert frame.locator("#item-title").text_content() == "Week 1 reading"
    # The storage frame reports each message it answered (asynchronously, hence the wait).
    strict_page.wait_for_function(
        "async () => (await (await fetch('/storage-log')).text()).includes('get ')"
    )
    assert [line.split()[0] for line in platform.storage_log] == ["put", "get"]
    assert all(tool.url in line for line in platform.storage_log)


def test_partitioned_cookie_carries_a_launch_in_a_third_party_frame(
    chips_page: Any, tool: ServedTool, other_site_platform: DevPlatform
) -> None:
    chips_page.goto(other_site_platform.issuer + "/")
    chips_page.click("#frame-week1-reading-learner")

    frame = chips_page.frame_locator("#tool")
    assert frame.locator("#item-title").text_content() == "Week 1 reading"
    state = [c for c in chips_page.context.cookies(tool.url) if c["name"].startswith("lti1p3")]
    assert state and all(c.get("partitionKey") for c in state)


def test_third_party_frame_without_platform_storage_offers_a_new_window(
    strict_page: Any, tool: ServedTool, other_site_platform: DevPlatform
) -> None:
    platform = other_site_platform
    strict_page.goto(platform.issuer + "/")
    strict_page.click("#frame-week1-reading-learner")

    frame = strict_page.frame_locator("#tool")
    new_window = frame.locator("a[target=_blank]")
    new_window.wait_for()
    with strict_page.expect_popup() as popup_info:
        new_window.click()
    popup = popup_info.value
    popup.wait_for_load_state()
    popup.locator("#item-title").wait_for()
    assert popup.locator("#item-title").text_content() == "Week 1 reading"
