"""``lti-bridge catalog import FILE`` against real SQLite and PostgreSQL, driven through the CLI."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from lti_bridge.adapters.db.catalog_repository import read_catalog_settings, section_for_context
from lti_bridge.adapters.db.tables import (
    catalog_settings,
    offerings,
    registrations,
    sis_sections,
    sis_sessions,
)
from tests.fixtures.sis_events import SECRET, deliver, registration_event

LMS = "https://lms.example.edu"
OTHER_LMS = "https://other-lms.example.org"
EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "catalog.example.toml"
CATALOG_TABLES = (sis_sessions, sis_sections, offerings, catalog_settings)
FIRST_IMPORT = datetime(2024, 1, 2, 9, 0, tzinfo=UTC)
LATER = datetime(2024, 1, 9, 9, 0, tzinfo=UTC)


@pytest.fixture
def app_config(app_config):
    app_config["webhook_secrets"] = (SECRET,)
    return app_config


@pytest.fixture
def clock(app):
    """Fix the app's clock at FIRST_IMPORT; set ``clock.now`` to move it."""

    class Clock:
        now = FIRST_IMPORT

        def __call__(self) -> datetime:
            return self.now

    fixed = Clock()
    app.extensions["lti_bridge"].clock = fixed
    return fixed


def run_import(app, path: Path | str):
    return app.test_cli_runner().invoke(args=["catalog", "import", str(path)])


def imported(app, path: Path | str = EXAMPLE):
    result = run_import(app, path)
    assert result.exit_code == 0, result.output
    return result


def example() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE.read_text())


def write_json(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document, default=lambda value: value.isoformat(), indent=2))
    return path


def utc(value: datetime) -> datetime:
    # SQLite hands datetimes back without their offset; the tool stores UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def rows(engine, table) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        found = conn.execute(select(table).order_by(table.c.id)).mappings()
        return [
            {k: utc(v) if isinstance(v, datetime) else v for k, v in row.items()} for row in found
        ]


def by(engine, table, key: str) -> dict[str, dict[str, Any]]:
    return {row[key]: row for row in rows(engine, table)}


def snapshot(engine) -> dict[str, list[dict[str, Any]]]:
    return {table.name: rows(engine, table) for table in CATALOG_TABLES}


def nothing_stored(engine) -> bool:
    return all(not found for found in snapshot(engine).values())


# --- a good file ----------------------------------------------------------------------------------


