"""Final grades computed from the dev platform's gradebook over real AGS calls, reviewed and
released into the outbox, on SQLite and PostgreSQL (DOMAIN R10-R13, CONTRACT §5)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, insert, select

from lti_bridge.adapters.db.tables import grade_audit, grade_submissions, outbox
from lti_bridge.domain.errors import (
    ConcurrentWriteError,
    OutboxConflictError,
    StorageUnavailableError,
    ValidationError,
)
from lti_bridge.domain.grading import result_sourced_id
from lti_bridge.services import grades as grade_service
from lti_bridge.services.grades import GradeReport, Standing
from lti_bridge.web.cli import cli
from tests.fixtures.grades_world import EXAM, SECTION, GradesWorld, grades_world
from tests.fixtures.sis_events import SECRET

D = Decimal


@pytest.fixture
def app_config(app_config: dict[str, object]) -> dict[str, object]:
    return app_config | {"webhook_secrets": SECRET}


@pytest.fixture
def world(app: Flask, tmp_path: Path) -> Iterator[GradesWorld]:
    with grades_world(app, tmp_path) as world:
        # Ada and Ben are registered with tuition paid; Carl dropped; Dana has not paid.
        world.register("110123456", "reg-ada")
        world.register("110654321", "reg-ben", platform_user_id="learner-ben")
        world.register(
            "110777777", "reg-carl", status="dropped", platform_user_id="learner-carl",
            type="enrollment.dropped",
        )
        world.register("110888888", "reg-dana", tuition="unpaid", platform_user_id="learner-dana")
        # Ada is matched through her launch (LIS person_sourcedid), the others by the SIS's id.
        world.launch("learner")
        world.score("learner-ada", quiz1=10, quiz2=5, assignment=45, exam=85, survey=0)
        world.score("learner-ben", quiz1=6, assignment=20, exam=50)
        world.graded_on("learner-ben", EXAM, date(2026, 1, 18))
        world.score("learner-carl", quiz1=10, quiz2=10, assignment=50, exam=100)
        world.score("learner-dana", quiz1=10, quiz2=10, assignment=50, exam=100)
        yield world


def report(world: GradesWorld) -> GradeReport:
    svc = world.svc
    return grade_service.grade_report(
        SECTION, uow=svc.uow(), gradebook=svc.course_gradebook(), now=svc.clock()
    )


def release(world: GradesWorld, reason: str | None = None, actor: str = "grace") -> Any:
    svc = world.svc
    return grade_service.release_grades(
        report(world), uow=svc.uow(), now=svc.clock(), actor=actor, reason=reason
    )


def outbox_rows(world: GradesWorld) -> list[Any]:
    with world.svc.engine.connect() as conn:
        return conn.execute(select(outbox).order_by(outbox.c.id)).all()


def test_each_learners_letter_is_computed_from_the_platforms_gradebook(world: GradesWorld) -> None:
    found = report(world)
    rows = {r.student.registration_sis_id: r for r in found.rows}

    # Ada: quizzes 15/20, assignment 45/50, exam 85/100: 0.2*75 + 0.4*90 + 0.4*85 = 85.
    assert (rows["reg-ada"].grade.percent, rows["reg-ada"].grade.letter) == (D("85.00"), "B")
    # Ben did not submit quiz 2; the session has ended, so it counts zero:
    # quizzes 6/20, assignment 20/50, exam 50/100: 6 + 16 + 20 = 42.
    assert (rows["reg-ben"].grade.percent, rows["reg-ben"].grade.letter) == (D("42.00"), "F")
    assert rows["reg-ben"].grade.last_activity == date(2026, 1, 18)
    assert rows["reg-ada"].standing is Standing.READY
    assert rows["reg-carl"].standing is Standing.NEVER
    assert rows["reg-dana"].standing is Standing.NOT_PAID
    assert all(r.delivery == "not released" for r in found.rows)
    # The survey's tag is no weighted category: shown as not counted.
    assert [item.label for item in found.unmapped] == ["Course survey"]


def test_release_queues_one_contract_result_per_registered_paid_learner(
    world: GradesWorld,
) -> None:
    summary = release(world)

    assert sorted(r for r, _, _ in summary.queued) == ["reg-ada", "reg-ben"]
    assert summary.not_eligible == 2
    rows = outbox_rows(world)
    assert [(r.kind, r.state, r.registration_sis_id) for r in rows] == [
        ("sis.result", "queued", "reg-ada"),
        ("sis.result", "queued", "reg-ben"),
    ]
    ben = rows[1]
    assert ben.key == result_sourced_id("reg-ben", 1)
    body = ben.payload["result"]
    assert body["sourcedId"] == ben.key
    assert body["student"] == {"sourcedId": "110654321"}
    assert body["class"] == {"sourcedId": SECTION}
    assert body["lineItem"] == {"sourcedId": f"{SECTION}-final"}
    assert (body["score"], body["textScore"], body["scoreStatus"]) == (42.0, "F", "fully graded")
    assert body["metadata"] == {
        "ext:termCode": world.session["code"],
        "ext:creditHours": 3,
        "ext:lastAttendDate": "2026-01-18",
        "ext:submissionVersion": 1,
        "ext:changeReason": None,
    }
    # A B carries no last-attended date.
    assert rows[0].payload["result"]["metadata"]["ext:lastAttendDate"] is None
    with world.svc.engine.connect() as conn:
        audit = conn.execute(select(grade_audit)).all()
    assert [(a.action, a.actor, a.detail["queued"]) for a in audit] == [("release", "grace", 2)]
    # The roster reads the delivery state from the outbox.
    assert {r.student.registration_sis_id: r.delivery for r in report(world).rows} == {
        "reg-ada": "queued", "reg-ben": "queued", "reg-carl": "not released",
        "reg-dana": "not released",
    }


def test_releasing_unchanged_grades_again_sends_nothing(world: GradesWorld) -> None:
    release(world)
    again = release(world)

    assert (again.queued, again.unchanged) == ((), 2)
    assert len(outbox_rows(world)) == 2


def test_a_changed_grade_goes_out_only_as_a_new_version_with_its_reason(
    world: GradesWorld,
) -> None:
    release(world)
    world.score("learner-ben", exam=80)  # regraded: 6 + 16 + 32 = 54, still an F

    without = release(world)
    assert without.queued == () and without.needs_reason == ("reg-ben",)
    assert {r.student.registration_sis_id: r.standing for r in report(world).rows}[
        "reg-ben"
    ] is Standing.CHANGED

    summary = release(world, reason="final exam regraded")
    assert summary.queued == (("reg-ben", 2, result_sourced_id("reg-ben", 2)),)
    rows = outbox_rows(world)
    first, second = (r for r in rows if r.registration_sis_id == "reg-ben")
    # The first submission is never overwritten: its body is as it was.
    assert first.payload["result"]["score"] == 42.0
    assert second.payload["result"]["score"] == 54.0
    assert second.payload["result"]["metadata"]["ext:submissionVersion"] == 2
    assert second.payload["result"]["metadata"]["ext:changeReason"] == "final exam regraded"
    history = report(world).row("reg-ben")
    assert history is not None
    assert [v.submission.version for v in history.history] == [1, 2]


def test_an_override_needs_a_reason_and_a_letter_of_the_scale(world: GradesWorld) -> None:
    svc = world.svc

    def override(letter: str | None, reason: str | None) -> Any:
        return grade_service.override_grade(
            SECTION, "reg-ada", letter, reason, uow=svc.uow(), now=svc.clock(), actor="grace"
        )

    with pytest.raises(ValidationError, match="without a reason"):
        override("A", "  ")
    with pytest.raises(ValidationError, match="not in the scale"):
        override("Z", "typo")
    override("B+", "participation credit agreed in week 2")

    row = report(world).row("reg-ada")
    assert row is not None
    assert (row.grade.computed_letter, row.grade.letter) == ("B", "B+")
    release(world)
    ada = next(r for r in outbox_rows(world) if r.registration_sis_id == "reg-ada")
    assert ada.payload["result"]["textScore"] == "B+"
    with svc.engine.connect() as conn:
        audit = conn.execute(select(grade_audit).order_by(grade_audit.c.id)).all()
    assert [(a.action, a.letter, a.actor) for a in audit][0] == ("override", "B+", "grace")


def test_an_incomplete_carries_the_default_grade_extension_and_last_attended_date(
    world: GradesWorld,
) -> None:
    svc = world.svc
    grade_service.mark_incomplete(
        SECTION, "reg-ada", True, "medical leave, documented", uow=svc.uow(), now=svc.clock(),
        actor="grace",
    )
    release(world)

    ada = next(r for r in outbox_rows(world) if r.registration_sis_id == "reg-ada")
    body = ada.payload["result"]
    assert body["textScore"] == "I"
    assert body["metadata"]["ext:incompleteDefaultGrade"] == "F"
    assert body["metadata"]["ext:incompleteExtensionDate"] == "2026-12-31"
    # Ada's results carry no timestamps: her exam dates from the line item's end.
    assert body["metadata"]["ext:lastAttendDate"] == "2026-01-20"


def test_the_grades_and_their_outbox_messages_commit_together_or_not_at_all(
    world: GradesWorld,
) -> None:
    # Another message already holds Ben's sourcedId with other content: the enqueue refuses.
    now = world.svc.clock()
    with world.svc.engine.begin() as conn:
        conn.execute(
            insert(outbox).values(
                kind="sis.result", key=result_sourced_id("reg-ben", 1), payload={"other": 1},
                state="queued", attempts=0, next_attempt_at=now, created_at=now, updated_at=now,
            )
        )
    with pytest.raises(OutboxConflictError):
        release(world)

    with world.svc.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(grade_submissions)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(grade_audit)).scalar() == 0
    assert len(outbox_rows(world)) == 1


def test_rate_limits_and_a_refused_token_are_retried_not_failed(world: GradesWorld) -> None:
    world.platform.ags_faults = [
        (429, {"Retry-After": "0"}, "slow down"),
        (403, {}, "403 Forbidden (Rate Limit Exceeded)"),
        (401, {}, "token revoked"),
    ]
    found = report(world)

    assert world.platform.ags_faults == []
    assert found.row("reg-ada") is not None
    assert found.row("reg-ada").grade.letter == "B"  # type: ignore[union-attr]


def test_a_platform_that_honours_limit_is_read_in_few_pages(world: GradesWorld) -> None:
    world.platform.ags_requests = 0
    report(world)
    one_per_page = world.platform.ags_requests

    world.platform.ags_honours_limit = True
    world.platform.ags_requests = 0
    found = report(world)

    # Five line items: one listing page and one results page each, instead of one per entry.
    assert world.platform.ags_requests == 6 < one_per_page
    assert found.row("reg-ben").grade.percent == D("42.00")  # type: ignore[union-attr]


def test_the_cli_shows_what_would_be_sent_and_releases_it(world: GradesWorld) -> None:
    runner = world.app.test_cli_runner()

    shown = runner.invoke(args=["grades", "show", SECTION])
    assert shown.exit_code == 0, shown.output
    lines = {line.split()[1]: line.split() for line in shown.output.splitlines()
             if line.startswith(("110", "student"))}
    assert lines["reg-ada"][4:8] == ["85.00", "B", "ready", "-"]
    assert lines["reg-carl"][6] == "never"
    assert "a release would send 2 new and 0 changed grade(s)" in shown.output

    released = runner.invoke(args=["grades", "release", SECTION, "--actor", "registrar"])
    assert released.exit_code == 0, released.output
    assert "queued 2, unchanged 0, no grade yet 0, not eligible 2" in released.output
    assert len(outbox_rows(world)) == 2

    world.score("learner-ben", exam=80)
    held = runner.invoke(args=["grades", "release", SECTION])
    assert held.exit_code == 1
    assert "1 changed grade(s) not sent without --reason: reg-ben" in held.output
    sent = runner.invoke(args=["grades", "release", SECTION, "--reason", "exam regraded"])
    assert sent.exit_code == 0, sent.output
    assert f"queued\treg-ben\tv2\t{result_sourced_id('reg-ben', 2)}" in sent.output

    # Through the ``lti-bridge`` group itself: an expected failure is one line, exit 1.
    missing = runner.invoke(cli, args=["grades", "show", "NO-SUCH-SECTION"])
    assert missing.exit_code == 1
    assert "no catalog offering for section NO-SUCH-SECTION" in missing.output


# --- the roster's final grades and forms -------------------------------------------------------


def roster_page(world: GradesWorld, context: Any) -> str:
    from lti_bridge.web.lti import credit_roster_page

    with world.app.test_request_context("/lti/launch", method="POST"):
        return credit_roster_page(context, world.platform_id).get_data(as_text=True)


def form_fields(html: str, form_id: str) -> dict[str, str]:
    form = html.split(f'id="{form_id}"', 1)[1].split("</form>", 1)[0]
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))


def test_the_roster_shows_scores_letters_and_submission_status(world: GradesWorld) -> None:
    html = roster_page(world, world.launch("instructor"))

    assert re.search(r'data-student="110123456".*?grade-score">85.00<', html, re.S)
    assert re.search(r'data-student="110654321".*?data-letter="F"', html, re.S)
    assert 'data-standing="never"' in html and 'data-standing="not_paid"' in html
    # The dropped learner's work earns an A, but no grade is shown for a dropped registration.
    assert re.search(r'data-student="110777777".*?grade-score">—<.*?data-letter="">', html, re.S)
    assert "2 grade(s) not yet sent." in html
    due = date.fromisoformat(world.session["ends_on"]) + timedelta(days=14)
    assert f"Grades are due at the registrar by {due.isoformat()}" in html  # R16
    assert 'id="release-grades">Release grades</button>' in html


def test_the_release_form_queues_grades_and_records_the_instructor(world: GradesWorld) -> None:
    fields = form_fields(roster_page(world, world.launch("instructor")), "release-form")
    client = world.app.test_client()

    forged = client.post("/lti/grades/release", data={**fields, "csrf_token": "0" * 64})
    assert forged.status_code == 400
    assert outbox_rows(world) == []

    answer = client.post("/lti/grades/release", data=fields)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    page = answer.get_data(as_text=True)
    assert "Released: 2 grade(s) queued for the SIS." in page
    assert page.count('data-delivery="queued"') == 2
    assert len(outbox_rows(world)) == 2
    with world.svc.engine.connect() as conn:
        actors = conn.execute(select(grade_submissions.c.released_by)).scalars().all()
    assert actors == ["Grace Instructor (instructor-grace@" + world.platform.issuer + ")"] * 2


def test_the_adjust_form_requires_a_reason_and_records_the_override(world: GradesWorld) -> None:
    fields = form_fields(roster_page(world, world.launch("instructor")), "adjust-form")
    client = world.app.test_client()
    base = {**fields, "registration": "reg-ada", "action": "override", "letter": "A-"}

    refused = client.post("/lti/grades/adjust", data={**base, "reason": " "})
    assert refused.status_code == 422
    assert "Please give a reason for the grade override." in refused.get_data(as_text=True)

    saved = client.post("/lti/grades/adjust", data={**base, "reason": "extra credit project"})
    assert saved.status_code == 200
    page = saved.get_data(as_text=True)
    assert re.search(r'data-student="110123456".*?data-letter="A-">A- <small>\(computed B\)',
                     page, re.S)
    assert 'extra credit project' in page  # the audit trail on the page


def test_two_releases_at_once_never_write_a_version_twice(world: GradesWorld) -> None:
    svc = world.svc
    snapshot = report(world)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def release_now() -> None:
        barrier.wait()
        try:
            summary = grade_service.release_grades(
                snapshot, uow=svc.uow(), now=svc.clock(), actor="grace"
            )
            outcomes.append(f"queued {len(summary.queued)}")
        except (ConcurrentWriteError, StorageUnavailableError) as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=release_now) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # One release queues both grades; the other fails and rolls back whole, or (when it starts
    # after the first committed) finds them released and queues nothing.
    assert "queued 2" in outcomes and len(outcomes) == 2
    rows = outbox_rows(world)
    assert sorted(r.registration_sis_id for r in rows) == ["reg-ada", "reg-ben"]
    with svc.engine.connect() as conn:
        versions = conn.execute(
            select(grade_submissions.c.registration_sis_id, grade_submissions.c.version)
        ).all()
    assert sorted(versions) == [("reg-ada", 1), ("reg-ben", 1)]


def test_a_rejected_submission_shows_the_sis_message_on_the_roster(
    world: GradesWorld, oneroster: Any
) -> None:
    import random

    import requests as http

    from lti_bridge.adapters.sis.oneroster import OneRosterGradebook
    from lti_bridge.services.relay import relay_once

    svc = world.svc
    release(world)
    oneroster.script(result_sourced_id("reg-ben", 1), "400")
    sis = OneRosterGradebook(
        http.Session(),
        base_url=oneroster.url,
        token_url=oneroster.token_url,
        client_id=oneroster.state.client_id,
        client_secret=oneroster.state.client_secret,
        timeout=2.0,
        clock=svc.clock,
    )
    stats = relay_once(uow=svc.uow, gradebook=sis, clock=svc.clock, rng=random.Random(0))
    assert (stats.accepted, stats.rejected) == (1, 1)

    rows = {r.student.registration_sis_id: r for r in report(world).rows}
    assert (rows["reg-ada"].delivery, rows["reg-ben"].delivery) == ("accepted", "rejected")
    html = roster_page(world, world.launch("instructor"))
    assert re.search(
        r'data-student="110654321".*?data-delivery="rejected">v1 rejected: '
        r'<span class="sis-message">injected 400</span>',
        html,
        re.S,
    )


def test_a_release_that_lost_a_race_says_so_and_changed_nothing(
    world: GradesWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    fields = form_fields(roster_page(world, world.launch("instructor")), "release-form")

    def lost_race(*args: Any, **kwargs: Any) -> Any:
        # What the unit of work raises when the other release took the submission's key first.
        raise ConcurrentWriteError("UniqueViolation: duplicate key value")

    monkeypatch.setattr(grade_service, "release_grades", lost_race)
    answer = world.app.test_client().post("/lti/grades/release", data=fields)

    assert answer.status_code == 409
    assert "Another release of this section ran at the same moment" in answer.get_data(
        as_text=True
    )
    assert outbox_rows(world) == []


def test_a_rejected_submission_is_sent_again_from_the_roster_and_the_learners_history(
    world: GradesWorld, oneroster: Any
) -> None:
    import random

    import requests as http

    from lti_bridge.adapters.sis.oneroster import OneRosterGradebook
    from lti_bridge.services.relay import relay_once

    svc = world.svc
    release(world)
    oneroster.script(result_sourced_id("reg-ben", 1), "400")
    sis = OneRosterGradebook(
        http.Session(), base_url=oneroster.url, token_url=oneroster.token_url,
        client_id=oneroster.state.client_id, client_secret=oneroster.state.client_secret,
        timeout=2.0, clock=svc.clock,
    )
    relay_once(uow=svc.uow, gradebook=sis, clock=svc.clock, rng=random.Random(0))
    html = roster_page(world, world.launch("instructor"))
    form = html.split('data-send-again="reg-ben"', 1)[0].rsplit("<form", 1)[1]
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))
    assert fields["registration"] == "reg-ben" and fields["version"] == "1"
    assert 'data-send-again="reg-ada"' not in html  # accepted: nothing to send again
    client = world.app.test_client()

    # The learner's history: SIS events, submissions with their state, the same action.
    handle = fields["handle"]
    history = client.get(f"/lti/roster/{handle}/learners/110654321")
    assert history.status_code == 200 and history.headers["Cache-Control"] == "no-store"
    page = history.get_data(as_text=True)
    assert 'data-event="enrollment.registered"' in page
    assert 'data-version="1" data-state="rejected"' in page and "injected 400" in page
    # Only this section's learners: another student's or an unknown id is not found.
    assert client.get(f"/lti/roster/{handle}/learners/999999999").status_code == 404

    forged = client.post("/lti/grades/send-again", data=fields | {"csrf_token": "forged"})
    assert forged.status_code in (400, 403)
    answer = client.post("/lti/grades/send-again", data=fields)

    assert answer.status_code == 200
    assert "queued to be sent again" in answer.get_data(as_text=True)
    ben = [r for r in outbox_rows(world) if r.registration_sis_id == "reg-ben"]
    assert [(r.state, r.attempts) for r in ben] == [("queued", 0)]
    with svc.engine.connect() as conn:
        audit = conn.execute(
            select(grade_audit).where(grade_audit.c.action == "send_again")
        ).all()
    assert [(a.registration_sis_id, a.detail["version"]) for a in audit] == [("reg-ben", 1)]
    assert "Grace" in audit[0].actor and audit[0].at is not None
    again = client.post("/lti/grades/send-again", data=fields)
    assert again.status_code == 422 and "this one is queued" in again.get_data(as_text=True)
    later = client.get(f"/lti/roster/{handle}/learners/110654321").get_data(as_text=True)
    assert "send_again" in later
