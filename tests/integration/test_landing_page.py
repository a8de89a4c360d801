"""``GET /``: what the tool is, its version, the URLs an LMS needs, and health; no data."""

from __future__ import annotations

from typing import Any

from lti_bridge import version
from lti_bridge.web import create_app
from tests.fixtures.platform import scripted_platform
from tests.fixtures.sis_events import SECRET, deliver, registration_event


def test_the_landing_page_names_the_tool_its_version_and_the_lms_urls(
    app_config: dict[str, Any],
) -> None:
    app = create_app({**app_config, "public_url": "https://tool.example.edu/"})
    try:
        response = app.test_client().get("/")
    finally:
        app.extensions["lti_bridge"].engine.dispose()

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "lti_bridge" in page and version() in page
    for path in ("/lti/login", "/lti/launch", "/lti/jwks", "/lti/register"):
        assert f"<code>https://tool.example.edu{path}</code>" in page
    assert "database</td><td>ok" in page
    assert "not https" not in page


def test_without_a_public_url_the_page_uses_the_request_host_and_warns_about_http(
    client: Any,
) -> None:
    page = client.get("/", base_url="http://tool.internal:5000").get_data(as_text=True)

    assert "<code>http://tool.internal:5000/lti/launch</code>" in page
    assert "not https" in page


def test_the_landing_page_shows_no_platform_learner_or_sis_data(app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "webhook_secrets": (SECRET,)})
    client = app.test_client()
    try:
        with scripted_platform() as platform:
            platform.register(app)
            platform.launch(client)
        deliver(client, registration_event(student="110999888", section="SECRET-SECTION-1"))
        page = client.get("/").get_data(as_text=True)
    finally:
        app.extensions["lti_bridge"].engine.dispose()

    for private in (platform.issuer, platform.client_id, "learner-1", "Ada Byron",
                    "110999888", "SECRET-SECTION-1", app_config["database_url"]):
        assert private not in page


def test_the_landing_page_answers_503_when_the_database_is_down(tmp_path: Any) -> None:
    app = create_app(
        {
            "database_url": "postgresql+psycopg://nobody@127.0.0.1:1/none",
            "instance_path": str(tmp_path),
            "secret_key": "x" * 32,
        }
    )
    try:
        response = app.test_client().get("/")
    finally:
        app.extensions["lti_bridge"].engine.dispose()

    assert response.status_code == 503
    assert "database</td><td>unavailable" in response.get_data(as_text=True)
