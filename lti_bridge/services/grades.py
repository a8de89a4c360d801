"""Final grades: compute them from the course's gradebook, let the instructor review, override
and mark incompletes, and release them to the SIS through the outbox (DOMAIN R10-R13, R16).

Releasing writes each learner's submission and its outbox message in one transaction: the grade
the tool recorded as released and the message that carries it to the SIS exist together or not
at all. A learner whose grade is unchanged since the last release is not sent again; a changed
one is a new submission with the next version and a required reason (R13), never an overwrite.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from lti_bridge.domain.errors import LtiBridgeError, NotFoundError, ValidationError
from lti_bridge.domain.grading import (
    NEVER_GRADED,
    FinalGrade,
    GradebookItem,
    SubmissionContent,
    compute_final_grade,
    oneroster_result,
    releasable,
    result_sourced_id,
    unmapped_items,
)
from lti_bridge.domain.outbox import SIS_RESULT, OutboxEntry, OutboxMessage
from lti_bridge.services.grades_ports import (
    Adjustment,
    AuditRecord,
    CourseGradebook,
    GradedStudent,
    GradingSetup,
    Submission,
)
from lti_bridge.services.ports import UnitOfWork

#: Grades post about 1-2 weeks after the session ends (DOMAIN R16): the later end is shown.
POSTING_WINDOW = timedelta(days=14)
#: Longest reason kept (an audit trail, not an essay).
MAX_REASON = 1000


class GradebookUnavailableError(LtiBridgeError):
    """The for-credit course's gradebook cannot be read (no AGS endpoint known yet)."""

    public_message = "The course's gradebook cannot be read yet."
    admin_hint = (
        "The tool learns the course's gradebook address from a launch: an instructor's launch "
        "of the for-credit course (with Assignment and Grade Services enabled) provides it."
    )


class Standing(StrEnum):
    """Where a learner's grade stands for release."""

    #: Released on the next "Release grades".
    READY = "ready"
    #: Released and unchanged since.
    RELEASED = "released"
    #: Changed since its last release: a new version, which needs a reason (R13).
    CHANGED = "changed"
    #: No work counted yet, so no letter.
    NO_GRADE = "no_grade"
    #: Registered but tuition not paid: not released (R10).
    NOT_PAID = "not_paid"
    #: Dropped, withdrawn or canceled: the SIS owns the W; never released (R10).
    NEVER = "never"


@dataclass(frozen=True)
class SubmissionView:
    """A released version as the roster shows it, with its delivery state from the outbox."""

    submission: Submission
    #: queued / sent / accepted / rejected / dead; None when the outbox has no row (never).
    state: str | None
    last_status: int | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class GradeRow:
    student: GradedStudent
    grade: FinalGrade
    standing: Standing
    adjustment: Adjustment | None = None
    #: Every released version, oldest first.
    history: tuple[SubmissionView, ...] = ()

    @property
    def latest(self) -> SubmissionView | None:
        return self.history[-1] if self.history else None

    @property
    def delivery(self) -> str:
        """The submission status the roster shows: not released, or the outbox's state."""
        latest = self.latest
        if latest is None:
            return "not released"
        return latest.state or "queued"


@dataclass(frozen=True)
class GradeReport:
    setup: GradingSetup
    rows: tuple[GradeRow, ...]
    session_ended: bool
    unmapped: tuple[GradebookItem, ...] = ()
    audit: tuple[AuditRecord, ...] = ()

    def row(self, registration_sis_id: str) -> GradeRow | None:
        return next(
            (r for r in self.rows if r.student.registration_sis_id == registration_sis_id), None
        )

    @property
    def post_by(self) -> date | None:
        """When the SIS expects the grades: about two weeks after the session ends (R16)."""
        ends_on = self.setup.session_ends_on
        return ends_on + POSTING_WINDOW if ends_on is not None else None

    @property
    def to_release(self) -> tuple[GradeRow, ...]:
        return tuple(r for r in self.rows if r.standing in (Standing.READY, Standing.CHANGED))


