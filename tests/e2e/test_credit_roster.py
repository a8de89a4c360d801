"""The credit roster end to end in headless Chromium: an instructor launches from the real LTI
platform implementation (``tests.devplatform``) into ``lti-bridge serve``, sees the whole class
(the platform's membership over NRPS joined with the SIS's registrations), filters, searches and
exports CSV; screenshots at 1280 px and 420 px; axe-core finds no serious or critical violation;
a learner's launch and another section's instructor see none of it."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.devplatform import DEFAULT_PEOPLE, ROLE, Course, DevPlatform, Person
from tests.e2e.conftest import running_platform
from tests.fixtures.grades_world import CONTEXT, LINE_ITEMS, SECTION, catalog_toml
from tests.fixtures.processes import ServedTool, run_cli
from tests.fixtures.sis_events import registration_event, session_around, signed_headers

SESSION = session_around(datetime.now(UTC).date(), code="2026-S6")
ADA, BEN = DEFAULT_PEOPLE["learner"], DEFAULT_PEOPLE["learner2"]
CARL = Person("learner-carl", "Carl Dropped", "carl@example.edu", (ROLE + "Learner",), "110777777")
NORA = Person("learner-nora", "Nora Member", "nora@example.edu", (ROLE + "Learner",))
ZED = "330000003"  # registered with the SIS, never on the platform


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Run axe-core (the script the axe-playwright-python package bundles) on the page; the
    serious and critical violations. Evaluated through the DevTools protocol, so the page's
    strict Content-Security-Policy stays on."""
    source = (resources.files("axe_playwright_python") / "axe.min.js").read_text()
    page.evaluate(source)
    result = page.evaluate(
        "async () => await axe.run(document)"
    )
    assert result["testEngine"]["name"] == "axe-core"
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def sis_registers(tool: ServedTool, student: str, registration: str, **kwargs: Any) -> None:
    body = json.dumps(
        registration_event(
            kwargs.pop("type", "enrollment.registered"),
            registration=registration,
            student=student,
            email=kwargs.pop("email", None),
            section=SECTION,
            session=SESSION,
            **kwargs,
        )
    )
    answer = requests.post(
        tool.url + "/webhooks/sis", data=body, headers=signed_headers(body), timeout=10
    )
    assert answer.status_code == 204, answer.text


@pytest.fixture
def lms(env: dict[str, str], tool: ServedTool, tmp_path: Path) -> Iterator[DevPlatform]:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(catalog_toml(SESSION))
    run_cli(env, "catalog", "import", str(catalog))
    people = dict(DEFAULT_PEOPLE) | {"carl": CARL}
    with running_platform(env, tool.url, people=people) as dev:
        dev.gradebook[CONTEXT] = {label: {} for label in LINE_ITEMS}
        dev.lineitem_meta[CONTEXT] = {k: dict(v) for k, v in LINE_ITEMS.items()}
        dev.nrps_extra = [NORA]
        dev.nrps_quote_rel = False
        yield dev


def statuses(page: Any) -> dict[str, str]:
    return dict(
        page.eval_on_selector_all(
            "#roster tbody tr[data-row-status]",
            "rows => rows.map(r => [r.dataset.student || r.dataset.member, r.dataset.rowStatus])",
        )
    )


