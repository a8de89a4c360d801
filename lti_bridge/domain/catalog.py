"""The university's catalog: sessions, sections, grade scales, weights and the onboarding course.

The values a catalog file becomes; ``adapters/catalog_schema.py`` checks the file and builds them,
naming every problem by its place, e.g. ``sections[2].credit_hours: must be a positive integer``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from lti_bridge.domain.policy import GateSettings, SectionInfo, SessionWindow


@dataclass(frozen=True)
class University:
    payment_url: str
    help_url: str
    #: The zone default enrollment windows are counted in (whole days there).
    time_zone: str = "UTC"


@dataclass(frozen=True)
class Limits:
    """The program's load and time limits (R15); defaults are the seed's 3 and 8."""

    max_courses_per_session: int = 3
    max_program_years: int = 8


@dataclass(frozen=True)
class OnboardingCourse:
    """The one-time non-credit course every learner passes before for-credit access (R2)."""

    context_id: str
    line_items: tuple[str, ...]
    #: Fraction of the score (0 < t <= 1) the learner needs on the line items.
    pass_threshold: float
    issuer: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class GradeBand:
    """One step of a grade scale: scores from ``lower_bound`` percent (inclusive) get ``letter``."""

    lower_bound: float
    letter: str


@dataclass(frozen=True)
class CatalogSection:
    """One course offered for credit in one session, with its platform contexts and grading."""

    sis_id: str
    course_code: str
    session_code: str
    credit_hours: int
    for_credit_context_id: str
    #: Highest band first; the last band's lower bound is 0 (R11).
    grade_scale: tuple[GradeBand, ...]
    #: (category, weight) in file order, as fractions summing to 1 even when written as percent.
    weights: tuple[tuple[str, float], ...]
    non_credit_context_id: str | None = None
    #: The issuer of the platform whose contexts these are; None for any registered platform.
    issuer: str | None = None
    #: (line item id or label, category): overrides the line item's AGS tag.
    line_item_categories: tuple[tuple[str, str], ...] = ()
    #: The grade an incomplete becomes if not completed; None for the scale's lowest letter.
    incomplete_default_grade: str | None = None
    #: The last day to complete an incomplete.
    incomplete_extension_until: date | None = None


@dataclass(frozen=True)
class Catalog:
    university: University
    limits: Limits
    onboarding: OnboardingCourse
    sessions: tuple[SessionWindow, ...]
    sections: tuple[CatalogSection, ...]
    #: ``[carryover.kinds]``: a platform's line item tag -> the kind it means (``discussion``,
    #: ``peer_graded``), for platforms that tag differently from the defaults (DOMAIN R5).
    carryover_kinds: Mapping[str, str] = field(default_factory=dict)

    def session(self, code: str) -> SessionWindow | None:
        """Return the session with this code, if the catalog has it."""
        return next((s for s in self.sessions if s.code == code), None)

    def section(self, sis_id: str) -> CatalogSection | None:
        """Return the section with this SIS id, if the catalog has it."""
        return next((s for s in self.sections if s.sis_id == sis_id), None)

    def section_for_context(self, context_id: str, issuer: str) -> CatalogSection | None:
        """Return the section whose for-credit context this is on the platform ``issuer``
        (CONTRACT §3): a section naming that platform first, then one naming none."""
        matches = [
            s
            for s in self.sections
            if s.for_credit_context_id == context_id and s.issuer in (issuer, None)
        ]
        return min(matches, key=lambda s: s.issuer is None, default=None)

    def section_info(self, sis_id: str) -> SectionInfo | None:
        """Return the section as the credit gate sees it."""
        section = self.section(sis_id)
        if section is None:
            return None
        return SectionInfo(
            section.sis_id,
            section.course_code,
            section.credit_hours,
            self.session(section.session_code),
        )

    def sessions_offering(self, course_code: str) -> tuple[SessionWindow, ...]:
        """Return the sessions in which the course is offered for credit, earliest first."""
        codes = {s.session_code for s in self.sections if s.course_code == course_code}
        return tuple(sorted((s for s in self.sessions if s.code in codes), key=_session_start))

    def gate_settings(self) -> GateSettings:
        """Return the links and limits the credit gate needs."""
        return GateSettings(
            max_courses_per_session=self.limits.max_courses_per_session,
            max_program_years=self.limits.max_program_years,
            payment_url=self.university.payment_url,
            help_url=self.university.help_url,
            onboarding_url=self.onboarding.url,
        )


def _session_start(session: SessionWindow) -> date:
    return session.starts_on
