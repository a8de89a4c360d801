"""The README's walkthrough, step 5: the SIS's part is played by `lti-bridge events send`, and
Ada's final exam, refused before, opens after her paid registration and onboarding arrive."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.devplatform import DevPlatform
from tests.e2e.conftest import running_platform
from tests.e2e.test_credit_gate import open_exam
from tests.fixtures.processes import LTI_BRIDGE, ServedTool
from tests.fixtures.sis_events import SECRET


@pytest.fixture
def lms(env: dict[str, str], tool: ServedTool) -> Iterator[DevPlatform]:
    with running_platform(env, tool.url) as dev:
        yield dev


def send(env: dict[str, str], tool: ServedTool, *args: str) -> str:
    done = subprocess.run(
        [LTI_BRIDGE, "events", "send", *args, "--url", tool.url, "--secret", SECRET],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_walkthrough_events_open_adas_final_exam(
    page: Any, env: dict[str, str], tool: ServedTool, lms: DevPlatform
) -> None:
    ada = lms.people["learner"].person_sourcedid
    assert ada == "110123456"
    assert open_exam(page, lms)[0] == 403

    paid = send(env, tool, "tuition.paid", ada)
    onboarded = send(env, tool, "student.onboarding_completed", ada)

    assert paid.startswith("204 tuition.paid 110123456")
    assert onboarded.startswith("204 student.onboarding_completed 110123456")
    assert open_exam(page, lms) == (200, [])
    assert page.text_content("#item-title") == "Final exam"
