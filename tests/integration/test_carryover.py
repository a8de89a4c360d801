"""Carry-over end to end through the outbox, on SQLite and PostgreSQL, against the dev
platform's AGS (tests/devplatform/ags.py) on loopback (DOMAIN R5-R7)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from lti_bridge.domain.carryover import Outcome, ReportStatus
from lti_bridge.services import carryover as carryover_service
from lti_bridge.web.grades import remember_launch
from lti_bridge.web.lti import _learner_view, credit_roster_page
from lti_bridge.web.onboarding import onboarding_launch
from tests.fixtures.carryover_world import (
    ADA,
    CODE,
    CREDIT,
    EXAM,
    LAB,
    PEER,
    QUIZ,
    QUIZ2,
    SECTION,
    TALK,
    CarryoverWorld,
    carryover_world,
)
from tests.fixtures.sis_events import SECRET

STUDENT = ADA.person_sourcedid or ""


@pytest.fixture
def app_config(app_config: dict[str, object]) -> dict[str, object]:
    # Retries come due at once: the tests wait for outcomes, not for backoff.
    return app_config | {
        "webhook_secrets": SECRET,
        "relay_backoff_base_seconds": 0.01,
        "relay_backoff_cap_seconds": 0.05,
    }


@pytest.fixture
def world(app: Flask, tmp_path: Path) -> Iterator[CarryoverWorld]:
    with carryover_world(app, tmp_path) as built:
        yield built


def report(world: CarryoverWorld) -> carryover_service.Report:
    (found,) = carryover_service.reports(SECTION, uow=world.svc.uow(), student_sis_id=STUDENT)
    return found


def outcomes(world: CarryoverWorld) -> dict[str, Outcome]:
    return {item.label: item.outcome for item in report(world).items}


def upgrade(world: CarryoverWorld) -> None:
    world.register()
    world.onboard()
    world.relay()


def test_completed_work_carries_except_what_must_not_transfer(world: CarryoverWorld) -> None:
    upgrade(world)

    assert world.credit_book() == {
        QUIZ: {ADA.sub: 8},
        CODE: {ADA.sub: 45},
        TALK: {},
        PEER: {},
        QUIZ2: {},
        EXAM: {},
    }
    assert outcomes(world) == {
        QUIZ: Outcome.CARRY,
        CODE: Outcome.CARRY,
        TALK: Outcome.EXCLUDED,
        PEER: Outcome.EXCLUDED,
        QUIZ2: Outcome.CHANGED,
        LAB: Outcome.REMOVED,
        EXAM: Outcome.NEW,
    }
    found = report(world)
    assert found.status is ReportStatus.PLANNED
    assert found.posted == 2
    posts = {label: body for context, label, body in world.platform.scores_posted}
    assert set(posts) == {QUIZ, CODE}
    assert posts[QUIZ]["scoreGiven"] == 8 and posts[QUIZ]["scoreMaximum"] == 10
    assert posts[QUIZ]["activityProgress"] == "Completed"
    assert posts[QUIZ]["gradingProgress"] == "FullyGraded"
    assert posts[QUIZ]["comment"].startswith("Carried over from the non-credit course on ")
    assert all(context == CREDIT for context, _, _ in world.platform.scores_posted)


def test_running_it_again_posts_nothing_twice(world: CarryoverWorld) -> None:
    upgrade(world)
    posted = len(world.platform.scores_posted)
    runner = world.app.test_cli_runner()

    again = runner.invoke(args=["carryover", "run", SECTION])
    assert again.exit_code == 0, again.output
    assert "queued 0" in again.output
    world.register()  # the SIS repeats the registration with a newer sequence
    world.onboard()
    world.relay()
    assert len(world.platform.scores_posted) == posted

    # Even a plan forced to run again finds the carried scores in place and posts nothing.
    with world.svc.uow() as uow:
        (candidate,) = uow.carryover.section_candidates(SECTION)
        uow.carryover.set_status(candidate, ReportStatus.FAILED, candidate.generation,
                                 world.svc.clock(), "test")
        uow.commit()
    forced = runner.invoke(args=["carryover", "run", SECTION, "--student", STUDENT])
    assert "queued 1" in forced.output, forced.output
    world.relay()
    assert len(world.platform.scores_posted) == posted
    assert outcomes(world)[QUIZ] is Outcome.KEPT
    assert world.credit_book()[QUIZ] == {ADA.sub: 8}


def test_nothing_is_carried_before_onboarding_is_passed(world: CarryoverWorld) -> None:
    world.register()
    world.relay()
    assert world.platform.scores_posted == []
    assert report(world).status is ReportStatus.WAITING

    world.onboard()
    world.relay()
    assert world.credit_book()[QUIZ] == {ADA.sub: 8}


def test_a_drop_before_the_plan_runs_cancels_it(world: CarryoverWorld) -> None:
    world.register()
    world.onboard()
    assert report(world).status is ReportStatus.QUEUED
    world.register(status="dropped", type="enrollment.dropped")
    world.relay()

    assert world.platform.scores_posted == []
    assert report(world).status is ReportStatus.CANCELED


def test_a_refund_cancels_a_waiting_carry_over(world: CarryoverWorld) -> None:
    world.register()
    world.register(tuition="refunded", type="tuition.refunded")
    world.onboard()
    world.relay()
    assert world.platform.scores_posted == []
    assert report(world).status is ReportStatus.CANCELED


def test_503_twice_then_throttling_ends_with_the_same_gradebook(world: CarryoverWorld) -> None:
    world.platform.ags_faults = [
        (503, {}, "unavailable"),
        (503, {}, "unavailable"),
        (403, {"X-Rate-Limit-Remaining": "0.0"}, "403 Forbidden (Rate Limit Exceeded)"),
        (429, {"Retry-After": "0"}, "slow down"),
        (403, {}, "403 Forbidden (Rate Limit Exceeded)"),
        (403, {}, "403 Forbidden (Rate Limit Exceeded)"),
        (403, {}, "403 Forbidden (Rate Limit Exceeded)"),
        (403, {}, "403 Forbidden (Rate Limit Exceeded)"),
    ]
    upgrade(world)

    assert world.platform.ags_faults == []
    assert world.credit_book()[QUIZ] == {ADA.sub: 8}
    assert world.credit_book()[CODE] == {ADA.sub: 45}
    assert len(world.platform.scores_posted) == 2
    with world.svc.uow() as uow:
        states = {entry.state.value for entry in uow.outbox.list(limit=50)}
    assert states == {"accepted"}


@pytest.mark.parametrize("unquoted", [False, True], ids=["quoted next", "unquoted next"])
def test_pages_are_followed_and_a_platform_ignoring_limit_is_read(
    world: CarryoverWorld, unquoted: bool
) -> None:
    world.platform.ags_link_unquoted = unquoted
    world.platform.ags_page_size = 2  # fewer than asked for: several pages
    upgrade(world)
    assert outcomes(world)[QUIZ] is Outcome.CARRY
    assert world.credit_book()[CODE] == {ADA.sub: 45}


def test_a_result_not_fully_graded_is_not_carried(world: CarryoverWorld) -> None:
    world.platform.result_progress[("course-dtsa5509-open", CODE, ADA.sub)] = {
        "activityProgress": "Submitted",
        "gradingProgress": "PendingManual",
    }
    upgrade(world)
    assert outcomes(world)[CODE] is Outcome.NOT_COMPLETED
    assert world.credit_book()[CODE] == {}


def test_an_existing_for_credit_score_is_never_overwritten(world: CarryoverWorld) -> None:
    world.credit_book()[QUIZ][ADA.sub] = 3
    upgrade(world)
    assert outcomes(world)[QUIZ] is Outcome.KEPT
    assert world.credit_book()[QUIZ] == {ADA.sub: 3}


def test_the_cli_shows_the_report(world: CarryoverWorld) -> None:
    upgrade(world)
    shown = world.app.test_cli_runner().invoke(
        args=["carryover", "show", SECTION, "--student", STUDENT]
    )
    assert shown.exit_code == 0, shown.output
    assert "planned" in shown.output
    assert "carry 2" in shown.output and "excluded 2" in shown.output
    lines = {line.split()[1] if line.startswith("  ") else "": line for line in
             shown.output.splitlines()}
    assert any("Quiz 2" in line and "changed" in line and "maximum 10 -> 20" in line
               for line in lines.values())
    assert any("score post accepted" in line for line in shown.output.splitlines())
    missing = world.app.test_cli_runner().invoke(
        args=["carryover", "show", SECTION, "--student", "nobody"]
    )
    assert missing.exit_code != 0


def test_passing_the_onboarding_check_on_the_platform_starts_carry_over(
    world: CarryoverWorld,
) -> None:
    world.register()
    world.platform.gradebook["course-onboarding"]["Onboarding quiz"][ADA.sub] = 95
    context = world.launch("learner", "onboarding-check")
    with world.app.test_request_context("/lti/launch", method="POST"):
        answer = world.app.make_response(onboarding_launch(context, world.platform_id))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert report(world).status is ReportStatus.QUEUED
    world.relay()
    assert world.credit_book()[CODE] == {ADA.sub: 45}


def test_the_learner_and_the_instructor_see_the_report(world: CarryoverWorld) -> None:
    upgrade(world)
    learner = world.launch("learner", "carryover-report")
    with world.app.test_request_context("/lti/launch", method="POST"):
        page = world.app.make_response(_learner_view(learner, None, world.platform_id))
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="carryover-report"' in text
    for label, outcome in ((QUIZ, "carry"), (CODE, "carry"), (TALK, "excluded"),
                           (PEER, "excluded"), (QUIZ2, "changed"), (LAB, "removed")):
        assert f'data-outcome="{outcome}">\n    <td>{label}</td>' in text, (label, text)
    assert "maximum 10 -&gt; 20" in text or "maximum 10 -> 20" in text

    # Another item of the course reads no report.
    plain = world.launch("learner", "week1-reading")
    with world.app.test_request_context("/lti/launch", method="POST"):
        other = world.app.make_response(_learner_view(plain, None, world.platform_id))
    assert "carryover-report" not in other.get_data(as_text=True)

    instructor = world.launch("instructor", "final-exam")
    with world.app.test_request_context("/lti/launch", method="POST"):
        roster = credit_roster_page(instructor, world.platform_id).get_data(as_text=True)
    assert '<th scope="col">Carry-over</th>' in roster
    assert 'data-carryover="planned"' in roster
    assert "2 carried" in roster and "1 changed" in roster
    assert f'data-outcome="removed">{LAB}' in roster

    # The learner's history on the roster lists the same decisions.
    with world.app.test_request_context("/lti/launch", method="POST"):
        handle = remember_launch(instructor, world.platform_id, SECTION)
    history = world.app.test_client().get(f"/lti/roster/{handle}/learners/{STUDENT}")
    assert history.status_code == 200
    assert 'id="learner-carryover" data-carryover="planned"' in history.text
    assert f'<tr data-outcome="changed"><td>{QUIZ2}</td>' in history.text


def test_a_drop_after_the_plan_ran_withdraws_the_scores_not_sent(world: CarryoverWorld) -> None:
    from lti_bridge.domain.carryover import CARRYOVER_PLAN
    from lti_bridge.services.relay import relay_once

    world.register()
    world.onboard()
    svc = world.svc
    relay_once(
        uow=svc.uow, gradebook=None, clock=svc.clock, kinds=(CARRYOVER_PLAN,),
        senders=svc.carryover_senders(),
    )
    assert report(world).status is ReportStatus.PLANNED
    world.register(status="dropped", type="enrollment.dropped")
    world.relay()

    assert world.platform.scores_posted == []
    found = report(world)
    assert found.status is ReportStatus.CANCELED
    assert "2 score(s) not sent" in (found.error or "")
    with svc.uow() as uow:
        states = {e.kind: e.state.value for e in uow.outbox.list(limit=50)}
    assert states == {"carryover.plan": "accepted", "ags.score": "rejected"}

    # Back in the section: the withdrawn scores go after all, once each.
    world.register()
    world.relay()
    assert sorted(label for _, label, _ in world.platform.scores_posted) == [CODE, QUIZ]
    assert report(world).status is ReportStatus.PLANNED
    assert world.credit_book()[QUIZ] == {ADA.sub: 8}




def test_the_instructor_runs_a_failed_carry_over_again_from_the_roster(
    world: CarryoverWorld,
) -> None:
    upgrade(world)
    posted = len(world.platform.scores_posted)
    with world.svc.uow() as uow:
        (candidate,) = uow.carryover.section_candidates(SECTION)
        uow.carryover.set_status(candidate, ReportStatus.FAILED, candidate.generation,
                                 world.svc.clock(), "the platform was down")
        uow.commit()
    instructor = world.launch("instructor", "final-exam")
    with world.app.test_request_context("/lti/launch", method="POST"):
        roster = credit_roster_page(instructor, world.platform_id).get_data(as_text=True)
    form = re.search(r'<form[^>]*class="carryover-again".*?</form>', roster, re.S)
    assert form is not None, roster
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(0)))
    assert fields["student"] == STUDENT
    client = world.app.test_client()

    # The form's token is required: without it nothing moves.
    refused = client.post("/lti/grades/carryover-again", data={**fields, "csrf_token": "x"})
    assert refused.status_code in (400, 403)
    assert report(world).status is ReportStatus.FAILED

    answer = client.post("/lti/grades/carryover-again", data=fields)
    assert answer.status_code == 200
    assert f"Carry-over for {STUDENT} is queued again." in answer.text
    assert report(world).status is ReportStatus.QUEUED
    world.relay()
    assert report(world).status is ReportStatus.PLANNED
    assert len(world.platform.scores_posted) == posted  # carried before: nothing twice

    # Recorded with who and when, in the learner's history.
    history = client.get(f"/lti/roster/{fields['handle']}/learners/{STUDENT}").text
    actions = re.search(r'<ul id="learner-actions">.*?</ul>', history, re.S)
    assert actions is not None and "carryover_again" in actions.group(0)