@dataclass(frozen=True)
class ReleaseSummary:
    section_sis_id: str
    #: (registration, version, sourcedId) of each submission queued.
    queued: tuple[tuple[str, int, str], ...] = ()
    unchanged: int = 0
    #: Registrations whose grade changed since release, left out for want of a reason (R13).
    needs_reason: tuple[str, ...] = ()
    no_grade: tuple[str, ...] = ()
    not_eligible: int = 0
    outbox_ids: tuple[int, ...] = field(default=(), repr=False)


def _clean_reason(reason: str | None) -> str | None:
    text = " ".join((reason or "").split())
    if len(text) > MAX_REASON:
        raise ValidationError(
            f"reason of {len(text)} characters",
            public_message=f"Please keep the reason under {MAX_REASON} characters.",
        )
    return text or None


def _session_ended(setup: GradingSetup, now: datetime) -> bool:
    ends_on: date | None = setup.session_ends_on
    return ends_on is not None and now.date() > ends_on


def _standing(
    student: GradedStudent, grade: FinalGrade, history: Sequence[Submission]
) -> Standing:
    if student.status in NEVER_GRADED:
        return Standing.NEVER
    if not releasable(student.status, student.tuition_status):
        return Standing.NOT_PAID
    if grade.letter is None:
        return Standing.NO_GRADE
    if not history:
        return Standing.READY
    if history[-1].content == SubmissionContent.of(grade):
        return Standing.RELEASED
    return Standing.CHANGED


def _views(
    history: Sequence[Submission], outbox: Mapping[str, OutboxEntry]
) -> tuple[SubmissionView, ...]:
    views = []
    for submission in history:
        entry = outbox.get(submission.sourced_id)
        views.append(
            SubmissionView(
                submission,
                entry.state.value if entry is not None else None,
                entry.last_status if entry is not None else None,
                entry.last_error if entry is not None else None,
            )
        )
    return tuple(views)


def _setup(uow: UnitOfWork, section_sis_id: str, platform_id: int | None) -> GradingSetup:
    setup = uow.grades.setup(section_sis_id, platform_id)
    if setup is None:
        raise NotFoundError(
            f"no catalog offering for section {section_sis_id}",
            public_message=f"The section {section_sis_id} has no grading set up.",
            admin_hint="Import the catalog with the section's grade scale and weights: "
            "lti-bridge catalog import FILE.",
        )
    return setup


def grade_report(
    section_sis_id: str,
    *,
    uow: UnitOfWork,
    gradebook: CourseGradebook,
    now: datetime,
    platform_id: int | None = None,
    link_by_email: bool = False,
) -> GradeReport:
    """Compute every learner's grade now, with what was released and how its delivery stands."""
    with uow:
        setup = _setup(uow, section_sis_id, platform_id)
    if not setup.lineitems_url or setup.issuer is None:
        raise GradebookUnavailableError(
            f"no AGS line items URL known for context {setup.for_credit_context_id}"
        )
    # The platform is read outside any transaction (no connection waits on it), and while the
    # database is read: the report takes as long as the slower of the two, not their sum.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gradebook") as pool:
        reading = pool.submit(gradebook.read, setup)
        with uow:
            students = uow.grades.students(
                section_sis_id, setup.platform_id, link_by_email=link_by_email
            )
            adjustments = uow.grades.adjustments(section_sis_id)
            submissions = uow.grades.submissions(section_sis_id)
            outbox = {entry.key: entry for entry in uow.outbox.by_section(section_sis_id)}
            audit = uow.grades.history(section_sis_id)
        book = reading.result()
    ended = _session_ended(setup, now)
    rows = []
    for student in students:
        adjustment = adjustments.get(student.registration_sis_id)
        results = next(
            (book.results_of(uid) for uid in student.platform_user_ids if book.results_of(uid)),
            {},
        )
        grade = compute_final_grade(
            setup.scheme,
            book.items,
            results,
            session_ended=ended,
            incomplete=adjustment.incomplete if adjustment else False,
            override=adjustment.override_letter if adjustment else None,
        )
        history = submissions.get(student.registration_sis_id, [])
        rows.append(
            GradeRow(
                student,
                grade,
                _standing(student, grade, history),
                adjustment,
                _views(history, outbox),
            )
        )
    return GradeReport(
        setup,
        tuple(rows),
        ended,
        unmapped_items(book.items, setup.scheme),
        tuple(audit),
    )


