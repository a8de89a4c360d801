"""What the tool does with a validated launch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lti_bridge.domain.model import LaunchContext, LinkAccess
from lti_bridge.domain.policy import Decision, GateSettings
from lti_bridge.services.gate import decide
from lti_bridge.services.ports import UnitOfWork


@dataclass(frozen=True)
class LaunchRecord:
    learner_id: int
    #: The credit gate's verdict, for a learner's launch of restricted content; else None.
    decision: Decision | None = None


def record_launch(
    launch: LaunchContext,
    *,
    platform_id: int,
    uow: UnitOfWork,
    now: datetime,
    gate: GateSettings | None = None,
    link_by_email: bool = False,
) -> LaunchRecord:
    """Record the learner, context and resource link a launch names, and pass a learner's launch
    of restricted content through the credit gate (DOMAIN R1, R9).

    The rows a launch names are bookkeeping the next launch rebuilds; the first access to
    restricted content is a record of consequence, committed durably (``commit(durable=True)``).
    """
    with uow:
        learner_id = uow.lti.record_launch(platform_id, launch, now)
        decision = None
        if gate is not None and launch.access is LinkAccess.FOR_CREDIT and not launch.is_staff:
            facts = uow.gate.facts(platform_id, launch, link_by_email=link_by_email)
            decision = decide(facts, settings=gate, now=now)
            if decision.first_access and facts.registration is not None:
                uow.gate.record_first_access(facts.registration.sis_id, now)
        # The first access ends the learner's right to drop (R9): it must survive a crash.
        uow.commit(durable=decision is not None and decision.first_access)
    return LaunchRecord(learner_id, decision)
