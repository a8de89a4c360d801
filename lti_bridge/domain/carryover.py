"""Carry-over: completed non-credit work applied to the for-credit gradebook (DOMAIN R5-R7).

Pure decisions, no I/O: which non-credit line items carry into which for-credit line items
(``plan``), and what a registration's change does to a learner's carry-over (``next_step``).

How an item is decided, in this order:

1. *excluded*: its kind (from the line item's AGS ``tag``, through the catalog's
   ``[carryover.kinds]`` mapping for platforms that tag differently) is a discussion or a
   peer-graded assignment (R5);
2. *removed*: no for-credit line item is the same item: matched by ``resourceId``, else by tag
   and label (a label's version suffix, "Quiz 1 (v2)", set aside for matching) (R6);
3. *changed*: matched, but its maximum or its label's version differs: not carried, flagged (R6);
4. *not completed*: the learner has no completed, fully graded result on it;
5. *kept*: the learner already has a for-credit result there: never overwritten;
6. *carry*: the score is posted to the for-credit line item with the same ``scoreGiven`` and
   ``scoreMaximum``.

For-credit line items that no non-credit item matched are *new*: they start empty (R6).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from lti_bridge.domain.errors import LtiBridgeError

#: Outbox kinds: plan one learner's carry-over (read both gradebooks, decide, queue the
#: scores), and post one score to the platform's gradebook through AGS.
CARRYOVER_PLAN = "carryover.plan"
AGS_SCORE = "ags.score"

#: The kinds that never transfer (R5).
DISCUSSION = "discussion"
PEER_GRADED = "peer_graded"
EXCLUDED_KINDS = frozenset({DISCUSSION, PEER_GRADED})

#: Tags understood without a catalog mapping (compared case-insensitively, ``-``/space as ``_``).
DEFAULT_KINDS: Mapping[str, str] = {
    "discussion": DISCUSSION,
    "discussions": DISCUSSION,
    "discussion_prompt": DISCUSSION,
    "forum": DISCUSSION,
    "forum_post": DISCUSSION,
    "peer_graded": PEER_GRADED,
    "peer_graded_assignment": PEER_GRADED,
    "peer_review": PEER_GRADED,
    "peer_assessment": PEER_GRADED,
}

#: AGS score progress values a result must have (when the platform reports them) to carry.
COMPLETED_ACTIVITY = frozenset({"Completed", "Submitted"})
FULLY_GRADED = "FullyGraded"


class PlatformGradebookError(LtiBridgeError):
    """A platform's gradebook answered with a failure, or not at all.

    ``status`` is what it answered (None: no answer); ``retryable`` says whether trying again
    later may succeed (throttling, 5xx, timeouts); ``retry_after`` is the platform's own wait.
    """

    public_message = "The course platform's gradebook could not be reached."

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        retryable: bool = True,
        throttled: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.retryable = retryable
        self.throttled = throttled
        self.retry_after = retry_after


class Outcome(StrEnum):
    CARRY = "carry"
    EXCLUDED = "excluded"
    REMOVED = "removed"
    CHANGED = "changed"
    NEW = "new"
    NOT_COMPLETED = "not_completed"
    KEPT = "kept"


#: What the learner and instructor read for each outcome.
OUTCOME_TEXT: Mapping[Outcome, str] = {
    Outcome.CARRY: "carried over",
    Outcome.EXCLUDED: "not carried: discussions and peer-graded work do not transfer; redo it",
    Outcome.REMOVED: "not carried: the item is not part of the for-credit course",
    Outcome.CHANGED: "not carried: the item changed in the for-credit course; redo it",
    Outcome.NEW: "new in the for-credit course: starts empty",
    Outcome.NOT_COMPLETED: "not carried: not completed and graded in the non-credit course",
    Outcome.KEPT: "not carried: you already have a for-credit score here",
}


class ReportStatus(StrEnum):
    #: Registered and paid, onboarding not passed yet (R7).
    WAITING = "waiting"
    #: The plan is queued in the outbox.
    QUEUED = "queued"
    #: The plan ran: the report's items are written and their scores queued.
    PLANNED = "planned"
    #: Dropped, canceled or refunded before the plan ran.
    CANCELED = "canceled"
    #: The plan could not run for good (no AGS endpoint known, platform gone, …).
    FAILED = "failed"


@dataclass(frozen=True)
class CourseItem:
    """One AGS line item."""

    id: str
    label: str
    score_maximum: Decimal
    tag: str | None = None
    resource_id: str | None = None


@dataclass(frozen=True)
class LearnerResult:
    """One learner's AGS result on a line item; progress fields only where the platform says."""

    item_id: str
    score: Decimal | None
    maximum: Decimal | None = None
    timestamp: datetime | None = None
    activity_progress: str | None = None
    grading_progress: str | None = None

    @property
    def completed(self) -> bool:
        """Completed and fully graded: a score, and no progress saying otherwise."""
        if self.score is None:
            return False
        if self.grading_progress is not None and self.grading_progress != FULLY_GRADED:
            return False
        return self.activity_progress is None or self.activity_progress in COMPLETED_ACTIVITY