def test_importing_the_example_writes_sessions_sections_offerings_and_settings(app, engine, clock):
    result = imported(app)
    assert result.stdout.strip() == (
        f"catalog {EXAMPLE} imported: 2 sessions (2 written), 2 sections (2 written), "
        "2 offerings (2 written), settings replaced"
    )

    sessions = by(engine, sis_sessions, "code")
    assert {k: v for k, v in sessions["2024-S1"].items() if k != "id"} == {
        "code": "2024-S1",
        "starts_on": date(2024, 1, 15),
        "ends_on": date(2024, 3, 8),
        "enrollment_opens_at": datetime(2024, 1, 1, 16, 0, tzinfo=UTC),
        "enrollment_closes_at": datetime(2024, 2, 23, 23, 59, 59, tzinfo=UTC),
    }
    # The default window counts whole days in Denver: MST (-7) when it opens, MDT (-6) at close.
    assert sessions["2024-S2"]["enrollment_opens_at"] == datetime(2024, 2, 26, 7, 0, tzinfo=UTC)
    assert sessions["2024-S2"]["enrollment_closes_at"] == datetime(
        2024, 4, 20, 5, 59, 59, tzinfo=UTC
    )

    sections = by(engine, sis_sections, "sis_id")
    assert {k: v for k, v in sections["DTSA5509-100-2024S1"].items() if k != "id"} == {
        "sis_id": "DTSA5509-100-2024S1",
        "course_code": "DTSA 5509",
        "credit_hours": 3,
        "session_code": "2024-S1",
    }
    assert sections["CSCA5622-100-2024S2"]["session_code"] == "2024-S2"

    found = by(engine, offerings, "section_sis_id")
    dtsa = found["DTSA5509-100-2024S1"]
    assert dtsa["for_credit_context_id"] == "dtsa-5509-credit-2024s1"
    assert dtsa["non_credit_context_id"] == "dtsa-5509-open"
    assert dtsa["grade_scale"][:2] == [[93, "A"], [90, "A-"]]
    assert dtsa["grade_scale"][-1] == [0, "F"] and len(dtsa["grade_scale"]) == 12
    assert dtsa["weights"] == {"quizzes": 0.2, "programming_assignments": 0.4, "final_exam": 0.4}
    assert list(dtsa["weights"]) == ["quizzes", "programming_assignments", "final_exam"]
    assert dtsa["updated_at"] == FIRST_IMPORT
    # Percentages are stored as the fractions they mean.
    assert found["CSCA5622-100-2024S2"]["weights"] == {
        "homework": 0.3,
        "labs": 0.2,
        "final_exam": 0.5,
    }

    (settings,) = rows(engine, catalog_settings)
    assert settings["id"] == 1 and settings["imported_at"] == FIRST_IMPORT
    assert settings["document"] == {
        "university": {
            "payment_url": "https://bursar.example.edu/pay",
            "help_url": "https://help.example.edu/online-degrees",
            "time_zone": "America/Denver",
        },
        "limits": {"max_courses_per_session": 3, "max_program_years": 8},
        "onboarding": {
            "context_id": "onboarding-ms-ds",
            "line_items": ["Academic integrity quiz", "Program orientation quiz"],
            "pass_threshold": 0.8,
            "issuer": "https://lms.example.edu",
            "url": "https://lms.example.edu/learn/onboarding-ms-ds",
        },
        "carryover": {"kinds": {"Forum post": "discussion", "peer_assessment": "peer_graded"}},
    }


def test_reimporting_the_same_file_changes_no_row(app, engine, clock):
    imported(app)
    before = snapshot(engine)
    clock.now = LATER
    result = imported(app)
    assert "2 sessions (0 written), 2 sections (0 written), 2 offerings (0 written)" in (
        result.stdout
    )
    after = snapshot(engine)
    # Only the settings row records when the catalog was last imported.
    assert after["catalog_settings"][0]["imported_at"] == LATER
    after["catalog_settings"][0]["imported_at"] = FIRST_IMPORT
    assert after == before


def test_importing_a_changed_file_updates_the_changed_rows_only(app, engine, clock, tmp_path):
    imported(app)
    document = example()
    document["sessions"][1]["ends_on"] = date(2024, 5, 10)
    document["sections"][0]["credit_hours"] = 4
    document["sections"][0]["weights"] = {"quizzes": 50, "final_exam": 50}
    document["sections"][0].pop("non_credit_context_id")
    document["limits"]["max_courses_per_session"] = 2
    document["onboarding"].pop("url")
    clock.now = LATER

    result = imported(app, write_json(tmp_path / "changed.json", document))

    assert "2 sessions (1 written), 2 sections (1 written), 2 offerings (1 written)" in (
        result.stdout
    )
    assert len(rows(engine, sis_sessions)) == 2 and len(rows(engine, offerings)) == 2
    assert by(engine, sis_sessions, "code")["2024-S2"]["ends_on"] == date(2024, 5, 10)
    assert by(engine, sis_sections, "sis_id")["DTSA5509-100-2024S1"]["credit_hours"] == 4
    found = by(engine, offerings, "section_sis_id")
    assert found["DTSA5509-100-2024S1"]["weights"] == {"quizzes": 0.5, "final_exam": 0.5}
    assert found["DTSA5509-100-2024S1"]["non_credit_context_id"] is None
    assert found["DTSA5509-100-2024S1"]["updated_at"] == LATER
    assert found["CSCA5622-100-2024S2"]["updated_at"] == FIRST_IMPORT
    (settings,) = rows(engine, catalog_settings)
    assert settings["document"]["limits"]["max_courses_per_session"] == 2
    assert settings["document"]["onboarding"]["url"] is None


