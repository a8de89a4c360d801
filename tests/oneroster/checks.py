"""What "every grade accepted exactly once, never different, none lost" means, checked on what
the stand-in received (shared by the failure-run tests and the benchmark)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.oneroster.standin import Received


@dataclass
class DeliveryCheck:
    expected: int
    held: int = 0
    lost: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    #: Ids the SIS holds with content other than the outbox's body.
    wrong: list[str] = field(default_factory=list)
    #: Ids that were ever sent with a body other than the outbox's (under that one id).
    different_bodies: list[str] = field(default_factory=list)
    #: Ids two requests were in flight for at the same time.
    concurrent: list[str] = field(default_factory=list)
    #: Ids the SIS answered 2xx more than once (a relay that died after the answer and before
    #: recording it; harmless, a PUT of the same body under the same id).
    accepted_twice: list[str] = field(default_factory=list)
    puts: int = 0

    @property
    def ok(self) -> bool:
        return not (
            self.lost or self.extra or self.wrong or self.different_bodies or self.concurrent
        )

    def __str__(self) -> str:
        return (
            f"{self.held}/{self.expected} held, {len(self.lost)} lost, {len(self.extra)} extra, "
            f"{len(self.wrong)} wrong, {len(self.different_bodies)} sent with different bodies, "
            f"{len(self.concurrent)} sent concurrently, {len(self.accepted_twice)} accepted twice, "
            f"{self.puts} PUTs"
        )


def check_delivery(
    expected: Mapping[str, Any], results: Mapping[str, Any], received: list[Received]
) -> DeliveryCheck:
    """Compare what the outbox meant to send (``expected``: id -> body) with what the SIS got."""
    check = DeliveryCheck(len(expected))
    check.held = sum(1 for key in expected if key in results)
    check.lost = sorted(key for key in expected if key not in results)
    check.extra = sorted(key for key in results if key not in expected)
    check.wrong = sorted(
        key for key, body in expected.items() if key in results and results[key] != body
    )
    by_id: dict[str, list[Received]] = defaultdict(list)
    for r in received:
        if r.method == "PUT":
            by_id[r.sourced_id].append(r)
            check.puts += 1
    for key, calls in by_id.items():
        if any(call.body != expected.get(key) for call in calls):
            check.different_bodies.append(key)
        ordered = sorted(calls, key=lambda c: c.started)
        if any(a.overlaps(b) for a, b in zip(ordered, ordered[1:], strict=False)):
            check.concurrent.append(key)
        if sum(1 for call in calls if 200 <= call.status < 300) > 1:
            check.accepted_twice.append(key)
    return check