@dataclass(frozen=True)
class PlannedItem:
    """The decision for one item; ``non_credit`` is None only for a *new* item."""

    outcome: Outcome
    label: str
    non_credit: CourseItem | None = None
    for_credit: CourseItem | None = None
    score_given: Decimal | None = None
    score_maximum: Decimal | None = None
    result_at: datetime | None = None
    message: str = ""


@dataclass(frozen=True)
class Plan:
    items: tuple[PlannedItem, ...]

    def by_outcome(self, outcome: Outcome) -> list[PlannedItem]:
        return [item for item in self.items if item.outcome is outcome]

    @property
    def carried(self) -> list[PlannedItem]:
        return self.by_outcome(Outcome.CARRY)


def _norm(tag: str) -> str:
    return re.sub(r"[\s\-]+", "_", tag.strip().lower())


def kind_of(tag: str | None, kinds: Mapping[str, str]) -> str | None:
    """The item's kind from its tag: the catalog's mapping first, then the defaults."""
    if not tag:
        return None
    mapped = {_norm(k): v for k, v in kinds.items()}
    key = _norm(tag)
    if key in mapped:
        return _norm(mapped[key])
    return DEFAULT_KINDS.get(key)


_VERSION = re.compile(
    r"^(?P<base>.*?)[\s\-:(\[]*\b(?:v|ver\.?|version)\s*(?P<v>\d+(?:\.\d+)*)[)\]]?\s*$",
    re.IGNORECASE,
)


def split_version(label: str) -> tuple[str, str]:
    """``("Quiz 1", "2")`` for "Quiz 1 (v2)"; a label without one is version "1"."""
    match = _VERSION.match(label.strip())
    if match and match.group("base").strip():
        return " ".join(match.group("base").split()).casefold(), match.group("v")
    return " ".join(label.split()).casefold(), "1"


def _match(item: CourseItem, credit: Sequence[CourseItem]) -> CourseItem | None:
    if item.resource_id:
        for candidate in credit:
            if candidate.resource_id == item.resource_id:
                return candidate
    base, _ = split_version(item.label)
    tag = _norm(item.tag) if item.tag else None
    for candidate in credit:
        if (_norm(candidate.tag) if candidate.tag else None) == tag and (
            split_version(candidate.label)[0] == base
        ):
            return candidate
    return None


def _best(results: Sequence[LearnerResult]) -> LearnerResult | None:
    done = [r for r in results if r.completed]
    if not done:
        return None
    return max(done, key=lambda r: (r.score or Decimal(0), r.timestamp or datetime.min))


