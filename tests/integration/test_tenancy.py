"""Tenancy: one registered platform never reaches another's learners or sections (CONTRACT §3).

Two platforms registered with the tool, launching for real through the login flow; SIS facts as
signed webhooks; on SQLite and PostgreSQL. Each test is named after the attack it prevents.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.platform import REMOVE, ScriptedPlatform, scripted_platform
from tests.fixtures.sis_events import SECRET
from tests.integration.test_gate_launch import EXAM, Sis, first_access, reasons
from tests.integration.test_roster import EXAMPLE_CATALOG, SECTION, roster_page

OTHER_ISSUER = "https://other-lms.example.org"


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    app_config["webhook_secrets"] = (SECRET,)
    return app_config


@pytest.fixture
def platform(app: Any) -> Iterator[ScriptedPlatform]:
    with scripted_platform() as scripted:
        scripted.register(app)
        yield scripted


@pytest.fixture
def other(app: Any) -> Iterator[ScriptedPlatform]:
    with scripted_platform() as scripted:
        scripted.issuer = OTHER_ISSUER
        scripted.register(app)
        yield scripted


def set_setting(app: Any, **values: Any) -> None:
    svc = app.extensions["lti_bridge"]
    svc.settings = replace(svc.settings, **values)


def import_catalog(app: Any, tmp_path: Path, *, issuer: str) -> None:
    """The example catalog, its first section (SECTION) bound to the platform ``issuer``."""
    document = tomllib.loads(EXAMPLE_CATALOG.read_text())
    if issuer:
        document["sections"][0]["issuer"] = issuer
    else:
        document["sections"][0].pop("issuer", None)
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(document, default=str))
    result = app.test_cli_runner().invoke(args=["catalog", "import", str(path)])
    assert result.exit_code == 0, result.output


def paid_and_onboarded(client: Any, **student: Any) -> Sis:
    sis = Sis(client)
    sis.registration(tuition="paid", **student)
    sis.student("student.onboarding_completed")
    return sis


# --- sections: the LIS claim is honoured only for a section bound to the launch's platform ----


def test_another_platforms_instructor_naming_a_bound_section_in_lis_sees_no_roster(
    app: Any, client: Any, platform: ScriptedPlatform, other: ScriptedPlatform, tmp_path: Path
) -> None:
    import_catalog(app, tmp_path, issuer=platform.issuer)
    Sis(client).registration(tuition="paid")
    assert 'data-student="110123456"' in roster_page(platform, client)

    page = roster_page(other, client)

    assert 'id="roster"' not in page
    assert "110123456" not in page and "ab12@example.edu" not in page
    assert 'id="roster-unconfirmed"' in page


def test_another_platforms_learner_naming_a_bound_section_in_lis_opens_nothing(
    app: Any, client: Any, engine: Any, platform: ScriptedPlatform, other: ScriptedPlatform,
    tmp_path: Path,
) -> None:
    import_catalog(app, tmp_path, issuer=platform.issuer)
    paid_and_onboarded(client)

    refused = other.launch(client, custom=dict(EXAM))

    assert refused.status_code == 403
    assert "no_section" in reasons(refused)
    # The student's right to drop (R9) is untouched by another platform's launch.
    assert first_access(engine) is None
    assert platform.launch(client, custom=dict(EXAM)).status_code == 200
    assert first_access(engine) is not None


def test_a_section_bound_to_any_platform_is_named_by_each_platforms_lis_claim(
    app: Any, client: Any, platform: ScriptedPlatform, other: ScriptedPlatform, tmp_path: Path
) -> None:
    import_catalog(app, tmp_path, issuer="")
    paid_and_onboarded(client)

    assert other.launch(client, custom=dict(EXAM)).status_code == 200
    assert 'data-student="110123456"' in roster_page(other, client)


def test_a_links_custom_sis_section_does_not_open_another_sections_content(
    client: Any, engine: Any, platform: ScriptedPlatform
) -> None:
    paid_and_onboarded(client)

    # A for-credit link in an unrelated course, placed naming the learner's paid section.
    response = platform.launch(
        client,
        custom={**EXAM, "sis_section": SECTION},
        context={"id": "unrelated-course", "label": "ART 1010"},
        lis={"person_sourcedid": "110123456"},
    )

    assert response.status_code == 403
    assert "no_section" in reasons(response)
    assert first_access(engine) is None


# --- identities: the SIS's platform_user_id and email belong to one platform ------------------


def test_a_learner_elsewhere_whose_sub_is_a_students_platform_user_id_opens_nothing(
    client: Any, engine: Any, platform: ScriptedPlatform, other: ScriptedPlatform
) -> None:
    paid_and_onboarded(client, platform_user_id="learner-1", platform_issuer=platform.issuer)
    no_sourcedid = {"lis": {"course_section_sourcedid": SECTION}, "email": REMOVE}

    stranger = other.launch(client, custom=dict(EXAM), sub="learner-1", **no_sourcedid)

    assert stranger.status_code == 403
    assert reasons(stranger)[0] == "not_linked"
    assert first_access(engine) is None
    owner = platform.launch(client, custom=dict(EXAM), sub="learner-1", **no_sourcedid)
    assert owner.status_code == 200
    assert first_access(engine) is not None


def test_the_setting_names_the_platform_of_ids_an_event_leaves_unnamed(
    app: Any, client: Any, platform: ScriptedPlatform, other: ScriptedPlatform
) -> None:
    set_setting(app, sis_platform_issuer=other.issuer)
    paid_and_onboarded(client, platform_user_id="learner-1")
    no_sourcedid = {"lis": {"course_section_sourcedid": SECTION}, "email": REMOVE}

    assert reasons(platform.launch(client, custom=dict(EXAM), **no_sourcedid))[0] == "not_linked"
    assert other.launch(client, custom=dict(EXAM), **no_sourcedid).status_code == 200


def test_a_platform_user_id_of_no_known_platform_links_no_launch(
    client: Any, platform: ScriptedPlatform
) -> None:
    paid_and_onboarded(client, platform_user_id="learner-1")

    response = platform.launch(
        client, custom=dict(EXAM), lis={"course_section_sourcedid": SECTION}, email=REMOVE
    )

    assert reasons(response)[0] == "not_linked"


def test_email_linking_matches_only_learners_of_the_sis_platform(
    app: Any, client: Any, platform: ScriptedPlatform, other: ScriptedPlatform
) -> None:
    set_setting(app, link_learners_by_email=True, sis_platform_issuer=platform.issuer)
    paid_and_onboarded(client, email="AB12@example.edu")
    by_email = {"lis": {"course_section_sourcedid": SECTION}, "email": "ab12@example.edu"}

    # Any LMS can assert any email: only the SIS's own platform's assertion links.
    assert reasons(other.launch(client, custom=dict(EXAM), **by_email))[0] == "not_linked"
    assert platform.launch(client, custom=dict(EXAM), **by_email).status_code == 200


def test_another_platforms_learner_with_a_students_platform_user_id_lends_no_name_to_the_roster(
    client: Any, platform: ScriptedPlatform, other: ScriptedPlatform
) -> None:
    Sis(client).registration(
        tuition="paid", platform_user_id="learner-1", platform_issuer=platform.issuer
    )
    other.launch(client, custom=dict(EXAM), sub="learner-1", name="Mallory Other",
                 lis={"course_section_sourcedid": SECTION}, email=REMOVE)
    platform.launch(client, sub="learner-1", name="Ada Owner",
                    lis={"course_section_sourcedid": SECTION}, email=REMOVE)

    on_other = roster_page(other, client)
    on_own = roster_page(platform, client)

    assert 'data-student="110123456"' in on_other and "Mallory Other" not in on_other
    assert "Ada Owner" in on_own


def test_a_student_event_keeps_the_platform_with_its_platform_user_id(
    client: Any, engine: Any, platform: ScriptedPlatform, other: ScriptedPlatform
) -> None:
    from sqlalchemy import select

    from lti_bridge.adapters.db.tables import sis_students

    sis = Sis(client)
    sis.registration(platform_user_id="learner-1", platform_issuer=platform.issuer)
    # A later event without the id keeps both; a new id without an issuer drops the old one.
    sis.registration(platform_user_id=None)
    with engine.connect() as conn:
        stored = conn.execute(
            select(sis_students.c.platform_user_id, sis_students.c.platform_issuer)
        ).one()
    assert tuple(stored) == ("learner-1", platform.issuer)
    sis.registration(platform_user_id="learner-9")
    with engine.connect() as conn:
        stored = conn.execute(
            select(sis_students.c.platform_user_id, sis_students.c.platform_issuer)
        ).one()
    assert tuple(stored) == ("learner-9", None)
