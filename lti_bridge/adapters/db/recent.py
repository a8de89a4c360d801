"""Rows this process wrote lately, so a launch need not write the same values again."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

from lti_bridge.adapters.expiring import ExpiringMap


class RecentWrites:
    """Keys of recently committed upserts with a digest of what they wrote (and a result).

    Learners, contexts and resource links are upserted on every launch though they seldom
    change; skipping a write whose values this process committed within ``ttl`` seconds saves
    statements on the hot path. Timestamps such as ``last_launch_at`` are therefore fresh to
    ``ttl``. Entries are remembered only after their transaction commits.
    """

    def __init__(self, ttl: float = 300.0, max_entries: int = 50_000) -> None:
        self._entries: ExpiringMap[Hashable, tuple[Hashable, Any]] = ExpiringMap(
            ttl, max_entries=max_entries
        )

    def get(self, key: Hashable, digest: Hashable) -> tuple[bool, Any]:
        """Whether ``key`` was written with ``digest`` within ``ttl``, and what it returned."""
        entry = self._entries.get(key)
        if entry is None or entry[0] != digest:
            return False, None
        return True, entry[1]

    def remember(self, items: Iterable[tuple[Hashable, Hashable, Any]]) -> None:
        for key, digest, result in items:
            self._entries.put(key, (digest, result))
