"""The credit roster page: the whole class at a glance, found by query parameters, exported as CSV.

A staff launch renders the roster; it keeps the launch under an unguessable handle (as the grade
forms do, ``web/grades.py``) and every link and form of the page acts on that handle: filtering,
searching and sorting are plain GET parameters (no JavaScript needed), the CSV export streams the
rows as filtered, and a learner's detail view shows their history.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, make_response, render_template, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from lti_bridge.domain.model import LaunchContext
from lti_bridge.domain.policy import AdvisoryCode, Decision, ReasonCode
from lti_bridge.services.roster import (
    ADVISORY_LABELS,
    FILTERS,
    REASON_LABELS,
    STATUS_LABELS,
    Roster,
    RosterEntry,
    RosterQuery,
    RowStatus,
    credit_roster,
    find_rows,
    learner_history,
)
from lti_bridge.web import csrf
from lti_bridge.web.carryover import TEMPLATE_VALUES as CARRYOVER_VALUES
from lti_bridge.web.carryover import roster_carryover, student_carryover
from lti_bridge.web.context import services
from lti_bridge.web.grades import (
    CSRF_PURPOSE,
    STANDING_LABELS,
    grades_panel,
    recall_launch,
    remember_launch,
)

bp = Blueprint("roster", __name__)
log = logging.getLogger("lti_bridge.roster")

#: The roster's columns a header link sorts by: (label, sort key).
COLUMNS = (
    ("Learner", "name"),
    ("Status", "status"),
    ("Registration", "registration"),
    ("Tuition", "tuition"),
    ("Onboarding", "onboarding"),
    ("Hold", "hold"),
    ("First opened", "first_opened"),
)


def load_roster(context: LaunchContext, platform_id: int) -> Roster:
    """The staff launch's roster, joined with its context's platform membership."""
    svc = services()
    return credit_roster(
        context,
        platform_id=platform_id,
        uow=svc.uow(),
        settings=svc.gate_settings.current(),
        now=svc.clock(),
        link_by_email=svc.settings.link_learners_by_email,
        membership=svc.course_membership(),
    )


def credit_roster_page(
    context: LaunchContext,
    platform_id: int,
    *,
    grades_handle: str | None = None,
    notice: str | None = None,
    problems: dict[str, str] | None = None,
    query: RosterQuery | None = None,
    fresh_gradebook: bool = True,
) -> Response:
    """The roster page, with the section's final grades and their forms (``web/grades.py``)."""
    roster = load_roster(context, platform_id)
    handle = grades_handle
    if handle is None and roster.section is not None and roster.section_sis_id:
        handle = remember_launch(context, platform_id, roster.section_sis_id)
    panel = grades_panel(
        context,
        platform_id,
        roster.section_sis_id if roster.section else None,
        handle=handle,
        notice=notice,
        problems=problems,
        fresh=fresh_gradebook,
    )
    query = query or RosterQuery()
    rows = find_rows(roster, query)
    response = make_response(
        render_template(
            "lti/roster.html",
            launch=context,
            roster=roster,
            rows=rows,
            query=query,
            handle=handle,
            page_url=_page_url(handle, query) if handle else None,
            # Built once, not per row: url_for costs more than the rest of a row.
            learner_url=url_for("roster.page", handle=handle) + "/learners/" if handle else None,
            reasons_html=reasons_html,
            status_cells=STATUS_CELLS,
            advice_html=advice_html,
            columns=COLUMNS,
            filters=FILTERS,
            row_statuses=list(RowStatus),
            status_labels=STATUS_LABELS,
            reason_labels=REASON_LABELS,
            advisory_labels=ADVISORY_LABELS,
            grades=panel,
            standing_labels=STANDING_LABELS,
            carryover=roster_carryover(roster.section_sis_id if roster.section else None),
            **CARRYOVER_VALUES,
        )
    )
    # Other people's tuition and holds: never kept by a browser or a proxy.
    response.headers["Cache-Control"] = "no-store"
    return response


def _status_cell(status: RowStatus) -> Markup:
    word, icon, todo = STATUS_LABELS[status]
    cell = Markup(
        '<td data-label="Status" class="status status-%s"><span class="icon" aria-hidden="true">'
        "%s</span> %s"
    ) % (status.value, icon, word)
    if todo and status is not RowStatus.BLOCKED:
        cell += Markup('<br><small class="todo">%s</small>') % todo
    return cell + Markup("</td>")


#: Each status's cell, built once: a word, an icon for those who do not see colour, what to do.
STATUS_CELLS = {status: _status_cell(status) for status in RowStatus}


def reasons_html(decision: Decision) -> Markup:
    """The reasons a decision names, each marked with its code, comma-separated."""
    return _reasons_html(decision.reason_codes)


@lru_cache(maxsize=256)
def _reasons_html(codes: tuple[ReasonCode, ...]) -> Markup:
    # A handful of combinations recur across thousands of rows: each is built once.
    return Markup(", ").join(
        Markup('<span data-reason="%s">%s</span>') % (code.value, REASON_LABELS[code])
        for code in codes
    )


