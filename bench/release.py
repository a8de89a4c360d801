"""Releasing a 500-learner section's final grades, against reading its gradebook alone:
``python -m bench.release [--db sqlite|postgresql|both] [--learners 500] [--rounds 7]``.

Per database and page size, in alternating rounds on the same loopback platform (the real LTI
platform implementation, ``tests.devplatform``) in the same run, medians of:

- the AGS read alone: the course's line items and every result;
- a whole release: that read, computing each learner's grade, writing each submission and its
  outbox message in one transaction;
- the release's own work: the same release given the gradebook already read (the section's
  registrations and past submissions read, grades computed, rows written).

The figures are the whole release over the read (the target: under 2) and the release's own
work over the read. The platform honours the tool's ``limit`` up to a cap: 100 entries a page
(Canvas's cap) and 1000 (a whole line item's results at once, where the read is as cheap as
loopback makes it). After each release the section's submissions, audit rows and outbox
messages are deleted, so every release is a first release of every learner.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import delete

from bench.databases import fresh_database
from lti_bridge.adapters.db.engine import make_engine, upgrade
from lti_bridge.adapters.db.tables import grade_audit, grade_submissions, outbox
from lti_bridge.services import grades as grade_service
from tests.devplatform import DEFAULT_PEOPLE
from tests.fixtures.grades_world import LINE_ITEMS, SECTION, grades_world, learner
from tests.fixtures.sis_events import SECRET

RESULTS = Path(__file__).parent / "results"
#: Entries a platform page holds at most: Canvas's cap, and a platform sending all at once.
PAGE_CAPS = (100, 1000)


def _app(url: str, instance: Path) -> Any:
    from lti_bridge.web import create_app

    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    app = create_app(
        {
            "database_url": url,
            "instance_path": str(instance),
            "secret_key": "bench-secret-key-not-for-production",
            "webhook_secrets": SECRET,
            "log_level": "WARNING",
        }
    )
    return app


def bench_database(kind: str, learners: int, rounds: int) -> list[dict[str, Any]]:
    with fresh_database(kind) as url, tempfile.TemporaryDirectory() as tmp:
        app = _app(url, Path(tmp) / "instance")
        svc = app.extensions["lti_bridge"]
        people = dict(DEFAULT_PEOPLE) | {f"l{i}": learner(i) for i in range(learners)}
        with grades_world(app, Path(tmp), people=people) as world:
            world.platform.ags_honours_limit = True
            for i in range(learners):
                person = learner(i)
                world.register(
                    person.person_sourcedid or "", f"reg-{i}", platform_user_id=person.sub
                )
                world.score(
                    person.sub,
                    quiz1=i % 11,
                    quiz2=(i * 7) % 11,
                    assignment=(i * 13) % 51,
                    exam=(i * 37) % 101,
                    survey=1,
                )
            setup = svc.uow()
            with setup:
                grading = setup.grades.setup(SECTION)
            assert grading is not None
            gradebook = svc.course_gradebook()
            found = []
            for cap in PAGE_CAPS:
                world.platform.ags_page_cap = cap
                gradebook.read(grading)  # warm: token fetched, connections open
                found.append(_rounds(svc, gradebook, grading, learners, rounds) | {"page": cap})
        svc.engine.dispose()
    return [{"database": kind, "learners": learners} | row for row in found]


class _AlreadyRead:
    """A gradebook whose read is done: the release's own work, timed without the platform."""

    def __init__(self, book: Any) -> None:
        self.book = book

    def read(self, setup: Any) -> Any:
        return self.book


def _release(svc: Any, gradebook: Any, learners: int) -> float:
    started = time.perf_counter()
    report = grade_service.grade_report(
        SECTION, uow=svc.uow(), gradebook=gradebook, now=svc.clock()
    )
    summary = grade_service.release_grades(report, uow=svc.uow(), now=svc.clock(), actor="bench")
    elapsed = time.perf_counter() - started
    assert len(summary.queued) == learners, summary
    with svc.engine.begin() as conn:
        for table in (grade_submissions, grade_audit, outbox):
            conn.execute(delete(table))
    return elapsed


def _rounds(svc: Any, gradebook: Any, grading: Any, learners: int, rounds: int) -> dict[str, Any]:
    reads: list[float] = []
    releases: list[float] = []
    works: list[float] = []
    for _ in range(rounds):
        started = time.perf_counter()
        book = gradebook.read(grading)
        reads.append(time.perf_counter() - started)
        assert sum(len(r) for r in book.results.values()) == learners * len(LINE_ITEMS)
        releases.append(_release(svc, gradebook, learners))
        works.append(_release(svc, _AlreadyRead(book), learners))
    read, release = statistics.median(reads), statistics.median(releases)
    work = statistics.median(works)
    return {
        "read_ms": read * 1000,
        "release_ms": release * 1000,
        "work_ms": work * 1000,
        "ratio": release / read,
        "work_ratio": work / read,
        "reads_ms": [round(r * 1000, 1) for r in reads],
        "releases_ms": [round(r * 1000, 1) for r in releases],
        "works_ms": [round(r * 1000, 1) for r in works],
    }


def run_release_bench(kinds: list[str], learners: int = 500, rounds: int = 7) -> None:
    """Run the figure on each database; print it and write ``bench/results/release.json``."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    rows = [row for kind in kinds for row in bench_database(kind, learners, rounds)]
    print(
        "\ndatabase    learners   page   AGS read ms   release ms   release / read   "
        "without the read ms   its / read"
    )
    for row in rows:
        print(
            f"{row['database']:<11} {row['learners']:>8}   {row['page']:>4}   "
            f"{row['read_ms']:>11.1f}   {row['release_ms']:>10.1f}   {row['ratio']:>14.2f}   "
            f"{row['work_ms']:>19.1f}   {row['work_ratio']:>10.2f}"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "release.json").write_text(json.dumps(rows, indent=2))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.release", description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--learners", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    run_release_bench(kinds, args.learners, args.rounds)


if __name__ == "__main__":
    main()
