"""A learner and an instructor launch the tool from the course page of a real LTI 1.3 platform,
in headless Chromium: login initiation, the tool's redirect to the platform's authorization
endpoint, the platform's auto-posted id_token, the tool's page."""

from __future__ import annotations

from typing import Any

from tests.devplatform import DevPlatform
from tests.e2e.conftest import running_platform
from tests.fixtures.processes import ServedTool, lti_bridge_serve


def _launch(page: Any, platform: DevPlatform, link: str, who: str) -> Any:
    page.goto(platform.issuer + "/")
    with page.expect_navigation(url=lambda url: "/lti/launch" in url) as nav:
        page.click(f"#launch-{link}-{who}")
    return nav.value


def test_learner_opens_an_open_item(page: Any, tool: ServedTool, platform: DevPlatform) -> None:
    response = _launch(page, platform, "week1-reading", "learner")

    assert response.status == 200
    assert page.text_content("#item-title") == "Week 1 reading"
    assert "Ada Learner" in page.text_content("body")
    assert "week1-reading" in page.text_content("#item-id")


def test_instructor_sees_the_section_page(
    page: Any, tool: ServedTool, platform: DevPlatform
) -> None:
    response = _launch(page, platform, "week1-reading", "instructor")

    assert response.status == 200
    assert page.text_content("#section-context") == platform.course.context_id
    assert page.text_content("#section-sis") == platform.course.section_sourcedid
    assert "Grace Instructor" in page.text_content("body")


def test_learner_without_credit_records_meets_the_gate(
    page: Any, tool: ServedTool, platform: DevPlatform
) -> None:
    response = _launch(page, platform, "final-exam", "learner")

    assert response.status == 403
    assert page.is_visible("#gate-title")


def test_repeated_launches_spread_over_both_workers(
    page: Any, tool: ServedTool, platform: DevPlatform
) -> None:
    for i in range(8):
        who = "learner" if i % 2 else "learner2"
        _launch(page, platform, "week1-reading", who)
        assert page.text_content("#item-title") == "Week 1 reading"

    launches = tool.pids_serving("/lti/launch")
    assert len(launches) == 8
    assert len(set(tool.pids_serving("/lti/login")) | set(launches)) == 2


def test_login_on_one_server_and_launch_on_another_share_state(
    page: Any, env: dict[str, str]
) -> None:
    # Two separate `lti-bridge serve` processes on one database: the login's state and nonce
    # must be found by whichever process receives the platform's form post.
    with lti_bridge_serve(env, workers=2, args=("--no-relay",)) as landing:
        login_env = dict(env, LTI_BRIDGE_PUBLIC_URL=landing.url)
        with lti_bridge_serve(login_env, workers=2, args=("--no-relay",)) as login_side:
            with running_platform(env, login_side.url, launch_url=landing.url) as platform:
                _launch(page, platform, "week1-reading", "learner")

                assert page.text_content("#item-title") == "Week 1 reading"
                assert page.url.startswith(landing.url)
                assert login_side.pids_serving("/lti/login")
                assert not login_side.pids_serving("/lti/launch")
                assert landing.pids_serving("/lti/launch")


def test_a_replayed_launch_form_is_refused(
    page: Any, tool: ServedTool, platform: DevPlatform
) -> None:
    posts: list[Any] = []
    page.on("request", lambda r: posts.append(r) if r.url.endswith("/lti/launch") else None)
    _launch(page, platform, "week1-reading", "learner")
    assert page.text_content("#item-title") == "Week 1 reading"

    # The browser posts the very same id_token and state again, with its cookies.
    original = posts[0]
    replay = page.context.request.post(
        original.url,
        data=original.post_data,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert replay.status == 400
    assert "Week 1 reading" not in replay.text()


def test_instructor_places_an_item_by_deep_linking_and_learners_launch_it(
    page: Any, tool: ServedTool, platform: DevPlatform
) -> None:
    page.goto(platform.issuer + "/")
    page.click("#launch-place-item-instructor")
    page.fill("input[name=title]", "Midterm exam")
    page.fill("input[name=item]", "midterm")
    page.check("input[name=access][value=for_credit]")
    with page.expect_navigation(url=lambda url: "/deep-link-return" in url):
        page.click("button[type=submit]")

    placed = page.get_attribute("#placed li", "data-link-id")
    assert placed is not None
    [link] = [link for link in platform.links if link.id == placed]
    assert link.title == "Midterm exam"
    assert link.custom == {"access": "for_credit", "item": "midterm"}

    # The placed link is restricted content: the gate meets the learner.
    response = _launch(page, platform, placed, "learner")
    assert response.status == 403
    assert page.is_visible("#gate-title")


def test_learner_cannot_open_the_deep_linking_picker(
    page: Any, tool: ServedTool, platform: DevPlatform
) -> None:
    response = _launch(page, platform, "place-item", "learner")

    assert response.status == 400
    assert "Only instructors can place items" in page.text_content("body")
