"""In-process caches whose entries expire: the one helper every per-process cache uses.

A cache here trades freshness for a query a launch does not make: the signing key, the
registrations, the catalog's gate settings, the rows a launch wrote lately. Each says its ``ttl``
where it is built. (The platforms' key sets keep their own cache in ``lti/platform_keys.py``:
they expire by the platform's ``Cache-Control``, are fetched aside with one fetch in flight, and
remember failures; none of that belongs here.)
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: Older than any reading of a monotonic clock: "never loaded".
_NEVER = -1e18


class Expiring(Generic[V]):
    """One value, loaded again by ``load`` when it is older than ``ttl`` seconds.

    Loads are serialised: threads that find it stale together load it once. When ``load``
    raises one of ``keep_on`` the last value (or ``initial``) stays and the next try waits
    another ``ttl``: a cache in front of a header must not take a request down with the database.
    """

    def __init__(
        self,
        load: Callable[[], V],
        ttl: float,
        *,
        initial: V | None = None,
        keep_on: tuple[type[BaseException], ...] = (),
        on_error: Callable[[BaseException], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl = ttl
        self._value = initial
        self._keep_on = keep_on
        self._on_error = on_error
        self._clock = clock
        self._loaded_at = _NEVER
        self._lock = threading.Lock()

    def get(self) -> V:
        if self._clock() - self._loaded_at > self._ttl or self._loaded_at == _NEVER:
            with self._lock:
                now = self._clock()
                if now - self._loaded_at > self._ttl or self._loaded_at == _NEVER:
                    try:
                        self._value = self._load()
                    except self._keep_on as exc:
                        if self._on_error is not None:
                            self._on_error(exc)
                        if self._value is None:
                            raise
                    self._loaded_at = now
        return self._value  # type: ignore[return-value]

    def amend(self, change: Callable[[V | None], V]) -> None:
        """Change the value in place (with what this process just learned) without counting
        as a load: it is still loaded again when ``ttl`` has passed since the last one."""
        with self._lock:
            self._value = change(self._value)

    def expire(self) -> None:
        """Load again on the next ``get`` (after this process changed what it caches)."""
        self._loaded_at = _NEVER


class ExpiringMap(Generic[K, V]):
    """Values by key, each fresh for ``ttl`` seconds from when it was put; at most
    ``max_entries``, the least recently put dropped first."""

    def __init__(
        self,
        ttl: float,
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value put for ``key`` within ``ttl``, else None."""
        entry = self._entries.get(key)
        if entry is None or self._clock() - entry[0] > self._ttl:
            return None
        return entry[1]

    def put(self, key: K, value: V) -> None:
        if self._ttl <= 0:
            return
        now = self._clock()
        with self._lock:
            self._entries[key] = (now, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def pop(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)
