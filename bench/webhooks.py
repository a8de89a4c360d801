"""A term-start burst of signed SIS webhooks against ``lti-bridge serve``, then a state check.

20,000 events for 5,000 registrations (2,500 students, 100 sections in two sessions), 10% of them
re-sent duplicates and 10% delivered after a newer event of the same registration, posted by 8
concurrent senders. Afterwards every registration must hold its highest-sequence snapshot and the
delivery log must hold each webhook id once.

    .venv/bin/python -m bench.webhooks --db sqlite|postgresql [--events N]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.engine import make_url

from bench.databases import fresh_database
from bench.load import Req, run
from lti_bridge.adapters.db.engine import make_engine, upgrade
from lti_bridge.adapters.db.tables import (
    registrations,
    sis_sections,
    sis_sessions,
    sis_students,
    webhook_deliveries,
)
from tests.fixtures.processes import lti_bridge_serve, tool_env
from tests.fixtures.sis_events import SECRET, signed_headers

# What can follow what in one registration's life, as (event type, status, tuition status).
FIRST = ("enrollment.registered", "registered", "unpaid")
NEXT = [
    ("tuition.paid", "registered", "paid"),
    ("tuition.payment_failed", "registered", "failed"),
    ("enrollment.dropped", "dropped", "unpaid"),
    ("enrollment.withdrawn", "withdrawn", "paid"),
    ("tuition.refunded", "withdrawn", "refunded"),
    ("enrollment.canceled", "canceled", "unpaid"),
]
SESSIONS = {
    "2024-S1": ("2024-01-15", "2024-03-08", "2024-01-01T16:00:00Z", "2024-02-23T23:59:59Z"),
    "2024-S2": ("2024-03-11", "2024-05-03", "2024-02-26T16:00:00Z", "2024-04-19T23:59:59Z"),
}


@dataclass(frozen=True)
class Delivery:
    webhook_id: str
    registration: str
    sequence: int
    status: str
    tuition: str
    body: bytes


def _event(reg: int, sequence: int, step: tuple[str, str, str]) -> dict[str, Any]:
    event_type, status, tuition = step
    section = reg % 100
    session = "2024-S1" if section < 50 else "2024-S2"
    starts, ends, opens, closes = SESSIONS[session]
    student = f"9{reg // 2:08d}"
    return {
        "type": event_type,
        "timestamp": "2024-01-03T16:02:11Z",
        "data": {
            "sequence": sequence,
            "student": {"sis_id": student, "email": f"s{student}@example.edu"},
            "registration": {
                "sis_id": f"reg-{reg:05d}",
                "status": status,
                "enrolled_at": "2024-01-03T15:58:40Z",
                "section": {
                    "sis_id": f"CSCA{5000 + section}-100-{session}",
                    "course_code": f"CSCA {5000 + section}",
                    "credit_hours": 3,
                },
                "session": {
                    "code": session,
                    "starts_on": starts,
                    "ends_on": ends,
                    "enrollment_opens_at": opens,
                    "enrollment_closes_at": closes,
                },
            },
            "tuition": {"status": tuition, "amount_cents": 200100, "currency": "USD"},
        },
    }


def build_burst(
    events: int, registrations_count: int, duplicates: float, out_of_order: float, seed: int
) -> tuple[list[Delivery], dict[str, Delivery]]:
    """Return the deliveries in sending order, and each registration's expected final one."""
    rng = random.Random(seed)
    duplicate_count = int(events * duplicates)
    unique = events - duplicate_count
    per_reg = [unique // registrations_count] * registrations_count
    for reg in rng.sample(range(registrations_count), unique % registrations_count):
        per_reg[reg] += 1

    histories: list[list[Delivery]] = []
    for reg, count in enumerate(per_reg):
        steps = [FIRST] + [rng.choice(NEXT) for _ in range(count - 1)]
        history = []
        for sequence, step in enumerate(steps, start=1):
            body = json.dumps(_event(reg, sequence, step), separators=(",", ":")).encode()
            history.append(
                Delivery(f"msg_{uuid.uuid4().hex}", f"reg-{reg:05d}", sequence, *step[1:], body)
            )
        histories.append(history)
    expected = {h[-1].registration: h[-1] for h in histories if h}

    # Round by round: every registration's first event, then every second one, and so on.
    order: list[Delivery] = []
    for round_ in range(max(per_reg)):
        batch = [h[round_] for h in histories if len(h) > round_]
        rng.shuffle(batch)
        order.extend(batch)
    # Out of order: swap an event with its registration's next one, a whole round apart, so that
    # the given share of events arrives after a newer one.
    position = {d.webhook_id: i for i, d in enumerate(order)}
    pairs = [(h[i], h[i + 1]) for h in histories for i in range(len(h) - 1)]
    for older, newer in rng.sample(pairs, min(len(pairs), int(unique * out_of_order))):
        i, j = position[older.webhook_id], position[newer.webhook_id]
        order[i], order[j] = order[j], order[i]
        position[older.webhook_id], position[newer.webhook_id] = j, i
    # Duplicates: the SIS re-sends a delivery some time after the original.
    keyed = [(float(i), d) for i, d in enumerate(order)]
    for original in rng.sample(range(len(order)), duplicate_count):
        keyed.append((rng.uniform(original + 1, len(order) + 1), order[original]))
    keyed.sort(key=lambda item: item[0])
    return [d for _, d in keyed], expected


def _sign(deliveries: list[Delivery], base: str) -> list[Req]:
    now = datetime.now(UTC)
    return [
        Req(
            "POST",
            base + "/webhooks/sis",
            d.body,
            tuple(signed_headers(d.body, msg_id=d.webhook_id, at=now).items()),
        )
        for d in deliveries
    ]


def _check(database_url: str, expected: dict[str, Delivery], unique_ids: int) -> dict[str, Any]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            stored = {
                row.sis_id: (row.status, row.tuition_status, row.sequence)
                for row in conn.execute(
                    select(
                        registrations.c.sis_id,
                        registrations.c.status,
                        registrations.c.tuition_status,
                        registrations.c.sequence,
                    )
                )
            }
            recorded = conn.execute(select(func.count()).select_from(webhook_deliveries)).scalar()
            outcomes = dict(
                conn.execute(
                    select(webhook_deliveries.c.outcome, func.count()).group_by(
                        webhook_deliveries.c.outcome
                    )
                ).all()
            )
    finally:
        engine.dispose()
    mismatches = [
        reg
        for reg, want in expected.items()
        if stored.get(reg) != (want.status, want.tuition, want.sequence)
    ]
    return {
        "registrations_stored": len(stored),
        "registration_mismatches": len(mismatches),
        "deliveries_recorded": recorded,
        "deliveries_expected": unique_ids,
        "outcomes": outcomes,
        "correct": not mismatches and len(stored) == len(expected) and recorded == unique_ids,
    }


def run_burst(
    database_url: str,
    *,
    events: int = 20_000,
    registrations_count: int = 5_000,
    duplicates: float = 0.10,
    out_of_order: float = 0.10,
    senders: int = 8,
    workers: int = 2,
    threads: int = 1,
    seed: int = 4,
) -> dict[str, Any]:
    """Post the burst to a fresh ``lti-bridge serve`` on ``database_url``; return the numbers.

    The database is migrated and its SIS tables are emptied first: give it a throwaway database.
    """
    engine = make_engine(database_url)
    upgrade(engine)
    with engine.begin() as conn:
        for table in (webhook_deliveries, registrations, sis_sections, sis_sessions, sis_students):
            conn.execute(delete(table))
    engine.dispose()

    deliveries, expected = build_burst(
        events, registrations_count, duplicates, out_of_order, seed
    )
    unique_ids = len({d.webhook_id for d in deliveries})
    env = tool_env(
        database_url, LTI_BRIDGE_WEBHOOK_SECRETS=SECRET, LTI_BRIDGE_LOG_LEVEL="WARNING"
    )
    serve_args = ("--no-access-log", "--no-relay", "--threads", str(threads))
    with lti_bridge_serve(env, workers=workers, args=serve_args) as tool:
        # Signed last, right before sending: the timestamps must stay within 5 minutes.
        result = run(_sign(deliveries, tool.url), clients=senders, processes=2, time_limit=280)
    state = _check(database_url, expected, unique_ids)
    return {
        "database": make_url(database_url).get_backend_name(),
        "events": len(deliveries),
        "unique_deliveries": unique_ids,
        "registrations": registrations_count,
        "senders": senders,
        "workers": workers,
        "seconds": round(result.seconds, 2),
        "events_per_second": round(len(deliveries) / result.seconds, 1) if result.seconds else 0,
        "p50_ms": round(sorted(result.latencies)[len(result.latencies) // 2] * 1000, 2)
        if result.latencies
        else None,
        "p99_ms": round(result.percentile(99) * 1000, 2),
        "statuses": result.statuses,
        **state,
        "correct": state["correct"] and result.statuses == {204: len(deliveries)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--registrations", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    registrations_count = args.registrations or max(1, args.events // 4)
    with fresh_database(args.db) as url:
        outcome = run_burst(
            url, events=args.events, registrations_count=registrations_count, workers=args.workers
        )
    print(json.dumps(outcome, indent=2))
    sys.exit(0 if outcome["correct"] else 1)


if __name__ == "__main__":
    main()
