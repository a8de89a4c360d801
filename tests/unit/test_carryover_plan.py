"""The carry-over plan and trigger as plain values (DOMAIN R5-R7)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from lti_bridge.domain.carryover import (
    AGS_SCORE,
    CARRYOVER_PLAN,
    CourseItem,
    LearnerResult,
    Outcome,
    ReportStatus,
    Step,
    kind_of,
    next_step,
    plan,
    plan_key,
    score_body,
    score_key,
    split_version,
)

AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


def nc(
    label: str, *, tag: str | None = None, maximum: int = 10, rid: str | None = None
) -> CourseItem:
    return CourseItem(f"nc/{label}", label, Decimal(maximum), tag, rid)


def fc(
    label: str, *, tag: str | None = None, maximum: int = 10, rid: str | None = None
) -> CourseItem:
    return CourseItem(f"fc/{label}", label, Decimal(maximum), tag, rid)


def done(
    item: CourseItem, score: str, maximum: str | None = None, **extra: str
) -> dict[str, list[LearnerResult]]:
    return {
        item.id: [
            LearnerResult(
                item.id,
                Decimal(score),
                Decimal(maximum) if maximum else item.score_maximum,
                AT,
                extra.get("activity"),
                extra.get("grading"),
            )
        ]
    }


def only(
    items: list[CourseItem],
    results: dict[str, list[LearnerResult]],
    credit: list[CourseItem],
    credit_results: dict[str, list[LearnerResult]] | None = None,
    kinds: dict[str, str] | None = None,
) -> Outcome:
    decided = plan(items, results, credit, credit_results or {}, kinds)
    return decided.items[0].outcome


def test_a_completed_item_matched_by_label_and_tag_carries_with_its_score_and_maximum() -> None:
    quiz = nc("Quiz 1", tag="quiz")
    decided = plan([quiz], done(quiz, "8"), [fc("Quiz 1", tag="quiz")], {})
    (item,) = decided.carried
    assert item.for_credit == fc("Quiz 1", tag="quiz")
    assert (item.score_given, item.score_maximum, item.result_at) == (Decimal(8), Decimal(10), AT)


def test_resource_id_matches_before_tag_and_label() -> None:
    quiz = nc("Quiz one", tag="a", rid="quiz-1")
    target = fc("Quiz 1 renamed", tag="b", rid="quiz-1")
    decided = plan([quiz], done(quiz, "7"), [fc("Quiz one", tag="a"), target], {})
    assert decided.carried[0].for_credit == target


def test_discussion_and_peer_graded_items_are_excluded_even_when_completed() -> None:
    talk = nc("Week 1 discussion", tag="discussion")
    peer = nc("Essay", tag="Peer-Graded")
    credit = [fc("Week 1 discussion", tag="discussion"), fc("Essay", tag="Peer-Graded")]
    decided = plan([talk, peer], done(talk, "10") | done(peer, "9"), credit, {})
    assert [i.outcome for i in decided.items] == [Outcome.EXCLUDED, Outcome.EXCLUDED]
    assert [i.message for i in decided.items] == ["discussion", "peer_graded"]


def test_the_catalog_maps_a_platform_s_own_tags_to_excluded_kinds() -> None:
    forum = nc("Forum", tag="coursera_forum")
    credit = [fc("Forum", tag="coursera_forum")]
    assert only([forum], done(forum, "5"), credit) is Outcome.CARRY
    assert only([forum], done(forum, "5"), credit, kinds={"Coursera forum": "discussion"}) is (
        Outcome.EXCLUDED
    )


def test_an_excluded_kind_on_the_for_credit_side_also_excludes() -> None:
    item = nc("Essay", rid="essay")
    assert only([item], done(item, "5"), [fc("Essay", tag="peer_review", rid="essay")]) is (
        Outcome.EXCLUDED
    )


def test_an_item_missing_from_the_for_credit_course_is_removed() -> None:
    lab = nc("Lab 3", tag="lab")
    assert only([lab], done(lab, "5"), [fc("Lab 3", tag="quiz")]) is Outcome.REMOVED


def test_a_changed_maximum_is_flagged_not_carried() -> None:
    quiz = nc("Quiz 2", maximum=10)
    decided = plan([quiz], done(quiz, "9"), [fc("Quiz 2", maximum=20)], {})
    assert decided.items[0].outcome is Outcome.CHANGED
    assert "maximum 10 -> 20" in decided.items[0].message


def test_a_changed_label_version_is_flagged_not_carried() -> None:
    quiz = nc("Quiz 2 (v1)")
    decided = plan([quiz], done(quiz, "9"), [fc("Quiz 2 (v2)")], {})
    assert decided.items[0].outcome is Outcome.CHANGED
    assert "version 1 -> 2" in decided.items[0].message


def test_a_label_without_version_is_version_one() -> None:
    assert split_version("Quiz 2") == ("quiz 2", "1")
    assert split_version("Quiz 2 - version 3") == ("quiz 2", "3")
    quiz = nc("Quiz 2")
    assert only([quiz], done(quiz, "9"), [fc("Quiz 2 v1")]) is Outcome.CARRY


def test_new_for_credit_items_start_empty() -> None:
    decided = plan([], {}, [fc("Final exam")], {})
    assert [(i.outcome, i.label, i.score_given) for i in decided.items] == [
        (Outcome.NEW, "Final exam", None)
    ]


@pytest.mark.parametrize(
    "results",
    [
        {},
        {"nc/Quiz": [LearnerResult("nc/Quiz", None)]},
        done(nc("Quiz"), "5", grading="PendingManual"),
        done(nc("Quiz"), "5", activity="InProgress"),
    ],
    ids=["no result", "no score", "not fully graded", "not completed"],
)
def test_only_completed_fully_graded_results_carry(results: dict[str, list[LearnerResult]]) -> None:
    assert only([nc("Quiz")], results, [fc("Quiz")]) is Outcome.NOT_COMPLETED


def test_completed_and_fully_graded_progress_carries() -> None:
    quiz = nc("Quiz")
    assert (
        only([quiz], done(quiz, "5", activity="Completed", grading="FullyGraded"), [fc("Quiz")])
        is Outcome.CARRY
    )


def test_the_best_completed_result_is_carried() -> None:
    quiz = nc("Quiz")
    results = {
        quiz.id: [
            LearnerResult(quiz.id, Decimal(4)),
            LearnerResult(quiz.id, Decimal(9)),
            LearnerResult(quiz.id, Decimal(10), grading_progress="Pending"),
        ]
    }
    assert plan([quiz], results, [fc("Quiz")], {}).carried[0].score_given == Decimal(9)


def test_an_existing_for_credit_result_is_never_overwritten() -> None:
    quiz = nc("Quiz")
    target = fc("Quiz")
    existing = {target.id: [LearnerResult(target.id, Decimal(3))]}
    decided = plan([quiz], done(quiz, "9"), [target], existing)
    assert decided.items[0].outcome is Outcome.KEPT
    assert decided.carried == []


def test_an_empty_for_credit_result_does_not_count_as_existing() -> None:
    quiz = nc("Quiz")
    target = fc("Quiz")
    assert only(
        [quiz], done(quiz, "9"), [target], {target.id: [LearnerResult(target.id, None)]}
    ) is (Outcome.CARRY)


def test_kinds_fall_back_to_the_defaults() -> None:
    assert kind_of("Discussions", {}) == "discussion"
    assert kind_of("quiz", {}) is None
    assert kind_of(None, {"x": "discussion"}) is None


def test_the_score_body_carries_the_same_score_and_says_when() -> None:
    quiz = nc("Quiz")
    item = plan([quiz], done(quiz, "8.5"), [fc("Quiz")], {}).carried[0]
    body = score_body(item, "learner-ada", NOW)
    assert body == {
        "userId": "learner-ada",
        "scoreGiven": 8.5,
        "scoreMaximum": 10,
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
        "timestamp": "2026-12-05T08:00:00.000Z",
        "comment": "Carried over from the non-credit course on 2026-12-05 "
        "(graded there 2026-11-20).",
    }


def test_a_score_body_needs_a_score() -> None:
    item = plan([], {}, [fc("Quiz")], {}).items[0]
    with pytest.raises(ValueError):
        score_body(item, "sub", NOW)


def test_keys_are_deterministic_and_distinct() -> None:
    assert score_key("iss", "li", "u") == score_key("iss", "li", "u")
    assert score_key("iss", "li", "u") != score_key("iss", "li", "v")
    assert score_key("iss", "li", "u").startswith(AGS_SCORE + ":")
    assert plan_key("S", "1", 1) != plan_key("S", "1", 2)
    assert plan_key("S", "1", 1).startswith(CARRYOVER_PLAN + ":")
    assert len(plan_key("S" * 255, "1" * 255, 99)) < 255


@pytest.mark.parametrize(
    ("status", "tuition", "onboarded", "report", "step"),
    [
        ("registered", "paid", True, None, Step.QUEUE),
        ("registered", "paid", False, None, Step.WAIT),
        ("registered", "paid", False, ReportStatus.WAITING, Step.NOTHING),
        ("registered", "paid", True, ReportStatus.WAITING, Step.QUEUE),
        ("registered", "paid", True, ReportStatus.QUEUED, Step.NOTHING),
        ("registered", "paid", True, ReportStatus.PLANNED, Step.NOTHING),
        ("registered", "paid", True, ReportStatus.FAILED, Step.NOTHING),
        ("registered", "paid", True, ReportStatus.CANCELED, Step.QUEUE),
        ("registered", "unpaid", True, None, Step.NOTHING),
        ("dropped", "paid", True, ReportStatus.QUEUED, Step.CANCEL),
        ("canceled", "paid", True, ReportStatus.WAITING, Step.CANCEL),
        ("registered", "refunded", True, ReportStatus.QUEUED, Step.CANCEL),
        ("dropped", "paid", True, ReportStatus.PLANNED, Step.WITHDRAW),
        ("withdrawn", "paid", True, ReportStatus.CANCELED, Step.NOTHING),
        ("dropped", "paid", True, None, Step.NOTHING),
    ],
)
def test_the_registration_decides_the_next_step(
    status: str, tuition: str, onboarded: bool, report: ReportStatus | None, step: Step
) -> None:
    assert next_step(status, tuition, onboarded, report) is step
