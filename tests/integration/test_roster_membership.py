"""The whole class on the roster: the SIS's registrations joined with the platform's membership
read over real NRPS calls from the dev platform (paged, quoted and unquoted ``rel="next"``, a
platform ignoring ``limit``, throttling), found by query parameters, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.devplatform import DEFAULT_PEOPLE, ROLE, Person
from tests.fixtures.grades_world import GradesWorld, grades_world
from tests.fixtures.sis_events import SECRET

NORA = Person("learner-nora", "Nora Unregistered", "nora@example.edu", (ROLE + "Learner",))
TA = Person("ta-tom", "Tom Assistant", "tom@example.edu", (ROLE + "TeachingAssistant",))


@pytest.fixture
def app_config(app_config: dict[str, object]) -> dict[str, object]:
    return app_config | {"webhook_secrets": SECRET}


@pytest.fixture
def world(app: Flask, tmp_path: Path) -> Iterator[GradesWorld]:
    with grades_world(app, tmp_path) as world:
        # Ada: registered and paid, a member (the platform sends her SIS id). Ben: a member the
        # SIS has not registered. Nora: a member who never launched, without an SIS id. Zed:
        # registered, never on the platform.
        world.register("110123456", "reg-ada", email="ada@example.edu")
        world.register("330000003", "reg-zed", tuition="unpaid")
        world.platform.nrps_extra = [NORA, TA]
        yield world


def roster_html(world: GradesWorld, context: Any | None = None) -> str:
    from lti_bridge.web.roster import credit_roster_page

    context = context or world.launch("instructor")
    with world.app.test_request_context("/lti/launch", method="POST"):
        return credit_roster_page(context, world.platform_id).get_data(as_text=True)


def handle_of(html: str) -> str:
    match = re.search(r'action="/lti/roster/([^"/]+)"', html)
    assert match, "no find form"
    return match.group(1)


def statuses(html: str) -> dict[str, str]:
    """Each row's key (SIS id, else platform user id) and its status."""
    rows = re.findall(r"<tr ([^>]*data-row-status[^>]*)>", html)
    found = {}
    for attrs in rows:
        key = re.search(r'data-student="([^"]+)"', attrs) or re.search(
            r'data-member="([^"]+)"', attrs
        )
        status = re.search(r'data-row-status="([a-z_]+)"', attrs)
        assert key and status
        found[key.group(1)] = status.group(1)
    return found


def test_members_without_registrations_and_registrations_without_members_both_appear(
    world: GradesWorld,
) -> None:
    html = roster_html(world)

    assert statuses(html) == {
        "110654321": "not_registered",  # Ben, by the SIS id the platform sends
        "learner-nora": "not_registered",
        "330000003": "never_launched",
        "110123456": "open" if False else "blocked",  # Ada has not passed onboarding
    }
    # Rows that need action come first; staff members are not learners of the class.
    assert list(statuses(html)) == ["110654321", "learner-nora", "330000003", "110123456"]
    assert "Tom Assistant" not in html
    assert "in the course, not registered for credit" in html
    assert "registered, never launched" in html
    assert "Check that the platform enrolled them" in html
    ada = re.search(r'<tr data-student="110123456".*?</tr>', html, re.S)
    assert ada and "Ada Learner" in ada.group(0)  # the member's name before she launched
    assert 'id="membership-error"' not in html and 'id="membership-unknown"' not in html


def test_the_membership_is_read_over_every_page_and_kept_briefly(world: GradesWorld) -> None:
    platform = world.platform
    platform.nrps_quote_rel = False
    platform.nrps_page_size = 1  # and the tool's limit ignored
    context = world.launch("instructor")

    first = roster_html(world, context)
    requests_after_first = platform.nrps_requests
    second = roster_html(world, context)

    # Five members (Ada, Ben, Grace, Nora, Tom) on five pages, followed by an unquoted rel=next.
    assert requests_after_first == 5
    assert platform.nrps_requests == requests_after_first  # cached for the context
    assert statuses(first) == statuses(second)
    assert statuses(first)["learner-nora"] == "not_registered"


