"""Importing the university's catalog (CONTRACT §1 ``lti-bridge catalog import``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lti_bridge.domain.catalog import Catalog
from lti_bridge.domain.errors import ValidationError
from lti_bridge.services.ports import UnitOfWork


@dataclass(frozen=True)
class ImportSummary:
    """How many of each kind the file holds, and how many rows the import inserted or changed."""

    sessions: int
    sections: int
    offerings: int
    sessions_written: int
    sections_written: int
    offerings_written: int


def settings_document(catalog: Catalog) -> dict[str, object]:
    """Return the university-wide part of the catalog as the credit gate reads it."""
    university, limits, onboarding = catalog.university, catalog.limits, catalog.onboarding
    return {
        "university": {
            "payment_url": university.payment_url,
            "help_url": university.help_url,
            "time_zone": university.time_zone,
        },
        "limits": {
            "max_courses_per_session": limits.max_courses_per_session,
            "max_program_years": limits.max_program_years,
        },
        "onboarding": {
            "context_id": onboarding.context_id,
            "line_items": list(onboarding.line_items),
            "pass_threshold": onboarding.pass_threshold,
            "issuer": onboarding.issuer,
            "url": onboarding.url,
        },
        "carryover": {"kinds": dict(catalog.carryover_kinds)},
    }


def _context_clashes(
    catalog: Catalog, owners: dict[tuple[str, str | None], str]
) -> ValidationError | None:
    """Return an error naming each for-credit context a section outside the file already holds."""
    in_file = {section.sis_id for section in catalog.sections}
    problems: dict[str, str] = {}
    for index, section in enumerate(catalog.sections):
        owner = owners.get((section.for_credit_context_id, section.issuer))
        # A section in the file gives its old context up in this same import, so moving a
        # context from one listed section to another is no clash.
        if owner is not None and owner not in in_file:
            problems[f"sections[{index}].for_credit_context_id"] = (
                f"{section.for_credit_context_id!r} is already the for-credit context of "
                f"section {owner!r}, which this file does not list"
            )
    if not problems:
        return None
    return ValidationError(
        "\n".join(f"{path}: {message}" for path, message in problems.items()),
        public_message="The catalog maps a platform context to two sections.",
        admin_hint="Give the section a context of its own, or list the other section too.",
        fields=problems,
    )


def import_catalog(catalog: Catalog, *, uow: UnitOfWork, now: datetime) -> ImportSummary:
    """Write the catalog's sessions, sections, offerings and settings in one transaction."""
    with uow:
        owners = uow.catalog.context_owners(
            [(section.for_credit_context_id, section.issuer) for section in catalog.sections]
        )
        clash = _context_clashes(catalog, owners)
        if clash is not None:
            raise clash
        # Sessions and sections the file leaves out stay: SIS events may have created them.
        sessions_written = sum(uow.catalog.save_session(s) for s in catalog.sessions)
        sections_written = sum(uow.catalog.save_section(s) for s in catalog.sections)
        offerings_written = uow.catalog.save_offerings(catalog.sections, now)
        uow.catalog.save_settings(settings_document(catalog), now)
        uow.commit()
    return ImportSummary(
        sessions=len(catalog.sessions),
        sections=len(catalog.sections),
        offerings=len(catalog.sections),
        sessions_written=sessions_written,
        sections_written=sections_written,
        offerings_written=offerings_written,
    )
