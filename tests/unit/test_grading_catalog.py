"""The catalog's grading settings beyond scale and weights: per-item categories overriding AGS
tags, and the incomplete's default grade and extension date; and the exact scheme built from
what the import stores."""

from __future__ import annotations

import tomllib
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from lti_bridge.adapters.catalog_schema import parse_catalog
from lti_bridge.adapters.db.catalog_repository import grading_document
from lti_bridge.adapters.db.grades_repository import scheme_from_offering
from lti_bridge.domain.errors import ValidationError
from tests.unit.test_catalog import EXAMPLE


def example() -> dict[str, Any]:
    with EXAMPLE.open("rb") as handle:
        return tomllib.load(handle)


def problems(document: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as refused:
        parse_catalog(document)
    return refused.value.fields


def test_the_example_documents_item_categories_and_the_incomplete() -> None:
    section = parse_catalog(example()).sections[0]
    assert section.line_item_categories == (("Final exam", "final_exam"),)
    assert section.incomplete_default_grade == "F"
    assert section.incomplete_extension_until == date(2024, 6, 28)


def test_an_item_mapped_to_no_weighted_category_is_refused_by_name() -> None:
    document = example()
    document["sections"][0]["line_item_categories"] = {"Final exam": "finals", " ": "quizzes"}
    found = problems(document)
    assert "is not a category in weights" in found["sections[0].line_item_categories.Final exam"]
    assert "must not be empty" in found["sections[0].line_item_categories"]


def test_an_incomplete_grade_outside_the_scale_and_a_bad_date_are_refused() -> None:
    document = example()
    document["sections"][0]["incomplete_default_grade"] = "Z"
    document["sections"][0]["incomplete_extension_until"] = "next June"
    found = problems(document)
    assert found["sections[0].incomplete_default_grade"] == (
        "must be one of the grade scale's letters"
    )
    assert "must be a date" in found["sections[0].incomplete_extension_until"]


def test_the_stored_offering_becomes_an_exact_scheme_with_weights_summing_to_one() -> None:
    catalog = parse_catalog(example())
    first, second = catalog.sections
    scale = [[band.lower_bound, band.letter] for band in first.grade_scale]
    scheme = scheme_from_offering(scale, dict(first.weights), grading_document(first))
    assert scheme.weights == {
        "quizzes": Decimal("0.2"), "programming_assignments": Decimal("0.4"),
        "final_exam": Decimal("0.4"),
    }
    assert scheme.item_categories == {"Final exam": "final_exam"}
    assert (scheme.incomplete_grade, scheme.incomplete_until) == ("F", date(2024, 6, 28))
    # Without settings an incomplete lapses to the scale's lowest letter.
    plain = scheme_from_offering([[90, "A"], [0, "F"]], {"homework": 30, "labs": 70}, None)
    assert plain.incomplete_grade == "F" and plain.incomplete_until is None
    assert sum(plain.weights.values()) == 1
    assert second.line_item_categories == ()
