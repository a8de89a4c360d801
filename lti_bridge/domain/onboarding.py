"""Whether a learner has passed the onboarding course, from the platform's gradebook (DOMAIN R2).

The catalog names the onboarding course's required line items, by AGS line item id or by label,
and the fraction of the score each must reach. The platform's gradebook gives the line items and
the learner's results; this module decides, and says per item what is missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

#: Float noise allowed below the threshold: 0.56 / 0.8 must meet 0.7.
_TOLERANCE = 1e-9


class LineItem(NamedTuple):
    """One column of the platform's gradebook (AGS line item)."""

    id: str
    label: str
    score_maximum: float


class ResultScore(NamedTuple):
    """The learner's result on one line item; ``result_score`` is None until graded."""

    result_score: float | None
    result_maximum: float | None


class ItemStatus(StrEnum):
    MET = "met"
    BELOW_THRESHOLD = "below_threshold"
    NOT_GRADED = "not_graded"
    #: The course's gradebook has no line item with this id or label.
    MISSING = "missing"


@dataclass(frozen=True)
class ItemOutcome:
    """One required line item: what the catalog names it, what was found, and its verdict."""

    required: str
    status: ItemStatus
    label: str | None = None
    line_item_id: str | None = None
    #: The learner's score as a fraction of the maximum, when graded.
    fraction: float | None = None

    @property
    def met(self) -> bool:
        return self.status is ItemStatus.MET


@dataclass(frozen=True)
class OnboardingOutcome:
    passed: bool
    threshold: float
    items: tuple[ItemOutcome, ...]

    @property
    def unmet(self) -> tuple[ItemOutcome, ...]:
        return tuple(item for item in self.items if not item.met)


def match_required(
    line_items: Sequence[LineItem], required: Sequence[str]
) -> dict[str, tuple[LineItem, ...]]:
    """Return, per required name, the line items it names: the one with that id, else by label.

    Ids are the platform's URLs and are unique; labels need not be, so a label may name several
    line items (a column re-created by the instructor, say).
    """
    by_id = {item.id: item for item in line_items}
    matched: dict[str, tuple[LineItem, ...]] = {}
    for name in required:
        if name in by_id:
            matched[name] = (by_id[name],)
        else:
            wanted = name.strip().casefold()
            matched[name] = tuple(i for i in line_items if i.label.strip().casefold() == wanted)
    return matched


def score_fraction(item: LineItem, result: ResultScore | None) -> float | None:
    """Return the result as a fraction of its maximum, or None when there is no usable score.

    AGS says a missing ``resultMaximum`` means 1. A platform that leaves it out while scoring on
    the line item's scale (80 of 100) would then pass anyone with more than 1 point, so the line
    item's ``scoreMaximum`` stands in: wrong at worst in the failing direction.
    """
    if result is None or result.result_score is None:
        return None
    maximum = result.result_maximum
    if maximum is None:
        maximum = item.score_maximum if item.score_maximum > 0 else 1.0
    if maximum <= 0:
        return None
    return result.result_score / maximum


def onboarding_passed(
    line_items: Sequence[LineItem],
    results: Mapping[str, ResultScore | None],
    required: tuple[str, ...],
    threshold: float,
) -> OnboardingOutcome:
    """Decide whether onboarding is passed: every required item found and at the threshold.

    ``results`` maps line item ids to the learner's result (None or absent: not graded).
    A required label that names several line items counts as met when one of them meets the
    threshold. Passing is recorded once and stays (DOMAIN R2); this function only judges the
    gradebook as it is now, and the caller never un-records a pass because of it.
    """
    if not required:
        raise ValueError("onboarding needs at least one required line item")
    if not 0 < threshold <= 1:
        raise ValueError(f"pass threshold {threshold!r} is not a fraction in (0, 1]")
    outcomes: list[ItemOutcome] = []
    for name, items in match_required(line_items, required).items():
        if not items:
            outcomes.append(ItemOutcome(name, ItemStatus.MISSING))
            continue
        graded = [
            (fraction, item)
            for item in items
            if (fraction := score_fraction(item, results.get(item.id))) is not None
        ]
        if not graded:
            outcomes.append(ItemOutcome(name, ItemStatus.NOT_GRADED, items[0].label, items[0].id))
            continue
        fraction, best = max(graded, key=lambda pair: pair[0])
        status = (
            ItemStatus.MET if fraction + _TOLERANCE >= threshold else ItemStatus.BELOW_THRESHOLD
        )
        outcomes.append(ItemOutcome(name, status, best.label, best.id, fraction))
    return OnboardingOutcome(
        passed=all(o.met for o in outcomes), threshold=threshold, items=tuple(outcomes)
    )
