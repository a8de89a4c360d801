"""The university's catalog: sessions, sections, grade scales, weights and the onboarding course.

``parse_catalog`` takes the mapping a TOML or JSON file decodes to (reading the file is the
caller's job) and returns frozen values, or raises ``ValidationError`` naming every problem by its
path, e.g. ``sections[2].credit_hours: must be a positive integer``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lti_bridge.domain.errors import ValidationError
from lti_bridge.domain.policy import GateSettings, SectionInfo, SessionWindow, default_window

#: How far a weight sum may stray from 1 (or 100) before it is refused: float noise, not intent.
WEIGHT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class University:
    payment_url: str
    help_url: str
    #: The zone default enrollment windows are counted in (whole days there).
    time_zone: str = "UTC"


@dataclass(frozen=True)
class Limits:
    """The program's load and time limits (R15); defaults are the seed's 3 and 8."""

    max_courses_per_session: int = 3
    max_program_years: int = 8


@dataclass(frozen=True)
class OnboardingCourse:
    """The one-time non-credit course every learner passes before for-credit access (R2)."""

    context_id: str
    line_items: tuple[str, ...]
    #: Fraction of the score (0 < t <= 1) the learner needs on the line items.
    pass_threshold: float
    issuer: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class GradeBand:
    """One step of a grade scale: scores from ``lower_bound`` percent (inclusive) get ``letter``."""

    lower_bound: float
    letter: str


@dataclass(frozen=True)
class CatalogSection:
    """One course offered for credit in one session, with its platform contexts and grading."""

    sis_id: str
    course_code: str
    session_code: str
    credit_hours: int
    for_credit_context_id: str
    #: Highest band first; the last band's lower bound is 0 (R11).
    grade_scale: tuple[GradeBand, ...]
    #: (category, weight) in file order, as fractions summing to 1 even when written as percent.
    weights: tuple[tuple[str, float], ...]
    non_credit_context_id: str | None = None
    #: The issuer of the platform whose contexts these are; None for any registered platform.
    issuer: str | None = None
    #: (line item id or label, category): overrides the line item's AGS tag.
    line_item_categories: tuple[tuple[str, str], ...] = ()
    #: The grade an incomplete becomes if not completed; None for the scale's lowest letter.
    incomplete_default_grade: str | None = None
    #: The last day to complete an incomplete.
    incomplete_extension_until: date | None = None


@dataclass(frozen=True)
class Catalog:
    university: University
    limits: Limits
    onboarding: OnboardingCourse
    sessions: tuple[SessionWindow, ...]
    sections: tuple[CatalogSection, ...]
    #: ``[carryover.kinds]``: a platform's line item tag -> the kind it means (``discussion``,
    #: ``peer_graded``), for platforms that tag differently from the defaults (DOMAIN R5).
    carryover_kinds: Mapping[str, str] = field(default_factory=dict)

    def session(self, code: str) -> SessionWindow | None:
        """Return the session with this code, if the catalog has it."""
        return next((s for s in self.sessions if s.code == code), None)

    def section(self, sis_id: str) -> CatalogSection | None:
        """Return the section with this SIS id, if the catalog has it."""
        return next((s for s in self.sections if s.sis_id == sis_id), None)

    def section_for_context(self, context_id: str, issuer: str) -> CatalogSection | None:
        """Return the section whose for-credit context this is on the platform ``issuer``
        (CONTRACT §3): a section naming that platform first, then one naming none."""
        matches = [
            s
            for s in self.sections
            if s.for_credit_context_id == context_id and s.issuer in (issuer, None)
        ]
        return min(matches, key=lambda s: s.issuer is None, default=None)

    def section_info(self, sis_id: str) -> SectionInfo | None:
        """Return the section as the credit gate sees it."""
        section = self.section(sis_id)
        if section is None:
            return None
        return SectionInfo(
            section.sis_id,
            section.course_code,
            section.credit_hours,
            self.session(section.session_code),
        )

    def sessions_offering(self, course_code: str) -> tuple[SessionWindow, ...]:
        """Return the sessions in which the course is offered for credit, earliest first."""
        codes = {s.session_code for s in self.sections if s.course_code == course_code}
        return tuple(sorted((s for s in self.sessions if s.code in codes), key=_session_start))

    def gate_settings(self) -> GateSettings:
        """Return the links and limits the credit gate needs."""
        return GateSettings(
            max_courses_per_session=self.limits.max_courses_per_session,
            max_program_years=self.limits.max_program_years,
            payment_url=self.university.payment_url,
            help_url=self.university.help_url,
            onboarding_url=self.onboarding.url,
        )


def _session_start(session: SessionWindow) -> date:
    return session.starts_on


Table = Mapping[str, object]


class _Problems:
    """Collect every problem with its path, so one run of the importer shows them all."""

    def __init__(self) -> None:
        self.found: list[tuple[str, str]] = []

    def add(self, path: str, message: str) -> None:
        self.found.append((path, message))

    def __len__(self) -> int:
        return len(self.found)

    def error(self) -> ValidationError:
        """Return one error listing every problem; ``fields`` maps each path to its message."""
        fields: dict[str, str] = {}
        for path, message in self.found:
            fields[path] = f"{fields[path]}; {message}" if path in fields else message
        count = len(self.found)
        return ValidationError(
            "\n".join(f"{path}: {message}" for path, message in self.found),
            public_message=f"The catalog has {count} problem{'s' if count != 1 else ''}.",
            admin_hint="Each problem names its place in the file, e.g. sections[2].credit_hours.",
            fields=fields,
        )


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _table(value: object, path: str, problems: _Problems) -> Table | None:
    if isinstance(value, Mapping) and all(isinstance(key, str) for key in value):
        return value
    problems.add(path, "must be a table")
    return None


def _list(value: object, path: str, problems: _Problems) -> Sequence[object] | None:
    if isinstance(value, list | tuple):
        return value
    problems.add(path, "must be a list")
    return None


def _keys(
    table: Table,
    path: str,
    problems: _Problems,
    *,
    required: Sequence[str],
    optional: Sequence[str] = (),
) -> None:
    """Report missing required keys and unknown ones (a misspelt key must not pass silently)."""
    for key in required:
        # JSON null counts as absent: it carries no value either way.
        if table.get(key) is None:
            problems.add(_at(path, key), "is required")
    known = {*required, *optional}
    for key in table:
        if key not in known:
            problems.add(_at(path, key), "unknown key")


def _text(table: Table, key: str, path: str, problems: _Problems) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, str) and value.strip():
        return value.strip()
    problems.add(_at(path, key), "must be a non-empty string")
    return None


def _url(table: Table, key: str, path: str, problems: _Problems) -> str | None:
    value = _text(table, key, path, problems)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme in {"http", "https"} and parts.netloc:
        return value
    problems.add(_at(path, key), "must be an absolute http(s) URL")
    return None


def _positive_int(table: Table, key: str, path: str, problems: _Problems) -> int | None:
    value = table.get(key)
    if value is None:
        return None
    # bool is an int subclass; `true` is not a number of credit hours.
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    problems.add(_at(path, key), "must be a positive integer")
    return None


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _date(table: Table, key: str, path: str, problems: _Problems) -> date | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            pass
    # datetime is a date subclass: a session day given with a time is a mistake, not a day.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    problems.add(_at(path, key), "must be a date like 2024-01-15")
    return None


def _datetime(table: Table, key: str, path: str, problems: _Problems) -> datetime | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            pass
    if isinstance(value, datetime) and value.utcoffset() is not None:
        return value
    problems.add(
        _at(path, key), "must be a date-time with a time zone offset, like 2024-01-01T16:00:00Z"
    )
    return None


def _university(value: object, problems: _Problems) -> tuple[University | None, tzinfo]:
    path = "university"
    table = _table(value, path, problems)
    if table is None:
        return None, UTC
    before = len(problems)
    _keys(table, path, problems, required=("payment_url", "help_url"), optional=("time_zone",))
    payment_url = _url(table, "payment_url", path, problems)
    help_url = _url(table, "help_url", path, problems)
    zone_name = _text(table, "time_zone", path, problems) or "UTC"
    zone: tzinfo = UTC
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        problems.add(_at(path, "time_zone"), "must be an IANA time zone like America/Denver")
    if len(problems) > before or payment_url is None or help_url is None:
        return None, zone
    return University(payment_url, help_url, zone_name), zone


def _limits(value: object, problems: _Problems) -> Limits | None:
    path = "limits"
    if value is None:
        return Limits()
    table = _table(value, path, problems)
    if table is None:
        return None
    _keys(
        table,
        path,
        problems,
        required=(),
        optional=("max_courses_per_session", "max_program_years"),
    )
    defaults = Limits()
    courses = _positive_int(table, "max_courses_per_session", path, problems)
    years = _positive_int(table, "max_program_years", path, problems)
    return Limits(
        courses if courses is not None else defaults.max_courses_per_session,
        years if years is not None else defaults.max_program_years,
    )


def _onboarding(value: object, problems: _Problems) -> OnboardingCourse | None:
    path = "onboarding"
    table = _table(value, path, problems)
    if table is None:
        return None
    before = len(problems)
    _keys(
        table,
        path,
        problems,
        required=("context_id", "line_items", "pass_threshold"),
        optional=("issuer", "url"),
    )
    issuer = _url(table, "issuer", path, problems)
    url = _url(table, "url", path, problems)
    context_id = _text(table, "context_id", path, problems)

    line_items: list[str] = []
    raw_items = table.get("line_items")
    items = None if raw_items is None else _list(raw_items, _at(path, "line_items"), problems)
    if items is not None:
        if not items:
            problems.add(_at(path, "line_items"), "must name at least one line item")
        for i, item in enumerate(items):
            item_path = f"{path}.line_items[{i}]"
            if not isinstance(item, str) or not item.strip():
                problems.add(item_path, "must be a non-empty string (line item id or label)")
            elif item.strip() in line_items:
                problems.add(item_path, f"{item.strip()!r} is listed twice")
            else:
                line_items.append(item.strip())

    threshold: float | None = None
    raw_threshold = table.get("pass_threshold")
    if raw_threshold is not None:
        threshold = _number(raw_threshold)
        if threshold is None or not 0 < threshold <= 1:
            problems.add(
                _at(path, "pass_threshold"),
                "must be a fraction of the score above 0 and at most 1, like 0.8 for 80%",
            )
            threshold = None

    if len(problems) > before or context_id is None or threshold is None:
        return None
    return OnboardingCourse(context_id, tuple(line_items), threshold, issuer, url)


def _session(
    value: object, path: str, zone: tzinfo, problems: _Problems
) -> tuple[str | None, SessionWindow | None]:
    """Return the session's code (even when the rest is wrong, to check references) and value."""
    table = _table(value, path, problems)
    if table is None:
        return None, None
    before = len(problems)
    _keys(
        table,
        path,
        problems,
        required=("code", "starts_on", "ends_on"),
        optional=("enrollment_opens_at", "enrollment_closes_at"),
    )
    code = _text(table, "code", path, problems)
    starts_on = _date(table, "starts_on", path, problems)
    ends_on = _date(table, "ends_on", path, problems)
    opens_at = _datetime(table, "enrollment_opens_at", path, problems)
    closes_at = _datetime(table, "enrollment_closes_at", path, problems)
    if starts_on is not None and ends_on is not None and ends_on <= starts_on:
        problems.add(_at(path, "ends_on"), "must be after starts_on")
    if len(problems) > before or code is None or starts_on is None or ends_on is None:
        return code, None
    # Either end of the window the file leaves out follows the 14-day rule (DOMAIN.md "Words").
    default = default_window(code, starts_on, ends_on, tz=zone)
    opens_at = opens_at or default.enrollment_opens_at
    closes_at = closes_at or default.enrollment_closes_at
    if closes_at <= opens_at:
        problems.add(_at(path, "enrollment_closes_at"), "must be after enrollment_opens_at")
        return code, None
    return code, SessionWindow(code, starts_on, ends_on, opens_at, closes_at)


