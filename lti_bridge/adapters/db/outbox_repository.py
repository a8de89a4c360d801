"""The outbox in SQL.

A claim is one ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT n) RETURNING``:
on PostgreSQL several relays take disjoint batches without waiting for each other; on SQLite
(no row locks, one writer at a time) the same statement runs under the database's write lock,
and the claimable condition is checked inside it, so two relays still never take the same row.
Outcomes are fenced by the claim's token: a relay whose lease ran out (and whose row another
relay took) cannot overwrite what the newer claim recorded.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.exc import StatementError

from lti_bridge.adapters.db.tables import outbox
from lti_bridge.domain.errors import NotFoundError, OutboxConflictError, ValidationError
from lti_bridge.domain.outbox import Claim, OutboxEntry, OutboxMessage, OutboxState


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything the tool stores is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _canonical(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def _entry(row: Row[Any]) -> OutboxEntry:
    m = row._mapping
    return OutboxEntry(
        id=m["id"],
        message=OutboxMessage(
            kind=m["kind"],
            key=m["key"],
            payload=m["payload"],
            section_sis_id=m["section_sis_id"],
            registration_sis_id=m["registration_sis_id"],
        ),
        state=OutboxState(m["state"]),
        attempts=m["attempts"],
        next_attempt_at=_utc(m["next_attempt_at"]),  # type: ignore[arg-type]
        lease_until=_utc(m["lease_until"]),
        last_status=m["last_status"],
        last_error=m["last_error"],
        created_at=_utc(m["created_at"]),  # type: ignore[arg-type]
        updated_at=_utc(m["updated_at"]),  # type: ignore[arg-type]
        finished_at=_utc(m["finished_at"]),
    )


def _claimable(now: datetime) -> Any:
    return or_(
        and_(outbox.c.state == OutboxState.QUEUED.value, outbox.c.next_attempt_at <= now),
        and_(outbox.c.state == OutboxState.SENT.value, outbox.c.lease_until <= now),
    )


# The payloads travel as one JSON array (a text array would have psycopg escape every quote of
# every body); the other columns as text arrays, joined to the payloads by position.
_ENQUEUE_MANY_PG = text(
    "INSERT INTO outbox (kind, key, payload, section_sis_id, registration_sis_id, state, "
    "attempts, next_attempt_at, created_at, updated_at) "
    "SELECT m.kind, m.key, p.value, m.section, m.registration, :state, 0, :now, :now, :now "
    "FROM unnest(CAST(:kinds AS text[]), CAST(:keys AS text[]), CAST(:sections AS text[]), "
    "CAST(:registrations AS text[])) WITH ORDINALITY AS m(kind, key, section, registration, n) "
    "JOIN json_array_elements(CAST(:payloads AS json)) WITH ORDINALITY AS p(value, n) "
    "ON p.n = m.n "
    "ON CONFLICT (key) DO NOTHING "
    "RETURNING key, id"
)


class SqlAlchemyOutboxRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # --- writing ------------------------------------------------------------------------------

    def enqueue(self, message: OutboxMessage, now: datetime) -> int:
        # A JSON round trip both checks the body is JSON and gives the form it is compared in.
        try:
            body = json.loads(_canonical(message.payload))
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                f"outbox payload for {message.key!r} is not JSON: {exc}"
            ) from None
        dialect = postgresql if self._conn.dialect.name == "postgresql" else sqlite
        stmt = (
            dialect.insert(outbox)
            .values(
                kind=message.kind,
                key=message.key,
                payload=body,
                section_sis_id=message.section_sis_id,
                registration_sis_id=message.registration_sis_id,
                state=OutboxState.QUEUED.value,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(outbox.c.id)
        )
        new_id = self._conn.execute(stmt).scalar()
        if new_id is not None:
            return int(new_id)
        found = self._conn.execute(
            select(outbox.c.id, outbox.c.kind, outbox.c.payload).where(outbox.c.key == message.key)
        ).one()
        if found.kind != message.kind or _canonical(found.payload) != _canonical(body):
            raise OutboxConflictError(
                f"outbox key {message.key!r} already holds a different {found.kind} message "
                f"(id {found.id}); a changed body needs a new key"
            )
        return int(found.id)

    def enqueue_many(self, messages: Sequence[OutboxMessage], now: datetime) -> list[int]:
        """``enqueue`` for many messages at once (a section's release: hundreds): the same
        rules, the ids in the order of ``messages``.

        The batch is inserted with ``ON CONFLICT DO NOTHING``; the keys it did not insert (held
        already, or queued meanwhile by another transaction) are then read and checked like
        ``enqueue``'s: the same body is that row's id, another body is refused.
        """
        if not messages:
            return []
        keys = [m.key for m in messages]
        if len(set(keys)) != len(keys):
            raise ValidationError("one batch names an outbox key twice")
        if self._conn.dialect.name == "postgresql":
            ids = self._insert_many_pg(messages, now)
        else:
            ids = self._insert_many(messages, now)
        held = [m for m in messages if m.key not in ids]
        if held:
            by_key = {m.key: m for m in held}
            for found in self._conn.execute(
                select(outbox.c.id, outbox.c.key, outbox.c.kind, outbox.c.payload).where(
                    outbox.c.key.in_(list(by_key))
                )
            ):
                message = by_key[found.key]
                if found.kind != message.kind or _canonical(found.payload) != _canonical(
                    message.payload
                ):
                    raise OutboxConflictError(
                        f"outbox key {found.key!r} already holds a different {found.kind} "
                        f"message (id {found.id}); a changed body needs a new key"
                    )
                ids[found.key] = int(found.id)
        return [ids[key] for key in keys]

    def _insert_many_pg(self, messages: Sequence[OutboxMessage], now: datetime) -> dict[str, int]:
        # One statement over arrays, its ids returned: one round trip for the whole batch.
        try:
            payloads = json.dumps([m.payload for m in messages])
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"an outbox payload is not JSON: {exc}") from None
        returned = self._conn.execute(
            _ENQUEUE_MANY_PG,
            {
                "kinds": [m.kind for m in messages],
                "keys": [m.key for m in messages],
                "payloads": payloads,
                "sections": [m.section_sis_id for m in messages],
                "registrations": [m.registration_sis_id for m in messages],
                "state": OutboxState.QUEUED.value,
                "now": now,
            },
        )
        return {key: int(new_id) for key, new_id in returned}

    def _insert_many(self, messages: Sequence[OutboxMessage], now: datetime) -> dict[str, int]:
        dialect = postgresql if self._conn.dialect.name == "postgresql" else sqlite
        rows = [
            {
                "kind": m.kind,
                "key": m.key,
                "payload": m.payload,
                "section_sis_id": m.section_sis_id,
                "registration_sis_id": m.registration_sis_id,
                "state": OutboxState.QUEUED.value,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for m in messages
        ]
        try:
            returned = self._conn.execute(
                dialect.insert(outbox)
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(outbox.c.key, outbox.c.id),
                rows,
            ).all()
        except StatementError as exc:
            # The JSON column's serializer refused a body before anything was sent.
            if not isinstance(exc.orig, TypeError | ValueError):
                raise
            raise ValidationError(f"an outbox payload is not JSON: {exc.orig}") from None
        return {key: int(new_id) for key, new_id in returned}

    def claim(
        self, kinds: Collection[str], now: datetime, *, limit: int, lease_seconds: float
    ) -> list[Claim]:
        token = uuid.uuid4().hex
        due = (
            select(outbox.c.id)
            .where(outbox.c.kind.in_(list(kinds)), _claimable(now))
            .order_by(outbox.c.next_attempt_at, outbox.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        if self._conn.dialect.name == "postgresql":
            # A materialized CTE runs the locking SELECT once. As an ``IN (subquery)`` the
            # planner may run it again per outer row, each run skipping the rows the previous
            # one locked: the UPDATE then takes far more than ``limit`` rows.
            chosen = due.cte("due").prefix_with("MATERIALIZED")
            picked: Any = select(chosen.c.id)
        else:
            picked = due.scalar_subquery()
        stmt = (
            update(outbox)
            # The claimable condition again: on SQLite the subquery locks nothing.
            .where(outbox.c.id.in_(picked), _claimable(now))
            .values(
                state=OutboxState.SENT.value,
                attempts=outbox.c.attempts + 1,
                lease_until=now + timedelta(seconds=lease_seconds),
                claim_token=token,
                updated_at=now,
            )
            .returning(*outbox.c)
        )
        rows = self._conn.execute(stmt).all()
        claims = [Claim(_entry(row), token) for row in rows]
        claims.sort(key=lambda c: c.entry.id)
        return claims

    def _fenced(self, claim: Claim) -> Any:
        return and_(
            outbox.c.id == claim.entry.id,
            outbox.c.claim_token == claim.token,
            outbox.c.state == OutboxState.SENT.value,
        )

    def finish(
        self,
        claim: Claim,
        state: OutboxState,
        now: datetime,
        *,
        status: int | None,
        error: str | None,
    ) -> bool:
        if state not in (OutboxState.ACCEPTED, OutboxState.REJECTED, OutboxState.DEAD):
            raise ValueError(f"{state} is not a final state")
        result = self._conn.execute(
            update(outbox)
            .where(self._fenced(claim))
            .values(
                state=state.value,
                lease_until=None,
                claim_token=None,
                last_status=status,
                last_error=error,
                updated_at=now,
                finished_at=now,
            )
        )
        return result.rowcount == 1

    def accept_many(self, claims: Sequence[Claim], now: datetime, *, status: int) -> set[int]:
        """Mark claims accepted with one statement; the ids whose claim was still current."""
        by_token: dict[str, list[int]] = {}
        for claim in claims:
            by_token.setdefault(claim.token, []).append(claim.entry.id)
        recorded: set[int] = set()
        for token, ids in by_token.items():
            rows = self._conn.execute(
                update(outbox)
                .where(
                    outbox.c.id.in_(ids),
                    outbox.c.claim_token == token,
                    outbox.c.state == OutboxState.SENT.value,
                )
                .values(
                    state=OutboxState.ACCEPTED.value,
                    lease_until=None,
                    claim_token=None,
                    last_status=status,
                    last_error=None,
                    updated_at=now,
                    finished_at=now,
                )
                .returning(outbox.c.id)
            ).scalars()
            recorded.update(int(i) for i in rows)
        return recorded

    def reschedule(
        self,
        claim: Claim,
        next_attempt_at: datetime,
        now: datetime,
        *,
        status: int | None,
        error: str | None,
    ) -> bool:
        result = self._conn.execute(
            update(outbox)
            .where(self._fenced(claim))
            .values(
                state=OutboxState.QUEUED.value,
                next_attempt_at=next_attempt_at,
                lease_until=None,
                claim_token=None,
                last_status=status,
                last_error=error,
                updated_at=now,
            )
        )
        return result.rowcount == 1

    def release(self, claim: Claim, now: datetime) -> bool:
        result = self._conn.execute(
            update(outbox)
            .where(self._fenced(claim))
            .values(
                state=OutboxState.QUEUED.value,
                attempts=outbox.c.attempts - 1,
                next_attempt_at=now,
                lease_until=None,
                claim_token=None,
                updated_at=now,
            )
        )
        return result.rowcount == 1

    def retry(self, entry_id: int, now: datetime) -> OutboxEntry:
        entry = self.get(entry_id)
        if entry is None:
            raise NotFoundError(f"no outbox message {entry_id}")
        if entry.state is OutboxState.ACCEPTED:
            raise ValidationError(
                f"outbox message {entry_id} was accepted; a changed grade is a new submission "
                "with a reason (DOMAIN R13), not a retry"
            )
        if (
            entry.state is OutboxState.SENT
            and entry.lease_until is not None
            and entry.lease_until > now
        ):
            raise ValidationError(
                f"outbox message {entry_id} is in flight until {entry.lease_until:%H:%M:%SZ}; "
                "retry it after that if it is still not delivered"
            )
        self._conn.execute(
            update(outbox)
            .where(outbox.c.id == entry_id, outbox.c.state == entry.state.value)
            .values(
                state=OutboxState.QUEUED.value,
                attempts=0,
                next_attempt_at=now,
                lease_until=None,
                claim_token=None,
                finished_at=None,
                updated_at=now,
            )
        )
        found = self.get(entry_id)
        assert found is not None
        return found

    # --- reading ------------------------------------------------------------------------------

    def get(self, entry_id: int) -> OutboxEntry | None:
        row = self._conn.execute(select(outbox).where(outbox.c.id == entry_id)).first()
        return None if row is None else _entry(row)

    def by_key(self, key: str) -> OutboxEntry | None:
        row = self._conn.execute(select(outbox).where(outbox.c.key == key)).first()
        return None if row is None else _entry(row)

    def by_section(self, section_sis_id: str) -> list[OutboxEntry]:
        rows = self._conn.execute(
            select(outbox).where(outbox.c.section_sis_id == section_sis_id).order_by(outbox.c.id)
        ).all()
        return [_entry(row) for row in rows]

    def list(self, *, state: OutboxState | None = None, limit: int = 100) -> list[OutboxEntry]:
        stmt = select(outbox).order_by(outbox.c.id.desc()).limit(limit)
        if state is not None:
            stmt = stmt.where(outbox.c.state == state.value)
        return [_entry(row) for row in self._conn.execute(stmt).all()]

    def counts(self) -> dict[OutboxState, int]:
        found = dict.fromkeys(OutboxState, 0)
        rows = self._conn.execute(
            select(outbox.c.state, func.count()).group_by(outbox.c.state)
        ).all()
        for state, count in rows:
            found[OutboxState(state)] = int(count)
        return found

    def depth(self, now: datetime) -> dict[OutboxState, tuple[int, float | None]]:
        """Rows per state, and how many seconds ago each state's oldest row was created."""
        found: dict[OutboxState, tuple[int, float | None]] = dict.fromkeys(OutboxState, (0, None))
        rows = self._conn.execute(
            select(outbox.c.state, func.count(), func.min(outbox.c.created_at)).group_by(
                outbox.c.state
            )
        ).all()
        for state, count, oldest in rows:
            created = _utc(oldest)
            age = None if created is None else max(0.0, (now - created).total_seconds())
            found[OutboxState(state)] = (int(count), age)
        return found

    def next_due(self, kinds: Collection[str]) -> datetime | None:
        queued = self._conn.execute(
            select(func.min(outbox.c.next_attempt_at)).where(
                outbox.c.kind.in_(list(kinds)), outbox.c.state == OutboxState.QUEUED.value
            )
        ).scalar()
        leased = self._conn.execute(
            select(func.min(outbox.c.lease_until)).where(
                outbox.c.kind.in_(list(kinds)), outbox.c.state == OutboxState.SENT.value
            )
        ).scalar()
        times = [t for t in (_utc(queued), _utc(leased)) if t is not None]
        return min(times) if times else None
