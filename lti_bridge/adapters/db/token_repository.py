"""Operator tokens and their uses (``services/api_tokens.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from lti_bridge.adapters.db.tables import api_token_uses, api_tokens
from lti_bridge.services.api_tokens_ports import ApiToken


def _token(row: Any) -> ApiToken:
    sections = row.sections
    return ApiToken(
        name=row.name,
        sections=tuple(sections) if sections is not None else None,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


class SqlAlchemyTokenRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(
        self, name: str, token_hash: str, sections: Sequence[str] | None, now: datetime
    ) -> None:
        self._conn.execute(
            insert(api_tokens).values(
                name=name,
                token_hash=token_hash,
                sections=list(sections) if sections is not None else None,
                created_at=now,
            )
        )

    def by_name(self, name: str) -> ApiToken | None:
        row = self._conn.execute(select(api_tokens).where(api_tokens.c.name == name)).first()
        return _token(row) if row is not None else None

    def by_hash(self, token_hash: str) -> ApiToken | None:
        row = self._conn.execute(
            select(api_tokens).where(api_tokens.c.token_hash == token_hash)
        ).first()
        return _token(row) if row is not None else None

    def revoke(self, name: str, now: datetime) -> bool:
        result = self._conn.execute(
            update(api_tokens)
            .where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        if result.rowcount:
            return True
        return self.by_name(name) is not None  # revoked already: nothing more to do

    def all(self) -> list[ApiToken]:
        rows = self._conn.execute(select(api_tokens).order_by(api_tokens.c.name))
        return [_token(row) for row in rows]

    def record_use(
        self, name: str, section_sis_id: str | None, outcome: str, now: datetime
    ) -> None:
        self._conn.execute(
            insert(api_token_uses).values(
                token_name=name, section_sis_id=section_sis_id, outcome=outcome, at=now
            )
        )
        if outcome == "allowed":
            self._conn.execute(
                update(api_tokens).where(api_tokens.c.name == name).values(last_used_at=now)
            )