def test_a_json_file_imports_the_same_rows_as_the_toml_file(app, engine, clock, tmp_path):
    imported(app)
    from_toml = snapshot(engine)
    with engine.begin() as conn:
        for table in CATALOG_TABLES:
            conn.execute(delete(table))

    imported(app, write_json(tmp_path / "catalog.JSON", example()))

    def without_ids(found: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        return {name: [{**r, "id": None} for r in table] for name, table in found.items()}

    assert without_ids(snapshot(engine)) == without_ids(from_toml)


def test_sections_and_sessions_missing_from_the_file_are_kept(app, engine, clock, tmp_path):
    imported(app)
    document = example()
    del document["sessions"][1], document["sections"][1]

    imported(app, write_json(tmp_path / "smaller.json", document))

    assert set(by(engine, sis_sessions, "code")) == {"2024-S1", "2024-S2"}
    assert set(by(engine, sis_sections, "sis_id")) == {
        "DTSA5509-100-2024S1",
        "CSCA5622-100-2024S2",
    }
    assert len(rows(engine, offerings)) == 2


def test_for_credit_contexts_may_swap_between_sections_the_file_lists(app, engine, clock, tmp_path):
    imported(app)
    document = example()
    first, second = document["sections"]
    first["for_credit_context_id"], second["for_credit_context_id"] = (
        second["for_credit_context_id"],
        first["for_credit_context_id"],
    )

    imported(app, write_json(tmp_path / "swapped.json", document))

    found = by(engine, offerings, "section_sis_id")
    assert found["DTSA5509-100-2024S1"]["for_credit_context_id"] == "csca-5622-credit-2024s2"
    assert found["CSCA5622-100-2024S2"]["for_credit_context_id"] == "dtsa-5509-credit-2024s1"


# --- sharing rows with SIS webhooks ---------------------------------------------------------------


def test_a_session_and_section_a_sis_webhook_wrote_are_updated_not_duplicated(
    app, client, engine, clock
):
    event = registration_event()
    snapshot_ = event["data"]["registration"]
    snapshot_["session"]["ends_on"] = "2024-03-01"
    snapshot_["session"]["enrollment_closes_at"] = "2024-02-16T23:59:59Z"
    snapshot_["section"]["credit_hours"] = 4
    assert deliver(client, event).status_code == 204
    assert len(rows(engine, sis_sessions)) == 1 and len(rows(engine, sis_sections)) == 1

    result = imported(app)

    assert "2 sessions (2 written), 2 sections (2 written)" in result.stdout
    sessions = [r for r in rows(engine, sis_sessions) if r["code"] == "2024-S1"]
    assert len(sessions) == 1
    assert sessions[0]["ends_on"] == date(2024, 3, 8)
    assert sessions[0]["enrollment_closes_at"] == datetime(2024, 2, 23, 23, 59, 59, tzinfo=UTC)
    sections = [r for r in rows(engine, sis_sections) if r["sis_id"] == "DTSA5509-100-2024S1"]
    assert len(sections) == 1 and sections[0]["credit_hours"] == 3
    assert len(rows(engine, registrations)) == 1


def test_a_later_webhook_with_the_same_session_leaves_the_imported_rows_as_they_are(
    app, client, engine, clock
):
    imported(app)
    before = snapshot(engine)
    assert deliver(client, registration_event()).status_code == 204
    assert snapshot(engine) == before


# --- what the credit gate reads -------------------------------------------------------------------


def test_the_gate_reads_the_settings_document_and_maps_contexts_to_sections(app, engine, clock):
    with engine.connect() as conn:
        assert read_catalog_settings(conn) is None
        assert section_for_context(conn, "dtsa-5509-credit-2024s1", LMS) is None
    imported(app)
    with engine.connect() as conn:
        document = read_catalog_settings(conn)
        assert document is not None
        assert document["university"]["payment_url"] == "https://bursar.example.edu/pay"
        assert document["onboarding"]["pass_threshold"] == 0.8
        assert section_for_context(conn, "dtsa-5509-credit-2024s1", LMS) == "DTSA5509-100-2024S1"
        assert section_for_context(conn, "csca-5622-open", LMS) == "CSCA5622-100-2024S2"
        assert section_for_context(conn, "onboarding-ms-ds", LMS) is None


def test_a_non_credit_context_shared_by_several_sections_prefers_a_for_credit_match(
    app, engine, clock, tmp_path
):
    document = example()
    later = {
        **document["sections"][0],
        "sis_id": "DTSA5509-100-2024S2",
        "session": "2024-S2",
        "for_credit_context_id": "dtsa-5509-open",
        "non_credit_context_id": "dtsa-5509-credit-2024s1",
    }
    document["sections"].append(later)
    imported(app, write_json(tmp_path / "shared.json", document))
    with engine.connect() as conn:
        assert section_for_context(conn, "dtsa-5509-open", LMS) == "DTSA5509-100-2024S2"
        assert section_for_context(conn, "dtsa-5509-credit-2024s1", LMS) == "DTSA5509-100-2024S1"


def test_a_section_naming_its_platform_maps_contexts_of_that_platform_only(
    app, engine, clock, tmp_path
):
    # Two LMSs, each with a course "1234": one section per platform, and one for any platform.
    document = example()
    first, second = document["sections"]
    document["sections"] = [
        {**first, "for_credit_context_id": "1234", "issuer": LMS},
        {**second, "for_credit_context_id": "1234", "issuer": OTHER_LMS,
         "non_credit_context_id": None},
    ]
    del document["sections"][1]["non_credit_context_id"]
    imported(app, write_json(tmp_path / "two-lms.json", document))
    with engine.connect() as conn:
        assert section_for_context(conn, "1234", LMS) == "DTSA5509-100-2024S1"
        assert section_for_context(conn, "1234", OTHER_LMS) == "CSCA5622-100-2024S2"
        assert section_for_context(conn, "1234", "https://third.example.org") is None
        assert section_for_context(conn, "dtsa-5509-open", LMS) == "DTSA5509-100-2024S1"
        assert section_for_context(conn, "dtsa-5509-open", OTHER_LMS) is None

    # A section that names no platform answers for any, after a platform's own.
    anywhere = {**document["sections"][0], "sis_id": "DTSA5509-200-2024S1"}
    del anywhere["issuer"], anywhere["non_credit_context_id"]
    document["sections"].append(anywhere)
    imported(app, write_json(tmp_path / "any-lms.json", document))
    with engine.connect() as conn:
        assert section_for_context(conn, "1234", LMS) == "DTSA5509-100-2024S1"
        assert section_for_context(conn, "1234", "https://third.example.org") == (
            "DTSA5509-200-2024S1"
        )


def test_a_context_held_on_another_platform_is_no_clash(app, engine, clock, tmp_path):
    document = example()
    document["sections"][0]["issuer"] = LMS
    imported(app, write_json(tmp_path / "first.json", document))
    other = example()
    other["sections"] = [{
        **other["sections"][0], "sis_id": "DTSA5509-900-2024S1", "issuer": OTHER_LMS,
    }]
    imported(app, write_json(tmp_path / "other.json", other))
    with engine.connect() as conn:
        assert section_for_context(conn, "dtsa-5509-credit-2024s1", OTHER_LMS) == (
            "DTSA5509-900-2024S1"
        )
        assert section_for_context(conn, "dtsa-5509-credit-2024s1", LMS) == "DTSA5509-100-2024S1"


# --- files that are refused -----------------------------------------------------------------------


def one_error_line(result) -> str:
    assert result.exit_code != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("name", ["catalog.yaml", "catalog", "catalog.toml.bak"])
def test_a_file_of_another_format_is_refused_in_one_line(app, engine, tmp_path, name):
    path = tmp_path / name
    path.write_text(EXAMPLE.read_text())
    line = one_error_line(run_import(app, path))
    assert "name the file .toml or .json" in line
    assert nothing_stored(engine)


def test_a_missing_file_is_refused_in_one_line(app, engine, tmp_path):
    line = one_error_line(run_import(app, tmp_path / "nowhere.toml"))
    assert (
        line
        == f"Error: {tmp_path / 'nowhere.toml'}: cannot read the file (No such file or directory)"
    )
    assert nothing_stored(engine)


def test_a_directory_is_refused_in_one_line(app, engine, tmp_path):
    folder = tmp_path / "catalog.json"
    folder.mkdir()
    assert "cannot read the file" in one_error_line(run_import(app, folder))
    assert nothing_stored(engine)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("bad.toml", '[university]\npayment_url = "https://x.example\n', "invalid TOML: "),
        ("bad.toml", "[university]\n[university]\n", "invalid TOML: "),
        ("bad.json", '{"university": {"payment_url": }', "invalid JSON: "),
        ("bad.json", "", "invalid JSON: "),
        ("list.json", "[1, 2]", "the JSON must be an object at the top level"),
    ],
)
def test_a_syntax_error_is_refused_in_one_line_naming_the_place(
    app, engine, tmp_path, name, content, expected
):
    path = tmp_path / name
    path.write_text(content)
    line = one_error_line(run_import(app, path))
    assert line.startswith(f"Error: {path}: {expected}")
    if expected.startswith("invalid"):
        assert "line " in line and "column " in line
    assert nothing_stored(engine)


