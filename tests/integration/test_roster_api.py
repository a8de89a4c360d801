"""The roster API and its operator tokens, and the roster's CSV export: real tokens from the
CLI, the dev platform's membership over NRPS, on SQLite and PostgreSQL (CONTRACT §1, §2)."""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from lti_bridge.adapters.db.tables import api_token_uses, api_tokens
from tests.devplatform import ROLE, Person
from tests.fixtures.grades_world import SECTION, GradesWorld, grades_world
from tests.fixtures.sis_events import SECRET

MALLORY = Person(
    "learner-mal", "=HYPERLINK(\"http://evil.example\")", "-mal@example.edu", (ROLE + "Learner",)
)


@pytest.fixture
def app_config(app_config: dict[str, object]) -> dict[str, object]:
    return app_config | {"webhook_secrets": SECRET}


@pytest.fixture
def world(app: Flask, tmp_path: Path) -> Iterator[GradesWorld]:
    with grades_world(app, tmp_path) as world:
        world.register("110123456", "reg-ada", email="ada@example.edu")
        world.register("330000003", "reg-zed", tuition="unpaid", email="+zed@example.edu")
        world.platform.nrps_extra = [MALLORY]
        yield world


def create_token(app: Flask, name: str, *sections: str) -> str:
    args = ["tokens", "create", "--name", name]
    for section in sections:
        args += ["--section", section]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[0]
    assert token.startswith("lbt_")
    return token


def get(app: Flask, path: str, token: str | None = None, **params: str) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return app.test_client().get(path, headers=headers, query_string=params)


ROSTER = f"/api/v1/sections/{SECTION}/roster"


def test_an_operator_token_reads_the_whole_class_and_every_use_is_recorded(
    world: GradesWorld, caplog: pytest.LogCaptureFixture
) -> None:
    app = world.app
    token = create_token(app, "registrar-report")
    caplog.set_level(logging.INFO, logger="lti_bridge.api")

    answer = get(app, ROSTER, token)

    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.headers["Cache-Control"] == "no-store"
    body = answer.get_json()
    assert body["section"]["sis_id"] == SECTION and body["membership"]["read"] is True
    by_status = {(r["student_sis_id"] or r["platform_user_id"]): r["status"]
                 for r in body["learners"]}
    assert by_status == {
        "110654321": "not_registered",  # Ben: a member of the course, no registration
        "learner-mal": "not_registered",
        "330000003": "never_launched",
        "110123456": "blocked",
    }
    assert body["counts"]["registered"] == 2 and body["counts"]["never_launched"] == 1
    assert body["counts"]["blocked:tuition_unpaid"] == 1
    zed = next(r for r in body["learners"] if r["student_sis_id"] == "330000003")
    assert zed["missing"] == ["tuition_unpaid", "onboarding_required"]
    assert zed["registration"]["tuition"] == "unpaid" and zed["action"]
    # The token is kept hashed only, and its use is a row and a log line.
    with world.svc.engine.connect() as conn:
        stored = conn.execute(select(api_tokens)).one()
        uses = conn.execute(select(api_token_uses)).all()
    assert token not in str(stored._mapping) and len(stored.token_hash) == 64
    assert stored.last_used_at is not None
    assert [(u.token_name, u.section_sis_id, u.outcome) for u in uses] == [
        ("registrar-report", SECTION, "allowed")
    ]
    assert any("registrar-report" in str(getattr(r, "fields", "")) for r in caplog.records)
    found = get(app, ROSTER, token, status="never_launched").get_json()["learners"]
    assert [r["student_sis_id"] for r in found] == ["330000003"]


def test_refusals_are_problems_401_403_and_404(world: GradesWorld) -> None:
    app = world.app
    scoped = create_token(app, "one-section", SECTION)
    everything = create_token(app, "all-sections")

    missing = get(app, ROSTER)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert missing.content_type == "application/problem+json"
    assert missing.get_json()["error"] == "unauthorized"
    wrong = get(app, ROSTER, "lbt_not-a-token")
    assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers[
        "WWW-Authenticate"]
    other = get(app, "/api/v1/sections/OTHER-100/roster", scoped)
    assert other.status_code == 403 and other.get_json()["error"] == "forbidden"
    assert get(app, ROSTER, scoped).status_code == 200
    unknown = get(app, "/api/v1/sections/NO-SUCH/roster", everything)
    assert unknown.status_code == 404 and unknown.get_json()["error"] == "not_found"

    result = app.test_cli_runner().invoke(args=["tokens", "revoke", "one-section"])
    assert result.exit_code == 0, result.output
    assert get(app, ROSTER, scoped).status_code == 401
    listed = app.test_cli_runner().invoke(args=["tokens", "list"]).output
    assert re.search(r"one-section\tsections=" + SECTION + r".*revoked", listed)
    assert re.search(r"all-sections\tsections=\*", listed)
    with world.svc.engine.connect() as conn:
        outcomes = [u.outcome for u in conn.execute(
            select(api_token_uses).order_by(api_token_uses.c.id))]
    assert outcomes == ["out_of_scope", "allowed", "allowed", "revoked"]
    again = app.test_cli_runner().invoke(args=["tokens", "create", "--name", "all-sections"])
    assert again.exit_code != 0 and "exists" in str(again.exception or again.output)


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_csv_is_streamed_spreadsheet_safe_and_filtered_like_the_page(
    world: GradesWorld,
) -> None:
    app = world.app
    token = create_token(app, "exports")

    answer = get(app, ROSTER, token, format="csv")

    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert answer.is_streamed
    assert "attachment" in answer.headers["Content-Disposition"]
    rows = rows_of(answer.get_data(as_text=True))
    mallory = next(r for r in rows if r["platform_user_id"] == "learner-mal")
    assert mallory["name"] == "'=HYPERLINK(\"http://evil.example\")"
    assert mallory["email"] == "'-mal@example.edu"
    zed = next(r for r in rows if r["student_sis_id"] == "330000003")
    assert zed["email"] == "'+zed@example.edu" and zed["status"] == "never_launched"

    # The page's export: the rows as filtered there, through the launch's handle.
    from lti_bridge.web.roster import credit_roster_page

    with app.test_request_context("/lti/launch", method="POST"):
        html = credit_roster_page(world.launch("instructor"), world.platform_id).get_data(
            as_text=True
        )
    link = re.search(r'href="(/lti/roster/[^"]+/roster\.csv[^"]*)" id="roster-export"', html)
    assert link, "no export link"
    handle = link.group(1).split("/")[3]
    exported = app.test_client().get(f"/lti/roster/{handle}/roster.csv?status=not_registered")
    assert exported.status_code == 200
    assert {r["platform_user_id"] for r in rows_of(exported.get_data(as_text=True))} == {
        "learner-ben", "learner-mal"
    }


def test_the_api_is_described_in_openapi(client: Any) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/api/v1/sections/{sis_id}/roster"]["get"]
    assert set(operation["responses"]) == {"200", "401", "403", "404"}
    assert document["components"]["securitySchemes"]["operatorToken"]["scheme"] == "bearer"


def test_every_formula_start_is_neutralised_and_cells_are_quoted() -> None:
    from lti_bridge.web.roster import _csv_line, spreadsheet_safe

    for risky in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert spreadsheet_safe(risky) == "'" + risky
    assert spreadsheet_safe("Ada") == "Ada" and spreadsheet_safe(None) == ""
    assert _csv_line(("a,b", 'say "hi"', "=x", 3)) == '"a,b","say ""hi""",\'=x,3\r\n'
