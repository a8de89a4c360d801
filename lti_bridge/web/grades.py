"""Final grades on the instructor's roster: each learner's score, letter and submission status,
and the forms to override a letter, mark an incomplete and release the section's grades.

The roster is rendered in answer to a staff launch. Its forms act on that launch: the launch's
context is kept in the shared launch store under an unguessable handle for an hour, and each
form carries the handle and an HMAC of it (``csrf.py``), so a cross-site page can post neither.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from lti_bridge.domain.errors import (
    ConcurrentWriteError,
    LaunchError,
    LtiBridgeError,
    NotFoundError,
    ValidationError,
)
from lti_bridge.domain.model import LaunchContext, MessageType
from lti_bridge.services import carryover as carryover_service
from lti_bridge.services import grades as grade_service
from lti_bridge.services.grades import GradeReport, GradeRow
from lti_bridge.web import csrf
from lti_bridge.web.context import services

bp = Blueprint("grades", __name__)
log = logging.getLogger("lti_bridge.grades")

HANDLE_PREFIX = "grades-launch:"
HANDLE_TTL_SECONDS = 3600
CSRF_PURPOSE = "grades"

#: How the roster names each release standing.
STANDING_LABELS = {
    "ready": "ready to release",
    "released": "released",
    "changed": "changed since release",
    "no_grade": "no grade yet",
    "not_paid": "not released: tuition not paid",
    "never": "never released (R10)",
}


@dataclass
class GradesPanel:
    """What the roster shows about final grades."""

    handle: str
    csrf_token: str
    report: GradeReport | None = None
    error: str | None = None
    notice: str | None = None
    problems: dict[str, str] = field(default_factory=dict)
    _by_student: dict[str, GradeRow] | None = field(default=None, repr=False)

    def row_for(self, student_sis_id: str) -> GradeRow | None:
        """The grade row of the roster's student (a dict built once: rosters run to hundreds)."""
        if self.report is None:
            return None
        if self._by_student is None:
            self._by_student = {r.student.student_sis_id: r for r in self.report.rows}
        return self._by_student.get(student_sis_id)


def actor_of(context: LaunchContext) -> str:
    """Who acts, as the audit trail records them: name and platform user id."""
    return f"{context.display_name} ({context.user_sub}@{context.issuer})"


def remember_launch(context: LaunchContext, platform_id: int, section_sis_id: str) -> str:
    """Keep a staff launch for an hour under a new unguessable handle (the roster's forms and
    links act on it)."""
    handle = secrets.token_urlsafe(24)
    launch = dataclasses.asdict(context)
    services().store.set_value(
        HANDLE_PREFIX + handle,
        {"launch": launch, "platform_id": platform_id, "section": section_sis_id},
        exp=HANDLE_TTL_SECONDS,
    )
    return handle


def recall_launch(handle: str) -> tuple[LaunchContext, int, str]:
    """The staff launch, platform and section kept under ``handle``; LaunchError when gone."""
    stored = services().store.get_value(HANDLE_PREFIX + handle) if handle else None
    if not stored:
        raise LaunchError(
            "grades form handle missing or expired",
            public_message="This page has expired. Please open the roster again from the course.",
        )
    launch: dict[str, Any] = dict(stored["launch"])
    launch["message_type"] = MessageType(launch["message_type"])
    launch["roles"] = tuple(launch["roles"])
    launch["ags_scopes"] = tuple(launch.get("ags_scopes") or ())
    context = LaunchContext(**launch)
    if not context.is_staff:
        raise LaunchError("grades form by a non-staff launch")
    return context, int(stored["platform_id"]), str(stored["section"])


def grades_panel(
    context: LaunchContext,
    platform_id: int,
    section_sis_id: str | None,
    *,
    handle: str | None = None,
    notice: str | None = None,
    problems: dict[str, str] | None = None,
) -> GradesPanel | None:
    """Compute the section's grades for the roster; None for a section without grading."""
    if not section_sis_id:
        return None
    svc = services()
    handle = handle or remember_launch(context, platform_id, section_sis_id)
    panel = GradesPanel(
        handle, csrf.token_for(CSRF_PURPOSE, handle), notice=notice, problems=problems or {}
    )
    try:
        panel.report = grade_service.grade_report(
            section_sis_id,
            uow=svc.uow(),
            gradebook=svc.shown_course_gradebook(),
            now=svc.clock(),
            platform_id=platform_id,
            link_by_email=svc.settings.link_learners_by_email,
        )
    except NotFoundError:
        return None
    except LtiBridgeError as exc:
        # The roster stays useful when the gradebook cannot be read; the reason is shown.
        log.warning("grades for %s not computed: %s", section_sis_id, exc)
        panel.error = f"{exc.public_message} ({exc})"
    return panel


