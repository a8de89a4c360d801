"""The credit roster at 5,000 learners: ``python -m bench.roster [--db sqlite|postgresql|both]``
(or ``python -m bench --part roster``).

Per database, on the real LTI platform implementation (``tests.devplatform``) on loopback, with
every learner a member of the for-credit course and registered with the SIS (signed webhooks),
the best of several rounds (the 5,000-learner figures interleaved) in one run of:

- the roster page (``GET /lti/roster/<handle>``, through Flask's test client: the launch
  recalled, the section's registrations read in one statement, the platform's membership from
  the tool's cache (read once over NRPS before timing), joined, the gate's decision per learner,
  the page rendered) at 500 and at 5,000 learners;
- a bare Jinja template rendering the same 5,000 rows (the same fields, from plain values, no
  database, no Flask);
- the CSV export of the same 5,000 rows (``GET …/roster.csv``, the streamed body read whole).

The figures: the 5,000-learner page over the bare template (the target: at most 3), the
5,000-learner page over the 500-learner page (at most 11: no per-row queries), and the CSV over
the page (the export streams at the page's pace). The final-grades panel, whose cost is the
platform's AGS read of the gradebook, is left out here; ``bench.release`` measures that read.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment

from bench.databases import fresh_database
from bench.release import _app
from lti_bridge.web.server import freeze_startup_objects
from tests.devplatform import DEFAULT_PEOPLE
from tests.fixtures.grades_world import grades_world, learner

RESULTS = Path(__file__).parent / "results"

#: The roster table's markup, cell for cell, rendered from plain values: what the page would
#: cost with no database, no gate, no Flask.
BARE = Environment(autoescape=True).from_string(
    """<table id="roster" class="roster"><caption class="visually-hidden">Learners</caption>
<thead><tr><th scope="col">Learner</th><th scope="col">Status</th><th scope="col">Registration
</th><th scope="col">Tuition</th><th scope="col">Onboarding</th><th scope="col">Hold</th>
<th scope="col">First opened</th><th scope="col">For-credit material</th><th scope="col">Advice
</th></tr></thead><tbody>
{% for r in rows %}
  <tr data-student="{{ r.sis_id }}" data-row-status="{{ r.status }}" data-access="{{ r.access }}">
    <th scope="row" data-label="Learner" class="learner"><a href="{{ r.url }}">{{ r.name }}</a>
      <br><small>{{ r.sis_id }} · <span class="email">{{ r.email }}</span></small></th>
    <td data-label="Status" class="status status-{{ r.status }}"><span class="icon"
      aria-hidden="true">{{ r.icon }}</span> {{ r.word }}</td>
    <td data-label="Registration" data-status="{{ r.registration }}">{{ r.registration }}</td>
    <td data-label="Tuition" data-tuition="{{ r.tuition }}">{{ r.tuition }}</td>
    <td data-label="Onboarding">{{ r.onboarding }}</td>
    <td data-label="Hold">{{ r.hold }}</td>
    <td data-label="First opened">{{ r.opened }}</td>
    <td data-label="For-credit material">{{ r.access }}: {% for m in r.missing %}<span
      data-reason="{{ m }}">{{ m }}</span>{% endfor %}</td>
    <td data-label="Advice">{{ r.advice|join("; ") or "none" }}</td>
  </tr>
{% endfor %}</tbody></table>"""
)


def bare_rows(count: int) -> list[dict[str, Any]]:
    return [
        {
            "sis_id": f"2{i:08d}", "name": f"Learner {i:03d}", "email": f"l{i}@example.edu",
            "url": f"/lti/roster/handle/learners/2{i:08d}", "status": "blocked", "icon": "✕",
            "word": "registered, for-credit material closed", "registration": "registered",
            "tuition": "paid", "onboarding": "not yet", "hold": "none", "opened": "not yet",
            "access": "closed", "missing": ["onboarding_required"], "advice": [],
        }
        for i in range(count)
    ]


def _best_ms(actions: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Time each action ``rounds`` times, interleaved (a slow patch of a shared machine falls on
    all of them alike); milliseconds per round, by name."""
    times: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(rounds):
        for name, action in actions.items():
            # Each round starts from a collected heap, so one round's garbage is not charged to
            # the next; the collections a round's own allocations cause are counted in it.
            gc.collect()
            started = time.perf_counter()
            action()
            times[name].append(round((time.perf_counter() - started) * 1000, 1))
    return times