def plan(
    non_credit_items: Sequence[CourseItem],
    non_credit_results: Mapping[str, Sequence[LearnerResult]],
    credit_items: Sequence[CourseItem],
    credit_results: Mapping[str, Sequence[LearnerResult]],
    kinds: Mapping[str, str] | None = None,
) -> Plan:
    """Decide, per item, what carries from the non-credit course into the for-credit one (R5, R6).

    ``*_results`` hold the learner's results by line item id.
    """
    kinds = kinds or {}
    decided: list[PlannedItem] = []
    matched: set[str] = set()
    for item in non_credit_items:
        result = _best(non_credit_results.get(item.id, ()))
        given = result.score if result else None
        maximum = (result.maximum or item.score_maximum) if result else None
        at = result.timestamp if result else None
        found = PlannedItem(Outcome.REMOVED, item.label, item, None, given, maximum, at)
        kind = kind_of(item.tag, kinds)
        target = _match(item, credit_items)
        if target is not None:
            matched.add(target.id)
            found = replace(found, for_credit=target)
        if kind in EXCLUDED_KINDS or (
            target is not None and kind_of(target.tag, kinds) in EXCLUDED_KINDS
        ):
            excluded = kind or kind_of(target.tag if target else None, kinds)
            decided.append(replace(found, outcome=Outcome.EXCLUDED, message=str(excluded)))
            continue
        if target is None:
            decided.append(found)
            continue
        changes = []
        if target.score_maximum != item.score_maximum:
            changes.append(f"maximum {item.score_maximum} -> {target.score_maximum}")
        old_version, new_version = split_version(item.label)[1], split_version(target.label)[1]
        if old_version != new_version:
            changes.append(f"version {old_version} -> {new_version}")
        if changes:
            decided.append(replace(found, outcome=Outcome.CHANGED, message="; ".join(changes)))
            continue
        if result is None:
            decided.append(replace(found, outcome=Outcome.NOT_COMPLETED))
            continue
        existing = [r for r in credit_results.get(target.id, ()) if r.score is not None]
        if existing:
            kept = f"for-credit score {existing[0].score}"
            decided.append(replace(found, outcome=Outcome.KEPT, message=kept))
            continue
        decided.append(replace(found, outcome=Outcome.CARRY))
    for target in credit_items:
        if target.id not in matched:
            decided.append(PlannedItem(Outcome.NEW, label=target.label, for_credit=target))
    return Plan(tuple(decided))


# --- the trigger (R7, and the registration's changes) -------------------------------------------


class Step(StrEnum):
    NOTHING = "nothing"
    WAIT = "wait"
    QUEUE = "queue"
    CANCEL = "cancel"
    #: Planned, then dropped: the score posts not sent yet are withdrawn.
    WITHDRAW = "withdraw"


def next_step(
    registration_status: str,
    tuition_status: str,
    onboarded: bool,
    report: ReportStatus | None,
) -> Step:
    """What a registration's current state does to its carry-over (R5, R7).

    Registered and paid: the plan is queued once onboarding is passed, and waits before. A drop,
    cancel or refund before the plan ran cancels it, and after it ran withdraws the score posts
    not sent yet (nothing is carried after a drop); a later registration arms it again. A plan
    that ran is never run again by events (``lti-bridge carryover run`` plans failed ones again).
    """
    active = registration_status == "registered" and tuition_status == "paid"
    if not active:
        if report in (ReportStatus.WAITING, ReportStatus.QUEUED):
            return Step.CANCEL
        if report is ReportStatus.PLANNED:
            return Step.WITHDRAW
        return Step.NOTHING
    if report in (ReportStatus.PLANNED, ReportStatus.QUEUED, ReportStatus.FAILED):
        return Step.NOTHING
    if not onboarded:
        return Step.NOTHING if report is ReportStatus.WAITING else Step.WAIT
    return Step.QUEUE


# --- the score posts ----------------------------------------------------------------------------


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def score_body(item: PlannedItem, user_id: str, planned_at: datetime) -> dict[str, Any]:
    """The AGS score (``application/vnd.ims.lis.v1.score+json``) that carries ``item``."""
    if item.score_given is None or item.score_maximum is None:
        raise ValueError(f"{item.label}: nothing to carry")
    when = planned_at.strftime("%Y-%m-%d")
    graded = f" (graded there {item.result_at:%Y-%m-%d})" if item.result_at else ""
    return {
        "userId": user_id,
        "scoreGiven": _number(item.score_given),
        "scoreMaximum": _number(item.score_maximum),
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
        "timestamp": planned_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "comment": f"Carried over from the non-credit course on {when}{graded}.",
    }


def score_key(issuer: str, lineitem_id: str, user_id: str) -> str:
    """The idempotency key of the one score a carry-over posts to one line item for one user."""
    digest = hashlib.sha256(f"{issuer}\n{lineitem_id}\n{user_id}".encode()).hexdigest()[:40]
    return f"{AGS_SCORE}:{digest}"


def plan_key(section_sis_id: str, student_sis_id: str, generation: int) -> str:
    """The idempotency key of one planning of one learner's carry-over into one section."""
    digest = hashlib.sha256(f"{section_sis_id}\n{student_sis_id}".encode()).hexdigest()[:32]
    return f"{CARRYOVER_PLAN}:{digest}:{generation}"
