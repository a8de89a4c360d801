"""The credit gate end to end: a learner launches the for-credit final exam from the real LTI
platform in headless Chromium while the SIS (events signed by ``standardwebhooks``) registers
them, takes and loses tuition; onboarding is read from the platform's gradebook through AGS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.devplatform import ONBOARDING_COURSE, DevPlatform
from tests.e2e.conftest import running_platform
from tests.fixtures.processes import ServedTool, run_cli
from tests.fixtures.sis_events import registration_event, session_around, signed_headers

SECTION = "DTSA5509-100-2024S1"
QUIZ = "Academic integrity quiz"
SESSION = session_around(datetime.now(UTC).date())


class Sis:
    """The university's SIS: signed deliveries over HTTP, each with the next sequence."""

    def __init__(self, tool: ServedTool) -> None:
        self.url = tool.url + "/webhooks/sis"
        self.sequence = 0

    def send(self, type: str, **kwargs: Any) -> None:
        self.sequence += 1
        kwargs.setdefault("session", SESSION)
        body = json.dumps(registration_event(type, sequence=self.sequence, **kwargs))
        answer = requests.post(self.url, data=body, headers=signed_headers(body), timeout=10)
        assert answer.status_code == 204, answer.text


@pytest.fixture
def catalog(env: dict[str, str], tmp_path: Path) -> None:
    """The university's catalog: the session, the section's contexts, the onboarding course."""
    path = tmp_path / "catalog.toml"
    path.write_text(
        f"""
[university]
payment_url = "https://bursar.example.edu/pay"
help_url = "https://help.example.edu/"

[onboarding]
context_id = "{ONBOARDING_COURSE.context_id}"
line_items = ["{QUIZ}"]
pass_threshold = 0.8

[[sessions]]
code = "{SESSION['code']}"
starts_on = {SESSION['starts_on']}
ends_on = {SESSION['ends_on']}
enrollment_opens_at = {SESSION['enrollment_opens_at']}
enrollment_closes_at = {SESSION['enrollment_closes_at']}

[[sections]]
sis_id = "{SECTION}"
course_code = "DTSA 5509"
session = "{SESSION['code']}"
credit_hours = 3
for_credit_context_id = "course-dtsa5509-credit"
grade_scale = [[90, "A"], [80, "B"], [70, "C"], [0, "F"]]
weights = {{ exams = 1.0 }}
"""
    )
    run_cli(env, "catalog", "import", str(path))


@pytest.fixture
def lms(env: dict[str, str], tool: ServedTool, catalog: None) -> Iterator[DevPlatform]:
    with running_platform(env, tool.url, onboarding_course=ONBOARDING_COURSE) as dev:
        dev.gradebook[ONBOARDING_COURSE.context_id] = {QUIZ: {}}
        yield dev


def open_exam(page: Any, lms: DevPlatform) -> tuple[int, list[str]]:
    page.goto(lms.issuer + "/")
    with page.expect_navigation(url=lambda url: "/lti/launch" in url) as nav:
        page.click("#launch-final-exam-learner")
    status = nav.value.status
    reasons = page.eval_on_selector_all("[data-reason]", "els => els.map(e => e.dataset.reason)")
    return status, reasons


def test_the_exam_opens_exactly_when_registration_tuition_and_onboarding_allow(
    page: Any, tool: ServedTool, lms: DevPlatform
) -> None:
    sis = Sis(tool)
    learner = lms.people["learner"]

    # Known to the SIS (registered in another course), not registered in this one: upgrade.
    sis.send("enrollment.registered", student=learner.person_sourcedid, registration="reg-other",
             section="OTHER-100", tuition="paid")
    assert open_exam(page, lms) == (403, ["not_registered", "onboarding_required"])
    assert "You can upgrade now." in page.text_content("#gate-reasons")

    sis.send("enrollment.registered", student=learner.person_sourcedid, tuition="unpaid")
    assert open_exam(page, lms) == (403, ["tuition_unpaid", "onboarding_required"])
    assert "Your tuition payment for DTSA 5509" in page.text_content("#gate-reasons")
    assert page.get_attribute("[data-reason=tuition_unpaid] a", "href") == (
        "https://bursar.example.edu/pay"
    )

    sis.send("tuition.paid", student=learner.person_sourcedid, tuition="paid")
    assert open_exam(page, lms) == (403, ["onboarding_required"])

    # The learner takes the onboarding course; the tool reads the gradebook through AGS.
    lms.gradebook[ONBOARDING_COURSE.context_id][QUIZ][learner.sub] = 92
    page.goto(lms.issuer + "/")
    page.click("#launch-onboarding-check-learner")
    page.wait_for_selector("#onboarding-passed")

    assert open_exam(page, lms) == (200, [])
    assert page.text_content("#item-title") == "Final exam"

    sis.send("tuition.payment_failed", student=learner.person_sourcedid, tuition="failed")
    assert open_exam(page, lms) == (403, ["tuition_failed"])
    assert "did not go through" in page.text_content("#gate-reasons")

    sis.send("tuition.paid", student=learner.person_sourcedid, tuition="paid")
    assert open_exam(page, lms) == (200, [])

    # The instructor's launch of the same exam shows the credit roster: the learner, by name,
    # open, with the first opening recorded (R9).
    page.goto(lms.issuer + "/")
    page.click("#launch-final-exam-instructor")
    page.wait_for_selector("#roster")
    row = f"#roster tr[data-student='{learner.person_sourcedid}']"
    assert page.get_attribute(row, "data-access") == "open"
    assert learner.name in page.text_content(row)
    assert page.text_content(row + " td:nth-child(7)").endswith(" UTC")
    # The one registration, and the platform's other learner, in the course but not registered.
    assert page.eval_on_selector_all(
        "#roster tbody tr", "rows => rows.map(r => r.dataset.rowStatus)"
    ) == ["not_registered", "open"]


def test_open_material_stays_open_to_a_learner_the_gate_refuses(
    page: Any, tool: ServedTool, lms: DevPlatform
) -> None:
    Sis(tool).send("enrollment.registered", student="110123456", tuition="failed")
    assert open_exam(page, lms)[0] == 403

    page.goto(lms.issuer + "/")
    page.click("#launch-week1-reading-learner")
    page.wait_for_selector("#item-title")

    assert page.text_content("#item-title") == "Week 1 reading"
