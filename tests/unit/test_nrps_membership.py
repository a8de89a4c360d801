"""Reading a context's membership through NRPS against canned answers (``responses``): paging
with quoted and unquoted ``rel="next"``, a platform ignoring ``limit``, throttling, the cache."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import responses

from lti_bridge.adapters.platform.ags import AgsClient, AgsError
from lti_bridge.adapters.platform.gradebook import PlatformReader
from lti_bridge.adapters.platform.nrps import NrpsMembership, member_of
from lti_bridge.services.roster_ports import MembershipSource
from tests.unit.test_ags_client import KEY, TOKEN_URL, Clock, registration

URL = "https://lms.example.edu/api/lti/courses/7/names_and_roles"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
SOURCE = MembershipSource(1, "https://lms.example.edu", "client-1", "course-7", URL)


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
def membership(waits: list[float], ticks: Ticks) -> NrpsMembership:
    session = requests.Session()
    client = AgsClient(session, 5, lambda: KEY, Clock())
    reader = PlatformReader(client, session, 5, sleep=waits.append, page_limit=2)
    return NrpsMembership(reader, lambda iss, cid: registration(), ttl_seconds=60, clock=ticks)


def page(*users: str, role: str = LEARNER) -> dict[str, object]:
    return {
        "id": URL,
        "context": {"id": "course-7"},
        "members": [{"user_id": u, "roles": [role], "name": u.title()} for u in users],
    }


def test_a_member_entry_reads_names_roles_and_status() -> None:
    member = member_of({
        "user_id": 42, "roles": [LEARNER], "given_name": "Ada", "family_name": "Byron",
        "email": " ada@example.edu ", "lis_person_sourcedid": "110123456", "status": "Inactive",
    })
    assert member is not None
    assert (member.user_id, member.name, member.email) == ("42", "Ada Byron", "ada@example.edu")
    assert member.person_sourcedid == "110123456" and not member.active and member.is_learner
    assert member_of({"roles": [LEARNER]}) is None
    teacher = member_of({"user_id": "t", "roles": [INSTRUCTOR, LEARNER]})
    assert teacher is not None and not teacher.is_learner


def test_pages_are_followed_quoted_or_not_and_repeats_kept_once(
    http: responses.RequestsMock, membership: NrpsMembership
) -> None:
    http.post(TOKEN_URL, json={"access_token": "tok", "expires_in": 3600})
    http.get(URL + "?limit=2", json=page("ann", "bob"),
             headers={"Link": f'<{URL}?limit=2&p=2>; rel="next"'})
    # A platform ignoring limit: everything again on page 2, with an unquoted next link.
    http.get(URL + "?limit=2&p=2", json=page("ann", "bob", "cid"),
             headers={"Link": f"<{URL}?p=3&limit=2>; rel=next"})
    http.get(URL + "?p=3&limit=2", json=page("dee"))

    members = membership.members(SOURCE)

    assert [m.user_id for m in members] == ["ann", "bob", "cid", "dee"]
    scopes = http.calls[0].request.body
    assert "contextmembership.readonly" in str(scopes)
    assert http.calls[1].request.headers["Accept"] == (
        "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
    )


def test_throttling_backs_off_and_the_membership_is_kept_briefly(
    http: responses.RequestsMock, membership: NrpsMembership, waits: list[float], ticks: Ticks
) -> None:
    http.post(TOKEN_URL, json={"access_token": "tok", "expires_in": 3600})
    http.get(URL + "?limit=2", status=429, headers={"Retry-After": "3"})
    http.get(URL + "?limit=2", status=403, body="403 Forbidden (Rate Limit Exceeded)")
    http.get(URL + "?limit=2", json=page("ann"))

    assert [m.user_id for m in membership.members(SOURCE)] == ["ann"]
    assert waits == [3.0, 1.0]
    ticks.now = 59
    assert [m.user_id for m in membership.members(SOURCE)] == ["ann"]  # no new call
    ticks.now = 61
    http.get(URL + "?limit=2", json=page("ann", "bob"))
    assert [m.user_id for m in membership.members(SOURCE)] == ["ann", "bob"]


def test_a_refusal_is_an_error_carrying_the_answer(
    http: responses.RequestsMock, membership: NrpsMembership
) -> None:
    http.post(TOKEN_URL, json={"access_token": "tok", "expires_in": 3600})
    http.get(URL + "?limit=2", status=404, body="no such context")

    with pytest.raises(AgsError) as raised:
        membership.members(SOURCE)

    assert raised.value.status == 404 and "no such context" in str(raised.value)