def _grade_scale(value: object, path: str, problems: _Problems) -> tuple[GradeBand, ...] | None:
    """Check a scale is strictly descending, inclusive lower bounds ending at 0 (R11)."""
    rows = _list(value, path, problems)
    if rows is None:
        return None
    if not rows:
        problems.add(path, "must have at least one [lower_bound_percent, letter] row")
        return None
    before = len(problems)
    bands: list[GradeBand] = []
    for i, row in enumerate(rows):
        row_path = f"{path}[{i}]"
        if not isinstance(row, list | tuple) or len(row) != 2:
            problems.add(row_path, "must be a pair [lower_bound_percent, letter]")
            continue
        bound, letter = _number(row[0]), row[1]
        if bound is None or not 0 <= bound <= 100:
            problems.add(f"{row_path}[0]", "must be a percentage from 0 to 100")
            continue
        if not isinstance(letter, str) or not letter.strip():
            problems.add(f"{row_path}[1]", "must be a non-empty letter grade")
            continue
        letter = letter.strip()
        if bands and bound >= bands[-1].lower_bound:
            problems.add(
                f"{row_path}[0]",
                f"must be lower than the row above ({bands[-1].lower_bound:g}): "
                "list the scale from the highest grade down",
            )
        if any(band.letter == letter for band in bands):
            problems.add(f"{row_path}[1]", f"{letter!r} appears twice")
        bands.append(GradeBand(bound, letter))
    if len(problems) > before:
        return None
    if bands[-1].lower_bound != 0:
        # Without a 0 row some scores would map to no letter at all.
        problems.add(f"{path}[{len(bands) - 1}][0]", "the last row's lower bound must be 0")
        return None
    return tuple(bands)


