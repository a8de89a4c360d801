"""The imported catalog in SQL: sessions and sections (shared with SIS events), offerings, settings.

Sessions and sections are the same rows SIS events write (``sis_repository.py``), keyed by the
session code and the section's SIS id, so the catalog and the SIS update one another's rows
rather than duplicating them. Each upsert rewrites a row only when something in it changes and
returns the row's id only then, which is how the import counts what it wrote.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Connection,
    Table,
    Text,
    bindparam,
    case,
    cast,
    delete,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from lti_bridge.adapters.db.driver import DriverStatement
from lti_bridge.adapters.db.tables import catalog_settings, offerings, sis_sections, sis_sessions
from lti_bridge.adapters.db.upsert import insert_or_update
from lti_bridge.domain.catalog import CatalogSection
from lti_bridge.domain.policy import SessionWindow

#: ``offerings.issuer`` of an offering whose contexts are those of any registered platform.
ANY_PLATFORM = ""

#: The one row of ``catalog_settings``.
SETTINGS_ID = 1

_SESSION_COLUMNS = ("starts_on", "ends_on", "enrollment_opens_at", "enrollment_closes_at")
_SECTION_COLUMNS = ("course_code", "credit_hours", "session_code")
_OFFERING_COLUMNS = (
    "for_credit_context_id",
    "non_credit_context_id",
    "issuer",
    "grade_scale",
    "weights",
    "grading",
)
_JSON_COLUMNS = frozenset({"grade_scale", "weights", "grading"})


def _comparable(table: Table, excluded: Any, name: str) -> tuple[Any, Any]:
    # PostgreSQL's json type has no equality operator; its text keeps what was written, and the
    # same catalog always serializes to the same text.
    if name in _JSON_COLUMNS:
        return cast(table.c[name], Text), cast(excluded[name], Text)
    return table.c[name], excluded[name]


def _if_changed(
    dialect: Any, table: Table, key: str, columns: Sequence[str], touched: Sequence[str] = ()
) -> Any:
    stmt = dialect.insert(table)
    changed = [
        stored.is_distinct_from(new)
        for stored, new in (_comparable(table, stmt.excluded, name) for name in columns)
    ]
    return stmt.on_conflict_do_update(
        index_elements=[key],
        set_={name: stmt.excluded[name] for name in (*columns, *touched)},
        # Only rewrite a row that changes: a re-import leaves rows (and updated_at) alone.
        where=or_(*changed),
    ).returning(table.c.id)


@dataclass(frozen=True)
class _Statements:
    save_session: Any
    save_section: Any
    save_offering: Any


@lru_cache(maxsize=4)
def _statements(dialect_name: str) -> _Statements:
    dialect: Any = postgresql if dialect_name == "postgresql" else sqlite
    return _Statements(
        save_session=_if_changed(dialect, sis_sessions, "code", _SESSION_COLUMNS),
        save_section=_if_changed(dialect, sis_sections, "sis_id", _SECTION_COLUMNS),
        save_offering=_if_changed(
            dialect, offerings, "section_sis_id", _OFFERING_COLUMNS, ("updated_at",)
        ),
    )


def _utc(value: datetime) -> datetime:
    # SQLite keeps no offsets: a window given in the university's zone is stored as UTC.
    return value.astimezone(UTC)


class SqlAlchemyCatalogRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._sql = _statements(conn.dialect.name)

    def _written(self, stmt: Any, params: Mapping[str, Any]) -> bool:
        return self.conn.execute(stmt, dict(params)).first() is not None

    def context_owners(
        self, contexts: Collection[tuple[str, str | None]]
    ) -> dict[tuple[str, str | None], str]:
        if not contexts:
            return {}
        rows = self.conn.execute(
            select(
                offerings.c.for_credit_context_id, offerings.c.issuer, offerings.c.section_sis_id
            ).where(offerings.c.for_credit_context_id.in_({context for context, _ in contexts}))
        )
        held = {(context, issuer or None): section_id for context, issuer, section_id in rows}
        return {key: held[key] for key in contexts if key in held}

    def save_session(self, session: SessionWindow) -> bool:
        return self._written(
            self._sql.save_session,
            {
                "code": session.code,
                "starts_on": session.starts_on,
                "ends_on": session.ends_on,
                "enrollment_opens_at": _utc(session.enrollment_opens_at),
                "enrollment_closes_at": _utc(session.enrollment_closes_at),
            },
        )

    def save_section(self, section: CatalogSection) -> bool:
        return self._written(
            self._sql.save_section,
            {
                "sis_id": section.sis_id,
                "course_code": section.course_code,
                "credit_hours": section.credit_hours,
                "session_code": section.session_code,
            },
        )

    def save_offerings(self, sections: Sequence[CatalogSection], now: datetime) -> int:
        new_context = {
            s.sis_id: (s.for_credit_context_id, s.issuer or ANY_PLATFORM) for s in sections
        }
        if not new_context:
            return 0
        # Contexts may move between the listed sections (a swap); the unique for-credit context
        # would refuse the first upsert of a swap, so rows whose context moves are dropped first
        # and written afresh below.
        stored = self.conn.execute(
            select(
                offerings.c.section_sis_id, offerings.c.for_credit_context_id, offerings.c.issuer
            ).where(offerings.c.section_sis_id.in_(list(new_context)))
        ).all()
        moving = [
            sis_id
            for sis_id, context_id, issuer in stored
            if new_context[sis_id] != (context_id, issuer)
        ]
        if moving:
            self.conn.execute(delete(offerings).where(offerings.c.section_sis_id.in_(moving)))
        written = 0
        for section in sections:
            scale = [[band.lower_bound, band.letter] for band in section.grade_scale]
            written += self._written(
                self._sql.save_offering,
                {
                    "section_sis_id": section.sis_id,
                    "for_credit_context_id": section.for_credit_context_id,
                    "non_credit_context_id": section.non_credit_context_id,
                    "issuer": section.issuer or ANY_PLATFORM,
                    "grade_scale": scale,
                    "weights": dict(section.weights),
                    "grading": grading_document(section),
                    "updated_at": now,
                },
            )
        return written

    def save_settings(self, document: Mapping[str, object], now: datetime) -> None:
        insert_or_update(
            self.conn,
            catalog_settings,
            {"id": SETTINGS_ID, "document": dict(document), "imported_at": now},
            keys=("id",),
            update=("document", "imported_at"),
            returning=None,
        )


def grading_document(section: CatalogSection) -> dict[str, Any]:
    """Return the section's grading settings beyond its scale and weights, as stored."""
    extension = section.incomplete_extension_until
    return {
        "line_item_categories": dict(section.line_item_categories),
        "incomplete_default_grade": section.incomplete_default_grade,
        "incomplete_extension_until": extension.isoformat() if extension else None,
    }


