"""The outbox relay: deliver queued messages to the SIS and record each outcome (CONTRACT §5).

One round (``relay_once``) is three steps, each its own transaction or none:

1. claim a batch of due messages: each is marked sent, its attempt counted and its lease written,
   and that is committed *before* anything is sent, so a relay killed mid-send leaves rows that
   another relay takes again once the lease runs out (never lost);
2. send them, a few at a time, each with its frozen key and body (the same on every retry), and
   only while the claim's lease still has room for a whole request (never two relays at once);
3. record the outcomes in one transaction, fenced by the claim: 2xx accepted; 429, 408, 5xx and
   no answer retried after a capped, jittered exponential backoff (``Retry-After`` honoured);
   other 4xx rejected with the SIS's message; the retry budget spent, dead (logged as an alert).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta

from lti_bridge.domain.errors import SisUnavailableError
from lti_bridge.domain.outbox import (
    SIS_RESULT,
    Claim,
    OutboxEntry,
    OutboxState,
    RetryPolicy,
    SisReply,
    Verdict,
    judge,
)
from lti_bridge.services.outbox_ports import SisGradebook
from lti_bridge.services.ports import UnitOfWork

log = logging.getLogger("lti_bridge.relay")

#: Delivers one message of a kind other than SIS results (carry-over's AGS work): the answer
#: as the relay judges it, no later than the deadline; raises ``SisUnavailableError`` (or
#: anything else) when there was no answer, and the message is retried.
Sender = Callable[[OutboxEntry, datetime], SisReply]


@dataclass(frozen=True)
class RelaySettings:
    batch_size: int = 50
    lease_seconds: float = 120.0
    #: The longest one request may take (the HTTP timeout, connect + read): a message is sent
    #: only while its lease has at least this much (plus a margin) left.
    request_timeout_seconds: float = 10.0
    policy: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass
class RelayStats:
    """What one or more rounds did."""

    claimed: int = 0
    accepted: int = 0
    retried: int = 0
    rejected: int = 0
    dead: int = 0
    #: Claimed but not sent (the lease was running out), given back without counting.
    released: int = 0
    #: Outcomes not recorded because another relay had taken the row (lease lost).
    stale: int = 0

    def __iadd__(self, other: RelayStats) -> RelayStats:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def summary(self) -> str:
        return " ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))


@dataclass(frozen=True)
class _Sent:
    """What happened to one claimed message: a reply, no answer, or not sent at all."""

    reply: SisReply | None = None
    error: str | None = None
    skipped: bool = False


#: Seconds of lease kept in hand beyond one request's timeout before a message is sent.
LEASE_MARGIN_SECONDS = 5.0


def _send(
    claim: Claim,
    gradebook: SisGradebook | None,
    clock: Callable[[], datetime],
    settings: RelaySettings,
    senders: Mapping[str, Sender] | None = None,
) -> _Sent:
    lease_until = claim.entry.lease_until
    deadline = timedelta(seconds=settings.request_timeout_seconds + LEASE_MARGIN_SECONDS)
    if lease_until is None or clock() + deadline > lease_until:
        return _Sent(skipped=True)
    sender = (senders or {}).get(claim.entry.kind)
    until = lease_until - timedelta(seconds=LEASE_MARGIN_SECONDS)
    try:
        if sender is not None:
            return _Sent(reply=sender(claim.entry, until))
        if gradebook is None:
            return _Sent(error=f"no sender for outbox kind {claim.entry.kind!r}")
        return _Sent(
            reply=gradebook.put_result(claim.entry.key, claim.entry.payload, deadline=until)
        )
    except SisUnavailableError as exc:
        return _Sent(error=str(exc))
    except Exception as exc:  # noqa: BLE001 - a bug must not lose the row: retry it, loudly
        log.exception("outbox %d: sending failed unexpectedly", claim.entry.id)
        return _Sent(error=f"{type(exc).__name__}: {exc}")


def relay_once(
    *,
    uow: Callable[[], UnitOfWork],
    gradebook: SisGradebook | None,
    clock: Callable[[], datetime],
    settings: RelaySettings | None = None,
    executor: Executor | None = None,
    rng: random.Random | None = None,
    kinds: Iterable[str] = (SIS_RESULT,),
    senders: Mapping[str, Sender] | None = None,
) -> RelayStats:
    """Claim one batch of due messages, deliver them, and record what the receiver answered.

    SIS results go to ``gradebook``; other kinds to their ``senders`` (carry-over's AGS work):
    one relay, one retry policy.
    """
    settings = settings or RelaySettings()
    rng = rng or random.Random()
    with uow() as work:
        claims = work.outbox.claim(
            list(kinds),
            clock(),
            limit=settings.batch_size,
            lease_seconds=settings.lease_seconds,
        )
        work.commit()
    stats = RelayStats(claimed=len(claims))
    if not claims:
        return stats

    def send(claim: Claim) -> _Sent:
        return _send(claim, gradebook, clock, settings, senders)

    if executor is None or len(claims) == 1:
        sent = [send(claim) for claim in claims]
    else:
        sent = list(executor.map(send, claims))

    with uow() as work:
        now = clock()
        # Acceptances, the bulk of a healthy run, in one statement per status; the rest by row.
        accepted: dict[int, list[Claim]] = {}
        for claim, outcome in zip(claims, sent, strict=True):
            reply = outcome.reply
            if reply is not None and judge(reply) is Verdict.ACCEPTED:
                accepted.setdefault(reply.status, []).append(claim)
            else:
                _record(work, claim, outcome, now, settings.policy, rng, stats)
        for status, group in accepted.items():
            recorded = work.outbox.accept_many(group, now, status=status)
            for claim in group:
                entry = claim.entry
                if entry.id in recorded:
                    stats.accepted += 1
                    log.info(
                        "outbox %d %s %s: accepted (%d) on attempt %d",
                        entry.id,
                        entry.kind,
                        entry.key,
                        status,
                        entry.attempts,
                    )
                else:
                    stats.stale += 1
                    log.warning(
                        "outbox %d %s %s: outcome not recorded, another relay holds the row now",
                        entry.id,
                        entry.kind,
                        entry.key,
                    )
        work.commit()
    return stats


def _record(
    work: UnitOfWork,
    claim: Claim,
    sent: _Sent,
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
    stats: RelayStats,
) -> None:
    entry = claim.entry
    label = f"outbox {entry.id} {entry.kind} {entry.key}"
    if sent.skipped:
        if work.outbox.release(claim, now):
            stats.released += 1
            log.info("%s: not sent, its lease was running out; queued again", label)
        else:
            stats.stale += 1
        return
    reply = sent.reply
    status = reply.status if reply is not None else None
    verdict = judge(reply) if reply is not None else Verdict.RETRY
    error = sent.error if reply is None else (reply.message or None)
    recorded: bool
    if verdict is Verdict.ACCEPTED:
        recorded = work.outbox.finish(claim, OutboxState.ACCEPTED, now, status=status, error=None)
        if recorded:
            stats.accepted += 1
            log.info("%s: accepted (%s) on attempt %d", label, status, entry.attempts)
    elif verdict is Verdict.REJECTED:
        recorded = work.outbox.finish(claim, OutboxState.REJECTED, now, status=status, error=error)
        if recorded:
            stats.rejected += 1
            log.warning("%s: rejected (%s): %s", label, status, error)
    elif policy.exhausted(entry.attempts):
        recorded = work.outbox.finish(claim, OutboxState.DEAD, now, status=status, error=error)
        if recorded:
            stats.dead += 1
            log.error(
                "ALERT %s: dead after %d attempts; last answer %s: %s; "
                "retry it with: lti-bridge outbox retry %d",
                label,
                entry.attempts,
                status if status is not None else "none",
                error,
                entry.id,
            )
    else:
        retry_after = reply.retry_after_seconds if reply is not None else None
        wait = policy.delay(entry.attempts, rng, retry_after)
        recorded = work.outbox.reschedule(
            claim, now + timedelta(seconds=wait), now, status=status, error=error
        )
        if recorded:
            stats.retried += 1
            log.info(
                "%s: attempt %d failed (%s: %s); next in %.1f s",
                label,
                entry.attempts,
                status if status is not None else "no answer",
                error,
                wait,
            )
    if not recorded:
        stats.stale += 1
        log.warning("%s: outcome not recorded, another relay holds the row now", label)
