"""Onboarding read from the dev platform's gradebook through real AGS calls, on both databases.

Both sides run on loopback: the tool app (its JWKS is what the platform's token endpoint checks
the client assertion against) and the dev platform (lti1p3platform) with its token endpoint and
paged AGS endpoints. The launch context comes from a real id_token the platform signed for the
onboarding link; the test records the launch and calls the onboarding view function as the
launch view does for a ``purpose=onboarding`` link.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from sqlalchemy import insert, select

from lti_bridge.adapters.db.tables import catalog_settings, learners, sis_students
from lti_bridge.domain.errors import LaunchError, NotFoundError
from lti_bridge.domain.model import LaunchContext, PlatformRegistration
from lti_bridge.services.platforms import register_platform
from lti_bridge.web.onboarding import is_onboarding_launch, onboarding_launch
from tests.devplatform import ONBOARDING_COURSE, DevPlatform
from tests.fixtures.dev_launch import signed_launch
from tests.fixtures.loopback import serve

ONBOARDING = ONBOARDING_COURSE.context_id
QUIZ, INTEGRITY, SURVEY = "Orientation quiz", "Academic integrity", "Welcome survey"


@dataclass
class World:
    app: Flask
    platform: DevPlatform
    platform_id: int
    calls: list[tuple[str, str]] = field(default_factory=list)

    @property
    def svc(self) -> Any:
        return self.app.extensions["lti_bridge"]

    def calls_to(self, method: str, path: str) -> list[str]:
        return [url for m, url in self.calls if m == method and path in url]

    def launch(self, who: str = "learner", link: str = "onboarding-check") -> LaunchContext:
        """Have the platform sign a launch of ``link`` and record it as the launch view does."""
        return signed_launch(self.platform, self.svc, self.platform_id, who, link)

    def check(self, context: LaunchContext) -> tuple[int, str]:
        with self.app.test_request_context("/lti/launch", method="POST"):
            response = self.app.make_response(onboarding_launch(context, self.platform_id))
        return response.status_code, response.get_data(as_text=True)

    def passed_at(self, sub: str = "learner-ada") -> datetime | None:
        with self.svc.engine.connect() as conn:
            return conn.execute(
                select(learners.c.onboarding_passed_at).where(learners.c.sub == sub)
            ).scalar()

    def student_passed_at(self, sis_id: str = "110123456") -> datetime | None:
        with self.svc.engine.connect() as conn:
            return conn.execute(
                select(sis_students.c.onboarding_passed_at).where(sis_students.c.sis_id == sis_id)
            ).scalar()


def _save_catalog(app: Flask, onboarding: dict[str, Any]) -> None:
    svc = app.extensions["lti_bridge"]
    with svc.engine.begin() as conn:
        conn.execute(
            insert(catalog_settings).values(
                id=1,
                document={
                    "university": {"payment_url": "https://pay.example.edu"},
                    "onboarding": onboarding,
                },
                imported_at=svc.clock(),
            )
        )


@pytest.fixture
def world(app: Flask) -> Iterator[World]:
    svc = app.extensions["lti_bridge"]
    with serve(app) as tool_url:
        platform = DevPlatform(tool_url, onboarding_course=ONBOARDING_COURSE)
        with serve(platform.create_app()) as issuer:
            platform.issuer = issuer
            platform_id = register_platform(
                PlatformRegistration(
                    issuer=issuer,
                    client_id=platform.client_id,
                    auth_login_url=issuer + "/authorize",
                    auth_token_url=issuer + "/token",
                    key_set_url=issuer + "/jwks",
                    deployment_ids=(platform.deployment_id,),
                ),
                uow=svc.uow(),
                now=svc.clock(),
            )
            # Three columns, two required: one page each, so paging is followed twice.
            platform.gradebook[ONBOARDING] = {QUIZ: {}, INTEGRITY: {}, SURVEY: {}}
            _save_catalog(
                app,
                {
                    "context_id": ONBOARDING,
                    "line_items": [QUIZ, INTEGRITY],
                    "pass_threshold": 0.8,
                    "issuer": issuer,
                    "url": issuer + "/",
                },
            )
            world = World(app, platform, platform_id)
            svc.http.hooks["response"].append(
                lambda r, *args, **kwargs: world.calls.append((r.request.method, r.request.url))
            )
            yield world


def grade(world: World, sub: str, **scores: float) -> None:
    labels = {"quiz": QUIZ, "integrity": INTEGRITY, "survey": SURVEY}
    for name, score in scores.items():
        world.platform.gradebook[ONBOARDING][labels[name]][sub] = score


def link_sis_student(world: World, sis_id: str = "110123456", **values: Any) -> None:
    now = world.svc.clock()
    with world.svc.engine.begin() as conn:
        conn.execute(
            insert(sis_students).values(
                sis_id=sis_id, hold_active=False, created_at=now, updated_at=now, **values
            )
        )


def test_the_platforms_onboarding_launch_carries_the_ags_endpoint(world: World) -> None:
    context = world.launch()

    assert is_onboarding_launch(context)
    assert context.context_id == ONBOARDING
    assert context.ags_lineitems_url == f"{world.platform.issuer}/ags/{ONBOARDING}/lineitems"


def test_passing_every_required_item_records_the_pass_for_learner_and_sis_student(
    world: World,
) -> None:
    link_sis_student(world)
    grade(world, "learner-ada", quiz=80, integrity=95, survey=0)

    status, page = world.check(world.launch())

    assert status == 200, page
    assert "Onboarding passed — for-credit content is open to you once registration" in page
    passed_at = world.passed_at()
    assert passed_at is not None
    assert world.student_passed_at() == passed_at
    # One token; three one-item pages of line items; results of the two required items only.
    assert len(world.calls_to("POST", "/token")) == 1
    listing = [u for u in world.calls_to("GET", "/") if urlsplit(u).path.endswith("/lineitems")]
    assert len(listing) == 3 and listing[-1].endswith("page=3")
    results = world.calls_to("GET", "/results")
    assert len(results) == 2
    assert all("type_id=1" in url and "user_id=learner-ada" in url for url in results)


def test_the_token_is_fetched_once_and_reused_across_checks(world: World) -> None:
    grade(world, "learner-ada", quiz=50, integrity=50)
    grade(world, "learner-ben", quiz=60, integrity=60)

    world.check(world.launch("learner"))
    world.check(world.launch("learner2"))
    world.check(world.launch("learner"))

    assert len(world.calls_to("POST", "/token")) == 1
    assert len(world.calls_to("GET", "/results")) == 6


def test_below_the_threshold_nothing_is_recorded_and_the_page_says_what_is_missing(
    world: World,
) -> None:
    link_sis_student(world)
    grade(world, "learner-ada", quiz=95, integrity=70)

    status, page = world.check(world.launch())

    assert status == 200
    assert "Onboarding not passed yet" in page
    assert "70% — you need 80%" in page
    assert "95% — done" in page
    assert world.passed_at() is None
    assert world.student_passed_at() is None


def test_an_ungraded_item_is_shown_as_not_graded(world: World) -> None:
    grade(world, "learner-ada", quiz=100)

    status, page = world.check(world.launch())

    assert status == 200 and "not graded yet" in page
    assert world.passed_at() is None


def test_a_pass_stays_after_a_later_lower_score(world: World) -> None:
    grade(world, "learner-ada", quiz=90, integrity=90)
    world.check(world.launch())
    first = world.passed_at()
    calls_before = len(world.calls)

    grade(world, "learner-ada", quiz=10, integrity=0)
    status, page = world.check(world.launch())

    assert status == 200 and "Onboarding passed" in page
    assert first is not None and world.passed_at() == first
    # A recorded pass is final: the gradebook is not even asked again (DOMAIN R2).
    assert len(world.calls) == calls_before


def test_an_earlier_pass_from_the_sis_is_kept(world: World) -> None:
    sis_time = datetime(2023, 9, 1, 12, 0)
    link_sis_student(world, onboarding_passed_at=sis_time)
    grade(world, "learner-ada", quiz=90, integrity=90)

    world.check(world.launch())

    stored = world.student_passed_at()
    assert stored is not None and stored.replace(tzinfo=None) == sis_time
    assert world.passed_at() is not None


def test_a_pass_recorded_before_the_sis_knew_the_student_is_linked_on_the_next_check(
    world: World,
) -> None:
    grade(world, "learner-ada", quiz=90, integrity=90)
    world.check(world.launch())
    link_sis_student(world)

    world.check(world.launch())

    assert world.student_passed_at() == world.passed_at()


@pytest.mark.parametrize("failure", ["gradebook gone", "token refused"])
def test_an_ags_failure_answers_502_and_records_nothing(world: World, failure: str) -> None:
    grade(world, "learner-ada", quiz=100, integrity=100)
    context = world.launch()
    if failure == "gradebook gone":
        del world.platform.gradebook[ONBOARDING]
    else:
        # The platform no longer knows the tool by this client id: the assertion is refused.
        world.platform.client_id = "someone-else"

    status, page = world.check(context)

    assert status == 502
    assert "Gradebook unavailable" in page and "try again" in page
    assert world.passed_at() is None


def test_a_launch_from_the_credit_course_is_refused(world: World) -> None:
    context = world.launch(link="week1-reading")

    with pytest.raises(LaunchError) as refused:
        world.check(context)

    assert ONBOARDING in refused.value.admin_hint
    assert not world.calls


def test_without_an_onboarding_course_in_the_catalog_the_check_is_not_found(
    world: World,
) -> None:
    context = world.launch()
    with world.svc.engine.begin() as conn:
        conn.execute(catalog_settings.delete())

    with pytest.raises(NotFoundError):
        world.check(context)


def test_domain_refusals_become_readable_4xx_pages(world: World) -> None:
    context = world.launch(link="week1-reading")

    with world.app.test_request_context("/lti/launch", method="POST"):
        with pytest.raises(LaunchError) as refused:
            onboarding_launch(context, world.platform_id)
        # What the app's error handlers (web/errors.py) make of it for the launch view.
        response = world.app.make_response(world.app.handle_user_exception(refused.value))

    assert response.status_code == 400
    assert "this course is not the onboarding course" in response.get_data(as_text=True)
