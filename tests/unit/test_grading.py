"""Final-grade arithmetic (DOMAIN R10-R13): exact decimals, every scale boundary, categories by
tag or by the catalog's mapping, unsubmitted work, incompletes and the last-attended date."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from lti_bridge.domain.grading import (
    INCOMPLETE,
    GradebookItem,
    GradeStatus,
    GradingScheme,
    ItemResult,
    ScaleBand,
    SubmissionContent,
    compute_final_grade,
    letter_for,
    oneroster_result,
    releasable,
    result_sourced_id,
    unmapped_items,
)

D = Decimal
CU_SCALE = tuple(
    ScaleBand(D(bound), letter)
    for bound, letter in [
        ("93", "A"), ("90", "A-"), ("87", "B+"), ("83", "B"), ("80", "B-"), ("77", "C+"),
        ("73", "C"), ("70", "C-"), ("67", "D+"), ("63", "D"), ("60", "D-"), ("0", "F"),
    ]
)


def scheme(**kwargs: object) -> GradingScheme:
    defaults: dict[str, object] = {
        "scale": CU_SCALE,
        "weights": {"quizzes": D("0.2"), "assignments": D("0.4"), "exam": D("0.4")},
    }
    return GradingScheme(**(defaults | kwargs))  # type: ignore[arg-type]


def one_item(score: str, maximum: str = "100") -> GradeStatus | str | None:
    """The letter of a learner whose only work is one exam scored ``score`` of ``maximum``."""
    item = GradebookItem("exam-1", "Final exam", D(maximum), tag="exam")
    grade = compute_final_grade(
        scheme(), [item], {"exam-1": ItemResult("exam-1", D(score), D(maximum))},
        session_ended=True,
    )
    return grade.letter


@pytest.mark.parametrize(
    ("score", "letter"),
    [
        ("100", "A"), ("93", "A"), ("92.99", "A-"), ("90", "A-"), ("89.99", "B+"),
        ("87", "B+"), ("86.99", "B"), ("83", "B"), ("82.99", "B-"), ("80", "B-"),
        ("79.99", "C+"), ("77", "C+"), ("76.99", "C"), ("73", "C"), ("72.99", "C-"),
        ("70", "C-"), ("69.99", "D+"), ("67", "D+"), ("66.99", "D"), ("63", "D"),
        ("62.99", "D-"), ("60", "D-"), ("59.99", "F"), ("0", "F"),
    ],
)
def test_every_scale_boundary_is_inclusive_and_a_hundredth_below_is_the_next_letter(
    score: str, letter: str
) -> None:
    assert one_item(score) == letter


def test_the_letter_is_read_from_the_percentage_shown_to_two_decimals() -> None:
    # 92.995 shows as 93.00 and is an A; 92.994 shows as 92.99 and is an A-.
    assert one_item("92.995") == "A"
    assert one_item("92.994") == "A-"
    # 2/3 of the points: 66.666… shows as 66.67, a D.
    assert one_item("2", "3") == "D"


def test_a_score_above_the_top_band_or_below_zero_still_gets_a_letter() -> None:
    assert letter_for(D("104.5"), CU_SCALE) == "A"
    assert letter_for(D("-3"), CU_SCALE) == "F"


def test_categories_are_weighted_and_items_within_one_weigh_by_points() -> None:
    items = [
        GradebookItem("q1", "Quiz 1", D(10), tag="quizzes"),
        GradebookItem("q2", "Quiz 2", D(30), tag="quizzes"),
        GradebookItem("a1", "Assignment 1", D(50), tag="assignments"),
        GradebookItem("e1", "Final", D(200), tag="exam"),
    ]
    results = {
        "q1": ItemResult("q1", D(10), D(10)),  # 10/10
        "q2": ItemResult("q2", D(15), D(30)),  # 15/30: quizzes 25/40 = 62.5%
        "a1": ItemResult("a1", D(45), D(50)),  # 90%
        "e1": ItemResult("e1", D(170), D(200)),  # 85%
    }
    grade = compute_final_grade(scheme(), items, results, session_ended=True)
    # 0.2 * 62.5 + 0.4 * 90 + 0.4 * 85 = 12.5 + 36 + 34 = 82.5
    assert grade.percent == D("82.50")
    assert grade.letter == "B-"
    assert grade.status is GradeStatus.GRADED
    assert grade.counted_items == 4


def test_a_result_on_another_maximum_is_scaled_to_the_line_items_points() -> None:
    items = [
        GradebookItem("q1", "Quiz 1", D(10), tag="quizzes"),
        GradebookItem("q2", "Quiz 2", D(90), tag="quizzes"),
    ]
    # q1: 1 of 2 -> 5 of 10 points; q2: 90 of 90. Quizzes: 95/100.
    results = {"q1": ItemResult("q1", D(1), D(2)), "q2": ItemResult("q2", D(90), D(90))}
    grade = compute_final_grade(scheme(), items, results, session_ended=True)
    assert grade.percent == D("95.00")


def test_the_catalogs_item_mapping_overrides_the_tag_by_id_or_by_label() -> None:
    items = [
        GradebookItem("x1", "Midterm", D(100), tag="quizzes"),
        GradebookItem("x2", "Lab report", D(100), tag=None),
        GradebookItem("x3", "Survey", D(100), tag="feedback"),
    ]
    mapped = scheme(item_categories={"x1": "exam", "Lab report": "assignments"})
    results = {
        "x1": ItemResult("x1", D(50), D(100)),
        "x2": ItemResult("x2", D(100), D(100)),
        "x3": ItemResult("x3", D(0), D(100)),
    }
    grade = compute_final_grade(mapped, items, results, session_ended=True)
    # exam 50% (weight .4), assignments 100% (weight .4), no quizzes: renormalised over 0.8.
    assert grade.percent == D("75.00")
    # The survey's tag is no weighted category: it counts for nothing, and is reported.
    assert [item.id for item in unmapped_items(items, mapped)] == ["x3"]


def test_unsubmitted_work_counts_zero_only_after_the_session_ends() -> None:
    items = [
        GradebookItem("e1", "Exam 1", D(100), tag="exam"),
        GradebookItem("e2", "Exam 2", D(100), tag="exam"),
    ]
    results = {"e1": ItemResult("e1", D(90), D(100))}
    during = compute_final_grade(scheme(), items, results, session_ended=False)
    after = compute_final_grade(scheme(), items, results, session_ended=True)
    assert (during.percent, during.letter, during.unsubmitted_items) == (D("90.00"), "A-", 1)
    assert (after.percent, after.letter, after.unsubmitted_items) == (D("45.00"), "F", 1)


def test_no_counted_work_means_no_letter_yet() -> None:
    items = [GradebookItem("e1", "Exam 1", D(100), tag="exam")]
    grade = compute_final_grade(scheme(), items, {}, session_ended=False)
    assert (grade.percent, grade.letter, grade.status) == (None, None, GradeStatus.NO_WORK)


def test_weights_as_thirds_stay_exact_enough_for_the_boundary() -> None:
    third = D(1) / D(3)
    thirds = scheme(weights={"quizzes": third, "assignments": third, "exam": third})
    items = [
        GradebookItem("q", "Q", D(100), tag="quizzes"),
        GradebookItem("a", "A", D(100), tag="assignments"),
        GradebookItem("e", "E", D(100), tag="exam"),
    ]
    results = {k: ItemResult(k, D(93), D(100)) for k in ("q", "a", "e")}
    assert compute_final_grade(thirds, items, results, session_ended=True).letter == "A"


def test_an_incomplete_carries_the_default_grade_extension_and_last_activity() -> None:
    marked = scheme(incomplete_grade="F", incomplete_until=date(2024, 6, 30))
    items = [
        GradebookItem("e1", "Exam 1", D(100), tag="exam"),
        GradebookItem(
            "e2", "Exam 2", D(100), tag="exam", ends_at=datetime(2024, 2, 20, tzinfo=UTC)
        ),
    ]
    results = {
        "e1": ItemResult("e1", D(80), D(100), timestamp=datetime(2024, 2, 1, 9, tzinfo=UTC)),
        "e2": ItemResult("e2", D(70), D(100)),
    }
    grade = compute_final_grade(marked, items, results, session_ended=True, incomplete=True)
    assert grade.letter == INCOMPLETE
    assert grade.status is GradeStatus.INCOMPLETE
    assert (grade.incomplete_grade, grade.incomplete_until) == ("F", date(2024, 6, 30))
    # The result without a timestamp dates from its line item's end: the later of the two.
    assert grade.last_activity == date(2024, 2, 20)
    assert SubmissionContent.of(grade).last_attended == date(2024, 2, 20)


def test_only_failing_and_incomplete_grades_carry_the_last_attended_date() -> None:
    items = [GradebookItem("e1", "Exam", D(100), tag="exam")]
    stamp = datetime(2024, 3, 1, 23, 30, tzinfo=UTC)
    failing = compute_final_grade(
        scheme(), items, {"e1": ItemResult("e1", D(40), D(100), stamp)}, session_ended=True
    )
    passing = compute_final_grade(
        scheme(), items, {"e1": ItemResult("e1", D(95), D(100), stamp)}, session_ended=True
    )
    assert SubmissionContent.of(failing).last_attended == date(2024, 3, 1)
    assert SubmissionContent.of(passing).last_attended is None


def test_an_override_replaces_the_letter_but_keeps_the_computed_one_visible() -> None:
    items = [GradebookItem("e1", "Exam", D(100), tag="exam")]
    grade = compute_final_grade(
        scheme(), items, {"e1": ItemResult("e1", D(89.5), D(100))}, session_ended=True,
        override="A-",
    )
    assert grade.computed_letter == "B+"
    assert (grade.letter, grade.status) == ("A-", GradeStatus.OVERRIDDEN)


def test_only_registered_learners_with_paid_tuition_are_released() -> None:
    assert releasable("registered", "paid")
    for status in ("dropped", "withdrawn", "canceled"):
        assert not releasable(status, "paid")
    for tuition in ("unpaid", "failed", "refunded"):
        assert not releasable("registered", tuition)


def test_the_sourced_id_is_derived_from_the_registration_and_the_version() -> None:
    assert result_sourced_id("reg-1", 1) == result_sourced_id("reg-1", 1)
    assert result_sourced_id("reg-1", 1) != result_sourced_id("reg-1", 2)
    assert result_sourced_id("reg-1", 1) != result_sourced_id("reg-2", 1)


def test_the_oneroster_body_has_every_field_the_contract_names() -> None:
    content = SubmissionContent("F", D("41.25"), date(2024, 3, 1))
    body = oneroster_result(
        sourced_id="abc",
        content=content,
        section_sis_id="DTSA5509-100-2024S1",
        student_sis_id="110123456",
        term_code="2024-S1",
        credit_hours=3,
        version=2,
        reason="regraded final exam",
        released_at=datetime(2024, 3, 20, 14, 5, 6, 789000, tzinfo=UTC),
    )
    assert body == {
        "result": {
            "sourcedId": "abc",
            "status": "active",
            "dateLastModified": "2024-03-20T14:05:06.789Z",
            "lineItem": {"sourcedId": "DTSA5509-100-2024S1-final"},
            "student": {"sourcedId": "110123456"},
            "class": {"sourcedId": "DTSA5509-100-2024S1"},
            "scoreStatus": "fully graded",
            "score": 41.25,
            "textScore": "F",
            "scoreDate": "2024-03-20",
            "metadata": {
                "ext:termCode": "2024-S1",
                "ext:creditHours": 3,
                "ext:lastAttendDate": "2024-03-01",
                "ext:submissionVersion": 2,
                "ext:changeReason": "regraded final exam",
            },
        }
    }
