"""The one cache helper: values expire after their ttl, loads are not repeated while fresh, an
error can keep the last value, and a map stays within its size."""

from __future__ import annotations

import threading

import pytest

from lti_bridge.adapters.expiring import Expiring, ExpiringMap


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_value_is_loaded_once_while_fresh_and_again_after_its_ttl() -> None:
    clock, loads = Clock(), []
    value = Expiring(lambda: loads.append(1) or len(loads), 30, clock=clock)
    assert value.get() == 1
    clock.now += 29
    assert value.get() == 1
    clock.now += 2
    assert value.get() == 2
    assert len(loads) == 2


def test_expire_makes_the_next_get_load() -> None:
    clock, loads = Clock(), []
    value = Expiring(lambda: loads.append(1) or len(loads), 30, clock=clock)
    value.get()
    value.expire()
    assert value.get() == 2


def test_an_error_keeps_the_last_value_and_waits_another_ttl_before_trying_again() -> None:
    clock, seen = Clock(), []
    answers: list[object] = [frozenset({"a"}), OSError("down"), frozenset({"b"})]

    def load() -> frozenset[str]:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer  # type: ignore[return-value]

    value = Expiring(load, 10, keep_on=(OSError,), on_error=seen.append, clock=clock)
    assert value.get() == {"a"}
    clock.now += 11
    assert value.get() == {"a"}
    assert [str(e) for e in seen] == ["down"]
    clock.now += 5
    assert value.get() == {"a"}  # no new try within the ttl
    clock.now += 6
    assert value.get() == {"b"}


def test_an_error_with_nothing_to_keep_is_raised_unless_there_is_an_initial_value() -> None:
    def down() -> int:
        raise OSError("down")

    with pytest.raises(OSError):
        Expiring(down, 10, keep_on=(OSError,)).get()
    assert Expiring(down, 10, initial=0, keep_on=(OSError,)).get() == 0
    with pytest.raises(OSError):
        Expiring(down, 10, initial=0).get()  # not kept unless asked


def test_amend_changes_the_value_without_counting_as_a_load() -> None:
    clock, loads = Clock(), []
    value: Expiring[frozenset[str]] = Expiring(
        lambda: loads.append(1) or frozenset({"loaded"}), 30, initial=frozenset(), clock=clock
    )
    value.amend(lambda v: (v or frozenset()) | {"seen"})
    # Never loaded yet: the first get still reads everything.
    assert value.get() == {"loaded"}
    value.amend(lambda v: (v or frozenset()) | {"seen"})
    assert value.get() == {"loaded", "seen"}
    assert len(loads) == 1


def test_threads_that_find_it_stale_together_load_it_once() -> None:
    started, release, loads = threading.Event(), threading.Event(), []

    def slow() -> int:
        loads.append(1)
        started.set()
        release.wait(5)
        return 7

    value = Expiring(slow, 30)
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(value.get())) for _ in range(4)]
    for thread in threads:
        thread.start()
    started.wait(5)
    release.set()
    for thread in threads:
        thread.join(5)
    assert results == [7, 7, 7, 7]
    assert len(loads) == 1


def test_a_map_entry_expires_after_its_ttl() -> None:
    clock = Clock()
    cache: ExpiringMap[str, int] = ExpiringMap(30, clock=clock)
    cache.put("a", 1)
    clock.now += 30
    assert cache.get("a") == 1
    clock.now += 1
    assert cache.get("a") is None


def test_a_map_drops_the_least_recently_put_beyond_its_size() -> None:
    cache: ExpiringMap[str, int] = ExpiringMap(30, max_entries=2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 3)  # put again: now the most recent
    cache.put("c", 4)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (3, None, 4)
    assert len(cache) == 2


def test_a_map_with_no_ttl_keeps_nothing() -> None:
    cache: ExpiringMap[str, int] = ExpiringMap(0)
    cache.put("a", 1)
    assert cache.get("a") is None
    cache.pop("a")  # nothing to pop is fine
