"""The AGS client against canned HTTP answers (``responses``): tokens, paging and every error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto import jwk, jwt
from pylti1p3.registration import Registration

from lti_bridge.adapters.lti.keys import ToolKey
from lti_bridge.adapters.platform.ags import (
    LINEITEM_CONTAINER,
    MAX_PAGES,
    RESULT_CONTAINER,
    SCOPE_LINEITEM,
    SCOPE_LINEITEM_READONLY,
    SCOPE_RESULT_READONLY,
    SCOPE_SCORE,
    AgsClient,
    AgsError,
    AgsGradebook,
    next_page_url,
    results_url,
)
from lti_bridge.domain.errors import LaunchError
from lti_bridge.domain.onboarding import LineItem, ResultScore

TOKEN_URL = "https://lms.example.edu/login/oauth2/token"
LINEITEMS = "https://lms.example.edu/api/lti/courses/7/line_items"
SCOPES = (SCOPE_LINEITEM_READONLY, SCOPE_RESULT_READONLY)
T0 = datetime(2024, 1, 10, 12, 0, tzinfo=UTC)


def _private_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


PEM = _private_pem()
KEY = ToolKey("kid-1", PEM, {}, True, T0, None)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(clock: Clock) -> AgsClient:
    return AgsClient(requests.Session(), 7.5, lambda: KEY, clock)


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as mock:
        yield mock


def registration(*, audience: str | None = None, client_id: str = "tool-1") -> Registration:
    reg = Registration().set_issuer("https://lms.example.edu").set_client_id(client_id)
    reg.set_auth_token_url(TOKEN_URL)
    if audience:
        reg.set_auth_audience(audience)
    return reg


def token_answer(http: responses.RequestsMock, token: str = "tok-1", **extra: object) -> None:
    body = {"access_token": token, "token_type": "bearer", "expires_in": 3600} | extra
    http.post(TOKEN_URL, json=body)


def verified_claims(assertion: str) -> dict[str, object]:
    public = jwk.JWK.from_pem(PEM.encode())
    token = jwt.JWT(jwt=assertion, key=public, algs=["RS256"], check_claims=False)
    header = json.loads(token.header)
    assert header["kid"] == "kid-1" and header["alg"] == "RS256"
    return dict(json.loads(token.claims))


# --- tokens -----------------------------------------------------------------------------------


def test_token_request_is_a_client_credentials_grant_with_a_signed_assertion(
    client: AgsClient, http: responses.RequestsMock
) -> None:
    token_answer(http)

    assert client.access_token(registration(), SCOPES) == "tok-1"

    sent = {k: v[0] for k, v in parse_qs(str(http.calls[0].request.body)).items()}
    assert sent["grant_type"] == "client_credentials"
    assert sent["client_assertion_type"] == (
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    )
    assert set(sent["scope"].split()) == set(SCOPES)
    claims = verified_claims(sent["client_assertion"])
    now = int(T0.timestamp())
    assert claims["iss"] == claims["sub"] == "tool-1"
    assert claims["aud"] == TOKEN_URL
    assert (claims["iat"], claims["exp"]) == (now, now + 300)
    assert claims["jti"]
    assert http.calls[0].request.req_kwargs["timeout"] == 7.5


def test_the_assertion_audience_is_the_registered_auth_audience_when_there_is_one(
    client: AgsClient,
) -> None:
    assertion = client.client_assertion(registration(audience="https://lms.example.edu/aud"))

    assert verified_claims(assertion)["aud"] == "https://lms.example.edu/aud"


def test_each_assertion_has_its_own_jti(client: AgsClient) -> None:
    first = verified_claims(client.client_assertion(registration()))
    second = verified_claims(client.client_assertion(registration()))

    assert first["jti"] != second["jti"]


def test_a_token_is_reused_until_thirty_seconds_before_it_expires(
    client: AgsClient, clock: Clock, http: responses.RequestsMock
) -> None:
    token_answer(http, "tok-1", expires_in=600)
    reg = registration()

    assert client.access_token(reg, SCOPES) == "tok-1"
    clock.now = T0 + timedelta(seconds=569)
    assert client.access_token(reg, reversed(SCOPES)) == "tok-1"
    assert len(http.calls) == 1

    http.replace(responses.POST, TOKEN_URL, json={"access_token": "tok-2", "expires_in": 600})
    clock.now = T0 + timedelta(seconds=570)
    assert client.access_token(reg, SCOPES) == "tok-2"
    assert len(http.calls) == 2


def test_tokens_are_kept_apart_by_client_id_and_scopes(
    client: AgsClient, http: responses.RequestsMock
) -> None:
    token_answer(http)

    client.access_token(registration(), SCOPES)
    client.access_token(registration(client_id="tool-2"), SCOPES)
    client.access_token(registration(), (SCOPE_SCORE,))
    client.access_token(registration(), SCOPES)

    assert len(http.calls) == 3


def test_a_forgotten_token_is_fetched_again(
    client: AgsClient, http: responses.RequestsMock
) -> None:
    token_answer(http)
    client.access_token(registration(), SCOPES)

    client.forget_token(registration(), SCOPES)
    client.access_token(registration(), SCOPES)

    assert len(http.calls) == 2


def test_a_refused_token_request_raises_with_status_and_body(
    client: AgsClient, http: responses.RequestsMock
) -> None:
    http.post(TOKEN_URL, status=400, json={"error": "invalid_client"})

    with pytest.raises(AgsError) as refused:
        client.access_token(registration(), SCOPES)

    assert refused.value.status == 400
    assert "invalid_client" in refused.value.body
    assert refused.value.response is not None
    assert TOKEN_URL in str(refused.value)


@pytest.mark.parametrize(
    "answer",
    [
        {"body": "<html>gateway</html>", "content_type": "text/html"},
        {"json": {"token_type": "bearer"}},
        {"json": {"access_token": ""}},
    ],
)
def test_an_unusable_token_answer_raises(
    client: AgsClient, http: responses.RequestsMock, answer: dict[str, object]
) -> None:
    http.post(TOKEN_URL, **answer)  # type: ignore[arg-type]

    with pytest.raises(AgsError) as refused:
        client.access_token(registration(), SCOPES)

    assert refused.value.status == 200


def test_a_token_answer_without_expires_in_is_kept_for_the_recommended_hour(
    client: AgsClient, clock: Clock, http: responses.RequestsMock
) -> None:
    http.post(TOKEN_URL, json={"access_token": "tok-1"})

    client.access_token(registration(), SCOPES)
    clock.now = T0 + timedelta(seconds=3500)
    client.access_token(registration(), SCOPES)

    assert len(http.calls) == 1


def test_a_network_failure_raises_an_ags_error(
    client: AgsClient, http: responses.RequestsMock
) -> None:
    http.post(TOKEN_URL, body=requests.ConnectTimeout("timed out"))

    with pytest.raises(AgsError) as failed:
        client.access_token(registration(), SCOPES)

    assert failed.value.status is None
    assert "ConnectTimeout" in str(failed.value)


# --- line items and results -------------------------------------------------------------------


def test_line_items_follow_next_links_and_send_the_container_media_type(
    client: AgsClient, http: responses.RequestsMock
) -> None:
    page2 = LINEITEMS + "?page=2"
    http.get(
        LINEITEMS,
        json=[{"id": LINEITEMS + "/1", "label": "Quiz", "scoreMaximum": 100}],
        headers={"Link": f'<{page2}>; rel="next", <{LINEITEMS}>; rel="first"'},
        match=[responses.matchers.query_string_matcher("")],
    )
    http.get(
        page2,
        json=[{"id": LINEITEMS + "/2", "label": "Integrity", "scoreMaximum": 10.5}],
        headers={"Link": f'<{LINEITEMS}>; rel="first"'},
    )

    items = client.line_items(LINEITEMS, "tok-1")

    assert items == [
        LineItem(LINEITEMS + "/1", "Quiz", 100.0),
        LineItem(LINEITEMS + "/2", "Integrity", 10.5),
    ]
    for call in http.calls:
        assert call.request.headers["Accept"] == LINEITEM_CONTAINER
        assert call.request.headers["Authorization"] == "Bearer tok-1"
        assert call.request.req_kwargs["timeout"] == 7.5


def test_paging_is_bounded(client: AgsClient, http: responses.RequestsMock) -> None:
    for n in range(MAX_PAGES):
        http.get(
            f"{LINEITEMS}?page={n}",
            json=[],
            headers={"Link": f'<{LINEITEMS}?page={n + 1}>; rel="next"'},
        )

    with pytest.raises(AgsError, match="more than 50 pages"):
        client.line_items(f"{LINEITEMS}?page=0", "tok-1")

    assert len(http.calls) == MAX_PAGES


def test_a_next_link_back_to_a_seen_page_stops_with_an_error(
    client: AgsClient, http: responses.RequestsMock
) -> None:
    http.get(LINEITEMS, json=[], headers={"Link": f'<{LINEITEMS}>; rel="next"'})

    with pytest.raises(AgsError, match="loops"):
        client.line_items(LINEITEMS, "tok-1")


@pytest.mark.parametrize("status", [401, 403, 404, 500, 503])
def test_an_error_status_raises_with_its_status_and_a_body_excerpt(
    client: AgsClient, http: responses.RequestsMock, status: int
) -> None:
    http.get(LINEITEMS, status=status, body="x" * 1000)

    with pytest.raises(AgsError) as failed:
        client.line_items(LINEITEMS, "tok-1")

    assert failed.value.status == status
    assert failed.value.body.startswith("xxx") and len(failed.value.body) <= 301


def test_a_listing_that_is_not_an_array_raises(
    client: AgsClient, http: responses.RequestsMock
) -> None:
    http.get(LINEITEMS, json={"lineItems": []})

    with pytest.raises(AgsError, match="JSON array"):
        client.line_items(LINEITEMS, "tok-1")


def test_results_go_to_the_line_items_results_url_for_the_user(
    client: AgsClient, http: responses.RequestsMock
) -> None:
    http.get(
        LINEITEMS + "/1/results",
        json=[
            {"userId": "ada", "resultScore": 88, "resultMaximum": 100},
            {"userId": "someone-else", "resultScore": 100, "resultMaximum": 100},
        ],
        match=[responses.matchers.query_param_matcher({"user_id": "ada"})],
    )

    results = client.results(LINEITEMS + "/1", "ada", "tok-1")

    assert results == [ResultScore(88.0, 100.0)]
    assert http.calls[0].request.headers["Accept"] == RESULT_CONTAINER


@pytest.mark.parametrize(
    ("lineitem", "expected"),
    [
        (
            "https://lms.example.edu/li/1",
            "https://lms.example.edu/li/1/results?user_id=a+b%2Fc",
        ),
        (
            "https://moodle.example.edu/mod/lti/services.php/2/lineitems/12/lineitem?type_id=3",
            "https://moodle.example.edu/mod/lti/services.php/2/lineitems/12/lineitem/results"
            "?type_id=3&user_id=a+b%2Fc",
        ),
        ("https://lms.example.edu/li/1/", "https://lms.example.edu/li/1/results?user_id=a+b%2Fc"),
    ],
)
def test_results_url_keeps_the_line_items_own_query(lineitem: str, expected: str) -> None:
    assert results_url(lineitem, "a b/c") == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ('<https://x/2>; rel="next"', "https://x/2"),
        ('<https://x/1>; rel="prev", <https://x/3>; rel=next', "https://x/3"),
        ('<https://x/9>; rel="last"', None),
        ('<https://x/2>; rel="next last"', "https://x/2"),
    ],
)
def test_next_page_url_reads_the_link_header(header: str | None, expected: str | None) -> None:
    assert next_page_url(header) == expected


# --- the gradebook port -----------------------------------------------------------------------


def test_the_gradebook_retries_once_with_a_new_token_after_a_401(
    client: AgsClient, http: responses.RequestsMock
) -> None:
    http.post(TOKEN_URL, json={"access_token": "stale", "expires_in": 3600})
    http.post(TOKEN_URL, json={"access_token": "fresh", "expires_in": 3600})
    http.get(LINEITEMS, status=401, match=[responses.matchers.header_matcher(
        {"Authorization": "Bearer stale"})])
    http.get(LINEITEMS, json=[{"id": LINEITEMS + "/1", "label": "Quiz", "scoreMaximum": 10}],
             match=[responses.matchers.header_matcher({"Authorization": "Bearer fresh"})])
    http.get(LINEITEMS + "/1/results", json=[{"userId": "ada", "resultScore": 9}])

    view = AgsGradebook(client, registration(), LINEITEMS, SCOPES).results_for("ada", ("Quiz",))

    assert view.results == {LINEITEMS + "/1": ResultScore(9.0, None)}


def test_the_gradebook_reads_results_of_required_items_only(
    client: AgsClient, http: responses.RequestsMock
) -> None:
    token_answer(http)
    http.get(LINEITEMS, json=[
        {"id": LINEITEMS + "/1", "label": "Quiz", "scoreMaximum": 10},
        {"id": LINEITEMS + "/2", "label": "Survey", "scoreMaximum": 1},
    ])
    http.get(LINEITEMS + "/1/results", json=[])

    view = AgsGradebook(client, registration(), LINEITEMS, SCOPES).results_for("ada", ("Quiz",))

    assert view.results == {LINEITEMS + "/1": None}
    assert len(view.line_items) == 2


def test_the_gradebook_asks_for_the_full_line_item_scope_when_only_that_is_granted(
    client: AgsClient, http: responses.RequestsMock
) -> None:
    token_answer(http)
    http.get(LINEITEMS, json=[])
    granted = (SCOPE_LINEITEM, SCOPE_RESULT_READONLY, SCOPE_SCORE)

    AgsGradebook(client, registration(), LINEITEMS, granted).results_for("ada", ("Quiz",))

    sent = parse_qs(str(http.calls[0].request.body))["scope"][0].split()
    assert sorted(sent) == sorted([SCOPE_LINEITEM, SCOPE_RESULT_READONLY])


def test_a_launch_without_ags_is_refused_before_any_call(client: AgsClient) -> None:
    with pytest.raises(LaunchError, match="no AGS line items URL"):
        AgsGradebook(client, registration(), None).results_for("ada", ("Quiz",))


def test_a_launch_without_the_results_scope_is_refused(client: AgsClient) -> None:
    gradebook = AgsGradebook(client, registration(), LINEITEMS, (SCOPE_LINEITEM, SCOPE_SCORE))

    with pytest.raises(LaunchError, match="not the results service"):
        gradebook.results_for("ada", ("Quiz",))
