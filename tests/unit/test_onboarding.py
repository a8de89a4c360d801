"""Onboarding judged from the gradebook (DOMAIN R2): plain values in, a verdict with reasons out."""

from __future__ import annotations

import pytest

from lti_bridge.domain.onboarding import (
    ItemStatus,
    LineItem,
    ResultScore,
    match_required,
    onboarding_passed,
    score_fraction,
)

QUIZ = LineItem("https://lms.example.edu/ags/c1/lineitems/1", "Orientation quiz", 100)
INTEGRITY = LineItem("https://lms.example.edu/ags/c1/lineitems/2", "Academic integrity", 10)
SURVEY = LineItem("https://lms.example.edu/ags/c1/lineitems/3", "Welcome survey", 1)
ITEMS = [QUIZ, INTEGRITY, SURVEY]
REQUIRED = ("Orientation quiz", "Academic integrity")


def test_all_required_items_at_the_threshold_pass() -> None:
    outcome = onboarding_passed(
        ITEMS,
        {QUIZ.id: ResultScore(80, 100), INTEGRITY.id: ResultScore(9, 10)},
        REQUIRED,
        0.8,
    )

    assert outcome.passed
    assert [(i.required, i.status, i.fraction) for i in outcome.items] == [
        ("Orientation quiz", ItemStatus.MET, 0.8),
        ("Academic integrity", ItemStatus.MET, 0.9),
    ]
    assert outcome.unmet == ()


def test_one_item_below_the_threshold_fails_and_names_it() -> None:
    outcome = onboarding_passed(
        ITEMS,
        {QUIZ.id: ResultScore(95, 100), INTEGRITY.id: ResultScore(7, 10)},
        REQUIRED,
        0.8,
    )

    assert not outcome.passed
    (unmet,) = outcome.unmet
    assert (unmet.label, unmet.status, unmet.fraction) == (
        "Academic integrity",
        ItemStatus.BELOW_THRESHOLD,
        0.7,
    )


def test_an_ungraded_item_fails_as_not_graded() -> None:
    outcome = onboarding_passed(
        ITEMS, {QUIZ.id: ResultScore(100, 100), INTEGRITY.id: None}, REQUIRED, 0.8
    )

    assert not outcome.passed
    assert outcome.unmet[0].status is ItemStatus.NOT_GRADED


def test_a_result_without_a_score_is_not_graded() -> None:
    outcome = onboarding_passed(
        ITEMS,
        {QUIZ.id: ResultScore(100, 100), INTEGRITY.id: ResultScore(None, 10)},
        REQUIRED,
        0.8,
    )

    assert outcome.unmet[0].status is ItemStatus.NOT_GRADED


def test_a_required_item_the_gradebook_lacks_fails_as_missing() -> None:
    outcome = onboarding_passed(
        [QUIZ], {QUIZ.id: ResultScore(100, 100)}, ("Orientation quiz", "Academic integrity"), 0.5
    )

    assert not outcome.passed
    assert [(i.required, i.status) for i in outcome.unmet] == [
        ("Academic integrity", ItemStatus.MISSING)
    ]


def test_required_items_may_be_named_by_line_item_id() -> None:
    outcome = onboarding_passed(
        ITEMS, {INTEGRITY.id: ResultScore(10, 10)}, (INTEGRITY.id,), 1.0
    )

    assert outcome.passed
    assert outcome.items[0].label == "Academic integrity"


def test_labels_match_regardless_of_case_and_surrounding_space() -> None:
    matched = match_required(ITEMS, (" orientation QUIZ ",))

    assert matched == {" orientation QUIZ ": (QUIZ,)}


def test_a_label_shared_by_two_line_items_counts_the_better_result() -> None:
    recreated = LineItem("https://lms.example.edu/ags/c1/lineitems/9", "Orientation quiz", 100)
    outcome = onboarding_passed(
        [QUIZ, recreated],
        {QUIZ.id: ResultScore(20, 100), recreated.id: ResultScore(85, 100)},
        ("Orientation quiz",),
        0.8,
    )

    assert outcome.passed
    assert outcome.items[0].line_item_id == recreated.id


def test_scores_without_a_result_maximum_are_read_on_the_line_item_scale() -> None:
    # AGS's default maximum of 1 would make 50 of 100 a pass at any threshold.
    assert score_fraction(QUIZ, ResultScore(50, None)) == 0.5
    assert score_fraction(LineItem("x", "x", 0), ResultScore(0.9, None)) == 0.9


def test_a_non_positive_result_maximum_is_no_score() -> None:
    assert score_fraction(QUIZ, ResultScore(5, 0)) is None


def test_float_noise_at_the_threshold_still_passes() -> None:
    item = LineItem("x", "x", 0.8)
    outcome = onboarding_passed([item], {"x": ResultScore(0.56, 0.8)}, ("x",), 0.7)

    assert outcome.passed


def test_extra_gradebook_columns_are_ignored() -> None:
    outcome = onboarding_passed(
        ITEMS, {QUIZ.id: ResultScore(1, 1), SURVEY.id: ResultScore(0, 1)}, ("Orientation quiz",), 1
    )

    assert outcome.passed
    assert [i.required for i in outcome.items] == ["Orientation quiz"]


@pytest.mark.parametrize("threshold", [0, -0.1, 1.01])
def test_a_threshold_outside_zero_to_one_is_refused(threshold: float) -> None:
    with pytest.raises(ValueError):
        onboarding_passed(ITEMS, {}, REQUIRED, threshold)


def test_no_required_items_is_refused_rather_than_passing_everyone() -> None:
    with pytest.raises(ValueError):
        onboarding_passed(ITEMS, {}, (), 0.8)
