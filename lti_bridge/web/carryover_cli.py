"""``lti-bridge carryover …``: the carry-over reports of a section, and planning again where one
is missing or failed (docs/carryover.md)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from lti_bridge.domain.errors import LtiBridgeError
from lti_bridge.services import carryover as carryover_service
from lti_bridge.services.carryover_ports import Report
from lti_bridge.web.context import services


@click.group(cls=AppGroup)
def carryover() -> None:
    """Carry-over of non-credit work into the for-credit gradebook (AGS, through the outbox)."""


def _state(report: Report) -> str:
    if report.status.value == "queued" and report.plan_state is not None:
        return f"queued (plan {report.plan_state.value})"
    return report.status.value


def _lines(report: Report) -> list[str]:
    head = (
        f"{report.student_sis_id}  {report.registration_sis_id}  {_state(report)}"
        + (f"  planned {report.planned_at:%Y-%m-%d %H:%M}Z" if report.planned_at else "")
        + (f"  {carryover_service.outcomes_summary(report)}" if report.items else "")
        + (f"  ({report.error})" if report.error else "")
    )
    lines = [head]
    for item in report.items:
        score = (
            f"{item.score_given}/{item.score_maximum}" if item.score_given is not None else "-"
        )
        graded = f"{item.result_at:%Y-%m-%d}" if item.result_at else "-"
        post = ""
        if item.post_state is not None:
            post = f"  score post {item.post_state.value}"
            if item.post_error and item.post_state.value != "accepted":
                post += f" ({item.post_error})"
        note = f"  {item.message}" if item.message else ""
        lines.append(f"  {item.outcome.value:<13} {item.label}  {score}  {graded}{note}{post}")
    return lines


@carryover.command("show")
@click.argument("section")
@click.option("--student", default=None, help="Only this SIS student id.")
def carryover_show(section: str, student: str | None) -> None:
    """Print the section's carry-over reports: per learner, each item's outcome and score."""
    svc = services()
    try:
        found = carryover_service.reports(section, uow=svc.uow(), student_sis_id=student)
    except LtiBridgeError as exc:
        raise click.ClickException(str(exc)) from None
    if not found:
        click.echo(f"{section}: no carry-over reports")
        return
    click.echo(f"{section}: {len(found)} carry-over report(s)")
    for report in found:
        for line in _lines(report):
            click.echo(line)


@carryover.command("run")
@click.argument("section")
@click.option("--student", default=None, help="Only this SIS student id.")
def carryover_run(section: str, student: str | None) -> None:
    """Plan again for learners whose report is missing or failed (the worker runs the plans)."""
    svc = services()
    rerun = carryover_service.rerun_section(
        section, uow=svc.uow(), now=svc.clock(), student_sis_id=student
    )
    click.echo(
        f"{section}: queued {len(rerun.queued)}, waiting for onboarding {len(rerun.waiting)}, "
        f"nothing to do {rerun.skipped}"
    )
    for candidate in rerun.queued:
        click.echo(f"queued\t{candidate.student_sis_id}\t{candidate.registration_sis_id}")
