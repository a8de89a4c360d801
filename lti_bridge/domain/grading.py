"""Final grades: the course's weighted score through its own grade scale (DOMAIN R10-R13).

Everything here is exact: scores, maxima, weights and scale bounds are ``Decimal``s, so a score
that sits exactly on a scale's lower bound gets that band's letter (the bound is inclusive), and
the percentage the instructor sees, to two decimals, is the one the scale reads.

How a score is built:

- each line item belongs to a weight category: the catalog's per-item mapping (by line item id,
  then label) if it names the item, else the item's AGS ``tag``; items of no weighted category
  are left out and reported;
- within a category, items weigh by points: the learner's points over the points possible;
- work not submitted counts as zero only once the session has ended; before, it is left out, so
  the running score is the score on the work graded so far;
- the categories' scores are combined by the catalog's weights, renormalised over the categories
  that have any counted work.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

#: The letter an instructor's incomplete mark gives.
INCOMPLETE = "I"
#: The percentage's precision: what is shown, sent and read through the scale.
PERCENT_PLACES = Decimal("0.01")
HUNDRED = Decimal(100)
#: Namespace of result sourcedIds: uuid5(namespace, "registration/version").
RESULT_NAMESPACE = uuid.UUID("6f1f3c1e-8f4a-5b43-9a55-3f4c2d1b7e20")
SCORE_STATUS = "fully graded"


def exact(value: float | int | str | Decimal) -> Decimal:
    """Return ``value`` as the Decimal it was written as (a float 0.1 is 0.1, not 0.10000…55)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


@dataclass(frozen=True)
class ScaleBand:
    """Scores from ``lower_bound`` percent (inclusive) get ``letter``."""

    lower_bound: Decimal
    letter: str


@dataclass(frozen=True)
class GradingScheme:
    """A section's grading: its scale (highest band first, the last at 0), category weights,
    optional per-item categories, and what an incomplete lapses to and when."""

    scale: tuple[ScaleBand, ...]
    weights: Mapping[str, Decimal]
    item_categories: Mapping[str, str] = field(default_factory=dict)
    incomplete_grade: str | None = None
    incomplete_until: date | None = None

    @property
    def failing_letter(self) -> str:
        """The letter of the scale's lowest band (its lower bound is 0)."""
        return self.scale[-1].letter

    @property
    def letters(self) -> tuple[str, ...]:
        return tuple(band.letter for band in self.scale)


@dataclass(frozen=True)
class GradebookItem:
    """One column of the for-credit course's gradebook (an AGS line item)."""

    id: str
    label: str
    score_maximum: Decimal
    tag: str | None = None
    #: The line item's ``endDateTime``: a graded item's date when its result carries none.
    ends_at: datetime | None = None


@dataclass(frozen=True)
class ItemResult:
    """A learner's result on one line item; ``score`` None until graded."""

    item_id: str
    score: Decimal | None
    maximum: Decimal | None = None
    #: When the result was last graded, if the platform says.
    timestamp: datetime | None = None


@dataclass(frozen=True)
class SectionGradebook:
    """The for-credit course's gradebook: its line items, and each platform user's results."""

    items: tuple[GradebookItem, ...]
    #: platform user id (``sub``) -> line item id -> result.
    results: Mapping[str, Mapping[str, ItemResult]]

    def results_of(self, user_id: str | None) -> Mapping[str, ItemResult]:
        """Return one user's results by line item id (none for an unknown user)."""
        return self.results.get(user_id, {}) if user_id is not None else {}


class GradeStatus(StrEnum):
    GRADED = "graded"
    #: No work is counted yet: no score, no letter.
    NO_WORK = "no_work"
    INCOMPLETE = "incomplete"
    OVERRIDDEN = "overridden"


@dataclass(frozen=True)
class FinalGrade:
    """One learner's final grade as computed now."""

    #: The weighted score in percent, to two decimals; None when no work counts yet.
    percent: Decimal | None
    #: The scale's letter for ``percent``.
    computed_letter: str | None
    #: What would be sent: the computed letter, the instructor's override, or ``I``.
    letter: str | None
    status: GradeStatus
    #: The learner's last graded activity (R12); carried on F and I.
    last_activity: date | None
    counted_items: int
    #: Items not submitted: left out before the session ends, zero after.
    unsubmitted_items: int
    incomplete_grade: str | None = None
    incomplete_until: date | None = None
    #: The scale's lowest letter: a failing grade even where the scale does not call it F.
    failing_letter: str = "F"

    @property
    def carries_last_attended(self) -> bool:
        """F and incomplete grades carry the last-attended date (R12)."""
        return self.status is GradeStatus.INCOMPLETE or self.letter in {"F", self.failing_letter}


def letter_for(percent: Decimal, scale: Sequence[ScaleBand]) -> str:
    """Return the letter of the highest band whose (inclusive) lower bound ``percent`` reaches."""
    for band in scale:
        if percent >= band.lower_bound:
            return band.letter
    # A valid scale ends at 0; a negative score (a platform's penalty) gets the lowest letter.
    return scale[-1].letter


def category_of(item: GradebookItem, scheme: GradingScheme) -> str | None:
    """Return the weight category of a line item: the catalog's mapping, else its AGS tag."""
    mapped = scheme.item_categories.get(item.id) or scheme.item_categories.get(item.label)
    category = mapped or item.tag
    return category if category in scheme.weights else None


def unmapped_items(
    items: Iterable[GradebookItem], scheme: GradingScheme
) -> tuple[GradebookItem, ...]:
    """Return the line items no weighted category claims (they count for nothing)."""
    return tuple(item for item in items if category_of(item, scheme) is None)