def test_an_instructor_sees_finds_and_exports_the_whole_class_readably(
    page: Any, env: dict[str, str], tool: ServedTool, lms: DevPlatform, tmp_path: Path
) -> None:
    sis_registers(tool, ADA.person_sourcedid or "", "reg-ada", tuition="paid",
                  email=ADA.email)
    sis_registers(tool, ZED, "reg-zed", email="=zed@example.edu")
    sis_registers(tool, CARL.person_sourcedid or "", "reg-carl", status="dropped",
                  type="enrollment.dropped")

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(lms.issuer + "/")
    page.click("#launch-final-exam-instructor")
    page.wait_for_selector("#roster")

    assert statuses(page) == {
        BEN.person_sourcedid: "not_registered",  # a member, not registered for credit
        NORA.sub: "not_registered",
        ZED: "never_launched",
        ADA.person_sourcedid: "blocked",  # onboarding not passed yet
        CARL.person_sourcedid: "inactive",
    }
    # Status by word and icon, never colour alone; the counts on top.
    zed = f"#roster tr[data-student='{ZED}'] td.status"
    assert "registered, never launched" in str(page.text_content(zed))
    assert page.get_attribute(zed + " .icon", "aria-hidden") == "true"
    assert page.text_content("#roster-counts li[data-count='never_launched'] strong") == "1"
    # Kept where LTI_BRIDGE_E2E_SCREENSHOTS says (to look at them), else in the test's tmp dir.
    shots = Path(os.environ.get("LTI_BRIDGE_E2E_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "roster-1280.png"), full_page=True)
    assert axe_violations(page) == []

    # Narrow, as in an LMS side panel: stacked rows, nothing spills sideways.
    page.set_viewport_size({"width": 420, "height": 900})
    page.screenshot(path=str(shots / "roster-420.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 420
    assert page.eval_on_selector("#roster thead", "e => e.getBoundingClientRect().height") <= 1
    assert axe_violations(page) == []
    page.set_viewport_size({"width": 320, "height": 900})
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    assert (shots / "roster-1280.png").stat().st_size > 0
    assert (shots / "roster-420.png").stat().st_size > 0
    page.set_viewport_size({"width": 1280, "height": 900})

    # Filter (the select submits its form by script; the Find button without it) and search.
    with page.expect_navigation():
        page.select_option("#roster-status", "not_registered")
    assert set(statuses(page)) == {BEN.person_sourcedid, NORA.sub}
    # Typing narrows the rows at once (and the export with them); Find asks the server.
    page.fill("#roster-q", "nora")
    visible = page.eval_on_selector_all(
        "#roster tbody tr[data-row-status]:not([hidden])", "rows => rows.map(r => r.dataset.member)"
    )
    assert visible == [NORA.sub]
    assert "q=nora" in str(page.get_attribute("#roster-export", "href"))
    with page.expect_navigation():
        page.click("#roster-find-submit")
    assert list(statuses(page)) == [NORA.sub]
    with page.expect_navigation():
        page.click("#roster-clear")
    page.fill("#roster-q", ZED[:4])
    with page.expect_navigation():
        page.click("#roster-find-submit")
    assert list(statuses(page)) == [ZED]

    # The export holds the rows as filtered, spreadsheet-safe.
    with page.expect_download() as download:
        page.click("#roster-export")
    path = download.value.path()
    rows = list(csv.DictReader(io.StringIO(Path(path).read_text())))
    assert [(r["student_sis_id"], r["status"], r["email"]) for r in rows] == [
        (ZED, "never_launched", "'=zed@example.edu")
    ]

    # The learner's history, one click away.
    with page.expect_navigation():
        page.click(f"#roster tr[data-student='{ZED}'] th a")
    assert "enrollment.registered" in str(page.text_content("#learner-events"))
    assert axe_violations(page) == []


def test_a_learner_and_another_sections_instructor_see_none_of_the_roster(
    page: Any, env: dict[str, str], tool: ServedTool, lms: DevPlatform
) -> None:
    sis_registers(tool, ADA.person_sourcedid or "", "reg-ada", tuition="paid",
                  email=ADA.email)
    sis_registers(tool, ZED, "reg-zed")

    page.goto(lms.issuer + "/")
    page.click("#launch-final-exam-learner")
    page.wait_for_load_state()
    assert page.query_selector("#roster") is None
    assert ZED not in page.content()

    other_course = Course("course-other-credit", "OTHR 1000", "Another course",
                          section_sourcedid="OTHER-100")
    with running_platform(env, tool.url, course=other_course) as other:
        page.goto(other.issuer + "/")
        page.click("#launch-final-exam-instructor")
        page.wait_for_load_state()
        html = page.content()
    assert "#roster" not in html and ZED not in html and "Ada" not in html
    assert page.query_selector("#roster-empty") is not None
    # A guessed roster address opens nothing.
    answer = page.goto(tool.url + "/lti/roster/guessed-handle")
    assert answer is not None and answer.status in (400, 403)
