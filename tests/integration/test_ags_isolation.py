"""A slow platform's AGS holds no other platform's onboarding checks, and one check gives up at
its total deadline: against real platforms on loopback."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from pylti1p3.registration import Registration
from werkzeug.wrappers import Request, Response

from lti_bridge.adapters.platform.ags import (
    SCOPE_LINEITEM_READONLY,
    SCOPE_RESULT_READONLY,
    AgsClient,
    AgsError,
    AgsGradebook,
)
from tests.fixtures.loopback import serve
from tests.unit.test_ags_client import KEY

SCOPES = (SCOPE_LINEITEM_READONLY, SCOPE_RESULT_READONLY)


class Platform:
    """Token, line items and results endpoints, each answering after ``delay`` seconds."""

    def __init__(self, delay: float = 0.0, items: int = 1) -> None:
        self.delay = delay
        self.items = items
        self.base = ""
        self.calls: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.calls.append(request.path)
        time.sleep(self.delay)
        if request.path == "/token":
            body: Any = {"access_token": "tok", "expires_in": 3600}
        elif request.path == "/lineitems":
            body = [
                {"id": f"{self.base}/lineitems/{n}", "label": f"Quiz {n}", "scoreMaximum": 10}
                for n in range(self.items)
            ]
        else:
            body = [{"userId": "ada", "resultScore": 10}]
        return Response(json.dumps(body), mimetype="application/json")(environ, start_response)


def registration(base: str) -> Registration:
    reg = Registration().set_issuer(base).set_client_id("tool-1")
    reg.set_auth_token_url(base + "/token")
    return reg


def make_client() -> AgsClient:
    return AgsClient(requests.Session(), 10.0, lambda: KEY, lambda: datetime.now(UTC))


def test_a_slow_platforms_token_request_does_not_hold_another_platforms_check() -> None:
    slow, fast = Platform(delay=1.5), Platform()
    client = make_client()
    with serve(slow) as slow_url, serve(fast) as fast_url:
        waiting = threading.Thread(
            target=client.access_token, args=(registration(slow_url), SCOPES)
        )
        waiting.start()
        time.sleep(0.2)  # the slow platform's token request is under way
        started = time.monotonic()
        token = client.access_token(registration(fast_url), SCOPES)
        elapsed = time.monotonic() - started
        waiting.join()

    assert token == "tok"
    assert elapsed < 0.8


def test_concurrent_checks_of_one_platform_share_one_token_request() -> None:
    platform = Platform(delay=0.3)
    client = make_client()
    with serve(platform) as url:
        threads = [
            threading.Thread(target=client.access_token, args=(registration(url), SCOPES))
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert platform.calls.count("/token") == 1


def test_an_onboarding_check_gives_up_at_its_total_deadline() -> None:
    # Each request answers within the per-request timeout; together they would take 2.4 s.
    platform = Platform(delay=0.4, items=4)
    client = make_client()
    with serve(platform) as url:
        platform.base = url
        gradebook = AgsGradebook(
            client, registration(url), url + "/lineitems", SCOPES, deadline_seconds=1.0
        )
        started = time.monotonic()
        with pytest.raises(AgsError, match="deadline"):
            gradebook.results_for("ada", tuple(f"Quiz {n}" for n in range(4)))
        elapsed = time.monotonic() - started

    assert elapsed < 1.6
