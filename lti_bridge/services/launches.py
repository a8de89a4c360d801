"""What the tool does with a validated launch."""

from __future__ import annotations

from datetime import datetime

from lti_bridge.domain.model import LaunchContext
from lti_bridge.services.ports import UnitOfWork


def record_launch(
    launch: LaunchContext, *, platform_id: int, uow: UnitOfWork, now: datetime
) -> int:
    """Upsert the learner, context and resource link a launch names; return the learner's id."""
    with uow:
        learner_id = uow.lti.record_launch(platform_id, launch, now)
        uow.commit()
    return learner_id
