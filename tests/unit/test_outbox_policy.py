"""The relay's verdicts and retry policy, as plain values."""

from __future__ import annotations

import random

import pytest

from lti_bridge.domain.outbox import RetryPolicy, SisReply, Verdict, judge


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.ACCEPTED),
        (201, Verdict.ACCEPTED),
        (204, Verdict.ACCEPTED),
        (408, Verdict.RETRY),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (503, Verdict.RETRY),
        (400, Verdict.REJECTED),
        (401, Verdict.REJECTED),
        (404, Verdict.REJECTED),
        (409, Verdict.REJECTED),
        (422, Verdict.REJECTED),
    ],
)
def test_each_answer_gets_its_verdict(status, verdict):
    assert judge(SisReply(status)) is verdict


def test_the_backoff_doubles_within_jitter_and_stops_at_the_cap():
    policy = RetryPolicy(base_seconds=2, cap_seconds=60, max_attempts=10)
    rng = random.Random(1)
    for attempts, ceiling in [(1, 2), (2, 4), (3, 8), (5, 32), (6, 60), (9, 60), (200, 60)]:
        for _ in range(50):
            assert ceiling / 2 <= policy.delay(attempts, rng) <= ceiling


def test_the_jitter_spreads_retries_of_the_same_attempt():
    policy = RetryPolicy(base_seconds=10, cap_seconds=300)
    rng = random.Random(2)
    assert len({round(policy.delay(3, rng), 3) for _ in range(20)}) == 20


def test_a_longer_retry_after_wins_but_is_capped():
    policy = RetryPolicy(base_seconds=1, cap_seconds=10, max_retry_after_seconds=600)
    rng = random.Random(3)
    assert policy.delay(1, rng, retry_after=45) == 45
    assert policy.delay(1, rng, retry_after=86400) == 600
    assert policy.delay(1, rng, retry_after=0.1) <= 1


def test_the_budget_is_spent_after_max_attempts():
    policy = RetryPolicy(max_attempts=3)
    assert not policy.exhausted(2)
    assert policy.exhausted(3)