def advice_html(decision: Decision) -> Markup:
    """The decision's load advice, each marked with its code and the learner's own words."""
    return _advice_html(tuple((a.code, a.message) for a in decision.advisories))


@lru_cache(maxsize=1024)
def _advice_html(advice: tuple[tuple[AdvisoryCode, str], ...]) -> Markup:
    return Markup("; ").join(
        Markup('<span data-advisory="%s" title="%s">%s</span>')
        % (code.value, message, ADVISORY_LABELS[code])
        for code, message in advice
    )


def _page_url(handle: str, query: RosterQuery) -> Any:
    """``url(**changes)`` in the template: this page's URL with some parameters changed."""

    def url(endpoint: str = "roster.page", **changes: str) -> str:
        params = query.params(**changes)
        base = url_for(endpoint, handle=handle)
        return base + ("?" + urlencode(params) if params else "")

    return url


@bp.get("/lti/roster/<handle>")
def page(handle: str) -> ResponseReturnValue:
    """The roster again, filtered, searched and sorted by the query parameters."""
    context, platform_id, _section = recall_launch(handle)
    query = RosterQuery.parse(request.args.to_dict())
    # Scores as read at most SHOWN_GRADEBOOK_SECONDS ago: filtering and sorting do not read the
    # platform's whole gradebook again on every click.
    return credit_roster_page(
        context, platform_id, grades_handle=handle, query=query, fresh_gradebook=False
    )


# --- CSV -------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "student_sis_id", "name", "email", "status", "registration", "tuition", "onboarding",
    "hold", "access", "missing", "first_opened_utc", "platform_user_id",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula gets a leading ``'``
    (OWASP's CSV injection advice)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_record(entry: RosterEntry) -> tuple[object, ...]:
    """One roster row as CSV values, before neutralising."""
    registration = entry.registration
    return (
        entry.student_sis_id,
        entry.name or "",
        entry.email or "",
        entry.status.value,
        registration.status.value if registration else "",
        registration.tuition_status.value if registration else "",
        ("passed" if entry.onboarding_passed else "not yet") if registration else "",
        (entry.hold_reason or "hold") if entry.hold_active else "",
        ("open" if entry.allowed else "closed") if entry.decision else "",
        " ".join(code.value for code in entry.reason_codes),
        entry.first_opened_utc.isoformat() if entry.first_opened_utc else "",
        entry.member.user_id if entry.member else "",
    )


def _csv_line(values: Iterator[object] | tuple[object, ...]) -> str:
    cells = []
    for value in values:
        text = spreadsheet_safe(value)
        if any(c in text for c in ',"\n\r'):
            text = '"' + text.replace('"', '""') + '"'
        cells.append(text)
    return ",".join(cells) + "\r\n"


def csv_lines(rows: list[RosterEntry]) -> Iterator[str]:
    """The rows as CSV text, one line at a time (a streamed response's body)."""
    yield _csv_line(CSV_COLUMNS)
    for entry in rows:
        yield _csv_line(csv_record(entry))


def csv_response(rows: list[RosterEntry], section_sis_id: str) -> Response:
    """A streamed CSV download of ``rows``."""
    filename = "".join(c if c.isalnum() or c in "-_." else "_" for c in section_sis_id)
    response = Response(csv_lines(rows), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="roster-{filename}.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/lti/roster/<handle>/roster.csv")
def export(handle: str) -> ResponseReturnValue:
    """The roster's rows as filtered on the page, as CSV."""
    context, platform_id, section = recall_launch(handle)
    roster = load_roster(context, platform_id)
    if roster.section is None:
        abort(404)
    rows = find_rows(roster, RosterQuery.parse(request.args.to_dict()))
    log.info("roster exported section=%s rows=%d by=%s", section, len(rows), context.user_sub)
    return csv_response(rows, section)


@bp.get("/lti/roster/<handle>/learners/<sis_id>")
def learner(handle: str, sis_id: str) -> ResponseReturnValue:
    """A registered learner's history in the section: SIS events, first access, submissions."""
    context, platform_id, section = recall_launch(handle)
    svc = services()
    history = learner_history(section, sis_id, uow=svc.uow())
    roster = load_roster(context, platform_id)
    entry = next((e for e in roster.entries if e.student_sis_id == sis_id and e.registration),
                 None)
    response = make_response(
        render_template(
            "lti/learner.html",
            history=history,
            entry=entry,
            handle=handle,
            grades_token=csrf.token_for(CSRF_PURPOSE, handle),
            status_labels=STATUS_LABELS,
            reason_labels=REASON_LABELS,
            carryover_report=student_carryover(section, sis_id),
            **CARRYOVER_VALUES,
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def counts_of(roster: Roster) -> Mapping[str, int]:
    """The summary figures, for the API."""
    counts = roster.counts
    names = ["registered", "paid", "onboarded", "open_access", *(s.value for s in RowStatus)]
    return {name: counts[name] for name in names} | {
        "blocked:" + code.value: counts["blocked:" + code.value] for code in REASON_LABELS
    }

