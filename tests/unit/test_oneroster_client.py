"""The OneRoster client's error paths, against ``responses`` (its happy path runs against the
stand-in in ``tests/integration/test_relay.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
import responses

from lti_bridge.adapters.sis.oneroster import (
    SCOPE_GRADEBOOK_CREATEPUT,
    OneRosterGradebook,
    SisError,
    retry_after_seconds,
)
from lti_bridge.domain.errors import SisUnavailableError

BASE = "https://sis.example.edu"
TOKEN_URL = "https://sis.example.edu/oauth/token"
RESULT_URL = BASE + "/ims/oneroster/gradebook/v1p2/results/res-1"
BODY = {"result": {"sourcedId": "res-1", "score": 91.5}}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 3, 20, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(clock: Clock) -> OneRosterGradebook:
    return OneRosterGradebook(
        requests.Session(),
        base_url=BASE + "/",
        token_url=TOKEN_URL,
        client_id="cid",
        client_secret="secret",
        timeout=3.0,
        clock=clock,
    )


def token(value: str = "t1", expires_in: int = 3600) -> responses.Response:
    return responses.Response(
        responses.POST, TOKEN_URL, json={"access_token": value, "expires_in": expires_in}
    )


@responses.activate
def test_the_token_is_fetched_with_basic_credentials_and_the_createput_scope(client):
    responses.add(token())
    responses.add(responses.PUT, RESULT_URL, status=201, json=BODY)
    reply = client.put_result("res-1", BODY)
    assert reply.status == 201
    token_call, put_call = responses.calls
    assert token_call.request.headers["Authorization"].startswith("Basic ")
    assert "grant_type=client_credentials" in token_call.request.body
    assert "gradebook.createput" in token_call.request.body
    assert put_call.request.headers["Authorization"] == "Bearer t1"


@responses.activate
def test_the_token_is_reused_until_shortly_before_it_expires(client, clock):
    responses.add(token("t1", expires_in=100))
    responses.add(token("t2", expires_in=100))
    responses.add(responses.PUT, RESULT_URL, status=200)
    client.put_result("res-1", BODY)
    clock.now += timedelta(seconds=60)
    client.put_result("res-1", BODY)
    clock.now += timedelta(seconds=15)  # 75 s: within 30 s of expiry
    client.put_result("res-1", BODY)
    bearers = [
        c.request.headers.get("Authorization") for c in responses.calls if c.request.method == "PUT"
    ]
    assert bearers == ["Bearer t1", "Bearer t1", "Bearer t2"]


@responses.activate
def test_a_401_is_retried_once_with_a_new_token(client):
    responses.add(token("old"))
    responses.add(token("new"))
    responses.add(responses.PUT, RESULT_URL, status=401)
    responses.add(responses.PUT, RESULT_URL, status=201)
    assert client.put_result("res-1", BODY).status == 201
    puts = [c for c in responses.calls if c.request.method == "PUT"]
    assert [c.request.headers["Authorization"] for c in puts] == ["Bearer old", "Bearer new"]


@responses.activate
def test_a_second_401_is_the_answer(client):
    responses.add(token("old"))
    responses.add(token("new"))
    responses.add(responses.PUT, RESULT_URL, status=401, json={"imsx_description": "no"})
    reply = client.put_result("res-1", BODY)
    assert (reply.status, reply.message) == (401, "no")
    assert len([c for c in responses.calls if c.request.method == "PUT"]) == 2


@responses.activate
def test_a_rejection_carries_the_sis_message(client):
    responses.add(token())
    responses.add(
        responses.PUT,
        RESULT_URL,
        status=422,
        json={"imsx_codeMajor": "failure", "imsx_description": "unknown lineItem LI-9"},
    )
    reply = client.put_result("res-1", BODY)
    assert (reply.status, reply.message) == (422, "unknown lineItem LI-9")


@responses.activate
def test_a_429_carries_its_retry_after(client):
    responses.add(token())
    responses.add(responses.PUT, RESULT_URL, status=429, headers={"Retry-After": "7"})
    reply = client.put_result("res-1", BODY)
    assert (reply.status, reply.retry_after_seconds) == (429, 7.0)


def test_retry_after_may_be_an_http_date():
    now = datetime(2024, 3, 20, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("Wed, 20 Mar 2024 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


@responses.activate
def test_a_timeout_raises_sis_unavailable(client):
    responses.add(token())
    responses.add(responses.PUT, RESULT_URL, body=requests.ConnectTimeout("slow"))
    with pytest.raises(SisUnavailableError, match="ConnectTimeout"):
        client.put_result("res-1", BODY)


@responses.activate
def test_a_refused_token_request_raises_sis_unavailable_so_the_grade_is_retried(client):
    responses.add(responses.POST, TOKEN_URL, status=401, json={"error": "invalid_client"})
    with pytest.raises(SisUnavailableError, match="401") as caught:
        client.put_result("res-1", BODY)
    assert "LTI_BRIDGE_SIS_CLIENT_ID" in caught.value.admin_hint


@responses.activate
def test_a_token_answer_without_access_token_raises_sis_unavailable(client):
    responses.add(responses.POST, TOKEN_URL, json={"token_type": "bearer"})
    with pytest.raises(SisUnavailableError, match="no access_token"):
        client.put_result("res-1", BODY)


@responses.activate
def test_get_result_answers_none_for_404_and_raises_for_other_failures(client):
    responses.add(token())
    responses.add(responses.GET, RESULT_URL, status=404)
    responses.add(responses.GET, RESULT_URL, status=500, body="boom")
    assert client.get_result("res-1") is None
    with pytest.raises(SisError, match="500"):
        client.get_result("res-1")


@responses.activate
def test_get_result_uses_the_readonly_scope_and_returns_the_result_object(client):
    responses.add(token())
    responses.add(responses.GET, RESULT_URL, json={"result": {"sourcedId": "res-1"}})
    assert client.get_result("res-1") == {"sourcedId": "res-1"}
    assert "gradebook.readonly" in responses.calls[0].request.body
    assert SCOPE_GRADEBOOK_CREATEPUT not in responses.calls[0].request.body


def test_the_sourced_id_is_escaped_in_the_url(client):
    assert client.result_url("a/b c") == BASE + "/ims/oneroster/gradebook/v1p2/results/a%2Fb%20c"


@responses.activate
def test_no_request_starts_that_could_outlast_the_deadline(client, clock):
    responses.add(token())
    responses.add(responses.PUT, RESULT_URL, status=201)
    # Timeout 3 s: a call may take 6 s (connect + read); 5 s left is not enough.
    with pytest.raises(SisUnavailableError, match="lease is running out"):
        client.put_result("res-1", BODY, deadline=clock.now + timedelta(seconds=5))
    assert len(responses.calls) == 0
    assert client.put_result("res-1", BODY, deadline=clock.now + timedelta(seconds=7)).status == 201


@responses.activate
def test_the_retry_after_a_401_is_not_started_past_the_deadline(client, clock):
    responses.add(token("old"))
    responses.add(token("new"))

    def refuse_and_let_time_pass(request):
        clock.now += timedelta(seconds=4)
        return (401, {}, "")

    responses.add_callback(responses.PUT, RESULT_URL, callback=refuse_and_let_time_pass)
    with pytest.raises(SisUnavailableError, match="lease is running out"):
        client.put_result("res-1", BODY, deadline=clock.now + timedelta(seconds=9))
    assert [c.request.method for c in responses.calls] == ["POST", "PUT"]
