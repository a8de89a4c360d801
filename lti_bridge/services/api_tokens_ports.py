"""The port operator tokens are kept through (``adapters/db/token_repository.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class ApiToken:
    name: str
    #: The SIS sections the token may read; None for all.
    sections: tuple[str, ...] | None
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    def may_read(self, section_sis_id: str) -> bool:
        return self.sections is None or section_sis_id in self.sections


class TokenRepository(Protocol):
    def add(
        self, name: str, token_hash: str, sections: Sequence[str] | None, now: datetime
    ) -> None:
        """Store a new token; a name taken already fails the unit of work (ConcurrentWriteError:
        the use case checks ``by_name`` first)."""
        ...

    def by_name(self, name: str) -> ApiToken | None: ...

    def by_hash(self, token_hash: str) -> ApiToken | None: ...

    def revoke(self, name: str, now: datetime) -> bool:
        """Revoke the token; False when there is none of that name."""
        ...

    def all(self) -> list[ApiToken]: ...

    def record_use(
        self, name: str, section_sis_id: str | None, outcome: str, now: datetime
    ) -> None: ...
