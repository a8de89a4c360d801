"""The credit gate at launch: gather the learner's SIS facts, decide, record first access."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from lti_bridge.domain.model import LaunchContext
from lti_bridge.domain.policy import (
    Decision,
    GateSettings,
    LearnerState,
    RegistrationState,
    SectionInfo,
    SessionWindow,
    credit_access,
)


@dataclass(frozen=True)
class GateFacts:
    """What the database knows that the policy needs, for one learner and one section."""

    learner: LearnerState
    section: SectionInfo | None
    registration: RegistrationState | None
    upcoming_sessions: tuple[SessionWindow, ...] = ()


class GateRepository(Protocol):
    def facts(
        self,
        platform_id: int,
        launch: LaunchContext,
        *,
        link_by_email: bool,
    ) -> GateFacts:
        """The facts for the learner the launch names, in at most one round trip when they are
        registered in the section (none where the adapter read them with the launch's state)."""
        ...

    def record_first_access(self, registration_sis_id: str, now: datetime) -> None:
        """Record the first opening of the registration's restricted content when the unit of
        work commits; a later one changes nothing (DOMAIN R9)."""
        ...


def decide(facts: GateFacts, *, settings: GateSettings, now: datetime) -> Decision:
    """Apply the credit policy (DOMAIN R1-R4, R8, R14, R15) to gathered facts."""
    return credit_access(
        learner=facts.learner,
        section=facts.section,
        registration=facts.registration,
        settings=settings,
        now=now,
        upcoming_sessions=facts.upcoming_sessions,
    )
