"""The credit gate at launch: decide from the learner's SIS facts (``gate_ports.GateFacts``)."""

from __future__ import annotations

from datetime import datetime

from lti_bridge.domain.policy import Decision, GateSettings, credit_access
from lti_bridge.services.gate_ports import GateFacts


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
