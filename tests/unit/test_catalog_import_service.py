"""Importing the catalog on the fake unit of work: one transaction, counts of what changed, and a
for-credit context another section holds refused."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from lti_bridge.domain.catalog import (
    Catalog,
    CatalogSection,
    GradeBand,
    Limits,
    OnboardingCourse,
    University,
)
from lti_bridge.domain.errors import ValidationError
from lti_bridge.domain.policy import SessionWindow
from lti_bridge.services.catalog import import_catalog
from tests.fakes import FakeUnitOfWork

NOW = datetime(2026, 1, 5, tzinfo=UTC)
S1 = SessionWindow(
    "2026-S1",
    date(2026, 1, 12),
    date(2026, 3, 6),
    datetime(2025, 12, 1, tzinfo=UTC),
    datetime(2026, 1, 30, tzinfo=UTC),
)
SECTION = CatalogSection(
    sis_id="SEC-1",
    course_code="DTSA 5509",
    session_code="2026-S1",
    credit_hours=3,
    for_credit_context_id="credit-ctx",
    grade_scale=(GradeBand(90, "A"), GradeBand(0, "F")),
    weights=(("all", 1.0),),
)
CATALOG = Catalog(
    university=University("https://pay.example.edu", "https://help.example.edu"),
    limits=Limits(),
    onboarding=OnboardingCourse("onboarding-ctx", ("Quiz",), 0.8),
    sessions=(S1,),
    sections=(SECTION,),
)


def test_the_catalog_is_written_in_one_transaction_and_a_repeat_changes_nothing() -> None:
    uow = FakeUnitOfWork()

    summary = import_catalog(CATALOG, uow=uow, now=NOW)

    assert (summary.sessions, summary.sections, summary.offerings) == (1, 1, 1)
    assert (summary.sessions_written, summary.sections_written, summary.offerings_written) == (
        1,
        1,
        1,
    )
    assert uow.catalog.offerings == {"SEC-1": SECTION}
    assert uow.catalog.settings is not None
    assert uow.catalog.settings["onboarding"] == {
        "context_id": "onboarding-ctx",
        "line_items": ["Quiz"],
        "pass_threshold": 0.8,
        "issuer": None,
        "url": None,
    }
    assert uow.commits == 1

    again = import_catalog(CATALOG, uow=uow, now=NOW)
    assert (again.sessions_written, again.sections_written, again.offerings_written) == (0, 0, 0)


def test_a_context_held_by_a_section_the_file_leaves_out_is_refused_and_nothing_written() -> None:
    uow = FakeUnitOfWork()
    import_catalog(CATALOG, uow=uow, now=NOW)
    other = replace(SECTION, sis_id="SEC-2")
    moved = replace(CATALOG, sections=(other,), limits=Limits(max_courses_per_session=2))

    with pytest.raises(ValidationError) as refused:
        import_catalog(moved, uow=uow, now=NOW)

    assert "SEC-1" in str(refused.value)
    assert set(uow.catalog.offerings) == {"SEC-1"} and uow.commits == 1
    assert uow.catalog.settings is not None
    assert uow.catalog.settings["limits"] == {"max_courses_per_session": 3, "max_program_years": 8}


def test_a_context_may_move_between_sections_of_the_same_file() -> None:
    uow = FakeUnitOfWork()
    import_catalog(CATALOG, uow=uow, now=NOW)
    moved = replace(
        CATALOG,
        sections=(
            replace(SECTION, for_credit_context_id="other-ctx"),
            replace(SECTION, sis_id="SEC-2"),
        ),
    )
    summary = import_catalog(moved, uow=uow, now=NOW)
    assert summary.offerings_written == 2
    assert uow.catalog.offerings["SEC-2"].for_credit_context_id == "credit-ctx"
