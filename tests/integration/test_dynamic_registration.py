"""LTI Dynamic Registration against a loopback platform, on SQLite and PostgreSQL."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from lti_bridge.adapters.db.tables import deployments, platforms
from lti_bridge.domain.model import PlatformRegistration
from lti_bridge.services.platforms import list_platforms
from tests.fixtures.platform import ScriptedPlatform
from tests.fixtures.registration_platform import (
    PLATFORM_CONFIGURATION,
    REMOVE,
    TOOL_CONFIGURATION,
    RegistrationPlatform,
    registration_platform,
)

TOOL = "http://localhost"
AGS = "https://purl.imsglobal.org/spec/lti-ags/scope/"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
CLOSE = "postMessage({subject: 'org.imsglobal.lti.close'}, '*')"


@pytest.fixture
def app_config(app_config: dict[str, object]) -> dict[str, object]:
    # A short timeout keeps the slow-platform case quick; loopback answers in milliseconds.
    # Tests that start their own platform allow any issuer; the `lms` fixture narrows it to its
    # own, and the allow-list has tests of its own below.
    # The loopback platform is a development set-up: private addresses allowed, by name.
    return {
        **app_config,
        "http_timeout_seconds": 1.0,
        "registration_issuers": ("*",),
        "registration_allow_private_networks": True,
    }


@pytest.fixture
def lms(app: Flask) -> Iterator[RegistrationPlatform]:
    with registration_platform() as platform:
        allow_registration_from(app, platform.base_url)
        yield platform


def allow_registration_from(app: Flask, *issuers: str) -> None:
    svc = app.extensions["lti_bridge"]
    svc.settings = replace(svc.settings, registration_issuers=issuers)


def test_registration_is_off_unless_issuers_are_allowed(
    app: Flask, client: FlaskClient, lms: RegistrationPlatform
) -> None:
    allow_registration_from(app)

    response = register(client, lms)

    assert response.status_code == 403
    assert "LTI_BRIDGE_REGISTRATION_ISSUERS" in response.get_data(as_text=True)
    assert lms.config_fetches == 0 and lms.registrations == []
    assert row_counts(app) == (0, 0)


def test_registration_from_an_issuer_not_allowed_is_refused_before_any_request(
    app: Flask, client: FlaskClient, lms: RegistrationPlatform
) -> None:
    allow_registration_from(app, "https://lms.other-university.edu")

    response = register(client, lms)

    assert response.status_code == 403
    assert lms.config_fetches == 0 and lms.registrations == []
    assert row_counts(app) == (0, 0)


def register(client: FlaskClient, lms: RegistrationPlatform, **params: Any) -> Any:
    query = {"openid_configuration": lms.configuration_url, "registration_token": lms.token}
    query.update(params)
    return client.get(
        "/lti/register", query_string={k: v for k, v in query.items() if v is not None}
    )


def stored(app: Flask) -> list[PlatformRegistration]:
    return list_platforms(uow=app.extensions["lti_bridge"].uow())


def row_counts(app: Flask) -> tuple[int, int]:
    with app.extensions["lti_bridge"].engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(platforms)).scalar_one(),
            conn.execute(select(func.count()).select_from(deployments)).scalar_one(),
        )


def test_registration_stores_the_platform_and_its_deployment(
    app: Flask, client: FlaskClient, lms: RegistrationPlatform
) -> None:
    response = register(client, lms)

    assert response.status_code == 200, response.get_data(as_text=True)
    assert stored(app) == [
        PlatformRegistration(
            id=1,
            issuer=lms.base_url,
            client_id="dr-client-1",
            auth_login_url=lms.base_url + "/auth",
            auth_token_url=lms.base_url + "/token",
            key_set_url=lms.base_url + "/jwks",
            deployment_ids=("dr-deployment-1",),
            auth_audience=lms.base_url + "/token",
        )
    ]


def test_the_done_page_names_the_registration_and_asks_the_platform_to_close_it(
    client: FlaskClient, lms: RegistrationPlatform
) -> None:
    response = register(client, lms)

    page = response.get_data(as_text=True)
    assert CLOSE in page
    assert "(window.opener || window.parent)" in page
    assert lms.base_url in page and "dr-client-1" in page and "dr-deployment-1" in page
    assert "test-lms" in page
    assert response.headers["Cache-Control"] == "no-store"


def test_the_posted_registration_carries_the_tool_urls_and_the_bearer_token(
    client: FlaskClient, lms: RegistrationPlatform
) -> None:
    register(client, lms)

    assert lms.authorizations == ["Bearer registration-token-1"]
    [body] = lms.registrations
    assert body["application_type"] == "web"
    assert body["response_types"] == ["id_token"]
    assert body["grant_types"] == ["implicit", "client_credentials"]
    assert body["initiate_login_uri"] == f"{TOOL}/lti/login"
    assert body["redirect_uris"] == [f"{TOOL}/lti/launch"]
    assert body["jwks_uri"] == f"{TOOL}/lti/jwks"
    assert body["client_name"] == "lti_bridge"
    assert body["token_endpoint_auth_method"] == "private_key_jwt"
    assert body["scope"].split() == [AGS + "lineitem", AGS + "score", AGS + "result.readonly", NRPS]
    tool = body[TOOL_CONFIGURATION]
    assert tool["domain"] == "localhost"
    assert tool["target_link_uri"] == f"{TOOL}/lti/launch"
    assert {"iss", "sub", "email"} <= set(tool["claims"])
    assert [(m["type"], m["target_link_uri"]) for m in tool["messages"]] == [
        ("LtiResourceLinkRequest", f"{TOOL}/lti/launch"),
        ("LtiDeepLinkingRequest", f"{TOOL}/lti/launch"),
    ]


def test_the_configured_public_url_is_what_the_platform_is_given(
    app_config: dict[str, object], lms: RegistrationPlatform
) -> None:
    from lti_bridge.web import create_app

    app = create_app({**app_config, "public_url": "https://tool.example.edu/"})
    try:
        assert register(app.test_client(), lms).status_code == 200
    finally:
        app.extensions["lti_bridge"].engine.dispose()

    [body] = lms.registrations
    assert body["initiate_login_uri"] == "https://tool.example.edu/lti/login"
    assert body["redirect_uris"] == ["https://tool.example.edu/lti/launch"]
    assert body["jwks_uri"] == "https://tool.example.edu/lti/jwks"
    assert body[TOOL_CONFIGURATION]["domain"] == "tool.example.edu"


def test_without_a_registration_token_no_authorization_is_sent(
    app: Flask, client: FlaskClient
) -> None:
    svc = app.extensions["lti_bridge"]
    svc.settings = replace(svc.settings, registration_token_required=False)
    with registration_platform(token=None) as lms:
        assert register(client, lms).status_code == 200

    assert lms.authorizations == [None]
    assert row_counts(app) == (1, 1)


def test_only_what_the_platform_supports_is_asked_for(client: FlaskClient) -> None:
    overrides = {
        "scopes_supported": ["openid", AGS + "score"],
        PLATFORM_CONFIGURATION: {
            "product_family_code": "small-lms",
            "messages_supported": [{"type": "LtiResourceLinkRequest"}],
        },
    }
    with registration_platform(config_overrides=overrides) as lms:
        assert register(client, lms).status_code == 200

    [body] = lms.registrations
    assert body["scope"] == AGS + "score"
    assert [m["type"] for m in body[TOOL_CONFIGURATION]["messages"]] == ["LtiResourceLinkRequest"]


def test_registering_an_existing_client_again_is_refused_and_changes_nothing(
    app: Flask, client: FlaskClient, lms: RegistrationPlatform
) -> None:
    assert register(client, lms).status_code == 200
    before = stored(app)
    lms.deployment_id = "dr-deployment-2"

    again = register(client, lms)

    assert again.status_code == 409
    assert "lti-bridge platform add" in again.get_data(as_text=True)
    assert stored(app) == before and row_counts(app) == (1, 1)


CONFIG_KEYS = (
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "registration_endpoint",
    PLATFORM_CONFIGURATION,
)

FAILURES = [
    pytest.param({}, {"openid_configuration": None}, 422, id="no-configuration-url"),
    pytest.param({}, {"openid_configuration": "not a url"}, 422, id="configuration-not-a-url"),
    pytest.param(
        {}, {"openid_configuration": "ftp://127.0.0.1/config"}, 422, id="configuration-ftp"
    ),
    pytest.param(
        {},
        {"openid_configuration": "http://lms.example.edu/.well-known/openid-configuration"},
        422,
        id="configuration-plain-http-off-loopback",
    ),
    pytest.param({}, {"registration_token": "a b\r\nX-Evil: 1"}, 422, id="token-not-a-token"),
    pytest.param({"config_answer": (500, b"{}")}, {}, 502, id="configuration-answers-500"),
    pytest.param({"config_answer": (404, b"")}, {}, 502, id="configuration-answers-404"),
    pytest.param({"config_answer": (200, b"<html>")}, {}, 502, id="configuration-not-json"),
    pytest.param({"config_answer": (200, b"[1, 2]")}, {}, 422, id="configuration-not-object"),
    *[
        pytest.param({"config_overrides": {key: REMOVE}}, {}, 422, id=f"configuration-no-{key}")
        for key in CONFIG_KEYS
    ],
    pytest.param(
        {"config_overrides": {PLATFORM_CONFIGURATION: {"version": "1.0"}}},
        {},
        422,
        id="configuration-no-product-family-code",
    ),
    pytest.param(
        {"config_overrides": {"issuer": "https://lms.example.edu"}},
        {},
        422,
        id="issuer-on-another-origin",
    ),
    pytest.param(
        {"config_overrides": {"issuer": "http://127.0.0.1:1"}},
        {},
        422,
        id="issuer-on-another-port",
    ),
    pytest.param(
        {"config_overrides": {"registration_endpoint": "http://lms.example.edu/register"}},
        {},
        422,
        id="registration-endpoint-plain-http",
    ),
    *[
        pytest.param(
            {"config_overrides": {key: "https://attacker.example.net/x"}},
            {},
            422,
            id=f"{key}-on-another-origin",
        )
        for key in ("registration_endpoint", "jwks_uri", "token_endpoint",
                    "authorization_endpoint")
    ],
    pytest.param(
        {"config_overrides": {"id_token_signing_alg_values_supported": ["HS256"]}},
        {},
        422,
        id="platform-without-rs256",
    ),
    pytest.param({"token": "expected"}, {"registration_token": "other"}, 502, id="token-refused"),
    pytest.param(
        {"registration_answer": (400, {"error": "invalid_redirect_uri"})},
        {},
        502,
        id="registration-answers-400",
    ),
    pytest.param({"registration_answer": (500, "boom")}, {}, 502, id="registration-answers-500"),
    pytest.param(
        {"registration_answer": (201, {"client_name": "lti_bridge"})},
        {},
        502,
        id="registration-answer-without-client-id",
    ),
    pytest.param({"deployment_id": None}, {}, 502, id="registration-answer-without-deployment"),
]


@pytest.mark.parametrize(("platform_setup", "params", "status"), FAILURES)
def test_a_failed_registration_answers_a_readable_page_and_writes_nothing(
    app: Flask,
    client: FlaskClient,
    platform_setup: dict[str, Any],
    params: dict[str, Any],
    status: int,
) -> None:
    with registration_platform(**platform_setup) as lms:
        response = register(client, lms, **params)

    page = response.get_data(as_text=True)
    assert response.status_code == status, page
    assert 'id="error-message"' in page and 'id="error-hint"' in page
    assert CLOSE not in page
    assert row_counts(app) == (0, 0)


def test_an_unreachable_platform_answers_bad_gateway_and_writes_nothing(
    app: Flask, client: FlaskClient
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/.well-known/openid-configuration"

    response = client.get(
        "/lti/register", query_string={"openid_configuration": url, "registration_token": "t"}
    )

    assert response.status_code == 502
    assert "could not reach the platform" in response.get_data(as_text=True)
    assert row_counts(app) == (0, 0)


def test_a_platform_slower_than_the_timeout_answers_bad_gateway(
    app: Flask, client: FlaskClient
) -> None:
    with registration_platform(config_delay_seconds=1.5) as lms:
        response = register(client, lms)

    assert response.status_code == 502
    assert row_counts(app) == (0, 0)


def test_a_configuration_redirect_is_not_followed(app: Flask, client: FlaskClient) -> None:
    with registration_platform(config_redirect="https://elsewhere.example.edu/config") as lms:
        response = register(client, lms)

    assert response.status_code == 502
    assert lms.config_fetches == 1
    assert row_counts(app) == (0, 0)


def test_a_dynamically_registered_platform_can_launch_the_tool(client: FlaskClient) -> None:
    scripted = ScriptedPlatform()
    with registration_platform(jwks_app=scripted.wsgi) as lms:
        scripted.issuer = lms.base_url
        scripted.client_id = lms.client_id
        scripted.deployment_id = str(lms.deployment_id)
        assert register(client, lms).status_code == 200

        response = scripted.launch(client)

    assert response.status_code == 200, response.get_data(as_text=True)
    assert "Week 1 reading" in response.get_data(as_text=True)
    assert scripted.jwks_fetches == 1


# --- taking over a platform ------------------------------------------------------------------


def key_set_url(app: Flask) -> str:
    with app.extensions["lti_bridge"].engine.connect() as conn:
        return str(conn.execute(select(platforms.c.key_set_url)).scalar_one())


def test_a_configuration_pointing_the_jwks_elsewhere_cannot_take_over_a_registered_platform(
    app: Flask, client: FlaskClient
) -> None:
    with registration_platform() as lms, registration_platform() as attacker:
        # The operator registered the LMS; an anonymous caller then presents a configuration
        # on the LMS's own (allowed) origin whose endpoints are the attacker's.
        ScriptedPlatform(issuer=lms.base_url, client_id=lms.client_id,
                         jwks_url=lms.base_url + "/jwks").register(app)
        allow_registration_from(app, lms.base_url)
        lms.config_overrides = {
            "registration_endpoint": attacker.base_url + "/register",
            "jwks_uri": attacker.base_url + "/jwks",
        }

        response = register(client, lms)

    assert response.status_code == 422
    assert attacker.registrations == []
    assert key_set_url(app) == lms.base_url + "/jwks"


def test_a_registration_answering_a_registered_client_id_does_not_replace_its_keys(
    app: Flask, client: FlaskClient, lms: RegistrationPlatform
) -> None:
    ScriptedPlatform(issuer=lms.base_url, client_id=lms.client_id,
                     jwks_url="https://keys.lms.example.edu/jwks").register(app)
    lms.config_overrides = {"jwks_uri": lms.base_url + "/other-jwks"}

    response = register(client, lms)

    assert response.status_code == 409
    assert key_set_url(app) == "https://keys.lms.example.edu/jwks"


def test_a_registration_without_the_platforms_token_is_refused_before_any_request(
    app: Flask, client: FlaskClient, lms: RegistrationPlatform
) -> None:
    response = register(client, lms, registration_token=None)

    assert response.status_code == 403
    assert lms.config_fetches == 0 and row_counts(app) == (0, 0)


def test_a_loopback_configuration_url_is_refused_unless_allowed_for_development(
    app: Flask, client: FlaskClient, lms: RegistrationPlatform, caplog: pytest.LogCaptureFixture
) -> None:
    svc = app.extensions["lti_bridge"]
    svc.settings = replace(svc.settings, registration_allow_private_networks=False)

    with caplog.at_level("INFO", logger="lti_bridge.register"):
        response = register(client, lms)
        by_name = register(client, lms, openid_configuration=lms.configuration_url.replace(
            "127.0.0.1", "localhost"))

    assert response.status_code == 403 and by_name.status_code == 403
    assert lms.config_fetches == 0 and row_counts(app) == (0, 0)
    # Every attempt is logged, refusals with their reason.
    attempts = [r for r in caplog.records if "dynamic registration attempt" in r.getMessage()]
    assert len(attempts) == 2
    assert any("non-public 127.0.0.1" in r.getMessage() for r in caplog.records)


def test_the_refusal_page_shows_nothing_the_platform_or_an_internal_service_answered(
    app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "internal-service-said-db-password-hunter2"
    answer = {"error": "invalid_client_metadata", "error_description": secret}
    with (
        caplog.at_level("INFO", logger="lti_bridge.register"),
        registration_platform(registration_answer=(400, answer)) as lms,
    ):
        refused = register(client, lms)
        lms.registration_answer = None
        lms.config_overrides = {"issuer": "https://lms.example.edu/" + secret}
        invalid = register(client, lms)

    for response in (refused, invalid):
        assert response.status_code in (422, 502)
        page = response.get_data(as_text=True)
        assert secret not in page and 'id="error-hint"' in page
    assert secret in caplog.text  # the operator reads it in the log
