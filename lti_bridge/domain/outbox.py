"""The outbox: messages to other systems, and the relay's retry policy (DOMAIN: "The SIS's view").

A message is written in the same transaction as the state it carries and delivered later by the
relay, at least once, always with the same key and the same body; the receiver's idempotency on
the key (a OneRoster ``PUT …/results/{sourcedId}`` replaces the result under that id) turns that
into exactly once.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

#: The kind of a final grade on its way to the SIS's OneRoster gradebook (CONTRACT §5).
SIS_RESULT = "sis.result"


class OutboxState(StrEnum):
    QUEUED = "queued"
    #: Claimed by a relay and in flight under a lease.
    SENT = "sent"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DEAD = "dead"


#: States a message never leaves by itself.
FINISHED = frozenset({OutboxState.ACCEPTED, OutboxState.REJECTED, OutboxState.DEAD})


@dataclass(frozen=True)
class OutboxMessage:
    """One message to send: ``key`` is its idempotency key, ``payload`` the exact body."""

    kind: str
    key: str
    payload: Mapping[str, Any]
    section_sis_id: str | None = None
    registration_sis_id: str | None = None


@dataclass(frozen=True)
class OutboxEntry:
    """An outbox row read back."""

    id: int
    message: OutboxMessage
    state: OutboxState
    attempts: int
    next_attempt_at: datetime
    lease_until: datetime | None
    last_status: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @property
    def kind(self) -> str:
        return self.message.kind

    @property
    def key(self) -> str:
        return self.message.key

    @property
    def payload(self) -> Mapping[str, Any]:
        return self.message.payload


@dataclass(frozen=True)
class Claim:
    """A message a relay holds: ``token`` fences it, so only this claim records an outcome."""

    entry: OutboxEntry
    token: str


@dataclass(frozen=True)
class SisReply:
    """What the receiver answered: its HTTP status, its message, and any ``Retry-After``."""

    status: int
    message: str = ""
    retry_after_seconds: float | None = None


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    RETRY = "retry"
    REJECTED = "rejected"


def judge(reply: SisReply) -> Verdict:
    """2xx accepted; 429, 408 and 5xx worth retrying; any other answer rejected for good."""
    if 200 <= reply.status < 300:
        return Verdict.ACCEPTED
    if reply.status in (408, 429) or reply.status >= 500:
        return Verdict.RETRY
    return Verdict.REJECTED


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with full jitter, and a retry budget.

    The n-th failed attempt waits a random time in ``[delay/2, delay]`` where
    ``delay = min(cap, base * 2**(n-1))``: the half kept fixed stops a burst of failures from
    coming back all at once without letting one row retry almost immediately. A ``Retry-After``
    longer than that wins (capped by ``max_retry_after``: a receiver may not park a row for a day).
    """

    base_seconds: float = 2.0
    cap_seconds: float = 300.0
    max_attempts: int = 12
    max_retry_after_seconds: float = 3600.0

    def delay(self, attempts: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt."""
        exponent = max(0, attempts - 1)
        ceiling = (
            self.cap_seconds
            if exponent >= 64
            else min(self.cap_seconds, self.base_seconds * 2.0**exponent)
        )
        wait = rng.uniform(ceiling / 2, ceiling)
        if retry_after is not None and retry_after > 0:
            wait = max(wait, min(retry_after, self.max_retry_after_seconds))
        return wait

    def exhausted(self, attempts: int) -> bool:
        """True when ``attempts`` attempts used up the retry budget."""
        return attempts >= self.max_attempts
