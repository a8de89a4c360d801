"""The credit roster: staff launches see the section's learners with the gate's own verdict for
each, their first access (R9) and the load advice (R14, R15), on SQLite and PostgreSQL.

SIS facts arrive as signed webhooks; learners and staff launch through the scripted platform."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.platform import REMOVE, ROLE, ScriptedPlatform, scripted_platform
from tests.fixtures.sis_events import SECRET, session_around
from tests.integration.test_gate_launch import EXAM, TODAY, Sis

SECTION = "DTSA5509-100-2024S1"
EXAMPLE_CATALOG = Path(__file__).resolve().parents[2] / "config" / "catalog.example.toml"


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    app_config["webhook_secrets"] = (SECRET,)
    return app_config


@pytest.fixture
def platform(app: Any) -> Iterator[ScriptedPlatform]:
    with scripted_platform() as scripted:
        scripted.register(app)
        yield scripted


def roster_page(platform: ScriptedPlatform, client: Any, **overrides: Any) -> str:
    """An instructor's launch (a person of their own, not the learner) and the page it shows."""
    claims = {
        "sub": "instructor-1",
        "name": "Grace Hopper",
        "email": "gh@example.edu",
        "lis": {"course_section_sourcedid": SECTION},
        "custom": dict(EXAM),
        **overrides,
    }
    response = platform.launch(client, role="Instructor", **claims)
    assert response.status_code == 200
    return str(response.get_data(as_text=True))


def row_of(page: str, student: str) -> str:
    match = re.search(rf'<tr data-student="{student}".*?</tr>', page, re.S)
    assert match, f"no roster row for {student}"
    return match.group(0)


def counts(page: str) -> dict[str, int]:
    """The summary figures on top of the roster, by name."""
    found = re.findall(r'<li data-count="([a-z_]+)">.*?<strong>(\d+)</strong>', page)
    return {name: int(number) for name, number in found}


def codes(row: str, kind: str) -> list[str]:
    return re.findall(rf'data-{kind}="([a-z_]+)"', row)


def test_each_learner_shows_the_gates_verdict_and_what_is_missing(
    client: Any, platform: ScriptedPlatform
) -> None:
    sis = Sis(client)
    sis.registration(tuition="paid")
    sis.student("student.onboarding_completed")
    sis.registration(registration="reg-2", student="220000002", email="cd34@example.edu")
    sis.registration(
        "enrollment.dropped", registration="reg-3", student="330000003", status="dropped",
        email=None, tuition="refunded",
    )
    # A learner of another section is not on this roster.
    sis.registration(registration="reg-4", student="440000004", section="OTHER-100")

    page = roster_page(platform, client)

    assert 'id="roster"' in page and "DTSA 5509 (2026-S6)" in page
    assert re.findall(r'<tr data-student="(\d+)"', page) == ["110123456", "220000002", "330000003"]
    paid = row_of(page, "110123456")
    assert 'data-access="open"' in paid and codes(paid, "reason") == []
    unpaid = row_of(page, "220000002")
    assert 'data-access="closed"' in unpaid and "cd34@example.edu" in unpaid
    assert codes(unpaid, "reason") == ["tuition_unpaid", "onboarding_required"]
    dropped = row_of(page, "330000003")
    assert codes(dropped, "status") == ["dropped"]
    assert codes(dropped, "reason") == ["registration_inactive", "onboarding_required"]
    assert counts(page) == {
        "registered": 2, "paid": 1, "onboarded": 1, "open": 0, "never_launched": 2,
        "inactive": 1, "tuition_unpaid": 1, "onboarding_required": 1,
    }


def test_a_learners_name_and_first_access_appear_once_they_launch(
    client: Any, platform: ScriptedPlatform
) -> None:
    sis = Sis(client)
    sis.registration(tuition="paid")
    sis.student("student.onboarding_completed")
    before = row_of(roster_page(platform, client), "110123456")
    assert "Ada Byron" not in before and "not yet" in before

    assert platform.launch(client, custom=dict(EXAM)).status_code == 200

    after = row_of(roster_page(platform, client), "110123456")
    assert "Ada Byron" in after
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", after)


def test_the_load_advice_the_learner_reads_is_on_the_roster(
    client: Any, platform: ScriptedPlatform
) -> None:
    sis = Sis(client)
    sis.registration(tuition="paid")
    # Three more courses in the same session, the learner's first: four in all.
    for n in range(3):
        sis.registration(registration=f"reg-x{n}", section=f"CSCA{n}-100", course=f"CSCA {n}")
    # A second learner takes this one course only, in a later session than their first.
    earlier = session_around(TODAY - timedelta(days=200), code="2026-S1")
    sis.registration(registration="reg-old", student="220000002", section="OLD-100",
                     course="DTSA 5001", session=earlier)
    sis.registration(registration="reg-2", student="220000002")

    page = roster_page(platform, client)

    loaded = row_of(page, "110123456")
    assert codes(loaded, "advisory") == ["first_session_one_course", "course_load_limit"]
    assert "advised to take one course" in loaded  # the learner's own words, as its title
    assert codes(row_of(page, "220000002"), "advisory") == []
    # The learner reads the same advice beside the item.
    sis.student("student.onboarding_completed")
    item = platform.launch(client, custom=dict(EXAM)).get_data(as_text=True)
    assert codes(item, "advisory") == ["first_session_one_course", "course_load_limit"]