def _weights(value: object, path: str, problems: _Problems) -> tuple[tuple[str, float], ...] | None:
    """Check category weights are positive and sum to 1 or to 100; return them as fractions."""
    table = _table(value, path, problems)
    if table is None:
        return None
    if not table:
        problems.add(path, "must name at least one category")
        return None
    before = len(problems)
    weights: list[tuple[str, float]] = []
    for category, raw in table.items():
        weight = _number(raw)
        if not category.strip():
            problems.add(path, "category names must not be empty")
        elif weight is None or weight <= 0:
            problems.add(_at(path, category), "must be a positive number")
        else:
            weights.append((category, weight))
    if len(problems) > before:
        return None
    total = math.fsum(weight for _, weight in weights)
    if abs(total - 1) <= WEIGHT_TOLERANCE:
        scale = 1.0
    elif abs(total - 100) <= WEIGHT_TOLERANCE * 100:
        scale = 100.0
    else:
        problems.add(path, f"must sum to 1 or to 100, not {total:g}")
        return None
    return tuple((category, weight / scale) for category, weight in weights)


def _section(
    value: object, path: str, session_codes: Mapping[str, int], problems: _Problems
) -> tuple[Table | None, CatalogSection | None]:
    table = _table(value, path, problems)
    if table is None:
        return None, None
    before = len(problems)
    _keys(
        table,
        path,
        problems,
        required=(
            "sis_id",
            "course_code",
            "session",
            "credit_hours",
            "for_credit_context_id",
            "grade_scale",
            "weights",
        ),
        optional=(
            "non_credit_context_id",
            "issuer",
            "line_item_categories",
            "incomplete_default_grade",
            "incomplete_extension_until",
        ),
    )
    sis_id = _text(table, "sis_id", path, problems)
    issuer = _url(table, "issuer", path, problems)
    course_code = _text(table, "course_code", path, problems)
    session_code = _text(table, "session", path, problems)
    if session_code is not None and session_code not in session_codes:
        problems.add(_at(path, "session"), f"no session {session_code!r} in sessions")
    credit_hours = _positive_int(table, "credit_hours", path, problems)
    for_credit = _text(table, "for_credit_context_id", path, problems)
    non_credit = _text(table, "non_credit_context_id", path, problems)
    if for_credit is not None and for_credit == non_credit:
        problems.add(_at(path, "non_credit_context_id"), "must differ from for_credit_context_id")
    scale = weights = None
    if table.get("grade_scale") is not None:
        scale = _grade_scale(table["grade_scale"], _at(path, "grade_scale"), problems)
    if table.get("weights") is not None:
        weights = _weights(table["weights"], _at(path, "weights"), problems)
    categories = _line_item_categories(table, path, weights, problems)
    incomplete_grade = _text(table, "incomplete_default_grade", path, problems)
    if (
        incomplete_grade is not None
        and scale is not None
        and incomplete_grade not in {band.letter for band in scale}
    ):
        problems.add(
            _at(path, "incomplete_default_grade"), "must be one of the grade scale's letters"
        )
    extension = _date(table, "incomplete_extension_until", path, problems)
    if (
        len(problems) > before
        or sis_id is None
        or course_code is None
        or session_code is None
        or credit_hours is None
        or for_credit is None
        or scale is None
        or weights is None
    ):
        return table, None
    return table, CatalogSection(
        sis_id,
        course_code,
        session_code,
        credit_hours,
        for_credit,
        scale,
        weights,
        non_credit,
        issuer,
        categories,
        incomplete_grade,
        extension,
    )


