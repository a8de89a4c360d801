"""A term-start upgrade wave: ``python -m bench.carryover [--db sqlite|postgresql|both]
[--learners 2000] [--items 10] [--quick]``.

Every learner of one platform is upgraded and onboarded at once (their plans queued in one
transaction, as ``lti-bridge carryover run`` does), then the relay carries everything over:
per learner, both courses' line items, the learner's non-credit result on each item, their
for-credit result where something would carry (never overwrite), and one score post per carried
item. The loopback platform (the real LTI platform implementation, ``tests.devplatform``, in
its own process, so it does not share the tool's interpreter) answers each AGS and token request
after 20 ms and refuses with Canvas's ``403 Forbidden (Rate Limit Exceeded)`` above 12 requests
in flight.

Reported next to the floor for that platform: the AGS requests made × 20 ms ÷ 12 in flight (the
target: within 1.5× of it), the throttling refusals, and the most refusals any one request met
in a row (the target: at most one). The relay runs with ``LTI_BRIDGE_AGS_MAX_IN_FLIGHT=12``.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import insert

from bench.databases import fresh_database
from lti_bridge.adapters.db.engine import make_engine, upgrade
from lti_bridge.adapters.db.tables import learners as learners_table
from lti_bridge.adapters.db.tables import registrations, sis_students
from lti_bridge.domain.model import LaunchContext, MessageType, PlatformRegistration
from lti_bridge.services import carryover as carryover_service
from lti_bridge.services.launches import record_launch
from lti_bridge.services.platforms import register_platform
from lti_bridge.web.worker import Worker
from tests.fixtures.carryover_world import CREDIT, OPEN, SECTION, import_catalog
from tests.fixtures.loopback import serve
from tests.fixtures.processes import free_port
from tests.fixtures.sis_events import SECRET

RESULTS = Path(__file__).parent / "results"
DELAY = 0.020
THROTTLE_ABOVE = 12


def _app(url: str, instance: Path, in_flight: int, batch: int) -> Any:
    from lti_bridge.web import create_app

    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return create_app(
        {
            "database_url": url,
            "instance_path": str(instance),
            "secret_key": "bench-secret-key-not-for-production",
            "webhook_secrets": SECRET,
            "log_level": "WARNING",
            "ags_max_in_flight": in_flight,
            "relay_concurrency": in_flight,
            "relay_batch_size": batch,
            "database_pool_size": in_flight + 4,
            "relay_backoff_base_seconds": 0.05,
            "relay_backoff_cap_seconds": 1.0,
        }
    )


def _wave(svc: Any, platform_id: int, learners: int) -> None:
    """The SIS's registrations (paid, onboarded) and the platform's learners, written at once."""
    now = svc.clock()
    with svc.engine.begin() as conn:
        conn.execute(
            insert(sis_students),
            [
                {
                    "sis_id": f"3{i:08d}",
                    "hold_active": False,
                    "onboarding_passed_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(learners)
            ],
        )
        conn.execute(
            insert(registrations),
            [
                {
                    "sis_id": f"reg-{i}",
                    "student_sis_id": f"3{i:08d}",
                    "section_sis_id": SECTION,
                    "status": "registered",
                    "tuition_status": "paid",
                    "sequence": 1,
                    "updated_at": now,
                }
                for i in range(learners)
            ],
        )
        conn.execute(
            insert(learners_table),
            [
                {
                    "platform_id": platform_id,
                    "sub": f"wave-{i}",
                    "person_sourcedid": f"3{i:08d}",
                    "created_at": now,
                    "last_launch_at": now,
                }
                for i in range(learners)
            ],
        )


def _serve_platform(tool_url: str, pipe: Any, learners: int, items: int) -> None:
    """The platform's process: fill both gradebooks, serve, answer the bench's control calls."""
    from flask import jsonify, request

    from tests.devplatform import DevPlatform

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    platform = DevPlatform(tool_url)
    labels = [f"Item {n}" for n in range(1, items + 1)]
    meta = {label: {"tag": "quiz", "scoreMaximum": 10} for label in labels}
    platform.gradebook[OPEN] = {
        label: {f"wave-{i}": (i + n) % 11 for i in range(learners)}
        for n, label in enumerate(labels)
    }
    platform.gradebook[CREDIT] = {label: {} for label in labels}
    platform.lineitem_meta[OPEN] = {k: dict(v) for k, v in meta.items()}
    platform.lineitem_meta[CREDIT] = {k: dict(v) for k, v in meta.items()}
    platform.ags_honours_limit = True
    platform.ags_cache_tokens = True
    app = platform.create_app()

    @app.post("/bench/arm")
    def arm() -> Any:
        platform.ags_delay = DELAY
        platform.ags_throttle_above = THROTTLE_ABOVE
        platform.ags_calls = platform.ags_throttled = platform.ags_max_in_flight_seen = 0
        return "", 204

    @app.get("/bench/stats")
    def stats() -> Any:
        return jsonify(
            calls=platform.ags_calls,
            throttled=platform.ags_throttled,
            max_in_flight_seen=platform.ags_max_in_flight_seen,
            carried=sum(len(book) for book in platform.gradebook[CREDIT].values()),
            wrong=sum(
                1
                for label, book in platform.gradebook[CREDIT].items()
                for sub, score in book.items()
                if platform.gradebook[OPEN][label].get(sub) != score
            ),
        )

    del request
    # Served by gunicorn (one process: the gradebook lives in it; threads; keep-alive), as a
    # production platform answers: werkzeug's server closes every connection.
    from gunicorn.app.base import BaseApplication

    port = free_port()
    platform.issuer = f"http://127.0.0.1:{port}"

    class _Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in {
                "bind": f"127.0.0.1:{port}",
                "workers": 1,
                "worker_class": "gthread",
                "threads": 64,
                "keepalive": 30,
                "loglevel": "warning",
                "accesslog": None,
            }.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return app

    pipe.send(platform.issuer)
    _Server().run()


def _wait_until_up(issuer: str) -> None:
    for _ in range(200):
        try:
            requests.get(issuer + "/jwks", timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError(f"the platform at {issuer} did not start")


def _contexts(svc: Any, platform_id: int, issuer: str, client_id: str, deployment: str) -> None:
    """Launches of both courses, as an instructor's and a learner's would record them."""
    scopes = (
        "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
        "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
        "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    )
    for context_id, sub in ((CREDIT, "instructor-grace"), (OPEN, "instructor-grace")):
        record_launch(
            LaunchContext(
                issuer=issuer,
                client_id=client_id,
                deployment_id=deployment,
                message_type=MessageType.RESOURCE_LINK,
                user_sub=sub,
                roles=("http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor",),
                context_id=context_id,
                ags_lineitems_url=f"{issuer}/ags/{context_id}/lineitems",
                ags_scopes=scopes,
            ),
            platform_id=platform_id,
            uow=svc.uow(),
            now=svc.clock(),
        )


def bench_database(kind: str, learners: int, items: int, in_flight: int) -> dict[str, Any]:
    spawn = multiprocessing.get_context("spawn")
    with fresh_database(kind) as url, tempfile.TemporaryDirectory() as tmp:
        app = _app(url, Path(tmp) / "instance", in_flight, batch=200)
        svc = app.extensions["lti_bridge"]
        with serve(app) as tool_url:
            ours, theirs = spawn.Pipe()
            process = spawn.Process(
                target=_serve_platform, args=(tool_url, theirs, learners, items), daemon=True
            )
            process.start()
            try:
                issuer = ours.recv()
                _wait_until_up(issuer)
                client_id, deployment = "lti-bridge-dev", "dev-deployment-1"
                platform_id = register_platform(
                    PlatformRegistration(
                        issuer=issuer,
                        client_id=client_id,
                        auth_login_url=issuer + "/authorize",
                        auth_token_url=issuer + "/token",
                        key_set_url=issuer + "/jwks",
                        deployment_ids=(deployment,),
                    ),
                    uow=svc.uow(),
                    now=svc.clock(),
                )
                import_catalog(app, Path(tmp))
                _contexts(svc, platform_id, issuer, client_id, deployment)
                _wave(svc, platform_id, learners)
                queued = carryover_service.rerun_section(SECTION, uow=svc.uow(), now=svc.clock())
                assert len(queued.queued) == learners, (len(queued.queued), learners)
                requests.post(issuer + "/bench/arm", timeout=10).raise_for_status()

                worker = Worker(svc)
                cpu = time.process_time()
                started = time.perf_counter()
                try:
                    while True:
                        worker.relay_carryover()
                        with svc.uow() as uow:
                            counts = uow.outbox.counts()
                        held = [s for s in counts if s.value in ("queued", "sent")]
                        if not any(counts[s] for s in held):
                            break
                        time.sleep(0.01)
                finally:
                    worker.close()
                elapsed = time.perf_counter() - started
                cpu = time.process_time() - cpu
                stats = requests.get(issuer + "/bench/stats", timeout=10).json()
            finally:
                process.terminate()
                process.join(timeout=10)
        floor = stats["calls"] * DELAY / THROTTLE_ABOVE
        row = {
            "database": kind,
            "learners": learners,
            "items": items,
            "seconds": round(elapsed, 2),
            "tool_cpu_seconds": round(cpu, 2),
            "ags_requests": stats["calls"],
            "floor_seconds": round(floor, 2),
            "ratio_to_floor": round(elapsed / floor, 3) if floor else None,
            "scores_carried": stats["carried"],
            "scores_wrong": stats["wrong"],
            "expected": learners * items,
            "throttled": stats["throttled"],
            "max_throttled_in_a_row": svc.ags_carryover.max_throttled_in_a_row,
            "max_in_flight_seen": stats["max_in_flight_seen"],
            "outbox": {state.value: n for state, n in counts.items()},
        }
        svc.engine.dispose()
    return row


def run_carryover_bench(
    kinds: list[str], learners: int = 2000, items: int = 10, in_flight: int = THROTTLE_ABOVE
) -> list[dict[str, Any]]:
    """Run the wave on each database; print it and write ``bench/results/carryover.json``."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    rows = [bench_database(kind, learners, items, in_flight) for kind in kinds]
    print(
        "\ndatabase    learners  items  AGS requests  floor s  time s  time/floor  "
        "throttled  most in a row  carried"
    )
    for row in rows:
        print(
            f"{row['database']:<11} {row['learners']:>8}  {row['items']:>5}  "
            f"{row['ags_requests']:>12}  {row['floor_seconds']:>7.1f}  {row['seconds']:>6.1f}  "
            f"{row['ratio_to_floor']:>10.2f}  {row['throttled']:>9}  "
            f"{row['max_throttled_in_a_row']:>13}  {row['scores_carried']}/{row['expected']}"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "carryover.json").write_text(json.dumps(rows, indent=2))
    return rows



def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.carryover", description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="postgresql")
    parser.add_argument("--learners", type=int, default=2000)
    parser.add_argument("--items", type=int, default=10)
    parser.add_argument("--in-flight", type=int, default=THROTTLE_ABOVE)
    parser.add_argument("--quick", action="store_true", help="200 learners instead of 2000")
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    learners = 200 if args.quick else args.learners
    run_carryover_bench(kinds, learners, args.items, args.in_flight)


if __name__ == "__main__":
    main()
