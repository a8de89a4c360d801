"""Login state, nonces and launch data in a store every worker shares.

pylti1p3 keeps these in a per-process cache or the session cookie by default; under several
gunicorn workers that fails launches at random ("Invalid Nonce"), and its nonce check never
consumes the nonce. Here a value is a row (or a Redis key) with an expiry, and ``consume`` deletes
it in one statement, so exactly one request can use a state or nonce, on any worker.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from datetime import datetime, timedelta
from typing import Any

from pylti1p3.launch_data_storage.base import LaunchDataStorage
from sqlalchemy import Engine, bindparam, delete, select

from lti_bridge.adapters.db.driver import DriverStatement
from lti_bridge.adapters.db.read_ahead import ReadAhead
from lti_bridge.adapters.db.tables import lti_store
from lti_bridge.adapters.db.thread_connections import ThreadConnections
from lti_bridge.adapters.db.upsert import insert_or_update

DEFAULT_TTL_SECONDS = 86400


class SharedLaunchStore(LaunchDataStorage[Any]):
    """The interface both stores share: pylti1p3's storage plus an atomic ``consume``."""

    def get_session_cookie_name(self) -> str | None:
        # Values are bound to the browser by the state cookie (or the platform's postMessage
        # storage), not by a separate session cookie that third-party-cookie blocking would drop.
        return None

    def can_set_keys_expiration(self) -> bool:
        return True

    def consume(self, key: str) -> Any | None:
        """Delete ``key`` and return its value; None when absent, expired or already consumed."""
        raise NotImplementedError

    def consume_reading(self, key: str, read: ReadAhead) -> Any | None:
        """``consume``, reading ``read`` in the same statement where the store can (its rows
        then wait in the store's ``ReadAheadRows`` for the repository that needs them)."""
        return self.consume(key)

    def purge_expired(self) -> int:
        return 0


# Built once: a launch runs this every time, and building a statement costs more than running it.
_GET = select(lti_store.c.value).where(
    lti_store.c.key == bindparam("key"), lti_store.c.expires_at > bindparam("now")
)
# Single use: of two concurrent consumers of one key, only one DELETE gets the row back. It runs
# as its own transaction on the thread's statement connection (``db.statements``): one round trip.
_CONSUMED = (
    delete(lti_store)
    .where(lti_store.c.key == bindparam("key"), lti_store.c.expires_at > bindparam("now"))
    .returning(lti_store.c.value)
)
_CONSUME = DriverStatement(_CONSUMED)


def _consume_reading(read: ReadAhead) -> DriverStatement:
    # PostgreSQL: WITH consumed AS (DELETE … RETURNING value) SELECT consumed.value, … FROM
    # consumed LEFT JOIN …: no row when the key was not there, as with the plain consume.
    consumed = _CONSUMED.cte("consumed")
    return DriverStatement(
        read.build(consumed).add_columns(consumed.c.value.label("consumed_value"))
    )


class SqlLaunchStore(SharedLaunchStore):
    """Launch data in the ``lti_store`` table of the tool's own database."""

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], datetime],
        statements: ThreadConnections,
    ) -> None:
        super().__init__()
        self._engine = engine
        self._clock = clock
        self._statements = statements
        self._read_ahead = statements.read_ahead
        self._reads: dict[Hashable, DriverStatement] = {}

    def get_value(self, key: str) -> Any:
        key = self._prepare_key(key)
        with self._engine.connect() as conn:
            row = conn.execute(_GET, {"key": key, "now": self._clock()}).first()
        return None if row is None else row[0]

    def set_value(self, key: str, value: Any, exp: int | None = None) -> None:
        key = self._prepare_key(key)
        expires_at = self._clock() + timedelta(seconds=exp or DEFAULT_TTL_SECONDS)
        with self._engine.begin() as conn:
            insert_or_update(
                conn,
                lti_store,
                {"key": key, "value": value, "expires_at": expires_at},
                keys=["key"],
                update=["value", "expires_at"],
                returning=None,
            )

    def check_value(self, key: str) -> bool:
        return self.get_value(key) is not None

    def consume(self, key: str) -> Any | None:
        params = {"key": self._prepare_key(key), "now": self._clock()}
        with self._statements.connection(write=True) as conn:
            rows = _CONSUME.rows(conn, params)
        return rows[0].value if rows else None

    def consume_reading(self, key: str, read: ReadAhead) -> Any | None:
        self._read_ahead.keep(None)
        if self._statements.dialect_name != "postgresql":
            # SQLite has no DELETE … RETURNING in a WITH clause; and a statement there costs
            # no network round trip to save.
            return self.consume(key)
        statement = self._reads.get(read.name)
        if statement is None:
            statement = self._reads[read.name] = _consume_reading(read)
        params = {**read.params, "key": self._prepare_key(key), "now": self._clock()}
        with self._statements.connection(write=True) as conn:
            rows = statement.rows(conn, params)
        if not rows:
            return None
        self._read_ahead.keep(read, rows)
        return rows[0].consumed_value

    def purge_expired(self) -> int:
        with self._engine.begin() as conn:
            return conn.execute(
                delete(lti_store).where(lti_store.c.expires_at <= self._clock())
            ).rowcount


class RedisLaunchStore(SharedLaunchStore):
    """Launch data in Redis, when ``LTI_BRIDGE_REDIS_URL`` is set; GETDEL makes consume atomic."""

    def __init__(self, client: Any) -> None:
        super().__init__()
        self._redis = client

    def get_value(self, key: str) -> Any:
        raw = self._redis.get(self._prepare_key(key))
        return None if raw is None else json.loads(raw)

    def set_value(self, key: str, value: Any, exp: int | None = None) -> None:
        self._redis.set(self._prepare_key(key), json.dumps(value), ex=exp or DEFAULT_TTL_SECONDS)

    def check_value(self, key: str) -> bool:
        return bool(self._redis.exists(self._prepare_key(key)))

    def consume(self, key: str) -> Any | None:
        raw = self._redis.getdel(self._prepare_key(key))
        return None if raw is None else json.loads(raw)