def read_catalog_settings(conn: Connection) -> dict[str, Any] | None:
    """Return the imported catalog's settings document, or None before the first import."""
    document = conn.execute(
        select(catalog_settings.c.document).where(catalog_settings.c.id == SETTINGS_ID)
    ).scalar()
    return dict(document) if document is not None else None


# A non-credit context may be shared by the course's sections in several sessions; the
# for-credit one is unique per platform and wins, then an offering naming the launch's platform
# over one for any platform, then the lowest SIS id keeps the answer stable. Another platform's
# offering never answers: context ids are each platform's own.
_IS_FOR_CREDIT = offerings.c.for_credit_context_id == bindparam("context_id")
_SECTION_FOR_CONTEXT = DriverStatement(
    select(offerings.c.section_sis_id)
    .where(
        or_(_IS_FOR_CREDIT, offerings.c.non_credit_context_id == bindparam("context_id")),
        offerings.c.issuer.in_([literal(ANY_PLATFORM), bindparam("issuer")]),
    )
    .order_by(
        case((_IS_FOR_CREDIT, 0), else_=1),
        case((offerings.c.issuer == literal(ANY_PLATFORM), 1), else_=0),
        offerings.c.section_sis_id,
    )
    .limit(1)
)


def section_for_context(conn: Connection, context_id: str, issuer: str) -> str | None:
    """Return the SIS id of the section whose for-credit or non-credit context this is on the
    platform ``issuer``."""
    rows = _SECTION_FOR_CONTEXT.rows(conn, {"context_id": context_id, "issuer": issuer})
    return str(rows[0][0]) if rows else None