def test_a_file_that_is_not_utf8_is_refused_in_one_line(app, engine, tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('[university]\nhelp_url = "https://x.example/é"\n'.encode("latin-1"))
    assert "not UTF-8" in one_error_line(run_import(app, path))
    assert nothing_stored(engine)


def test_every_validation_problem_is_listed_by_its_path_and_nothing_is_written(
    app, engine, tmp_path
):
    document = example()
    del document["university"]["help_url"]
    document["sections"][0]["credit_hours"] = 0
    document["sections"][1]["session"] = "2099-S9"
    document["sections"][1]["grade_scale"] = [[90, "A"], [95, "B"]]
    document["sessions"][0]["colour"] = "blue"

    result = run_import(app, write_json(tmp_path / "wrong.json", document))

    assert result.exit_code != 0
    assert result.stdout == "" and "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert lines[0] == f"Error: {tmp_path / 'wrong.json'}: The catalog has 5 problems. " + (
        "Nothing was imported."
    )
    assert sorted(lines[1:]) == sorted(
        [
            "university.help_url: is required",
            "sessions[0].colour: unknown key",
            "sections[0].credit_hours: must be a positive integer",
            "sections[1].session: no session '2099-S9' in sessions",
            "sections[1].grade_scale[1][0]: must be lower than the row above (90): "
            "list the scale from the highest grade down",
        ]
    )
    assert nothing_stored(engine)


def test_a_for_credit_context_another_section_holds_refuses_the_whole_import(
    app, engine, clock, tmp_path
):
    imported(app)
    before = snapshot(engine)
    document = example()
    document["limits"]["max_courses_per_session"] = 1
    document["sessions"].append(
        {"code": "2024-S3", "starts_on": "2024-05-06", "ends_on": "2024-06-28"}
    )
    # A new section on the context of DTSA5509-100-2024S1, which this file does not list.
    document["sections"] = [
        {**document["sections"][0], "sis_id": "DTSA5509-200-2024S3", "session": "2024-S3"}
    ]
    clock.now = LATER

    result = run_import(app, write_json(tmp_path / "clash.json", document))

    assert result.exit_code != 0 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"Error: {tmp_path / 'clash.json'}: The catalog maps a platform context to two "
        "sections. Nothing was imported.",
        "sections[0].for_credit_context_id: 'dtsa-5509-credit-2024s1' is already the "
        "for-credit context of section 'DTSA5509-100-2024S1', which this file does not list",
    ]
    assert snapshot(engine) == before
