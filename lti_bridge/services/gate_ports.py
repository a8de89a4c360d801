"""The port the credit gate reads a launch's facts through (``adapters/db/gate_repository.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from lti_bridge.domain.model import LaunchContext
from lti_bridge.domain.policy import LearnerState, RegistrationState, SectionInfo, SessionWindow


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
