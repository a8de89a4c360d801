"""The ports the onboarding check reads and records through
(``adapters/db/onboarding_repository.py``, ``adapters/platform/ags.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from lti_bridge.domain.catalog import OnboardingCourse
from lti_bridge.domain.onboarding import LineItem, ResultScore


@dataclass(frozen=True)
class GradebookView:
    """The onboarding course's line items, and the learner's results on the required ones."""

    line_items: tuple[LineItem, ...]
    results: Mapping[str, ResultScore | None] = field(default_factory=dict)


class Gradebook(Protocol):
    """The platform's gradebook of the onboarding course (``adapters/platform``: AGS)."""

    def results_for(self, learner_sub: str, required: tuple[str, ...]) -> GradebookView:
        """Return the line items and the learner's results on those ``required`` names.

        Raises an ``LtiBridgeError`` when the platform cannot be read.
        """
        ...


class OnboardingRepository(Protocol):
    def onboarding_course(self) -> OnboardingCourse | None:
        """Return the catalog's onboarding course, or None before one is imported."""
        ...

    def passed_at(self, platform_id: int, learner_sub: str) -> datetime | None:
        """Return when the learner's pass was recorded, if it was."""
        ...

    def record_pass(
        self, platform_id: int, learner_sub: str, now: datetime
    ) -> tuple[datetime, bool] | None:
        """Record the pass unless one is; copy it to the linked SIS student where it has none.

        Returns the learner's pass time and whether this call set it; None for an unknown
        learner.
        """
        ...
