"""Carry-over reports in the LTI views: the learner's on a for-credit item launched with custom
``purpose=carryover``, and the instructor's column on the credit roster (docs/carryover.md).

The learner's report is read only on such an item, not on every for-credit launch: a launch
costs no extra statement unless the course placed the report link.
"""

from __future__ import annotations

import logging

from lti_bridge.domain.carryover import OUTCOME_TEXT, Outcome
from lti_bridge.domain.errors import LtiBridgeError
from lti_bridge.domain.model import LaunchContext
from lti_bridge.services.carryover import learner_reports, reports
from lti_bridge.services.carryover_ports import Report
from lti_bridge.web.context import services

log = logging.getLogger("lti_bridge.carryover")

PURPOSE = "carryover"

#: What the roster's column says per report status.
STATUS_TEXT = {
    "waiting": "waiting for onboarding",
    "queued": "queued",
    "planned": "planned",
    "canceled": "canceled",
    "failed": "failed",
}


def is_carryover_launch(context: LaunchContext) -> bool:
    """Whether the link shows the learner's carry-over report (custom ``purpose=carryover``)."""
    return context.custom.get("purpose", "").strip().lower() == PURPOSE


def learner_carryover(context: LaunchContext, platform_id: int) -> list[Report]:
    """The launching learner's reports into this for-credit course."""
    if not context.context_id:
        return []
    svc = services()
    return learner_reports(platform_id, context.user_sub, context.context_id, uow=svc.uow())


def roster_carryover(section_sis_id: str | None) -> dict[str, Report]:
    """Each student's report of the section, for the roster's column (empty when unreadable)."""
    if not section_sis_id:
        return {}
    svc = services()
    try:
        found = reports(section_sis_id, uow=svc.uow())
    except LtiBridgeError as exc:
        log.warning("carry-over reports of %s not shown: %s", section_sis_id, exc)
        return {}
    return {report.student_sis_id: report for report in found}


def student_carryover(section_sis_id: str, student_sis_id: str) -> Report | None:
    """One student's report in the section, for their history on the roster (None if none)."""
    svc = services()
    try:
        found = reports(section_sis_id, uow=svc.uow(), student_sis_id=student_sis_id)
    except LtiBridgeError:
        return None
    return found[0] if found else None


#: What the carry-over templates read besides the reports.
TEMPLATE_VALUES = {
    "carryover_outcome_text": OUTCOME_TEXT,
    "carryover_status_text": STATUS_TEXT,
    "carryover_outcomes": Outcome,
}
