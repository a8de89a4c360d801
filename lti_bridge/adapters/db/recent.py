"""Rows this process wrote lately, so a launch need not write the same values again."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Any


class RecentWrites:
    """Keys of recently committed upserts with a digest of what they wrote (and a result).

    Learners, contexts and resource links are upserted on every launch though they seldom
    change; skipping a write whose values this process committed within ``ttl`` seconds saves
    statements on the hot path. Timestamps such as ``last_launch_at`` are therefore fresh to
    ``ttl``. Entries are remembered only after their transaction commits.
    """

    def __init__(self, ttl: float = 300.0, max_entries: int = 50_000) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._entries: OrderedDict[Hashable, tuple[float, Hashable, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, digest: Hashable) -> tuple[bool, Any]:
        """Whether ``key`` was written with ``digest`` within ``ttl``, and what it returned."""
        entry = self._entries.get(key)
        if entry is None or entry[1] != digest or time.monotonic() - entry[0] > self._ttl:
            return False, None
        return True, entry[2]

    def remember(self, items: Iterable[tuple[Hashable, Hashable, Any]]) -> None:
        now = time.monotonic()
        with self._lock:
            for key, digest, result in items:
                self._entries[key] = (now, digest, result)
                self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
