"""The ports the outbox and its relay work through (``adapters/db/outbox_repository.py``,
``adapters/sis/oneroster.py``)."""

from __future__ import annotations

import builtins
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from lti_bridge.domain.outbox import Claim, OutboxEntry, OutboxMessage, OutboxState, SisReply


class OutboxRepository(Protocol):
    def enqueue(self, message: OutboxMessage, now: datetime) -> int:
        """Queue a message and return its id.

        The same key with the same payload again is a no-op returning the existing id; the same
        key with a different payload raises ``OutboxConflictError``.
        """
        ...

    def enqueue_many(self, messages: Sequence[OutboxMessage], now: datetime) -> builtins.list[int]:
        """``enqueue`` each message, in one round trip; their ids in order."""
        ...

    def get(self, entry_id: int) -> OutboxEntry | None: ...

    def by_key(self, key: str) -> OutboxEntry | None: ...

    def by_section(self, section_sis_id: str) -> list[OutboxEntry]:
        """Every message of a section, oldest first."""
        ...

    def depth(self, now: datetime) -> dict[OutboxState, tuple[int, float | None]]:
        """Rows per state and the age in seconds of each state's oldest row."""
        ...

    def list(
        self, *, state: OutboxState | None = None, limit: int = 100
    ) -> builtins.list[OutboxEntry]:
        """The newest messages, optionally only those in ``state``."""
        ...

    def counts(self) -> dict[OutboxState, int]:
        """How many messages are in each state."""
        ...

    def claim(
        self, kinds: Collection[str], now: datetime, *, limit: int, lease_seconds: float
    ) -> builtins.list[Claim]:
        """Take up to ``limit`` due messages (queued and due, or sent with an expired lease).

        Each is marked sent, its attempt counted and its lease written before the caller
        commits and calls out; rows another relay holds are skipped, not waited for.
        """
        ...

    def finish(
        self,
        claim: Claim,
        state: OutboxState,
        now: datetime,
        *,
        status: int | None,
        error: str | None,
    ) -> bool:
        """Record a final outcome; False when the claim is no longer current (lease lost)."""
        ...

    def accept_many(self, claims: Sequence[Claim], now: datetime, *, status: int) -> set[int]:
        """``finish`` as accepted for many claims in one statement; the ids recorded."""
        ...

    def reschedule(
        self,
        claim: Claim,
        next_attempt_at: datetime,
        now: datetime,
        *,
        status: int | None,
        error: str | None,
    ) -> bool:
        """Queue the message again for ``next_attempt_at``; False when the claim is stale."""
        ...

    def release(self, claim: Claim, now: datetime) -> bool:
        """Give back a claimed message that was not sent, without counting the attempt."""
        ...

    def retry(self, entry_id: int, now: datetime) -> OutboxEntry:
        """Queue a rejected, dead or waiting message to be sent now with a fresh budget."""
        ...

    def next_due(self, kinds: Collection[str]) -> datetime | None:
        """When the earliest queued message (or lease) of ``kinds`` comes due, if any."""
        ...


class SisGradebook(Protocol):
    """The SIS's OneRoster 1.2 gradebook (CONTRACT §5)."""

    def put_result(
        self, sourced_id: str, body: Mapping[str, Any], *, deadline: datetime | None = None
    ) -> SisReply:
        """PUT one result; raises ``SisUnavailableError`` when no answer came.

        No request (the PUT, a token request, the retry after a 401) starts that could still
        be running at ``deadline``.
        """
        ...

    def get_result(self, sourced_id: str) -> Mapping[str, Any] | None:
        """GET one result back (the ``result`` object); None when the SIS does not hold it."""
        ...
