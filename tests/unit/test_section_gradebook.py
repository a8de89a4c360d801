"""Reading a whole course's gradebook through AGS against canned answers (``responses``): the
paging quirks and HTTP error paths of real platforms."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import requests
import responses
from responses import matchers

from lti_bridge.adapters.platform.ags import AgsClient, AgsError
from lti_bridge.adapters.platform.gradebook import (
    RATE_LIMIT_RETRIES,
    AgsSectionGradebook,
    all_results_url,
    retry_after_seconds,
    with_limit,
)
from tests.unit.test_ags_client import KEY, TOKEN_URL, Clock, registration

LINEITEMS = "https://lms.example.edu/api/lti/courses/7/line_items"
ITEM = LINEITEMS + "/31"


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def reader(waits: list[float]) -> AgsSectionGradebook:
    session = requests.Session()
    client = AgsClient(session, 5, lambda: KEY, Clock())
    return AgsSectionGradebook(client, session, 5, sleep=waits.append, page_limit=2)


def tokens(http: responses.RequestsMock, *values: str) -> None:
    for value in values or ("tok-1",):
        http.post(TOKEN_URL, json={"access_token": value, "expires_in": 3600})


def test_limit_is_asked_unless_given_and_results_go_on_the_line_items_path() -> None:
    assert with_limit(LINEITEMS, 100) == LINEITEMS + "?limit=100"
    assert with_limit(LINEITEMS + "?limit=5", 100) == LINEITEMS + "?limit=5"
    assert all_results_url(ITEM + "/lineitem?type_id=1") == ITEM + "/lineitem/results?type_id=1"


def test_pages_are_followed_by_unquoted_next_links_and_repeated_entries_kept_once(
    http: responses.RequestsMock, reader: AgsSectionGradebook
) -> None:
    tokens(http)
    http.get(
        LINEITEMS,
        match=[matchers.query_param_matcher({"limit": "2"})],
        json=[{"id": ITEM, "label": "Exam", "scoreMaximum": 12.5, "tag": "exam",
               "endDateTime": "2024-03-01T23:59:00Z"}],
    )
    # Results: the platform ignores ``limit`` and repeats an entry on its second page; its
    # ``rel=next`` is unquoted.
    first = [
        {"id": ITEM + "/results/1", "userId": "u1", "resultScore": 0.1, "resultMaximum": 1},
        {"id": ITEM + "/results/2", "userId": "u2", "resultScore": 11, "resultMaximum": 12.5,
         "timestamp": "2024-02-27T10:00:00+00:00"},
        {"id": ITEM + "/results/3", "userId": "u3", "resultScore": None},
    ]
    http.get(
        ITEM + "/results",
        match=[matchers.query_param_matcher({"limit": "2"})],
        json=first,
        headers={"Link": f"<{ITEM}/results?page=2>; rel=next"},
    )
    http.get(
        ITEM + "/results",
        match=[matchers.query_param_matcher({"page": "2"})],
        json=[first[1], {"id": ITEM + "/results/4", "userId": "u4", "resultScore": 3}],
    )

    book = reader.read(registration(), LINEITEMS)

    (item,) = book.items
    assert (item.tag, item.score_maximum) == ("exam", Decimal("12.5"))
    assert item.ends_at == datetime(2024, 3, 1, 23, 59, tzinfo=UTC)
    assert book.results_of("u1")[ITEM].score == Decimal("0.1")  # not 0.1000000000000000055
    assert book.results_of("u2")[ITEM].timestamp == datetime(2024, 2, 27, 10, tzinfo=UTC)
    assert book.results_of("u3")[ITEM].score is None
    assert set(book.results) == {"u1", "u2", "u3", "u4"}


def test_a_refused_token_is_renewed_once_then_the_read_fails(
    http: responses.RequestsMock, reader: AgsSectionGradebook
) -> None:
    tokens(http, "tok-1", "tok-2")
    http.get(LINEITEMS, status=401, body="expired")
    http.get(LINEITEMS, status=401, body="still no")

    with pytest.raises(AgsError) as refused:
        reader.read(registration(), LINEITEMS)

    assert refused.value.status == 401
    sent = [c.request.headers.get("Authorization") for c in http.calls if c.request.method == "GET"]
    assert sent == ["Bearer tok-1", "Bearer tok-2"]


def test_rate_limits_wait_as_told_then_back_off_and_give_up_after_the_budget(
    http: responses.RequestsMock, reader: AgsSectionGradebook, waits: list[float]
) -> None:
    tokens(http)
    http.get(LINEITEMS, status=429, headers={"Retry-After": "3"})
    for _ in range(RATE_LIMIT_RETRIES):
        http.get(LINEITEMS, status=403, body="403 Forbidden (Rate Limit Exceeded)")

    with pytest.raises(AgsError) as failed:
        reader.read(registration(), LINEITEMS)

    assert failed.value.status == 403
    assert waits == [3.0, 1.0, 2.0, 4.0, 8.0, 16.0]


def test_a_plain_403_is_not_mistaken_for_a_rate_limit(
    http: responses.RequestsMock, reader: AgsSectionGradebook, waits: list[float]
) -> None:
    tokens(http)
    http.get(LINEITEMS, status=403, body="scope not granted")

    with pytest.raises(AgsError, match="scope not granted"):
        reader.read(registration(), LINEITEMS)
    assert waits == []


def test_retry_after_may_be_an_http_date() -> None:
    response = requests.Response()
    response.headers["Retry-After"] = "Wed, 21 Oct 2015 07:28:10 GMT"
    now = datetime(2015, 10, 21, 7, 28, tzinfo=UTC)
    assert retry_after_seconds(response, now) == 10.0
    response.headers["Retry-After"] = "soon"
    assert retry_after_seconds(response, now) is None