def test_a_custom_section_parameter_alone_does_not_open_a_roster(
    client: Any, platform: ScriptedPlatform
) -> None:
    Sis(client).registration(tuition="paid")

    page = roster_page(platform, client, lis=REMOVE, custom={**EXAM, "sis_section": SECTION})
    assert "Grace Hopper" in page

    assert 'id="roster"' not in page and "110123456" not in page
    assert 'id="roster-unconfirmed"' in page and SECTION in page


def test_the_catalogs_mapping_of_the_context_names_the_section(
    app: Any, client: Any, platform: ScriptedPlatform
) -> None:
    result = app.test_cli_runner().invoke(args=["catalog", "import", str(EXAMPLE_CATALOG)])
    assert result.exit_code == 0, result.output
    Sis(client).registration(tuition="paid")

    page = roster_page(
        platform, client, lis=REMOVE,
        context={"id": "dtsa-5509-credit-2024s1", "label": "DTSA 5509"},
    )

    assert 'id="roster"' in page and 'data-student="110123456"' in page


def test_a_context_mapped_for_another_platform_opens_no_roster(
    app: Any, client: Any, platform: ScriptedPlatform, tmp_path: Path
) -> None:
    document = tomllib.loads(EXAMPLE_CATALOG.read_text())
    document["sections"][0]["issuer"] = platform.issuer
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(document, default=str))
    result = app.test_cli_runner().invoke(args=["catalog", "import", str(path)])
    assert result.exit_code == 0, result.output
    Sis(client).registration(tuition="paid")
    course = {"id": "dtsa-5509-credit-2024s1", "label": "DTSA 5509"}
    assert 'data-student="110123456"' in roster_page(platform, client, lis=REMOVE, context=course)

    with scripted_platform() as other:
        other.issuer = "https://other-lms.example.org"
        other.register(app)
        # The other LMS has a course with the same id: not the section the catalog maps.
        page = roster_page(other, client, lis=REMOVE, context=course)
        learner = other.launch(client, custom=dict(EXAM), context=course,
                               lis={"person_sourcedid": "110123456"})

    assert "is not linked to a for-credit section" in page and "110123456" not in page
    assert "no_section" in learner.get_data(as_text=True)


def test_an_unknown_section_and_an_empty_one_say_so(
    app: Any, client: Any, platform: ScriptedPlatform
) -> None:
    assert 'id="roster-empty"' in roster_page(platform, client)
    assert "has not told the tool" in roster_page(platform, client)

    Sis(client).registration(registration="reg-9", student="990000009", section="OTHER-100")
    result = app.test_cli_runner().invoke(args=["catalog", "import", str(EXAMPLE_CATALOG)])
    assert result.exit_code == 0, result.output
    assert "No one is registered in DTSA 5509 (2024-S1) yet." in roster_page(platform, client)

    without = roster_page(platform, client, lis=REMOVE, context={"id": "unmapped"})
    assert "is not linked to a for-credit section" in without


def test_names_come_only_from_the_launching_platform(
    app: Any, client: Any, platform: ScriptedPlatform
) -> None:
    Sis(client).registration(tuition="paid")
    with scripted_platform() as other:
        other.issuer = "https://other-lms.example.org"
        other.register(app)
        # The same student, known to the other platform under another name.
        assert other.launch(client, custom=dict(EXAM), name="Other Name").status_code == 403

    page = roster_page(platform, client)

    assert "Other Name" not in page
    unnamed = r'<tr data-student="110123456"[^>]*>\s*<th[^>]*>(<a [^>]*>)?name not known(</a>)?'
    assert re.search(unnamed, page)


def test_the_roster_is_for_staff_and_never_cached(
    client: Any, platform: ScriptedPlatform
) -> None:
    Sis(client).registration(tuition="paid")

    learner = platform.launch(client, custom=dict(EXAM))
    assert 'id="roster"' not in learner.get_data(as_text=True)
    system = "http://purl.imsglobal.org/vocab/lis/v2/system/person#"
    for role in (ROLE + "Instructor", ROLE + "TeachingAssistant", system + "Administrator"):
        login = platform.login(client)
        staff = platform.post_launch(client, login, platform.sign(platform.claims(
            login, roles=[role], sub="staff-1", custom=dict(EXAM))))
        assert 'id="roster"' in staff.get_data(as_text=True), role
        assert staff.headers["Cache-Control"] == "no-store"
