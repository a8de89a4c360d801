"""The shared launch store on SQLite, PostgreSQL and Redis."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from lti_bridge.adapters.db.statements import StatementConnections
from lti_bridge.adapters.lti.store import RedisLaunchStore, SqlLaunchStore


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 1, 3, 16, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_value_round_trips_and_expires(engine):
    clock = Clock()
    store = SqlLaunchStore(engine, clock, StatementConnections(engine))
    store.set_value("login-a", {"nonce": "n1"}, exp=60)
    assert store.get_value("login-a") == {"nonce": "n1"}
    clock.now += timedelta(seconds=61)
    assert store.get_value("login-a") is None
    assert store.consume("login-a") is None
    assert store.purge_expired() == 1


def test_consume_hands_a_value_out_exactly_once(engine):
    store = SqlLaunchStore(engine, Clock(), StatementConnections(engine))
    store.set_value("login-b", {"nonce": "n2"}, exp=60)
    assert store.consume("login-b") == {"nonce": "n2"}
    assert store.consume("login-b") is None


def test_concurrent_consumers_get_one_value_between_them(engine):
    store = SqlLaunchStore(engine, Clock(), StatementConnections(engine))
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
    client.close()