def release_grades(
    report: GradeReport,
    *,
    uow: UnitOfWork,
    now: datetime,
    actor: str,
    reason: str | None = None,
) -> ReleaseSummary:
    """Queue a submission for every learner whose grade is new or changed (R10, R13).

    Each submission and its outbox message commit together. A grade changed since its last
    release goes out only with ``reason``. Versions are counted from what the database holds
    inside this transaction; should two releases run at once, the unique (registration,
    version) makes the later one fail and roll back whole rather than send version n twice.
    """
    why = _clean_reason(reason)
    section = report.setup.section_sis_id
    queued: list[tuple[str, int, str]] = []
    submissions: list[Submission] = []
    messages: list[OutboxMessage] = []
    unchanged = not_eligible = 0
    needs_reason: list[str] = []
    no_grade: list[str] = []
    with uow:
        stored = uow.grades.submissions(section)
        for row in report.rows:
            student = row.student
            registration = student.registration_sis_id
            if row.standing in (Standing.NEVER, Standing.NOT_PAID):
                not_eligible += 1
                continue
            if row.grade.letter is None:
                no_grade.append(registration)
                continue
            content = SubmissionContent.of(row.grade)
            history = stored.get(registration, [])
            if history and history[-1].content == content:
                unchanged += 1
                continue
            if history and why is None:
                needs_reason.append(registration)
                continue
            version = history[-1].version + 1 if history else 1
            sourced_id = result_sourced_id(registration, version)
            change_reason = why if history else None
            submission = Submission(
                registration_sis_id=registration,
                student_sis_id=student.student_sis_id,
                version=version,
                sourced_id=sourced_id,
                letter=content.letter,
                percent=content.percent,
                last_attended=content.last_attended,
                incomplete_grade=content.incomplete_grade,
                incomplete_until=content.incomplete_until,
                reason=change_reason,
                released_by=actor,
                released_at=now,
            )
            submissions.append(submission)
            payload = oneroster_result(
                sourced_id=sourced_id,
                content=content,
                section_sis_id=section,
                student_sis_id=student.student_sis_id,
                term_code=report.setup.session_code,
                credit_hours=report.setup.credit_hours,
                version=version,
                reason=change_reason,
                released_at=now,
            )
            messages.append(OutboxMessage(SIS_RESULT, sourced_id, payload, section, registration))
            queued.append((registration, version, sourced_id))
        # Every submission and its message, in this one transaction (two batched statements).
        uow.grades.add_submissions(section, submissions)
        ids = uow.outbox.enqueue_many(messages, now)
        summary = ReleaseSummary(
            section,
            tuple(queued),
            unchanged,
            tuple(needs_reason),
            tuple(no_grade),
            not_eligible,
            tuple(ids),
        )
        uow.grades.audit(
            section,
            AuditRecord(
                None,
                "release",
                None,
                why,
                actor,
                now,
                {
                    "queued": len(queued),
                    "unchanged": unchanged,
                    "needs_reason": list(needs_reason),
                    "no_grade": list(no_grade),
                    "not_eligible": not_eligible,
                },
            ),
        )
        uow.commit()
    return summary


def _require_reason(reason: str | None, what: str) -> str:
    why = _clean_reason(reason)
    if why is None:
        raise ValidationError(
            f"{what} without a reason", public_message=f"Please give a reason for the {what}."
        )
    return why


def _registration_in(
    uow: UnitOfWork, section_sis_id: str, registration_sis_id: str
) -> GradedStudent:
    for student in uow.grades.students(section_sis_id, None):
        if student.registration_sis_id == registration_sis_id:
            return student
    raise NotFoundError(
        f"registration {registration_sis_id} not in section {section_sis_id}",
        public_message="That learner is not registered in this section.",
    )


