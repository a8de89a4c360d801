"""Staff views need a role in the launch's context (CONTRACT §3), through real launches on
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fixtures.platform import ROLE, ScriptedPlatform, scripted_platform
from tests.fixtures.sis_events import SECRET
from tests.integration.test_gate_launch import EXAM, Sis

INSTITUTION = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#"
SYSTEM = "http://purl.imsglobal.org/vocab/lis/v2/system/person#"


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    app_config["webhook_secrets"] = (SECRET,)
    return app_config


@pytest.fixture
def platform(app: Any) -> Iterator[ScriptedPlatform]:
    with scripted_platform() as scripted:
        scripted.register(app)
        yield scripted


def launch_as(platform: ScriptedPlatform, client: Any, roles: list[str], **claims: Any) -> str:
    response = platform.launch(
        client, roles=roles, sub="someone-1", custom=dict(EXAM), **claims
    )
    return str(response.get_data(as_text=True))


def test_a_learner_who_teaches_elsewhere_does_not_see_the_roster(
    client: Any, platform: ScriptedPlatform
) -> None:
    Sis(client).registration(tuition="paid")

    page = launch_as(platform, client, [ROLE + "Learner", INSTITUTION + "Instructor"])

    assert 'id="roster"' not in page and "110123456" not in page
    assert "gate-title" in page


def test_an_institution_instructor_without_a_course_role_does_not_see_the_roster(
    client: Any, platform: ScriptedPlatform
) -> None:
    Sis(client).registration(tuition="paid")

    for role in ("Instructor", "Administrator", "Faculty"):
        page = launch_as(platform, client, [INSTITUTION + role])
        assert 'id="roster"' not in page and "110123456" not in page, role


def test_teaching_assistant_sub_role_and_system_administrator_see_the_roster(
    client: Any, platform: ScriptedPlatform
) -> None:
    Sis(client).registration(tuition="paid")

    for roles in (
        ["http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"],
        [SYSTEM + "Administrator"],
    ):
        assert 'data-student="110123456"' in launch_as(platform, client, roles), roles


def test_a_deep_linking_launch_by_an_institution_instructor_places_nothing(
    client: Any, platform: ScriptedPlatform
) -> None:
    login = platform.login(client)
    claims = platform.claims(
        login,
        message_type="LtiDeepLinkingRequest",
        roles=[ROLE + "Learner", INSTITUTION + "Instructor"],
        resource_link=None,
        **{
            "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings": {
                "deep_link_return_url": "https://lms.example.edu/dl/return",
                "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["iframe"],
            }
        },
    )
    claims.pop("https://purl.imsglobal.org/spec/lti/claim/resource_link")

    response = platform.post_launch(client, login, platform.sign(claims))

    assert response.status_code == 400
    assert "Only instructors can place items" in response.get_data(as_text=True)
