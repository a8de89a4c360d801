"""Carry-over end to end: a learner with non-credit results on the real LTI platform
implementation (``tests.devplatform``) registers, pays and passes onboarding on the platform in
headless Chromium; ``lti-bridge worker --once`` carries the quiz and the programming assignment
into the for-credit gradebook and nothing else; the learner and the instructor read the report in
the browser; running it again changes nothing; a platform answering 503 twice and then
throttling still ends with the same gradebook (DOMAIN R5-R7)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.devplatform import DEFAULT_PEOPLE, ONBOARDING_COURSE, DevPlatform, Link, Person
from tests.e2e.conftest import running_platform
from tests.fixtures.carryover_world import (
    CODE,
    CREDIT,
    CREDIT_ITEMS,
    EXAM,
    LAB,
    NON_CREDIT_ITEMS,
    OPEN,
    OPEN_COURSE,
    PEER,
    QUIZ,
    QUIZ2,
    SECTION,
    SESSION,
    TALK,
    catalog_toml,
)
from tests.fixtures.processes import ServedTool, run_cli, tool_env
from tests.fixtures.sis_events import SECRET as SIS_SECRET
from tests.fixtures.sis_events import registration_event, signed_headers, student_event

ADA, BEN = DEFAULT_PEOPLE["learner"], DEFAULT_PEOPLE["learner2"]
SCORES = {QUIZ: 8, CODE: 45, TALK: 5, PEER: 18, QUIZ2: 9, LAB: 7}


@pytest.fixture
def env(db_url: str) -> dict[str, str]:
    return tool_env(
        db_url,
        LTI_BRIDGE_WEBHOOK_SECRETS=SIS_SECRET,
        LTI_BRIDGE_RELAY_BACKOFF_BASE_SECONDS="0.05",
        LTI_BRIDGE_RELAY_BACKOFF_CAP_SECONDS="0.2",
    )


@pytest.fixture
def lms(env: dict[str, str], tool: ServedTool, tmp_path: Path) -> Iterator[DevPlatform]:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(catalog_toml(SESSION))
    run_cli(env, "catalog", "import", str(catalog))
    with running_platform(env, tool.url, onboarding_course=ONBOARDING_COURSE) as dev:
        dev.add_link(Link("open-quiz", "Quiz 1 (non-credit)", {"item": "quiz-1"}))
        dev.link_courses["open-quiz"] = OPEN_COURSE
        dev.add_link(Link("carryover-report", "What carried over", {"purpose": "carryover"}))
        dev.gradebook[OPEN] = {label: {} for label in NON_CREDIT_ITEMS}
        dev.lineitem_meta[OPEN] = {k: dict(v) for k, v in NON_CREDIT_ITEMS.items()}
        dev.gradebook[CREDIT] = {label: {} for label in CREDIT_ITEMS}
        dev.lineitem_meta[CREDIT] = {k: dict(v) for k, v in CREDIT_ITEMS.items()}
        dev.gradebook[ONBOARDING_COURSE.context_id] = {"Onboarding quiz": {}}
        yield dev


def sis(tool: ServedTool, event: dict[str, Any]) -> None:
    body = json.dumps(event)
    answer = requests.post(
        tool.url + "/webhooks/sis", data=body, headers=signed_headers(body), timeout=10
    )
    assert answer.status_code == 204, answer.text


def registers_and_pays(tool: ServedTool, who: Person, registration: str) -> None:
    for sequence, (kind, tuition) in enumerate(
        (("enrollment.registered", "unpaid"), ("tuition.paid", "paid")), start=1
    ):
        sis(
            tool,
            registration_event(
                kind,
                sequence=sequence,
                registration=registration,
                student=who.person_sourcedid or "",
                email=None,
                tuition=tuition,
                section=SECTION,
                session=SESSION,
            ),
        )


def launch(page: Any, lms: DevPlatform, link: str, who: str, wait_for: str) -> None:
    page.goto(lms.issuer + "/")
    page.click(f"#launch-{link}-{who}")
    page.wait_for_selector(wait_for)


def test_an_upgrade_carries_exactly_the_quiz_and_the_programming_work(
    page: Any, env: dict[str, str], tool: ServedTool, lms: DevPlatform
) -> None:
    for label, score in SCORES.items():
        lms.gradebook[OPEN][label][ADA.sub] = score
    # Both courses launched once: the tool learns each one's AGS endpoint from its launches.
    launch(page, lms, "open-quiz", "learner", "#item-title")
    launch(page, lms, "final-exam", "instructor", "#roster-empty, #roster")

    registers_and_pays(tool, ADA, "reg-ada")
    run_cli(env, "worker", "--once")
    assert lms.scores_posted == []  # not before onboarding (R7)

    # Ada passes onboarding on the platform: the tool's check reads it through AGS.
    lms.gradebook[ONBOARDING_COURSE.context_id]["Onboarding quiz"][ADA.sub] = 95
    launch(page, lms, "onboarding-check", "learner", "body")
    run_cli(env, "worker", "--once")

    assert lms.gradebook[CREDIT] == {
        QUIZ: {ADA.sub: 8},
        CODE: {ADA.sub: 45},
        TALK: {},
        PEER: {},
        QUIZ2: {},
        EXAM: {},
    }
    assert {label for _, label, _ in lms.scores_posted} == {QUIZ, CODE}

    # The learner's report, on the item placed for it.
    launch(page, lms, "carryover-report", "learner", "#carryover-report")
    rows = page.eval_on_selector_all(
        "#carryover-report tr[data-outcome]",
        "rows => rows.map(r => [r.cells[0].textContent.trim(), r.dataset.outcome, "
        "r.cells[3].textContent.trim()])",
    )
    by_label = {label: (outcome, text) for label, outcome, text in rows}
    assert {label: outcome for label, (outcome, _) in by_label.items()} == {
        QUIZ: "carry",
        CODE: "carry",
        TALK: "excluded",
        PEER: "excluded",
        QUIZ2: "changed",
        LAB: "removed",
        EXAM: "new",
    }
    assert "discussions and peer-graded work do not transfer" in by_label[TALK][1]
    assert "maximum 10 -> 20" in by_label[QUIZ2][1]
    assert "not part of the for-credit course" in by_label[LAB][1]

    # The instructor's roster: the column and the detail per learner.
    launch(page, lms, "final-exam", "instructor", "#roster")
    cell = f"#roster tr[data-student='{ADA.person_sourcedid}'] td.carryover"
    assert page.get_attribute(cell, "data-carryover") == "planned"
    assert "2 carried" in str(page.text_content(cell))
    detail = page.eval_on_selector_all(
        f"{cell} li[data-outcome]", "items => items.map(i => i.dataset.outcome)"
    )
    assert sorted(detail) == sorted(
        ["carry", "carry", "excluded", "excluded", "changed", "removed", "new"]
    )

    # Running it again changes nothing.
    posted = list(lms.scores_posted)
    again = run_cli(env, "carryover", "run", SECTION)
    assert "queued 0" in again.stdout
    run_cli(env, "worker", "--once")
    assert lms.scores_posted == posted
    shown = run_cli(env, "carryover", "show", SECTION, "--student", ADA.person_sourcedid or "")
    assert "carry 2" in shown.stdout and "score post accepted" in shown.stdout

    # Ben upgrades while the platform answers 503 twice and then throttles.
    for label, score in SCORES.items():
        lms.gradebook[OPEN][label][BEN.sub] = score
    launch(page, lms, "open-quiz", "learner2", "#item-title")  # Ben, known on the platform
    lms.ags_faults = [
        (503, {}, "Service Unavailable"),
        (503, {}, "Service Unavailable"),
        *[(403, {"X-Rate-Limit-Remaining": "0.0"}, "403 Forbidden (Rate Limit Exceeded)")] * 5,
        (429, {"Retry-After": "0"}, "Too Many Requests"),
    ]
    registers_and_pays(tool, BEN, "reg-ben")
    sis(tool, student_event("student.onboarding_completed", student=BEN.person_sourcedid or ""))
    for _ in range(30):
        run_cli(env, "worker", "--once")
        if len([p for p in lms.scores_posted if p[2]["userId"] == BEN.sub]) == 2:
            break
    assert lms.ags_faults == []
    assert lms.gradebook[CREDIT][QUIZ] == {ADA.sub: 8, BEN.sub: 8}
    assert lms.gradebook[CREDIT][CODE] == {ADA.sub: 45, BEN.sub: 45}
    for label in (TALK, PEER, QUIZ2, EXAM):
        assert lms.gradebook[CREDIT][label] == {}
