from __future__ import annotations

import copy
import json
import tomllib
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from lti_bridge.adapters.catalog_schema import parse_catalog
from lti_bridge.domain.catalog import GradeBand, Limits
from lti_bridge.domain.errors import ValidationError
from lti_bridge.domain.policy import SectionInfo

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "catalog.example.toml"


def valid() -> dict[str, Any]:
    """Return a small valid catalog as JSON would decode it (dates as strings)."""
    return {
        "university": {
            "payment_url": "https://pay.example.edu",
            "help_url": "https://help.example.edu",
        },
        "limits": {"max_courses_per_session": 3, "max_program_years": 8},
        "onboarding": {
            "context_id": "onboarding",
            "line_items": ["quiz-1"],
            "pass_threshold": 0.8,
        },
        "sessions": [
            {
                "code": "2024-S1",
                "starts_on": "2024-01-15",
                "ends_on": "2024-03-08",
                "enrollment_opens_at": "2024-01-01T16:00:00Z",
                "enrollment_closes_at": "2024-02-23T23:59:59Z",
            },
            {"code": "2024-S2", "starts_on": "2024-03-11", "ends_on": "2024-05-03"},
        ],
        "sections": [
            {
                "sis_id": "DTSA5509-100-2024S1",
                "course_code": "DTSA 5509",
                "session": "2024-S1",
                "credit_hours": 3,
                "for_credit_context_id": "dtsa-5509-credit",
                "non_credit_context_id": "dtsa-5509-open",
                "grade_scale": [[90, "A"], [80, "B"], [0, "F"]],
                "weights": {"quizzes": 0.5, "final_exam": 0.5},
            },
            {
                "sis_id": "DTSA5509-100-2024S2",
                "course_code": "DTSA 5509",
                "session": "2024-S2",
                "credit_hours": 3,
                "for_credit_context_id": "dtsa-5509-credit-s2",
                "grade_scale": [[50, "P"], [0, "F"]],
                "weights": {"all": 100},
            },
        ],
    }