def override_grade(
    section_sis_id: str,
    registration_sis_id: str,
    letter: str | None,
    reason: str | None,
    *,
    uow: UnitOfWork,
    now: datetime,
    actor: str,
) -> Adjustment:
    """Set (or, with no letter, clear) the instructor's letter for one learner; a reason is
    required either way, and the change is recorded with who and when."""
    why = _require_reason(reason, "grade override")
    chosen = (letter or "").strip() or None
    with uow:
        setup = _setup(uow, section_sis_id, None)
        if chosen is not None and chosen not in setup.scheme.letters:
            raise ValidationError(
                f"override letter {chosen!r} not in the scale",
                public_message=f"{chosen!r} is not a letter of this course's grade scale "
                f"({', '.join(setup.scheme.letters)}).",
            )
        _registration_in(uow, section_sis_id, registration_sis_id)
        before = uow.grades.adjustments(section_sis_id).get(registration_sis_id)
        adjustment = Adjustment(
            registration_sis_id,
            chosen,
            why if chosen is not None else None,
            before.incomplete if before else False,
            before.incomplete_reason if before else None,
            actor,
            now,
        )
        uow.grades.save_adjustment(section_sis_id, adjustment)
        uow.grades.audit(
            section_sis_id,
            AuditRecord(
                registration_sis_id,
                "override" if chosen is not None else "clear_override",
                chosen,
                why,
                actor,
                now,
            ),
        )
        uow.commit()
    return adjustment


def mark_incomplete(
    section_sis_id: str,
    registration_sis_id: str,
    incomplete: bool,
    reason: str | None,
    *,
    uow: UnitOfWork,
    now: datetime,
    actor: str,
) -> Adjustment:
    """Mark (or unmark) a learner's grade incomplete, with a required reason, recorded."""
    why = _require_reason(reason, "incomplete" if incomplete else "removal of the incomplete")
    with uow:
        _setup(uow, section_sis_id, None)
        _registration_in(uow, section_sis_id, registration_sis_id)
        before = uow.grades.adjustments(section_sis_id).get(registration_sis_id)
        adjustment = Adjustment(
            registration_sis_id,
            before.override_letter if before else None,
            before.override_reason if before else None,
            incomplete,
            why if incomplete else None,
            actor,
            now,
        )
        uow.grades.save_adjustment(section_sis_id, adjustment)
        uow.grades.audit(
            section_sis_id,
            AuditRecord(
                registration_sis_id,
                "incomplete" if incomplete else "clear_incomplete",
                "I" if incomplete else None,
                why,
                actor,
                now,
            ),
        )
        uow.commit()
    return adjustment


def send_again(
    section_sis_id: str,
    registration_sis_id: str,
    version: int,
    *,
    uow: UnitOfWork,
    now: datetime,
    actor: str,
) -> OutboxEntry:
    """Queue a rejected or dead submission to be sent again, the same id and body (CONTRACT §5),
    recorded in the audit trail with who and when."""
    with uow:
        submissions = uow.grades.submissions(section_sis_id).get(registration_sis_id, [])
        submission = next((s for s in submissions if s.version == version), None)
        if submission is None:
            raise NotFoundError(
                f"no submission v{version} of {registration_sis_id} in {section_sis_id}",
                public_message="There is no such grade submission in this section.",
            )
        entry = uow.outbox.by_key(submission.sourced_id)
        if entry is None or entry.state.value not in ("rejected", "dead"):
            state = entry.state.value if entry is not None else "not queued"
            raise ValidationError(
                f"submission {submission.sourced_id} is {state}",
                public_message=f"Only a rejected or failed submission can be sent again; "
                f"this one is {state}.",
            )
        queued = uow.outbox.retry(entry.id, now)
        uow.grades.audit(
            section_sis_id,
            AuditRecord(
                registration_sis_id,
                "send_again",
                submission.letter,
                None,
                actor,
                now,
                detail={"version": version, "outbox_id": entry.id, "was": entry.state.value},
            ),
        )
        uow.commit()
    return queued
