"""A read that rides with a launch's state consume, to spare the launch a round trip.

Every launch consumes its login state: one statement, one round trip. On PostgreSQL a read the
launch will need anyway (the credit gate's facts) can go in the same statement, as a SELECT from
the consumed row's CTE. The read is built from the launch's claims before the signature is
checked; its rows wait in ``ReadAheadRows``, on the thread that read them, for the repository
that needs them, which takes them only if its own read for the verified launch is the very same
(same statement, same parameters), and reads for itself otherwise.

This is how the SQL adapters make a launch fast: nothing above them (the services, their ports,
the web layer) sees it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import FromClause, Select


@dataclass(frozen=True)
class ReadAhead:
    #: Names the statement ``build`` makes; the store compiles each name once.
    name: Hashable
    #: The read as a SELECT whose FROM starts at the given anchor: the consumed row.
    build: Callable[[FromClause], Select[Any]]
    params: Mapping[str, Any]


class ReadAheadRows:
    """The rows of the last read-ahead on each thread, for one taker.

    The store replaces them at every consume (clearing them when it read none), so rows never
    outlive the launch that read them into the next one on the thread.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def keep(self, read: ReadAhead | None, rows: Sequence[Any] = ()) -> None:
        self._local.held = (read, rows) if read is not None else None

    def take(self, read: ReadAhead) -> Sequence[Any] | None:
        """The rows read ahead for exactly ``read``, once; None when there are none."""
        held = getattr(self._local, "held", None)
        self._local.held = None
        if held is None or held[0] != read:
            return None
        rows: Sequence[Any] = held[1]
        return rows
