"""The port the catalog import writes through (``adapters/db/catalog_repository.py``)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from lti_bridge.domain.catalog import CatalogSection
from lti_bridge.domain.policy import SessionWindow


class CatalogRepository(Protocol):
    def context_owners(
        self, contexts: Collection[tuple[str, str | None]]
    ) -> dict[tuple[str, str | None], str]:
        """Map each of these (for-credit context, platform issuer or None for any platform) that
        an offering holds to that section's id."""
        ...

    def save_session(self, session: SessionWindow) -> bool:
        """Insert or update the session (shared with SIS events); True when new or changed."""
        ...

    def save_section(self, section: CatalogSection) -> bool:
        """Insert or update the section (shared with SIS events); True when new or changed."""
        ...

    def save_offerings(self, sections: Sequence[CatalogSection], now: datetime) -> int:
        """Insert or update each section's offering; return how many were new or changed."""
        ...

    def save_settings(self, document: Mapping[str, object], now: datetime) -> None:
        """Replace the university-wide settings document."""
        ...
