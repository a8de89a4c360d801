"""``lti-bridge grades …``: the computed final grades of a section, and their release to the SIS."""

from __future__ import annotations

import getpass

import click
from flask.cli import AppGroup

from lti_bridge.services import grades as grade_service
from lti_bridge.services.grades import GradeReport
from lti_bridge.web.context import services


def _actor(name: str | None) -> str:
    if name:
        return name
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _report(section: str) -> GradeReport:
    svc = services()
    return grade_service.grade_report(
        section,
        uow=svc.uow(),
        gradebook=svc.course_gradebook(),
        now=svc.clock(),
        link_by_email=svc.settings.link_learners_by_email,
    )


def _table(report: GradeReport) -> list[str]:
    header = ("student", "registration", "status", "tuition", "score", "letter", "standing",
              "version", "delivery")
    rows = [header]
    for row in report.rows:
        grade, latest = row.grade, row.latest
        rows.append(
            (
                row.student.student_sis_id,
                row.student.registration_sis_id,
                row.student.status,
                row.student.tuition_status,
                f"{grade.percent}" if grade.percent is not None else "-",
                grade.letter or "-",
                row.standing.value,
                str(latest.submission.version) if latest else "-",
                row.delivery
                + (f" ({latest.last_status}: {latest.last_error})"
                   if latest and latest.state == "rejected" else ""),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
            for r in rows]


@click.group(cls=AppGroup)
def grades() -> None:
    """Final grades: compute, review, release to the SIS (OneRoster, through the outbox)."""


def register(group: click.Group | None) -> click.Group:
    """Add ``show``, ``release``, ``override`` and ``incomplete`` to the CLI's ``grades`` group
    (which holds ``reconcile`` too); without one, return this module's own group."""
    if group is None:
        return grades
    for name, command in grades.commands.items():
        group.add_command(command, name)
    return group


@grades.command("show")
@click.argument("section")
def grades_show(section: str) -> None:
    """Show each learner's computed grade and what a release would send."""
    report = _report(section)
    setup = report.setup
    click.echo(
        f"{setup.section_sis_id} {setup.course_code} ({setup.session_code or '-'}), "
        f"{setup.credit_hours} credit hours; session "
        + ("ended: unsubmitted work counts zero" if report.session_ended else "running")
    )
    for line in _table(report):
        click.echo(line)
    if report.unmapped:
        labels = ", ".join(item.label or item.id for item in report.unmapped)
        click.echo(f"line items in no weighted category (not counted): {labels}")
    ready = sum(1 for r in report.to_release if r.standing.value == "ready")
    changed = sum(1 for r in report.to_release if r.standing.value == "changed")
    click.echo(f"a release would send {ready} new and {changed} changed grade(s)"
               + (" (changes need --reason)" if changed else ""))


@grades.command("release")
@click.argument("section")
@click.option("--reason", default=None, help="Why grades changed since the last release (R13).")
@click.option("--actor", default=None, help="Who releases (default: cli:<user>).")
def grades_release(section: str, reason: str | None, actor: str | None) -> None:
    """Release the section's grades: queue one submission per new or changed grade."""
    svc = services()
    report = _report(section)
    summary = grade_service.release_grades(
        report, uow=svc.uow(), now=svc.clock(), actor=_actor(actor), reason=reason
    )
    click.echo(
        f"{section}: queued {len(summary.queued)}, unchanged {summary.unchanged}, "
        f"no grade yet {len(summary.no_grade)}, not eligible {summary.not_eligible}"
    )
    for registration, version, sourced_id in summary.queued:
        click.echo(f"queued\t{registration}\tv{version}\t{sourced_id}")
    if summary.needs_reason:
        click.echo(
            f"{len(summary.needs_reason)} changed grade(s) not sent without --reason: "
            + ", ".join(summary.needs_reason),
            err=True,
        )
        # The rest was released; a script still learns that some grades were held back.
        raise click.exceptions.Exit(1)


@grades.command("override")
@click.argument("section")
@click.argument("registration")
@click.argument("letter", required=False)
@click.option("--reason", required=True, help="Why (recorded with who and when).")
@click.option("--actor", default=None)
def grades_override(
    section: str, registration: str, letter: str | None, reason: str, actor: str | None
) -> None:
    """Set a learner's letter (or clear the override when no LETTER is given)."""
    svc = services()
    grade_service.override_grade(
        section, registration, letter, reason, uow=svc.uow(), now=svc.clock(), actor=_actor(actor)
    )
    click.echo(f"{registration}: " + (f"override {letter}" if letter else "override cleared"))


@grades.command("incomplete")
@click.argument("section")
@click.argument("registration")
@click.option("--clear", is_flag=True, help="Remove the incomplete mark.")
@click.option("--reason", required=True, help="Why (recorded with who and when).")
@click.option("--actor", default=None)
def grades_incomplete(
    section: str, registration: str, clear: bool, reason: str, actor: str | None
) -> None:
    """Mark a learner's grade incomplete (I), with the catalog's default grade and extension."""
    svc = services()
    grade_service.mark_incomplete(
        section, registration, not clear, reason, uow=svc.uow(), now=svc.clock(),
        actor=_actor(actor),
    )
    click.echo(f"{registration}: " + ("incomplete cleared" if clear else "marked incomplete"))
