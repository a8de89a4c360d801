"""The shared launch store on SQLite, PostgreSQL and Redis."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, select

from lti_bridge.adapters.db.read_ahead import ReadAhead
from lti_bridge.adapters.db.tables import lti_store
from lti_bridge.adapters.db.thread_connections import ThreadConnections
from lti_bridge.adapters.lti.store import RedisLaunchStore, SqlLaunchStore


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 1, 3, 16, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_value_round_trips_and_expires(engine):
    clock = Clock()
    store = SqlLaunchStore(engine, clock, ThreadConnections(engine))
    store.set_value("login-a", {"nonce": "n1"}, exp=60)
    assert store.get_value("login-a") == {"nonce": "n1"}
    clock.now += timedelta(seconds=61)
    assert store.get_value("login-a") is None
    assert store.consume("login-a") is None
    assert store.purge_expired() == 1


def test_consume_hands_a_value_out_exactly_once(engine):
    store = SqlLaunchStore(engine, Clock(), ThreadConnections(engine))
    store.set_value("login-b", {"nonce": "n2"}, exp=60)
    assert store.consume("login-b") == {"nonce": "n2"}
    assert store.consume("login-b") is None


def test_concurrent_consumers_get_one_value_between_them(engine):
    store = SqlLaunchStore(engine, Clock(), ThreadConnections(engine))
    store.set_value("login-c", {"nonce": "n3"}, exp=60)
    results: list[object] = []
    barrier = threading.Barrier(8)

    def consume() -> None:
        barrier.wait()
        results.append(store.consume("login-c"))

    threads = [threading.Thread(target=consume) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert [r for r in results if r is not None] == [{"nonce": "n3"}]


def test_redis_store_consumes_once():
    redis = pytest.importorskip("redis")
    client = redis.Redis(host="127.0.0.1", port=6379)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("Redis not running on 127.0.0.1:6379")
    store = RedisLaunchStore(client)
    store.set_value("login-test-redis", {"nonce": "n4"}, exp=60)
    assert store.get_value("login-test-redis") == {"nonce": "n4"}
    assert store.consume("login-test-redis") == {"nonce": "n4"}
    assert store.consume("login-test-redis") is None
    # A read cannot ride with a Redis GETDEL: the consume is all it does.
    store.set_value("login-test-redis", {"nonce": "n5"}, exp=60)
    read = ReadAhead(name="other-key", build=_other_key, params={"other_key": "x"})
    assert store.consume_reading("login-test-redis", read) == {"nonce": "n5"}
    assert store.consume_reading("login-test-redis", read) is None
    client.close()


def _other_key(anchor):
    """A read ahead: another key's value, by a parameter of the read's own."""
    return select(lti_store.c.value.label("other")).select_from(
        anchor.outerjoin(lti_store, lti_store.c.key == bindparam("other_key"))
    )


def test_a_read_ahead_rides_with_the_consume_on_postgresql_only(engine):
    statements = ThreadConnections(engine)
    store = SqlLaunchStore(engine, Clock(), statements)
    store.set_value("login-d", {"nonce": "n4"}, exp=60)
    store.set_value("login-e", {"nonce": "n5"}, exp=60)
    # The read names the row as stored (the store prefixes its keys).
    other_key = store._prepare_key("login-e")
    read = ReadAhead(name="other-key", build=_other_key, params={"other_key": other_key})

    value = store.consume_reading("login-d", read)

    assert value == {"nonce": "n4"}
    rows = statements.read_ahead.take(read)
    if engine.dialect.name == "postgresql":
        assert rows is not None and [row.other for row in rows] == [{"nonce": "n5"}]
    else:
        # SQLite cannot put a DELETE … RETURNING in a WITH clause: the reader reads itself.
        assert rows is None
    # Still single use, and an unknown key reads nothing alongside (nor leaves rows behind).
    statements.read_ahead.keep(read, ["stale"])
    assert store.consume_reading("login-d", read) is None
    assert statements.read_ahead.take(read) is None
    assert store.consume("login-d") is None
    assert store.get_value("login-e") == {"nonce": "n5"}