def _line_item_categories(
    table: Table,
    path: str,
    weights: tuple[tuple[str, float], ...] | None,
    problems: _Problems,
) -> tuple[tuple[str, str], ...]:
    """Check the per-item categories: each names a line item (id or label) and a weighted
    category; they override the line items' AGS tags."""
    raw = table.get("line_item_categories")
    if raw is None:
        return ()
    where = _at(path, "line_item_categories")
    mapping = _table(raw, where, problems)
    if mapping is None:
        return ()
    known = {category for category, _ in weights} if weights is not None else None
    found: list[tuple[str, str]] = []
    for item, category in mapping.items():
        if not item.strip():
            problems.add(where, "line item names must not be empty")
        elif not isinstance(category, str) or not category.strip():
            problems.add(_at(where, item), "must be the name of a weight category")
        elif known is not None and category.strip() not in known:
            problems.add(
                _at(where, item),
                f"{category.strip()!r} is not a category in weights ({', '.join(sorted(known))})",
            )
        else:
            found.append((item.strip(), category.strip()))
    return tuple(found)


def _unique(
    tables: Sequence[tuple[int, Table | None]],
    list_name: str,
    key: str,
    what: str,
    problems: _Problems,
    *,
    within: str | None = None,
) -> None:
    """Report each repeated value of ``key`` (among tables with the same ``within`` value, if
    given), pointing at its first use."""
    first_seen: dict[tuple[object, str], int] = {}
    for index, table in tables:
        if table is None:
            continue
        raw = table.get(key)
        if not isinstance(raw, str) or not raw.strip():
            continue
        value = raw.strip()
        scope = table.get(within) if within is not None else None
        if (scope, value) in first_seen:
            where = f" on {scope}" if scope is not None else ""
            problems.add(
                f"{list_name}[{index}].{key}",
                f"{value!r} is already the {what}{where} of "
                f"{list_name}[{first_seen[scope, value]}]",
            )
        else:
            first_seen[scope, value] = index