def test_a_throttled_platform_is_waited_for(world: GradesWorld) -> None:
    world.platform.nrps_faults = [(429, {"Retry-After": "0"}, "slow down")]

    html = roster_html(world)

    assert statuses(html)["learner-nora"] == "not_registered"


def test_a_platform_refusing_its_membership_leaves_the_registrations(world: GradesWorld) -> None:
    world.platform.nrps_faults = [(500, {}, "broken")]

    html = roster_html(world)

    assert 'id="membership-error"' in html
    # Without the platform's side, a registration nobody launched is still shown as such.
    assert statuses(html) == {"330000003": "never_launched", "110123456": "never_launched"}


def test_rows_are_filtered_searched_and_sorted_by_query_parameters(world: GradesWorld) -> None:
    client = world.app.test_client()
    handle = handle_of(roster_html(world))

    def found(**params: str) -> list[str]:
        answer = client.get(f"/lti/roster/{handle}", query_string=params)
        assert answer.status_code == 200
        assert answer.headers["Cache-Control"] == "no-store"
        return list(statuses(answer.get_data(as_text=True)))

    assert found(status="not_registered") == ["110654321", "learner-nora"]
    assert found(status="tuition_unpaid") == ["330000003"]
    assert found(q="NORA") == ["learner-nora"]
    assert found(q="3300") == ["330000003"]
    assert found(q="ada@example") == ["110123456"]
    assert found(sort="name") == ["110123456", "110654321", "learner-nora", "330000003"]
    assert found(sort="name", dir="desc") == [
        "330000003", "learner-nora", "110654321", "110123456"
    ]
    assert found(status="nonsense", sort="nonsense") == found()
    # No match: one row saying so, spanning every column of the header.
    page = client.get(f"/lti/roster/{handle}", query_string={"q": "nobody-at-all"}).text
    header = re.search(r"<thead>(.*?)</thead>", page, re.S)
    assert header is not None
    span = re.search(r'<td colspan="(\d+)" id="roster-none">', page)
    assert span is not None and int(span.group(1)) == header.group(1).count("<th")
    assert client.get("/lti/roster/not-a-handle").status_code in (400, 401, 403)


def test_two_sis_records_sharing_an_email_are_flagged_not_mixed_up(world: GradesWorld) -> None:
    world.register("440000004", "reg-twin-1", email="twin@example.edu")
    world.register("440000005", "reg-twin-2", email="twin@example.edu")

    html = roster_html(world)

    for student in ("440000004", "440000005"):
        row = re.search(rf'<tr data-student="{student}".*?</tr>', html, re.S)
        assert row and "(on 2 SIS records)" in row.group(0)


def test_another_platforms_members_never_join(world: GradesWorld) -> None:
    # The same people on the platform, but the SIS names Zed's platform account elsewhere.
    world.register(
        "330000003", "reg-zed", tuition="unpaid", platform_user_id="learner-nora",
    )
    html = roster_html(world)
    assert statuses(html)["330000003"] == "never_launched"
    assert statuses(html)["learner-nora"] == "not_registered"


def test_default_people_are_the_dev_platforms() -> None:
    assert {p.sub for p in DEFAULT_PEOPLE.values()} >= {"learner-ada", "learner-ben"}


def test_filtering_the_roster_does_not_read_the_gradebook_again_but_releasing_does(
    world: GradesWorld,
) -> None:
    world.score("learner-ada", quiz1=9, quiz2=8, assignment=40, exam=80)
    html = roster_html(world)
    assert 'data-letter="' in html  # the grades panel read the platform's gradebook
    client = world.app.test_client()
    handle = handle_of(html)
    read = world.platform.ags_requests
    assert read > 0

    for query in ({"q": "ada"}, {"status": "not_registered"}, {"sort": "name", "dir": "desc"}):
        assert client.get(f"/lti/roster/{handle}", query_string=query).status_code == 200
    assert world.platform.ags_requests == read

    release = re.search(r'<form[^>]*action="/lti/grades/release".*?</form>', html, re.S)
    assert release is not None
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', release.group(0)))
    assert client.post("/lti/grades/release", data=fields).status_code == 200
    assert world.platform.ags_requests > read  # what goes to the SIS is read afresh
