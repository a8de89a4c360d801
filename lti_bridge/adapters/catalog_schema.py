"""The catalog file's schema (``lti-bridge catalog import``, ``config/catalog.example.toml``).

``parse_catalog`` takes the mapping a TOML or JSON file decodes to (``catalog_file.py`` reads it)
and returns the domain's frozen ``Catalog``, or raises the domain's ``ValidationError`` naming every
problem by its place, e.g. ``sections[2].credit_hours: must be a positive integer``. Problems come
in the schema's order: in each table its missing keys, its unknown ones, then each key as declared
here; a list's rows in order, then the values repeated across them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import suppress
from datetime import UTC, date, datetime, tzinfo
from typing import Any, NamedTuple
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import EXCLUDE, Schema, fields, post_load, pre_load, validates_schema
from marshmallow import ValidationError as Invalid

from lti_bridge.domain.catalog import (
    Catalog,
    CatalogSection,
    GradeBand,
    Limits,
    OnboardingCourse,
    University,
)
from lti_bridge.domain.errors import ValidationError
from lti_bridge.domain.policy import SessionWindow, default_window

#: How far a weight sum may stray from 1 (or 100) before it is refused: float noise, not intent.
WEIGHT_TOLERANCE = 1e-6
REQUIRED = "is required"
UNKNOWN = "unknown key"
#: marshmallow's key for a message about the value itself rather than one of its parts.
HERE = "_schema"


def parse_catalog(data: Mapping[str, object]) -> Catalog:
    """Validate a decoded catalog file and return it as values; every problem is named."""
    schema = CatalogSchema()
    try:
        catalog: Catalog = schema.load(data)
    except Invalid as exc:
        raise _error(list(_flatten(exc.messages, "", schema))) from None
    return catalog


def _error(problems: Sequence[tuple[str, str]]) -> ValidationError:
    """Return one error listing every problem; ``fields`` maps each path to its message."""
    found: dict[str, str] = {}
    for path, message in problems:
        found[path] = f"{found[path]}; {message}" if path in found else message
    count = len(problems)
    return ValidationError(
        "\n".join(f"{path}: {message}" for path, message in problems),
        public_message=f"The catalog has {count} problem{'s' if count != 1 else ''}.",
        admin_hint="Each problem names its place in the file, e.g. sections[2].credit_hours.",
        fields=found,
    )


def _flatten(
    messages: Any, path: str, node: Schema | fields.Field | None
) -> Iterator[tuple[str, str]]:
    """Yield marshmallow's nested messages as (path, message), in the schema's order."""
    if isinstance(messages, list):
        for message in messages:
            yield path or "catalog", message
        return
    keys = list(messages)
    if isinstance(node, Schema):
        # Validators add their messages after the fields': put each back at its key's place.
        order = list(node.fields)
        keys.sort(key=lambda key: _rank(key, messages[key], order))
    else:
        # A list's rows in order, then what is wrong across them (keys like "[2].sis_id").
        keys.sort(key=lambda key: (0, key) if isinstance(key, int) else (1, 0))
    for key in keys:
        yield from _flatten(messages[key], _join(path, key), _inner(node, key))


def _rank(key: str, messages: Any, order: list[str]) -> tuple[int, int]:
    """Missing keys first, then unknown ones (in the file's order), then each key as declared."""
    group = 0 if messages == [REQUIRED] else 1 if messages == [UNKNOWN] else 2
    return group, order.index(key) if key in order else -1


def _join(path: str, key: str | int) -> str:
    """``sections`` + 2 is ``sections[2]``; a key like ``[2].sis_id`` is already a path."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if key == HERE:
        return path
    if key.startswith("["):
        return path + key
    return f"{path}.{key}" if path else key


def _inner(node: Schema | fields.Field | None, key: str | int) -> Schema | fields.Field | None:
    """Return the schema (or list) whose messages are under ``key``, if any."""
    if isinstance(node, Schema):
        node = node.fields.get(key) if isinstance(key, str) else None
    elif isinstance(node, fields.List):
        node = node.inner
    else:
        return None
    return node.schema if isinstance(node, fields.Nested) else node


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _number(value: object) -> float | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        number = float(value)  # an integer past float's range (10**400) is no weight either
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


# --- the values: each check returns the value as the catalog keeps it, or refuses it -------------


#: JSON null carries no value either way: a required key that is null is missing.
_MISSING = {"required": REQUIRED, "null": REQUIRED}


def _key(check: Callable[[Any], Any], *, null: str = REQUIRED, **kwargs: Any) -> fields.Field:
    """Return a field whose value ``check`` converts or refuses."""
    messages = {**_MISSING, "null": null}
    return fields.Function(deserialize=check, error_messages=messages, **kwargs)


def text(value: object) -> str:
    if (found := _text(value)) is None:
        raise Invalid("must be a non-empty string")
    return found


def url(value: object) -> str:
    try:
        parts = urlsplit(found := text(value))
    except ValueError:  # e.g. an unclosed IPv6 bracket, "http://[::1"
        parts = None
    if parts is not None and parts.scheme in {"http", "https"} and parts.netloc:
        return found
    raise Invalid("must be an absolute http(s) URL")


def time_zone(value: object) -> str:
    try:
        ZoneInfo(name := text(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid("must be an IANA time zone like America/Denver") from None
    return name


def positive_int(value: object) -> int:
    # bool is an int subclass; `true` is not a number of credit hours.
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise Invalid("must be a positive integer")


def fraction(value: object) -> float:
    if (number := _number(value)) is None or not 0 < number <= 1:
        raise Invalid("must be a fraction of the score above 0 and at most 1, like 0.8 for 80%")
    return number


def day(value: object) -> date:
    """A date: TOML's own, or ISO text as JSON has it."""
    if isinstance(value, str):
        with suppress(ValueError):
            value = date.fromisoformat(value)
    # datetime is a date subclass: a session day given with a time is a mistake, not a day.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise Invalid("must be a date like 2024-01-15")


def moment(value: object) -> datetime:
    """A date-time with an offset: TOML's own, or ISO text as JSON has it."""
    if isinstance(value, str):
        with suppress(ValueError):
            value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.utcoffset() is not None:
        return value
    raise Invalid("must be a date-time with a time zone offset, like 2024-01-01T16:00:00Z")


def table(value: object) -> Mapping[str, Any]:
    """A table whose keys are the university's own names (categories, line items, tags)."""
    if isinstance(value, Mapping) and all(isinstance(key, str) for key in value):
        return value
    raise Invalid("must be a table")


def line_items(value: object) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise Invalid("must be a list")
    if not value:
        raise Invalid("must name at least one line item")
    names: list[str] = []
    problems: dict[int, list[str]] = {}
    for index, item in enumerate(value):
        if (name := _text(item)) is None:
            problems[index] = ["must be a non-empty string (line item id or label)"]
        elif name in names:
            problems[index] = [f"{name!r} is listed twice"]
        else:
            names.append(name)
    if problems:
        raise Invalid(problems)
    return tuple(names)


def grade_scale(value: object) -> tuple[GradeBand, ...]:
    """Rows [lower bound percent, letter], strictly descending, the last bound 0 (R11)."""
    if not isinstance(value, list | tuple):
        raise Invalid("must be a list")
    if not value:
        raise Invalid("must have at least one [lower_bound_percent, letter] row")
    bands: list[GradeBand] = []
    problems: dict[int, Any] = {}
    for index, row in enumerate(value):
        if not isinstance(row, list | tuple) or len(row) != 2:
            problems[index] = ["must be a pair [lower_bound_percent, letter]"]
            continue
        bound, letter = _number(row[0]), _text(row[1])
        if bound is None or not 0 <= bound <= 100:
            problems[index] = {0: ["must be a percentage from 0 to 100"]}
            continue
        if letter is None:
            problems[index] = {1: ["must be a non-empty letter grade"]}
            continue
        if bands and bound >= bands[-1].lower_bound:
            problems[index] = {0: [
                f"must be lower than the row above ({bands[-1].lower_bound:g}): "
                "list the scale from the highest grade down"
            ]}
        if any(band.letter == letter for band in bands):
            problems.setdefault(index, {})[1] = [f"{letter!r} appears twice"]
        bands.append(GradeBand(bound, letter))
    if problems:
        raise Invalid(problems)
    if bands[-1].lower_bound != 0:
        # Without a 0 row some scores would map to no letter at all.
        raise Invalid({len(bands) - 1: {0: ["the last row's lower bound must be 0"]}})
    return tuple(bands)


def weights(value: object) -> tuple[tuple[str, float], ...]:
    """Category = weight, each positive, summing to 1 or to 100; kept as fractions in file order."""
    if not (found := table(value)):
        raise Invalid("must name at least one category")
    problems: dict[str, list[str]] = {}
    for category, weight in found.items():
        if not category.strip():
            problems.setdefault(HERE, []).append("category names must not be empty")
        elif (number := _number(weight)) is None or number <= 0:
            problems[category] = ["must be a positive number"]
    if problems:
        raise Invalid(problems)
    total = math.fsum(found.values())
    if abs(total - 1) <= WEIGHT_TOLERANCE:
        return tuple((category, float(weight)) for category, weight in found.items())
    if abs(total - 100) <= WEIGHT_TOLERANCE * 100:
        return tuple((category, weight / 100.0) for category, weight in found.items())
    raise Invalid(f"must sum to 1 or to 100, not {total:g}")


def kinds(value: object) -> dict[str, str]:
    found = table(value)
    if problems := {
        tag: ['must be a kind name such as "discussion"']
        for tag, kind in found.items()
        if _text(kind) is None
    }:
        raise Invalid(problems)
    return {tag: kind.strip() for tag, kind in found.items()}


class Unique(NamedTuple):
    """A key no two rows of a list share (among rows with the same ``within`` value, if given)."""

    key: str
    what: str
    within: str | None = None


class Records(fields.List):
    """A list of tables; after the rows' own problems, each repeated value names its first use."""

    def __init__(self, schema: type[Schema], *, unique: Sequence[Unique] = ()) -> None:
        row = fields.Nested(schema, error_messages={"null": "must be a table"})
        invalid = {"invalid": "must be a list", "null": "must be a list"}
        super().__init__(row, load_default=list, error_messages=invalid)
        self.unique = unique

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise self.make_error("invalid")
        rows: list[Any] = []
        problems: dict[int | str, Any] = {}
        for index, row in enumerate(value):
            try:
                rows.append(self.inner.deserialize(row))
            except Invalid as error:
                rows.append(None)
                problems[index] = error.messages
        for rule in self.unique:
            first: dict[tuple[str, str], int] = {}
            for index, row in enumerate(value):
                found = _text(row.get(rule.key)) if isinstance(row, Mapping) else None
                if found is None:
                    continue
                scope = row.get(rule.within) if rule.within is not None else None
                seen = first.setdefault((repr(scope), found), index)
                if seen != index:
                    where = f" on {scope}" if scope is not None else ""
                    problems[f"[{index}].{rule.key}"] = [
                        f"{found!r} is already the {rule.what}{where} of {attr}[{seen}]"
                    ]
        if problems:
            raise Invalid(problems, valid_data=rows)
        return rows


# --- the tables ----------------------------------------------------------------------------------


class _Table(Schema):
    """A table of the file: a key it does not know is refused, so a misspelt key never passes."""

    error_messages = {"type": "must be a table"}

    class Meta:
        # Refused below instead, in the file's order (marshmallow's own check goes by a set).
        unknown = EXCLUDE

    @pre_load
    def _string_keys(self, data: Any, **_kwargs: Any) -> Any:
        if isinstance(data, Mapping) and not all(isinstance(key, str) for key in data):
            raise Invalid("must be a table")
        return data

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _known_keys(self, _data: Any, original: Any, **_kwargs: Any) -> None:
        if isinstance(original, Mapping):
            if unknown := {key: [UNKNOWN] for key in original if key not in self.load_fields}:
                raise Invalid(unknown)


def _present(data: dict[str, Any]) -> dict[str, Any]:
    """Leave absent keys out, so the value's own defaults apply."""
    return {key: value for key, value in data.items() if value is not None}


class UniversitySchema(_Table):
    payment_url = _key(url, required=True)
    help_url = _key(url, required=True)
    #: The zone default enrollment windows are counted in.
    time_zone = _key(time_zone, load_default=None)

    @post_load
    def _make(self, data: dict[str, Any], **_kwargs: Any) -> University:
        return University(**_present(data))


class LimitsSchema(_Table):
    max_courses_per_session = _key(positive_int, load_default=None)
    max_program_years = _key(positive_int, load_default=None)

    @post_load
    def _make(self, data: dict[str, Any], **_kwargs: Any) -> Limits:
        return Limits(**_present(data))


class OnboardingSchema(_Table):
    issuer = _key(url, load_default=None)
    url = _key(url, load_default=None)
    context_id = _key(text, required=True)
    line_items = _key(line_items, required=True)
    pass_threshold = _key(fraction, required=True)

    @post_load
    def _make(self, data: dict[str, Any], **_kwargs: Any) -> OnboardingCourse:
        return OnboardingCourse(**data)


class SessionSchema(_Table):
    """A session as the file gives it; its window needs the university's time zone (below)."""

    code = _key(text, required=True)
    starts_on = _key(day, required=True)
    ends_on = _key(day, required=True)
    enrollment_opens_at = _key(moment, load_default=None)
    enrollment_closes_at = _key(moment, load_default=None)

    @validates_schema(skip_on_field_errors=False)
    def _ends_after_start(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if "starts_on" in data and "ends_on" in data and data["ends_on"] <= data["starts_on"]:
            raise Invalid("must be after starts_on", "ends_on")


def _session(session: dict[str, Any], zone: tzinfo) -> SessionWindow | None:
    """Return the session with its window, or None if the window closes before it opens."""
    # Either end of the window the file leaves out follows the 14-day rule (DOMAIN.md "Words").
    code, starts_on, ends_on = session["code"], session["starts_on"], session["ends_on"]
    default = default_window(code, starts_on, ends_on, tz=zone)
    opens_at = session["enrollment_opens_at"] or default.enrollment_opens_at
    closes_at = session["enrollment_closes_at"] or default.enrollment_closes_at
    if closes_at <= opens_at:
        return None
    return SessionWindow(code, starts_on, ends_on, opens_at, closes_at)


class SectionSchema(_Table):
    sis_id = _key(text, required=True)
    issuer = _key(url, load_default=None)
    course_code = _key(text, required=True)
    session = _key(text, required=True)
    credit_hours = _key(positive_int, required=True)
    for_credit_context_id = _key(text, required=True)
    non_credit_context_id = _key(text, load_default=None)
    grade_scale = _key(grade_scale, required=True)
    weights = _key(weights, required=True)
    #: Line item (id or label) = category: overrides the line item's AGS tag.
    line_item_categories = _key(table, load_default=None)
    incomplete_default_grade = _key(text, load_default=None)
    incomplete_extension_until = _key(day, load_default=None)

    @validates_schema(skip_on_field_errors=False)
    def _consistent(self, data: dict[str, Any], **_kwargs: Any) -> None:
        problems: dict[str, Any] = {}
        non_credit = data.get("non_credit_context_id")
        if non_credit is not None and non_credit == data.get("for_credit_context_id"):
            problems["non_credit_context_id"] = ["must differ from for_credit_context_id"]
        if items := _item_category_problems(data.get("line_item_categories"), data.get("weights")):
            problems["line_item_categories"] = items
        grade, scale = data.get("incomplete_default_grade"), data.get("grade_scale")
        if grade is not None and scale is not None and grade not in {b.letter for b in scale}:
            problems["incomplete_default_grade"] = ["must be one of the grade scale's letters"]
        if problems:
            raise Invalid(problems)

    @post_load
    def _make(self, data: dict[str, Any], **_kwargs: Any) -> CatalogSection:
        session, categories = data.pop("session"), data.pop("line_item_categories") or {}
        pairs = tuple((item.strip(), category.strip()) for item, category in categories.items())
        return CatalogSection(**data, session_code=session, line_item_categories=pairs)


def _item_category_problems(
    categories: Mapping[str, object] | None, weights: Sequence[tuple[str, float]] | None
) -> dict[str, list[str]]:
    """Each entry names a line item and a category of the weights (when those are valid)."""
    known = {category for category, _ in weights} if weights is not None else None
    problems: dict[str, list[str]] = {}
    for item, category in (categories or {}).items():
        name = _text(category)
        if not item.strip():
            problems.setdefault(HERE, []).append("line item names must not be empty")
        elif name is None:
            problems[item] = ["must be the name of a weight category"]
        elif known is not None and name not in known:
            problems[item] = [f"{name!r} is not a category in weights ({', '.join(sorted(known))})"]
    return problems


class CarryoverSchema(_Table):
    #: A platform's line item tag = the kind it means (``discussion``, ``peer_graded``), R5.
    kinds = _key(kinds, load_default=dict, null="must be a table")


class CatalogSchema(_Table):
    university = fields.Nested(UniversitySchema, required=True, error_messages=_MISSING)
    limits = fields.Nested(LimitsSchema, load_default=None)
    onboarding = fields.Nested(OnboardingSchema, required=True, error_messages=_MISSING)
    sessions = Records(SessionSchema, unique=[Unique("code", "code")])
    sections = Records(
        SectionSchema,
        unique=[
            Unique("sis_id", "SIS id"),
            # The catalog maps a launch's platform context to its section; two sections on one
            # context of one platform would make that mapping a guess.
            Unique("for_credit_context_id", "for-credit context", within="issuer"),
        ],
    )
    carryover = fields.Nested(CarryoverSchema, load_default=None)

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _across_tables(self, data: dict[str, Any], original: Any, **_kwargs: Any) -> None:
        """Check each section's session (a broken session's code still counts, so one mistake
        is named once) and each session's window in the university's time zone."""
        if not isinstance(original, Mapping):
            return
        problems: dict[str, dict[int, Any]] = {}
        tables = {
            name: [row if isinstance(row, Mapping) else {} for row in found]
            for name in ("sessions", "sections")
            if isinstance(found := original.get(name), list | tuple)
        }
        codes = {_text(row.get("code")) for row in tables.get("sessions", ())}
        for index, row in enumerate(tables.get("sections", ())):
            if (code := _text(row.get("session"))) is not None and code not in codes:
                problems.setdefault("sections", {})[index] = {
                    "session": [f"no session {code!r} in sessions"]
                }
        zone = _zone(data.get("university"))
        for index, session in enumerate(data.get("sessions") or ()):
            if session is not None and _session(session, zone) is None:
                problems.setdefault("sessions", {})[index] = {
                    "enrollment_closes_at": ["must be after enrollment_opens_at"]
                }
        if problems:
            raise Invalid(problems)

    @post_load
    def _make(self, data: dict[str, Any], **_kwargs: Any) -> Catalog:
        zone = _zone(data["university"])
        return Catalog(
            data["university"],
            data["limits"] or Limits(),
            data["onboarding"],
            tuple(_session(session, zone) for session in data["sessions"]),
            tuple(data["sections"]),
            (data["carryover"] or {}).get("kinds", {}),
        )


def _zone(university: University | dict[str, Any] | None) -> tzinfo:
    """Return the university's time zone, also when the rest of its table is wrong."""
    if isinstance(university, University):
        return ZoneInfo(university.time_zone)
    name = (university or {}).get("time_zone")
    return ZoneInfo(name) if name else UTC