def _roster(
    context: LaunchContext,
    platform_id: int,
    handle: str,
    *,
    notice: str | None = None,
    problems: dict[str, str] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    from lti_bridge.web.roster import credit_roster_page

    page = credit_roster_page(
        context, platform_id, grades_handle=handle, notice=notice, problems=problems
    )
    return page, status


def _form(name: str) -> str:
    return (request.form.get(name) or "").strip()


def _checked() -> tuple[LaunchContext, int, str, str]:
    handle = _form("handle")
    csrf.check(CSRF_PURPOSE, handle, _form("csrf_token"))
    context, platform_id, section = recall_launch(handle)
    return context, platform_id, section, handle


@bp.post("/lti/grades/release")
def release() -> ResponseReturnValue:
    """Release the section's grades: one submission per new or changed grade, via the outbox."""
    context, platform_id, section, handle = _checked()
    svc = services()
    report = grade_service.grade_report(
        section,
        uow=svc.uow(),
        gradebook=svc.course_gradebook(),
        now=svc.clock(),
        platform_id=platform_id,
        link_by_email=svc.settings.link_learners_by_email,
    )
    try:
        summary = grade_service.release_grades(
            report, uow=svc.uow(), now=svc.clock(), actor=actor_of(context),
            reason=_form("reason") or None,
        )
    except ValidationError as exc:
        return _roster(context, platform_id, handle, problems={"reason": exc.public_message},
                       status=422)
    except ConcurrentWriteError:
        # Another release of the section (a double click, a colleague) committed first: this
        # one rolled back whole, so nothing was queued twice.
        log.warning("concurrent release of %s by %s rolled back", section, context.user_sub)
        return _roster(
            context, platform_id, handle, status=409,
            notice="Another release of this section ran at the same moment and was kept; this "
            "one changed nothing. The table below shows what was released.",
        )
    log.info(
        "grades released section=%s by=%s queued=%d unchanged=%d needs_reason=%d",
        section, context.user_sub, len(summary.queued), summary.unchanged,
        len(summary.needs_reason),
    )
    notice = f"Released: {len(summary.queued)} grade(s) queued for the SIS"
    if summary.unchanged:
        notice += f", {summary.unchanged} unchanged"
    notice += "."
    problems = {}
    if summary.needs_reason:
        problems["reason"] = (
            f"{len(summary.needs_reason)} grade(s) changed since they were released: give a "
            "reason to send them as new versions."
        )
    return _roster(context, platform_id, handle, notice=notice, problems=problems)


@bp.post("/lti/grades/adjust")
def adjust() -> ResponseReturnValue:
    """Override a letter, clear an override, or mark / unmark an incomplete, with a reason."""
    context, platform_id, section, handle = _checked()
    svc = services()
    registration = _form("registration")
    action = _form("action")
    reason = _form("reason")
    try:
        if action == "override":
            if not _form("letter"):
                raise ValidationError(
                    "override without a letter", public_message="Choose the letter to give."
                )
            grade_service.override_grade(
                section, registration, _form("letter"), reason, uow=svc.uow(), now=svc.clock(),
                actor=actor_of(context),
            )
        elif action == "clear_override":
            grade_service.override_grade(
                section, registration, None, reason, uow=svc.uow(), now=svc.clock(),
                actor=actor_of(context),
            )
        elif action in ("incomplete", "clear_incomplete"):
            grade_service.mark_incomplete(
                section, registration, action == "incomplete", reason, uow=svc.uow(),
                now=svc.clock(), actor=actor_of(context),
            )
        else:
            raise ValidationError(
                f"unknown grade action {action!r}", public_message="Choose what to do."
            )
    except (ValidationError, NotFoundError) as exc:
        return _roster(context, platform_id, handle, problems={"adjust": exc.public_message},
                       status=422)
    log.info("grade %s section=%s registration=%s by=%s", action, section, registration,
             context.user_sub)
    return _roster(context, platform_id, handle, notice=f"Saved for {registration}.")


@bp.post("/lti/grades/send-again")
def send_again() -> ResponseReturnValue:
    """Send a rejected or dead submission again (same id and body), recorded with who and when."""
    context, platform_id, section, handle = _checked()
    svc = services()
    registration = _form("registration")
    try:
        version = int(_form("version"))
        grade_service.send_again(
            section, registration, version, uow=svc.uow(), now=svc.clock(),
            actor=actor_of(context),
        )
    except ValueError:
        return _roster(context, platform_id, handle, status=422,
                       problems={"send_again": "Choose the submission to send again."})
    except (ValidationError, NotFoundError) as exc:
        return _roster(context, platform_id, handle, status=422,
                       problems={"send_again": exc.public_message})
    log.info("grade sent again section=%s registration=%s version=%s by=%s", section,
             registration, version, context.user_sub)
    return _roster(
        context, platform_id, handle,
        notice=f"Version {version} of {registration}'s grade is queued to be sent again.",
    )


@bp.post("/lti/grades/carryover-again")
def carryover_again() -> ResponseReturnValue:
    """Plan a learner's carry-over again where it failed, was canceled or never ran (as
    ``lti-bridge carryover run SECTION --student S``), recorded with who and when."""
    context, platform_id, section, handle = _checked()
    student = _form("student")
    if not student:
        return _roster(context, platform_id, handle, status=422,
                       problems={"carryover": "Choose the learner whose carry-over to run."})
    svc = services()
    rerun = carryover_service.rerun_section(
        section, uow=svc.uow(), now=svc.clock(), student_sis_id=student,
        actor=actor_of(context),
    )
    if rerun.queued:
        notice = f"Carry-over for {student} is queued again."
    elif rerun.waiting:
        notice = f"Carry-over for {student} will run once they pass onboarding."
    else:
        notice = f"Nothing to run again for {student}: their carry-over is planned or under way."
    log.info("carry-over run again section=%s student=%s queued=%d by=%s", section, student,
             len(rerun.queued), context.user_sub)
    return _roster(context, platform_id, handle, notice=notice)