def compute_final_grade(
    scheme: GradingScheme,
    items: Sequence[GradebookItem],
    results: Mapping[str, ItemResult],
    *,
    session_ended: bool,
    incomplete: bool = False,
    override: str | None = None,
) -> FinalGrade:
    """Compute one learner's final grade from the gradebook (R11, R12).

    ``results`` maps line item ids to the learner's result. ``incomplete`` is the instructor's
    mark (the letter becomes ``I``, with the scheme's default grade and extension date);
    ``override`` an instructor's letter, which replaces the computed one.
    """
    earned: dict[str, Decimal] = {}
    possible: dict[str, Decimal] = {}
    counted = unsubmitted = 0
    last: datetime | None = None
    for item in items:
        category = category_of(item, scheme)
        if category is None or item.score_maximum <= 0:
            continue
        result = results.get(item.id)
        if result is None or result.score is None:
            unsubmitted += 1
            if not session_ended:
                continue
            points = Decimal(0)
        else:
            maximum = result.maximum if result.maximum and result.maximum > 0 else None
            points = (
                result.score
                if maximum is None
                else result.score * item.score_maximum / maximum
            )
            when = result.timestamp or item.ends_at
            if when is not None and (last is None or when > last):
                last = when
        counted += 1
        earned[category] = earned.get(category, Decimal(0)) + points
        possible[category] = possible.get(category, Decimal(0)) + item.score_maximum

    percent: Decimal | None = None
    if possible:
        total_weight = sum((scheme.weights[c] for c in possible), Decimal(0))
        weighted = sum(
            (scheme.weights[c] * earned[c] / possible[c] for c in possible), Decimal(0)
        )
        percent = (weighted / total_weight * HUNDRED).quantize(PERCENT_PLACES, ROUND_HALF_UP)
    computed = letter_for(percent, scheme.scale) if percent is not None else None

    if incomplete:
        status, letter = GradeStatus.INCOMPLETE, INCOMPLETE
    elif override is not None:
        status, letter = GradeStatus.OVERRIDDEN, override
    elif computed is None:
        status, letter = GradeStatus.NO_WORK, None
    else:
        status, letter = GradeStatus.GRADED, computed
    return FinalGrade(
        percent=percent,
        computed_letter=computed,
        letter=letter,
        status=status,
        last_activity=last.date() if last is not None else None,
        counted_items=counted,
        unsubmitted_items=unsubmitted,
        incomplete_grade=scheme.incomplete_grade if incomplete else None,
        incomplete_until=scheme.incomplete_until if incomplete else None,
        failing_letter=scheme.failing_letter,
    )


# --- release (R10, R13) --------------------------------------------------------------------------

#: Registrations the tool never grades: the SIS owns the W (R10).
NEVER_GRADED = frozenset({"dropped", "withdrawn", "canceled"})


def releasable(registration_status: str, tuition_status: str) -> bool:
    """Only registered learners whose tuition is paid get a final grade from the tool (R10)."""
    return registration_status == "registered" and tuition_status == "paid"


def result_sourced_id(registration_sis_id: str, version: int) -> str:
    """Return the OneRoster result's sourcedId: derived from the registration and the submission
    version, so every retry of one submission carries the same id."""
    return str(uuid.uuid5(RESULT_NAMESPACE, f"{registration_sis_id}/{version}"))


def final_line_item_id(section_sis_id: str) -> str:
    """The sourcedId of the section's final-grade line item in the SIS gradebook."""
    return f"{section_sis_id}-final"


@dataclass(frozen=True)
class SubmissionContent:
    """What a submission says about the learner: a change in any of it is a new version (R13)."""

    letter: str
    percent: Decimal | None
    last_attended: date | None
    incomplete_grade: str | None = None
    incomplete_until: date | None = None

    @classmethod
    def of(cls, grade: FinalGrade) -> SubmissionContent:
        if grade.letter is None:
            raise ValueError("a grade without a letter is not submitted")
        return cls(
            grade.letter,
            grade.percent,
            grade.last_activity if grade.carries_last_attended else None,
            grade.incomplete_grade,
            grade.incomplete_until,
        )


def oneroster_result(
    *,
    sourced_id: str,
    content: SubmissionContent,
    section_sis_id: str,
    student_sis_id: str,
    term_code: str | None,
    credit_hours: int,
    version: int,
    reason: str | None,
    released_at: datetime,
) -> dict[str, Any]:
    """Return the OneRoster 1.2 result body for one submission (CONTRACT §5)."""
    metadata: dict[str, Any] = {
        "ext:termCode": term_code,
        "ext:creditHours": credit_hours,
        "ext:lastAttendDate": (
            content.last_attended.isoformat() if content.last_attended is not None else None
        ),
        "ext:submissionVersion": version,
        "ext:changeReason": reason,
    }
    if content.letter == INCOMPLETE:
        metadata["ext:incompleteDefaultGrade"] = content.incomplete_grade
        metadata["ext:incompleteExtensionDate"] = (
            content.incomplete_until.isoformat() if content.incomplete_until else None
        )
    released_at = released_at.astimezone(UTC)
    # isoformat, not strftime: the latter costs tens of µs a call (the C library's time zone
    # handling), a hundred times isoformat's, on each of a section's hundreds of bodies.
    stamp = released_at.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
    return {
        "result": {
            "sourcedId": sourced_id,
            "status": "active",
            "dateLastModified": stamp,
            "lineItem": {"sourcedId": final_line_item_id(section_sis_id)},
            "student": {"sourcedId": student_sis_id},
            "class": {"sourcedId": section_sis_id},
            "scoreStatus": SCORE_STATUS,
            # A number with at most two decimals survives JSON exactly.
            "score": float(content.percent) if content.percent is not None else None,
            "textScore": content.letter,
            "scoreDate": released_at.date().isoformat(),
            "metadata": metadata,
        }
    }
