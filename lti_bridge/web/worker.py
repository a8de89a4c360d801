"""``lti-bridge worker`` and ``serve``'s background thread: the outbox relay and housekeeping.

The loop outlives its surroundings: a database or SIS outage is logged and waited out with a
growing pause (capped), never a reason to exit. One line per delivery outcome comes from the
relay (``lti_bridge.relay``); the worker adds a summary every ``summary_seconds``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from lti_bridge.bootstrap import Services
from lti_bridge.domain.carryover import AGS_SCORE, CARRYOVER_PLAN
from lti_bridge.services.relay import RelayStats, relay_once
from lti_bridge.telemetry import log_event

log = logging.getLogger("lti_bridge.worker")

#: The outbox kinds of carry-over's AGS work (docs/carryover.md).
CARRYOVER_KINDS = (CARRYOVER_PLAN, AGS_SCORE)
#: Longest pause after repeated failures of a round (database or SIS down).
MAX_ERROR_PAUSE = 30.0
#: Longest pause of the relay while the SIS answers nothing but failures.
MAX_SIS_PAUSE = 8.0
#: A batch this large failing entirely (no acceptance, no rejection) means the SIS is down.
SIS_DOWN_MIN_SENDS = 3


def sis_looks_down(batch: RelayStats) -> bool:
    """Every message sent in the batch failed in a way worth retrying: the SIS, not the rows."""
    sent = batch.claimed - batch.released - batch.stale
    return (
        sent >= SIS_DOWN_MIN_SENDS
        and batch.accepted == 0
        and batch.rejected == 0
        and batch.retried + batch.dead == sent
    )


@dataclass
class RoundResult:
    stats: RelayStats
    purged: int


class Worker:
    """Runs rounds of work until ``stop`` is set; ``round()`` alone is ``--once``."""

    def __init__(
        self,
        svc: Services,
        *,
        purge_interval: float = 30.0,
        summary_seconds: float = 60.0,
        stop: threading.Event | None = None,
    ) -> None:
        self.svc = svc
        self.purge_interval = purge_interval
        self.summary_seconds = summary_seconds
        self.stop = stop or threading.Event()
        self.settings = svc.relay_settings()
        self.total = RelayStats()
        self._since_summary = RelayStats()
        self._rounds = 0
        self._purged = 0
        self._rng = random.Random()
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, svc.settings.relay_concurrency), thread_name_prefix="relay-send"
        )
        # Carry-over's AGS work: twice as many threads as a platform may have requests in
        # flight, so one thread's database work (a plan's setup and report) overlaps another's
        # requests and the platform's slots stay full; the limiter keeps the bound.
        self._ags_pool = ThreadPoolExecutor(
            max_workers=max(1, svc.settings.relay_concurrency, 2 * svc.settings.ags_max_in_flight),
            thread_name_prefix="relay-ags",
        )
        self._senders = svc.carryover_senders()
        self._next_purge = 0.0
        self._warned_no_sis = False
        # While the SIS is down the relay sends one batch per pause, not every due row: rows
        # keep their low attempt counts (short backoffs), so the queue drains at full speed
        # soon after the SIS is back instead of waiting out long per-row backoffs.
        self._sis_failures = 0
        self._sis_paused_until = 0.0

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._ags_pool.shutdown(wait=True)

    def relay_carryover(self, *, max_rounds: int = 100_000) -> RelayStats:
        """Carry-over's plans and score posts, batch after batch while any are due.

        Independent of the SIS: a platform's throttling or outage is the platform's, and each
        message backs off on its own (``docs/carryover.md``).
        """
        stats = RelayStats()
        # Nothing due: a read outside any transaction, not a claim (on SQLite every transaction
        # takes the write lock, even a claim that finds nothing, and an idle relay polls).
        due = self.svc.carryover_next_due()
        if due is None or due > self.svc.clock():
            return stats
        for _ in range(max_rounds):
            batch = relay_once(
                uow=self.svc.uow,
                gradebook=None,
                clock=self.svc.clock,
                settings=self.settings,
                executor=self._ags_pool,
                rng=self._rng,
                kinds=CARRYOVER_KINDS,
                senders=self._senders,
            )
            stats += batch
            # A plan queues its score posts, due at once: go on while anything was due.
            if not batch.claimed or self.stop.is_set():
                break
        return stats

    def relay_until_idle(self, *, max_rounds: int = 100_000) -> RelayStats:
        """Relay batch after batch while due messages remain (or until stopped)."""
        stats = self.relay_carryover(max_rounds=max_rounds)
        gradebook = self.svc.gradebook
        if gradebook is None:
            if not self._warned_no_sis:
                log.warning("LTI_BRIDGE_SIS_BASE_URL is not set: grades stay queued, none are sent")
                self._warned_no_sis = True
            return stats
        if time.monotonic() < self._sis_paused_until:
            return stats
        for _ in range(max_rounds):
            batch = relay_once(
                uow=self.svc.uow,
                gradebook=gradebook,
                clock=self.svc.clock,
                settings=self.settings,
                executor=self._pool,
                rng=self._rng,
            )
            stats += batch
            if sis_looks_down(batch):
                self._sis_failures += 1
                pause = min(
                    MAX_SIS_PAUSE, self.svc.settings.relay_poll_seconds * 2**self._sis_failures
                )
                self._sis_paused_until = time.monotonic() + pause
                log.warning(
                    "the SIS failed every call of a batch (%d in a row); relay paused %.1f s",
                    self._sis_failures,
                    pause,
                )
                break
            if self._sis_failures and batch.accepted + batch.rejected:
                log.info("the SIS answers again after %d failed batches", self._sis_failures)
                self._sis_failures = 0
            if batch.claimed < self.settings.batch_size or self.stop.is_set():
                break
        return stats

    def round(self) -> RoundResult:
        """Purge expired launch state when due, then relay until nothing is due."""
        purged = 0
        if time.monotonic() >= self._next_purge:
            purged = self.svc.store.purge_expired()
            self._next_purge = time.monotonic() + self.purge_interval
            if purged:
                log.info("purged %d expired launch-state entries", purged)
        stats = self.relay_until_idle()
        self.total += stats
        self._since_summary += stats
        self._rounds += 1
        self._purged += purged
        return RoundResult(stats, purged)

    def _outbox_fields(self) -> dict[str, object]:
        """The outbox's count per state as ``outbox_<state>`` fields, or why it is unreadable."""
        try:
            with self.svc.uow() as uow:
                counts = uow.outbox.counts()
        except Exception as exc:  # noqa: BLE001 - a summary must not stop the loop
            return {"outbox": f"(outbox unreadable: {type(exc).__name__})"}
        return {f"outbox_{state.value}": n for state, n in counts.items()}

    def _summary(self) -> None:
        log_event(
            log,
            "worker summary",
            seconds=self.summary_seconds,
            rounds=self._rounds,
            purged_launch_state=self._purged,
            **self._outbox_fields(),
            **{f"relay_{name}": n for name, n in vars(self._since_summary).items()},
        )
        self._rounds = self._purged = 0
        self._since_summary = RelayStats()

    def run(self) -> None:
        """Run until ``stop`` is set, surviving database and SIS outages."""
        log_event(
            log,
            "worker started",
            database=self.svc.engine.url.render_as_string(hide_password=True),
            interval_s=self.purge_interval,
            relay="on" if self.svc.gradebook is not None else "off (no SIS configured)",
            batch=self.settings.batch_size,
            in_flight=self.svc.settings.relay_concurrency,
            lease_s=self.settings.lease_seconds,
        )
        failures = 0
        next_summary = time.monotonic() + self.summary_seconds
        poll = self.svc.settings.relay_poll_seconds
        try:
            while not self.stop.is_set():
                pause = poll
                try:
                    self.round()
                    if failures:
                        log.info("worker recovered after %d failed rounds", failures)
                    failures = 0
                except Exception as exc:  # noqa: BLE001 - outages are waited out, not fatal
                    failures += 1
                    pause = min(MAX_ERROR_PAUSE, poll * 2 ** min(failures, 10))
                    log.error(
                        "worker round failed (%d in a row), next try in %.1f s: %s: %s",
                        failures,
                        pause,
                        type(exc).__name__,
                        " ".join(str(exc).split())[:300],
                    )
                if time.monotonic() >= next_summary:
                    self._summary()
                    next_summary = time.monotonic() + self.summary_seconds
                self.stop.wait(pause)
        finally:
            self.close()
            log.info("worker stopped: %s", self.total.summary())
            held = self._outbox_fields()
            log.info(
                "outbox now: %s",
                " ".join(f"{k.removeprefix('outbox_')}={v}" for k, v in held.items()),
            )