def _handle(app: Any, world: Any) -> str:
    from lti_bridge.web.roster import credit_roster_page

    with app.test_request_context("/lti/launch", method="POST"):
        html = credit_roster_page(world.launch("instructor"), world.platform_id).get_data(
            as_text=True
        )
    match = re.search(r'action="/lti/roster/([^"/]+)"', html)
    assert match, "no roster form"
    return match.group(1)


def bench_database(kind: str, small: int, large: int, rounds: int) -> dict[str, Any]:
    import lti_bridge.web.roster as roster_view

    # The final-grades panel reads the platform's gradebook over AGS: bench.release's figure.
    roster_view.grades_panel = lambda *args, **kwargs: None  # type: ignore[assignment]
    with fresh_database(kind) as url, tempfile.TemporaryDirectory() as tmp:
        app = _app(url, Path(tmp) / "instance")
        svc = app.extensions["lti_bridge"]
        people = dict(DEFAULT_PEOPLE)
        with grades_world(app, Path(tmp), people=people) as world:
            # The tool asks 1000 members a page; the platform honours it.
            world.platform.nrps_honours_limit = True
            # As `lti-bridge serve` does in each worker once its app is built.
            freeze_startup_objects()
            client = app.test_client()
            found: dict[str, Any] = {"database": kind}
            times: dict[str, list[float]] = {}
            registered = 0
            plain = bare_rows(large)
            for size in (small, large):
                for i in range(registered, size):
                    person = learner(i)
                    world.platform.people[f"l{i}"] = person
                    world.register(person.person_sourcedid or "", f"reg-{i}",
                                   email=person.email)
                registered = size
                svc.course_membership()._cache.clear()
                handle = _handle(app, world)  # reads the membership once: cached from here
                page = f"/lti/roster/{handle}"
                rows = client.get(page).get_data(as_text=True).count("data-row-status=")
                assert rows >= size, (rows, size)
                requests_before = world.platform.nrps_requests
                actions: dict[str, Callable[[], object]] = {
                    f"page_{size}": lambda page=page: client.get(page).get_data()
                }
                if size == large:
                    csv_url = f"/lti/roster/{handle}/roster.csv"
                    lines = client.get(csv_url).get_data(as_text=True).count("\n")
                    assert lines >= size + 1
                    actions["csv"] = lambda csv_url=csv_url: client.get(csv_url).get_data()
                    actions["bare"] = lambda: BARE.render(rows=plain)
                times |= _best_ms(actions, rounds)
                assert world.platform.nrps_requests == requests_before  # the cache held
            for name, values in times.items():
                found[f"{name}_ms"] = min(values)
                found[f"{name}_rounds_ms"] = values
        svc.engine.dispose()
    # Best of the rounds: what the work costs when the shared machine lets it run.
    found["page_over_bare"] = found[f"page_{large}_ms"] / found["bare_ms"]
    found["large_over_small"] = found[f"page_{large}_ms"] / found[f"page_{small}_ms"]
    found["csv_over_page"] = found["csv_ms"] / found[f"page_{large}_ms"]
    found["learners"] = [small, large]
    return found


def run_roster_bench(
    kinds: list[str], small: int = 500, large: int = 5000, rounds: int = 7
) -> list[dict[str, Any]]:
    """Run the figures on each database; print them and write ``bench/results/roster.json``."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    rows = [bench_database(kind, small, large, rounds) for kind in kinds]
    print(
        f"\ndatabase    page {small} ms   page {large} ms   bare Jinja ms   CSV ms   "
        f"page/bare (<=3)   {large}/{small} (<=11)   CSV/page"
    )
    for row in rows:
        print(
            f"{row['database']:<11} {row[f'page_{small}_ms']:>11.1f}   "
            f"{row[f'page_{large}_ms']:>12.1f}   {row['bare_ms']:>13.1f}   "
            f"{row['csv_ms']:>6.1f}   {row['page_over_bare']:>15.2f}   "
            f"{row['large_over_small']:>18.2f}   {row['csv_over_page']:>8.2f}"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "roster.json").write_text(json.dumps(rows, indent=2))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.roster", description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--small", type=int, default=500)
    parser.add_argument("--learners", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    run_roster_bench(kinds, args.small, args.learners, args.rounds)


if __name__ == "__main__":
    main()
