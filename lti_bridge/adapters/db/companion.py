"""A read that rides with a launch's state consume, to spare the launch a round trip.

Every launch consumes its login state: one statement, one round trip. On PostgreSQL a read the
launch will need anyway (the credit gate's facts) can go in the same statement, as a SELECT
from the consumed row's CTE. The read is built from the launch's claims before the signature is
checked, so whoever uses its rows first checks they were read for the verified launch: same
statement, same parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import FromClause, Select


@dataclass(frozen=True)
class Companion:
    #: Names the statement ``build`` makes; the store compiles each name once.
    name: Hashable
    #: The read as a SELECT whose FROM starts at the given anchor: the consumed row.
    build: Callable[[FromClause], Select[Any]]
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Prefetched:
    """A companion's rows, as read with the consume."""

    companion: Companion
    rows: Sequence[Any]