def parse_catalog(data: Mapping[str, object]) -> Catalog:
    """Validate a decoded catalog file and return it as values; every problem is named."""
    problems = _Problems()
    root = _table(data, "catalog", problems)
    if root is None:
        raise problems.error()
    _keys(
        root,
        "",
        problems,
        required=("university", "onboarding"),
        optional=("limits", "sessions", "sections", "carryover"),
    )
    university: University | None = None
    zone: tzinfo = UTC
    if root.get("university") is not None:
        university, zone = _university(root["university"], problems)
    limits = _limits(root.get("limits"), problems)
    onboarding = None
    if root.get("onboarding") is not None:
        onboarding = _onboarding(root["onboarding"], problems)

    sessions: list[SessionWindow] = []
    session_tables: list[tuple[int, Table | None]] = []
    session_codes: dict[str, int] = {}
    raw_sessions = _list(root.get("sessions", []), "sessions", problems) or ()
    for i, raw in enumerate(raw_sessions):
        code, session = _session(raw, f"sessions[{i}]", zone, problems)
        session_tables.append((i, raw if isinstance(raw, Mapping) else None))
        if code is not None:
            session_codes.setdefault(code, i)
        if session is not None:
            sessions.append(session)
    _unique(session_tables, "sessions", "code", "code", problems)

    sections: list[CatalogSection] = []
    section_tables: list[tuple[int, Table | None]] = []
    raw_sections = _list(root.get("sections", []), "sections", problems) or ()
    for i, raw in enumerate(raw_sections):
        table, section = _section(raw, f"sections[{i}]", session_codes, problems)
        section_tables.append((i, table))
        if section is not None:
            sections.append(section)
    _unique(section_tables, "sections", "sis_id", "SIS id", problems)
    # The catalog maps a launch's platform context to its section; two sections on one
    # context of one platform would make that mapping a guess.
    _unique(
        section_tables,
        "sections",
        "for_credit_context_id",
        "for-credit context",
        problems,
        within="issuer",
    )

    kinds = _carryover_kinds(root.get("carryover"), problems)

    if problems:
        raise problems.error()
    # No problems means every part was built; the checks below only narrow the types.
    assert university is not None and limits is not None and onboarding is not None
    return Catalog(university, limits, onboarding, tuple(sessions), tuple(sections), kinds)


def _carryover_kinds(value: object, problems: _Problems) -> dict[str, str]:
    """``[carryover.kinds]``: tag = kind, each a non-empty string."""
    if value is None:
        return {}
    table = _table(value, "carryover", problems)
    if table is None:
        return {}
    _keys(table, "carryover", problems, required=(), optional=("kinds",))
    raw = table.get("kinds", {})
    kinds = _table(raw, "carryover.kinds", problems)
    if kinds is None:
        return {}
    found: dict[str, str] = {}
    for tag, kind in kinds.items():
        if not isinstance(kind, str) or not kind.strip():
            problems.add(f"carryover.kinds.{tag}", "must be a kind name such as \"discussion\"")
            continue
        found[str(tag)] = kind.strip()
    return found
