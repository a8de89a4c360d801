"""Headers on every response, proxy headers trusted only when configured, and the deep-linking
return URL https only; on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.fixtures.platform import ScriptedPlatform, scripted_platform

DL_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"


@pytest.fixture
def platform(app: Any) -> Iterator[ScriptedPlatform]:
    with scripted_platform() as scripted:
        scripted.register(app)
        yield scripted


def csp(response: Any) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return {
        part.split(" ", 1)[0]: part.split(" ", 1)[1] if " " in part else ""
        for part in (p.strip() for p in policy.split(";"))
    }


@pytest.mark.parametrize(
    "method, path",
    [("GET", "/healthz"), ("GET", "/lti/jwks"), ("POST", "/webhooks/sis"), ("GET", "/nowhere"),
     ("GET", "/lti/register")],
)
def test_every_response_carries_the_security_headers(client: Any, method: str, path: str) -> None:
    response = client.open(path, method=method)

    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    policy = csp(response)
    assert "'unsafe-inline'" not in policy["script-src"]
    assert policy["object-src"] == "'none'" and policy["base-uri"] == "'none'"


def test_an_injected_inline_script_cannot_run_only_the_pages_own_nonced_ones(
    client: Any, platform: ScriptedPlatform
) -> None:
    pages = [
        client.post(
            "/lti/login",
            data={"iss": platform.issuer, "login_hint": "u", "target_link_uri":
                  "http://localhost/lti/launch", "client_id": platform.client_id},
            headers={"Sec-Fetch-Dest": "iframe"},
        )
        for _ in range(2)
    ]
    nonces = []
    for page in pages:
        html = page.get_data(as_text=True)
        script_src = csp(page)["script-src"]
        [nonce] = re.findall(r"'nonce-([^']+)'", script_src)
        scripts = re.findall(r"<script([^>]*)>", html)
        assert scripts and all(f'nonce="{nonce}"' in attrs for attrs in scripts)
        assert script_src == f"'nonce-{nonce}'"
        nonces.append(nonce)
    assert nonces[0] != nonces[1]


def test_only_the_registered_platforms_may_frame_the_tool(
    app: Any, client: Any, platform: ScriptedPlatform
) -> None:
    response = platform.launch(client)

    ancestors = csp(response)["frame-ancestors"].split()
    assert ancestors == ["'self'", "https://lms.example.edu"]

    with scripted_platform() as other:
        other.issuer = "https://other-lms.example.org"
        other.register(app)
        # A platform registered since: its first login lets it frame the tool at once.
        framed_by_other = other.launch(client)
    assert "https://other-lms.example.org" in csp(framed_by_other)["frame-ancestors"].split()


def test_an_extra_frame_ancestor_is_allowed_only_when_configured(
    app_config: dict[str, Any],
) -> None:
    from lti_bridge.web import create_app

    app = create_app({**app_config, "frame_ancestors": ("https://school.instructure.com",)})
    try:
        response = app.test_client().get("/healthz")
    finally:
        app.extensions["lti_bridge"].engine.dispose()

    assert csp(response)["frame-ancestors"] == "'self' https://school.instructure.com"


def _redirect_uri(app: Any, platform: ScriptedPlatform, target: str) -> str:
    response = app.test_client().post(
        "/lti/login",
        data={"iss": platform.issuer, "login_hint": "u", "client_id": platform.client_id,
              "target_link_uri": target},
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example.net"},
    )
    assert response.status_code == 302
    return parse_qs(urlsplit(response.headers["Location"]).query)["redirect_uri"][0]


def test_forwarded_headers_are_believed_only_when_proxies_are_configured(
    app: Any, app_config: dict[str, Any], platform: ScriptedPlatform
) -> None:
    from lti_bridge.web import create_app

    target = "http://localhost/lti/launch"
    assert _redirect_uri(app, platform, target) == target

    behind_proxy = create_app({**app_config, "trusted_proxies": 1})
    target = "https://evil.example.net/lti/launch"
    try:
        assert _redirect_uri(behind_proxy, platform, target) == target
    finally:
        behind_proxy.extensions["lti_bridge"].engine.dispose()


def deep_linking_launch(platform: ScriptedPlatform, client: Any, return_url: str) -> Any:
    login = platform.login(client)
    claims = platform.claims(
        login,
        role="Instructor",
        message_type="LtiDeepLinkingRequest",
        **{DL_SETTINGS: {"deep_link_return_url": return_url,
                         "accept_types": ["ltiResourceLink"],
                         "accept_presentation_document_targets": ["iframe"]}},
    )
    claims.pop("https://purl.imsglobal.org/spec/lti/claim/resource_link")
    return platform.post_launch(client, login, platform.sign(claims))


@pytest.mark.parametrize(
    "return_url",
    ["http://lms.example.edu/dl/return", "javascript:alert(1)", "data:text/html,x",
     "https://user:pw@lms.example.edu/dl", ""],
)
def test_a_deep_linking_return_url_other_than_https_is_refused(
    client: Any, platform: ScriptedPlatform, return_url: str
) -> None:
    response = deep_linking_launch(platform, client, return_url)

    assert response.status_code == 400
    assert 'id="dl-form"' not in response.get_data(as_text=True)


def test_a_deep_linking_return_url_over_https_or_loopback_http_is_answered(
    client: Any, platform: ScriptedPlatform
) -> None:
    for url in ("https://lms.example.edu/dl/return", "http://127.0.0.1:9/dl/return"):
        response = deep_linking_launch(platform, client, url)
        assert response.status_code == 200, response.get_data(as_text=True)