def problems_of(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        parse_catalog(data)
    fields: dict[str, str] = caught.value.fields
    return fields


def with_change(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    data = valid()
    target: Any = data
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return data


def without(path: tuple[str | int, ...]) -> dict[str, Any]:
    data = valid()
    target: Any = data
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    return data


# The documented example.


def test_documented_example_parses():
    with EXAMPLE.open("rb") as handle:
        catalog = parse_catalog(tomllib.load(handle))

    assert [s.code for s in catalog.sessions] == ["2024-S1", "2024-S2"]
    assert [s.sis_id for s in catalog.sections] == ["DTSA5509-100-2024S1", "CSCA5622-100-2024S2"]
    assert catalog.onboarding.pass_threshold == 0.8
    assert catalog.gate_settings().onboarding_url is not None


def test_documented_example_comments_every_key():
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    first_of_each_key: dict[str, int] = {}
    table = ""
    for number, line in enumerate(lines):
        if line.startswith("["):
            table = line.strip("[]")
        # Weight categories are the university's own names, documented once on their table.
        elif "=" in line and not line.startswith(("#", " ")) and table != "sections.weights":
            first_of_each_key.setdefault(f"{table}.{line.split('=', 1)[0].strip()}", number)

    uncommented = [key for key, n in first_of_each_key.items() if not lines[n - 1].startswith("#")]

    assert uncommented == []


def test_example_default_window_counts_days_in_the_universitys_zone():
    with EXAMPLE.open("rb") as handle:
        catalog = parse_catalog(tomllib.load(handle))

    s2 = catalog.session("2024-S2")
    assert s2 is not None
    closes = s2.enrollment_closes_at
    assert closes.date() == date(2024, 4, 19)
    assert closes.utcoffset() == timedelta(hours=-6)


# A valid catalog becomes values.


def test_json_shaped_catalog_parses_with_string_dates():
    catalog = parse_catalog(valid())

    s1 = catalog.session("2024-S1")
    assert s1 is not None
    assert s1.starts_on == date(2024, 1, 15)
    assert s1.enrollment_closes_at == datetime(2024, 2, 23, 23, 59, 59, tzinfo=UTC)


def test_session_without_window_times_gets_the_fourteen_day_window():
    catalog = parse_catalog(valid())

    s2 = catalog.session("2024-S2")
    assert s2 is not None
    assert s2.enrollment_opens_at == datetime(2024, 2, 26, tzinfo=UTC)
    assert s2.enrollment_closes_at == datetime(2024, 4, 19, 23, 59, 59, tzinfo=UTC)


def test_only_the_missing_end_of_a_window_is_defaulted():
    data = valid()
    data["sessions"][1]["enrollment_opens_at"] = "2024-02-20T09:00:00-07:00"

    s2 = parse_catalog(data).session("2024-S2")

    assert s2 is not None
    assert s2.enrollment_opens_at == datetime(2024, 2, 20, 9, tzinfo=timezone(timedelta(hours=-7)))
    assert s2.enrollment_closes_at == datetime(2024, 4, 19, 23, 59, 59, tzinfo=UTC)


def test_percent_weights_are_kept_as_fractions():
    catalog = parse_catalog(valid())

    assert catalog.sections[1].weights == (("all", 1.0),)
    assert catalog.sections[0].weights == (("quizzes", 0.5), ("final_exam", 0.5))


def test_grade_scale_keeps_its_order_from_the_top():
    catalog = parse_catalog(valid())

    assert catalog.sections[0].grade_scale == (
        GradeBand(90, "A"),
        GradeBand(80, "B"),
        GradeBand(0, "F"),
    )


def test_limits_default_to_three_courses_and_eight_years():
    catalog = parse_catalog(without(("limits",)))

    assert catalog.limits == Limits(3, 8)


def test_weights_summing_to_one_within_float_noise_are_accepted():
    data = with_change(("sections", 0, "weights"), {"a": 0.1, "b": 0.2, "c": 0.7})

    assert parse_catalog(data).sections[0].weights[2] == ("c", 0.7)


def test_catalog_answers_the_gates_questions():
    catalog = parse_catalog(valid())

    assert catalog.section_info("DTSA5509-100-2024S1") == SectionInfo(
        "DTSA5509-100-2024S1", "DTSA 5509", 3, catalog.session("2024-S1")
    )
    assert catalog.section_info("nope") is None
    context = catalog.section_for_context("dtsa-5509-credit-s2", "https://lms.example.edu")
    assert context is not None
    assert context.sis_id == "DTSA5509-100-2024S2"
    assert [s.code for s in catalog.sessions_offering("DTSA 5509")] == ["2024-S1", "2024-S2"]
    assert catalog.gate_settings().payment_url == "https://pay.example.edu"


def test_json_null_for_an_optional_key_means_absent():
    data = with_change(("sections", 0, "non_credit_context_id"), None)

    assert parse_catalog(data).sections[0].non_credit_context_id is None


# Each bad input names its path.


@pytest.mark.parametrize(
    ("change", "value", "path", "words"),
    [
        (("sections", 1, "credit_hours"), 0, "sections[1].credit_hours", "positive integer"),
        (("sections", 0, "credit_hours"), "3", "sections[0].credit_hours", "positive integer"),
        (("sections", 0, "credit_hours"), True, "sections[0].credit_hours", "positive integer"),
        (("sections", 0, "session"), "2024-S9", "sections[0].session", "no session '2024-S9'"),
        (("sections", 0, "sis_id"), "  ", "sections[0].sis_id", "non-empty string"),
        (("sections", 0, "weights"), {}, "sections[0].weights", "at least one"),
        (("sections", 0, "weights"), [0.5, 0.5], "sections[0].weights", "table"),
        (("sections", 0, "weights"), {"a": 0.5, "b": 0.4}, "sections[0].weights", "sum to 1"),
        (("sections", 0, "weights"), {"a": 60, "b": 60}, "sections[0].weights", "not 120"),
        (("sections", 0, "weights"), {"a": 1.5, "b": -0.5}, "sections[0].weights.b", "positive"),
        (("sections", 0, "weights"), {"a": 1, "b": 0}, "sections[0].weights.b", "positive"),
        (("sections", 0, "grade_scale"), [], "sections[0].grade_scale", "at least one"),
        (("sections", 0, "grade_scale"), "A", "sections[0].grade_scale", "list"),
        (
            ("sections", 0, "grade_scale"),
            [[90, "A"], [50, "C"]],
            "sections[0].grade_scale[1][0]",
            "must be 0",
        ),
        (
            ("sections", 0, "grade_scale"),
            [[80, "B"], [90, "A"], [0, "F"]],
            "sections[0].grade_scale[1][0]",
            "lower than the row above (80)",
        ),
        (
            ("sections", 0, "grade_scale"),
            [[90, "A"], [90, "A-"], [0, "F"]],
            "sections[0].grade_scale[1][0]",
            "lower than",
        ),
        (
            ("sections", 0, "grade_scale"),
            [[90, "A"], [80, "A"], [0, "F"]],
            "sections[0].grade_scale[1][1]",
            "appears twice",
        ),
        (
            ("sections", 0, "grade_scale"),
            [[120, "A"], [0, "F"]],
            "sections[0].grade_scale[0][0]",
            "0 to 100",
        ),
        (
            ("sections", 0, "grade_scale"),
            [[90, "A"], [0]],
            "sections[0].grade_scale[1]",
            "pair",
        ),
        (
            ("sections", 0, "grade_scale"),
            [[90, ""], [0, "F"]],
            "sections[0].grade_scale[0][1]",
            "letter",
        ),
        (
            ("sections", 0, "non_credit_context_id"),
            "dtsa-5509-credit",
            "sections[0].non_credit_context_id",
            "must differ",
        ),
        (("sessions", 0, "ends_on"), "2024-01-01", "sessions[0].ends_on", "after starts_on"),
        (("sessions", 0, "starts_on"), "15/01/2024", "sessions[0].starts_on", "date like"),
        (
            ("sessions", 0, "starts_on"),
            datetime(2024, 1, 15, 9, tzinfo=UTC),
            "sessions[0].starts_on",
            "date like",
        ),
        (
            ("sessions", 0, "enrollment_opens_at"),
            "2024-01-01T16:00:00",
            "sessions[0].enrollment_opens_at",
            "time zone offset",
        ),
        (
            ("sessions", 0, "enrollment_opens_at"),
            date(2024, 1, 1),
            "sessions[0].enrollment_opens_at",
            "time zone offset",
        ),
        (
            ("sessions", 0, "enrollment_closes_at"),
            "2023-12-01T00:00:00Z",
            "sessions[0].enrollment_closes_at",
            "after enrollment_opens_at",
        ),
        (("sessions",), {"code": "x"}, "sessions", "list"),
        (("sessions", 1), "2024-S2", "sessions[1]", "table"),
        (("university", "payment_url"), "pay.example.edu", "university.payment_url", "http(s)"),
        (("university", "time_zone"), "Mars/Olympus", "university.time_zone", "IANA"),
        (("limits", "max_program_years"), -8, "limits.max_program_years", "positive integer"),
        (("onboarding", "pass_threshold"), 80, "onboarding.pass_threshold", "at most 1"),
        (("onboarding", "pass_threshold"), 0, "onboarding.pass_threshold", "above 0"),
        (("onboarding", "pass_threshold"), "0.8", "onboarding.pass_threshold", "fraction"),
        (("onboarding", "line_items"), [], "onboarding.line_items", "at least one"),
        (("onboarding", "line_items"), ["q", ""], "onboarding.line_items[1]", "non-empty"),
        (("onboarding", "line_items"), ["q", "q"], "onboarding.line_items[1]", "twice"),
        (("onboarding", "issuer"), "lms", "onboarding.issuer", "http(s)"),
        # Past what a float holds, or not a URL at all: named like any bad value, no traceback.
        (("onboarding", "pass_threshold"), 10**400, "onboarding.pass_threshold", "fraction"),
        (("university", "help_url"), "http://[::1", "university.help_url", "http(s)"),
    ],
)
def test_each_bad_value_is_named_by_its_path(change, value, path, words):
    problems = problems_of(with_change(change, value))

    assert path in problems, problems
    assert words in problems[path]


@pytest.mark.parametrize(
    ("missing", "path"),
    [
        (("university",), "university"),
        (("onboarding",), "onboarding"),
        (("university", "help_url"), "university.help_url"),
        (("onboarding", "context_id"), "onboarding.context_id"),
        (("onboarding", "pass_threshold"), "onboarding.pass_threshold"),
        (("sessions", 0, "code"), "sessions[0].code"),
        (("sections", 1, "grade_scale"), "sections[1].grade_scale"),
        (("sections", 1, "weights"), "sections[1].weights"),
        (("sections", 1, "for_credit_context_id"), "sections[1].for_credit_context_id"),
    ],
)
def test_each_missing_key_is_named_by_its_path(missing, path):
    problems = problems_of(without(missing))

    assert problems[path] == "is required"


def test_unknown_keys_are_refused_so_typos_do_not_pass_silently():
    data = valid()
    data["sections"][0]["credit_hour"] = 3
    data["limit"] = {}

    problems = problems_of(data)

    assert problems["sections[0].credit_hour"] == "unknown key"
    assert problems["limit"] == "unknown key"


def test_repeated_session_code_points_at_the_first_use():
    data = valid()
    data["sessions"][1]["code"] = "2024-S1"

    problems = problems_of(data)

    assert problems["sessions[1].code"] == "'2024-S1' is already the code of sessions[0]"


def test_repeated_section_ids_and_contexts_are_refused():
    data = valid()
    data["sections"].append(copy.deepcopy(data["sections"][0]))

    problems = problems_of(data)

    assert "sections[0]" in problems["sections[2].sis_id"]
    assert "sections[0]" in problems["sections[2].for_credit_context_id"]


def test_one_context_may_map_to_a_section_on_each_platform():
    data = valid()
    first, second = data["sections"]
    first["issuer"] = "https://lms.example.edu"
    second["issuer"] = "https://other-lms.example.org"
    second["for_credit_context_id"] = first["for_credit_context_id"]

    catalog = parse_catalog(data)

    context = first["for_credit_context_id"]
    mapped = catalog.section_for_context(context, "https://other-lms.example.org")
    assert mapped is not None and mapped.sis_id == second["sis_id"]
    assert catalog.section_for_context(context, "https://third.example.org") is None

    second["issuer"] = first["issuer"]
    assert problems_of(data)["sections[1].for_credit_context_id"] == (
        f"{context!r} is already the for-credit context on https://lms.example.edu of sections[0]"
    )
    second["issuer"] = "not a url"
    assert "sections[1].issuer" in problems_of(data)


def test_every_problem_is_reported_not_only_the_first():
    data = valid()
    data["university"]["help_url"] = "nope"
    data["sessions"][1]["ends_on"] = "2024-01-01"
    data["sections"][0]["credit_hours"] = -1
    data["sections"][1]["weights"] = {"a": 0.3}

    with pytest.raises(ValidationError) as caught:
        parse_catalog(data)

    message = str(caught.value)
    assert message.splitlines() == [
        "university.help_url: must be an absolute http(s) URL",
        "sessions[1].ends_on: must be after starts_on",
        "sections[0].credit_hours: must be a positive integer",
        "sections[1].weights: must sum to 1 or to 100, not 0.3",
    ]
    assert caught.value.public_message == "The catalog has 4 problems."


def test_broken_session_still_counts_for_references_so_errors_do_not_cascade():
    data = with_change(("sessions", 0, "ends_on"), "2024-01-01")

    problems = problems_of(data)

    assert list(problems) == ["sessions[0].ends_on"]


def test_one_row_can_break_two_rules_and_both_are_named():
    data = with_change(("sections", 0, "grade_scale"), [[90, "A"], [95, "A"], [0, "F"]])

    problems = problems_of(data)

    assert problems["sections[0].grade_scale[1][0]"].startswith("must be lower")
    assert problems["sections[0].grade_scale[1][1]"] == "'A' appears twice"


def test_several_problems_at_one_path_are_joined():
    data = with_change(("sections", 0, "weights"), {"": 0.5, " ": 0.5})

    problems = problems_of(data)

    assert problems["sections[0].weights"] == (
        "category names must not be empty; category names must not be empty"
    )


def test_catalog_that_is_not_a_table_is_refused():
    with pytest.raises(ValidationError, match="catalog: must be a table"):
        parse_catalog(["not", "a", "table"])  # type: ignore[arg-type]


def test_json_and_toml_spellings_of_the_same_catalog_agree():
    toml_text = EXAMPLE.read_text(encoding="utf-8")
    from_toml = tomllib.loads(toml_text)
    as_json = json.loads(json.dumps(from_toml, default=lambda v: v.isoformat()))

    assert parse_catalog(as_json) == parse_catalog(from_toml)


def test_problems_in_one_table_list_missing_keys_then_unknown_ones_then_the_rest_in_order():
    data = valid()
    section = data["sections"][0]
    del section["weights"]
    section["colour"] = "blue"
    section["session"] = "2099-S9"
    section["credit_hours"] = 0
    section["non_credit_context_id"] = section["for_credit_context_id"]
    section["grade_scale"] = [[90, "A"], [50, "C"]]

    with pytest.raises(ValidationError) as caught:
        parse_catalog(data)

    assert str(caught.value).splitlines() == [
        "sections[0].weights: is required",
        "sections[0].colour: unknown key",
        "sections[0].session: no session '2099-S9' in sessions",
        "sections[0].credit_hours: must be a positive integer",
        "sections[0].non_credit_context_id: must differ from for_credit_context_id",
        "sections[0].grade_scale[1][0]: the last row's lower bound must be 0",
    ]


def test_repeats_are_named_after_every_rows_own_problems():
    data = valid()
    data["sections"].append({**copy.deepcopy(data["sections"][0]), "credit_hours": -3})
    data["sections"][1]["course_code"] = ""

    with pytest.raises(ValidationError) as caught:
        parse_catalog(data)

    assert str(caught.value).splitlines() == [
        "sections[1].course_code: must be a non-empty string",
        "sections[2].credit_hours: must be a positive integer",
        "sections[2].sis_id: 'DTSA5509-100-2024S1' is already the SIS id of sections[0]",
        "sections[2].for_credit_context_id: 'dtsa-5509-credit' is already the for-credit "
        "context of sections[0]",
    ]


@pytest.mark.parametrize(
    ("change", "value", "path", "message"),
    [
        (("sessions", 0), None, "sessions[0]", "must be a table"),
        (("sections",), None, "sections", "must be a list"),
        (("carryover",), {"kinds": None}, "carryover.kinds", "must be a table"),
        (("carryover",), {"kinds": {"Forum post": " "}}, "carryover.kinds.Forum post", "kind name"),
        (("limits",), {"max_program_years": 2.5}, "limits.max_program_years", "integer"),
    ],
)
def test_json_null_rows_lists_and_tables_are_named(change, value, path, message):
    problems = problems_of(with_change(change, value))

    assert message in problems[path]


def test_an_issuer_that_is_a_list_is_refused_not_a_crash():
    data = valid()
    data["sections"][1]["for_credit_context_id"] = data["sections"][0]["for_credit_context_id"]
    for section in data["sections"]:
        section["issuer"] = ["https://lms.example.edu"]

    problems = problems_of(data)

    assert problems["sections[0].issuer"] == "must be a non-empty string"
    assert problems["sections[1].issuer"] == "must be a non-empty string"


def test_null_limits_and_carryover_mean_the_defaults():
    data = valid()
    data["limits"] = None
    data["carryover"] = None

    catalog = parse_catalog(data)

    assert catalog.limits == Limits(3, 8)
    assert catalog.carryover_kinds == {}
