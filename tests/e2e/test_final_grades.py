"""Final grades end to end: the for-credit gradebook on the real LTI platform implementation
(``tests.devplatform``) -> computed letters on the instructor's roster in headless Chromium ->
the instructor releases -> ``lti-bridge worker --once`` delivers -> the OneRoster stand-in holds
one correct result per released learner; a dropped learner gets nothing; a grade changed after
acceptance goes out as a new version with its reason (DOMAIN R10-R13, CONTRACT §5)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from lti_bridge.domain.grading import result_sourced_id
from tests.devplatform import DEFAULT_PEOPLE, ROLE, DevPlatform, Person
from tests.e2e.conftest import running_platform
from tests.fixtures.grades_world import (
    ASSIGNMENT,
    CONTEXT,
    ENDED_SESSION,
    EXAM,
    LINE_ITEMS,
    QUIZ1,
    QUIZ2,
    SECTION,
    catalog_toml,
)
from tests.fixtures.processes import ServedTool, run_cli, tool_env
from tests.fixtures.sis_events import SECRET as SIS_SECRET
from tests.fixtures.sis_events import registration_event, signed_headers
from tests.oneroster.standin import StandIn

CARL = Person("learner-carl", "Carl Dropped", "carl@example.edu", (ROLE + "Learner",), "110777777")


@pytest.fixture
def env(db_url: str, oneroster: StandIn) -> dict[str, str]:
    return tool_env(db_url, LTI_BRIDGE_WEBHOOK_SECRETS=SIS_SECRET, **oneroster.tool_env())


@pytest.fixture
def lms(env: dict[str, str], tool: ServedTool, tmp_path: Path) -> Iterator[DevPlatform]:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(catalog_toml(ENDED_SESSION))
    run_cli(env, "catalog", "import", str(catalog))
    people = dict(DEFAULT_PEOPLE) | {"carl": CARL}
    with running_platform(env, tool.url, people=people) as dev:
        dev.gradebook[CONTEXT] = {label: {} for label in LINE_ITEMS}
        dev.lineitem_meta[CONTEXT] = {k: dict(v) for k, v in LINE_ITEMS.items()}
        yield dev


def sis_registers(tool: ServedTool, student: Person, registration: str, **kwargs: Any) -> None:
    body = json.dumps(
        registration_event(
            kwargs.pop("type", "enrollment.registered"),
            registration=registration,
            student=student.person_sourcedid or "",
            email=None,
            section=SECTION,
            session=ENDED_SESSION,
            platform_user_id=student.sub,
            **kwargs,
        )
    )
    answer = requests.post(
        tool.url + "/webhooks/sis", data=body, headers=signed_headers(body), timeout=10
    )
    assert answer.status_code == 204, answer.text


def open_roster(page: Any, lms: DevPlatform) -> None:
    page.goto(lms.issuer + "/")
    page.click("#launch-final-exam-instructor")
    page.wait_for_selector("#grades")


def cell(page: Any, student: Person, css: str, attribute: str | None = None) -> str:
    selector = f"#roster tr[data-student='{student.person_sourcedid}'] {css}"
    if attribute:
        return str(page.get_attribute(selector, attribute))
    return " ".join(str(page.text_content(selector)).split())


def test_released_grades_reach_the_sis_once_each_and_a_change_goes_out_as_a_new_version(
    page: Any, env: dict[str, str], tool: ServedTool, lms: DevPlatform, oneroster: StandIn
) -> None:
    ada, ben = DEFAULT_PEOPLE["learner"], DEFAULT_PEOPLE["learner2"]
    sis_registers(tool, ada, "reg-ada", tuition="paid")
    sis_registers(tool, ben, "reg-ben", tuition="paid")
    sis_registers(
        tool, CARL, "reg-carl", status="dropped", tuition="paid", type="enrollment.dropped"
    )
    book = lms.gradebook[CONTEXT]
    for sub, scores in {
        ada.sub: (10, 9, 48, 95),  # quizzes 95%, assignment 96%, exam 95%: 95.4 -> A
        ben.sub: (6, 7, 35, 70),  # quizzes 65%, assignment 70%, exam 70%: 69.0 -> D+
        CARL.sub: (10, 10, 50, 100),
    }.items():
        for label, score in zip((QUIZ1, QUIZ2, ASSIGNMENT, EXAM), scores, strict=True):
            book[label][sub] = score

    # The instructor's roster: computed letters, nothing released yet.
    open_roster(page, lms)
    assert cell(page, ada, ".grade-letter", "data-letter") == "A"
    assert cell(page, ada, ".grade-score") == "95.40"
    assert cell(page, ben, ".grade-letter", "data-letter") == "D+"
    assert cell(page, ada, ".grade-delivery", "data-delivery") == "not released"
    assert cell(page, CARL, ".grade-delivery", "data-standing") == "never"

    # Release: queued in the outbox, then the relay delivers to the SIS.
    page.click("#release-grades")
    page.wait_for_selector("#grades-notice")
    assert "Released: 2 grade(s) queued for the SIS." in page.text_content("#grades-notice")
    assert cell(page, ada, ".grade-delivery", "data-delivery") == "queued"
    run_cli(env, "worker", "--once")

    v1 = {reg: result_sourced_id(reg, 1) for reg in ("reg-ada", "reg-ben")}
    assert set(oneroster.results) == set(v1.values())
    assert oneroster.accepted_counts() == {v1["reg-ada"]: 1, v1["reg-ben"]: 1}
    ben_result = oneroster.results[v1["reg-ben"]]["result"]
    assert ben_result["sourcedId"] == v1["reg-ben"]
    assert ben_result["status"] == "active"
    assert ben_result["student"] == {"sourcedId": ben.person_sourcedid}
    assert ben_result["class"] == {"sourcedId": SECTION}
    assert ben_result["lineItem"] == {"sourcedId": f"{SECTION}-final"}
    assert (ben_result["score"], ben_result["textScore"]) == (69.0, "D+")
    assert ben_result["scoreStatus"] == "fully graded"
    assert ben_result["metadata"]["ext:termCode"] == ENDED_SESSION["code"]
    assert ben_result["metadata"]["ext:creditHours"] == 3
    assert ben_result["metadata"]["ext:submissionVersion"] == 1
    assert ben_result["metadata"]["ext:changeReason"] is None
    # The dropped learner got nothing (R10).
    assert not any(
        r.body and CARL.person_sourcedid in json.dumps(r.body) for r in oneroster.received
    )

    open_roster(page, lms)
    assert cell(page, ben, ".grade-delivery", "data-delivery") == "accepted"

    # Ben's exam is regraded after acceptance: a new version, only with a reason (R13).
    book[EXAM][ben.sub] = 40  # 13 + 28 + 16 = 57 -> F
    open_roster(page, lms)
    assert cell(page, ben, ".grade-delivery", "data-standing") == "changed"
    page.click("#release-grades")
    page.wait_for_selector("#problem-reason")
    assert "give a reason" in page.text_content("#problem-reason")
    page.fill("#release-reason", "final exam regraded after academic integrity review")
    page.click("#release-grades")
    page.wait_for_selector("#grades-notice")
    assert "1 grade(s) queued" in page.text_content("#grades-notice")
    run_cli(env, "worker", "--once")

    v2 = result_sourced_id("reg-ben", 2)
    assert oneroster.accepted_counts() == {v1["reg-ada"]: 1, v1["reg-ben"]: 1, v2: 1}
    changed = oneroster.results[v2]["result"]
    assert (changed["score"], changed["textScore"]) == (57.0, "F")
    assert changed["metadata"]["ext:submissionVersion"] == 2
    assert changed["metadata"]["ext:changeReason"] == (
        "final exam regraded after academic integrity review"
    )
    # An F carries the last-attended date: Ben's exam, dated by its line item's end.
    assert changed["metadata"]["ext:lastAttendDate"] == "2026-01-20"
    # The first accepted result was never overwritten.
    assert oneroster.results[v1["reg-ben"]]["result"]["textScore"] == "D+"

    # The roster shows the history: v1 and v2, both accepted, the reason on v2.
    open_roster(page, lms)
    versions = page.eval_on_selector_all(
        "#grade-history tr[data-registration='reg-ben']",
        "rows => rows.map(r => [r.dataset.version, r.querySelector('[data-state]').dataset.state])",
    )
    assert versions == [["1", "accepted"], ["2", "accepted"]]
    assert "final exam regraded" in page.text_content("#grade-history")
