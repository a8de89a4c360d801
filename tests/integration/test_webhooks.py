"""``POST /webhooks/sis`` against real SQLite and PostgreSQL; deliveries signed by the reference
Standard Webhooks library, never by the tool's own code."""

from __future__ import annotations

import base64
import http.client
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from lti_bridge.adapters.db.tables import (
    registrations,
    sis_sections,
    sis_sessions,
    sis_students,
    webhook_deliveries,
)
from lti_bridge.telemetry import TextFormatter
from tests.fixtures.loopback import serve
from tests.fixtures.sis_events import (
    SECRET,
    deliver,
    registration_event,
    signed_headers,
    student_event,
)

NEW_SECRET = "whsec_" + base64.b64encode(b"the rotated-in thirty-two byte k").decode()
STRANGER_SECRET = "whsec_" + base64.b64encode(b"a secret nobody configured here!").decode()
STATE_TABLES = (sis_students, sis_sessions, sis_sections, registrations, webhook_deliveries)


@pytest.fixture
def app_config(app_config):
    app_config["webhook_secrets"] = (SECRET,)
    return app_config


# --- building and sending deliveries ---------------------------------------------------------


def rows(engine, table) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table)).mappings()]


def one(engine, table) -> dict[str, Any]:
    found = rows(engine, table)
    assert len(found) == 1, found
    return found[0]


def nothing_stored(engine) -> bool:
    return all(not rows(engine, table) for table in STATE_TABLES)


# --- applying each event type ----------------------------------------------------------------


def test_a_registration_event_stores_student_session_section_and_registration(client, engine):
    response = deliver(client, registration_event("tuition.paid", sequence=42, tuition="paid"))
    assert response.status_code == 204
    assert response.data == b""

    student = one(engine, sis_students)
    assert (student["sis_id"], student["email"]) == ("110123456", "ab12@example.edu")
    assert not student["hold_active"] and student["onboarding_passed_at"] is None
    session = one(engine, sis_sessions)
    assert session["code"] == "2024-S1" and str(session["starts_on"]) == "2024-01-15"
    section = one(engine, sis_sections)
    assert (section["sis_id"], section["course_code"], section["credit_hours"]) == (
        "DTSA5509-100-2024S1",
        "DTSA 5509",
        3,
    )
    assert section["session_code"] == "2024-S1"
    registration = one(engine, registrations)
    assert registration["sis_id"] == "reg-7c1e"
    assert registration["student_sis_id"] == "110123456"
    assert registration["section_sis_id"] == "DTSA5509-100-2024S1"
    assert registration["status"] == "registered"
    assert registration["tuition_status"] == "paid"
    assert (registration["tuition_amount_cents"], registration["tuition_currency"]) == (
        200100,
        "USD",
    )
    assert registration["sequence"] == 42
    assert registration["first_restricted_access_at"] is None
    delivery = one(engine, webhook_deliveries)
    assert (delivery["type"], delivery["sequence"], delivery["outcome"]) == (
        "tuition.paid",
        42,
        "applied",
    )
    assert delivery["payload"]["data"]["registration"]["sis_id"] == "reg-7c1e"


@pytest.mark.parametrize(
    ("event_type", "status", "tuition"),
    [
        ("enrollment.registered", "registered", "unpaid"),
        ("enrollment.dropped", "dropped", "refunded"),
        ("enrollment.withdrawn", "withdrawn", "paid"),
        ("enrollment.canceled", "canceled", "unpaid"),
        ("tuition.paid", "registered", "paid"),
        ("tuition.payment_failed", "registered", "failed"),
        ("tuition.refunded", "dropped", "refunded"),
    ],
)
def test_every_registration_event_type_applies_its_snapshot(
    client, engine, event_type, status, tuition
):
    assert deliver(client, registration_event(sequence=1)).status_code == 204
    event = registration_event(event_type, sequence=2, status=status, tuition=tuition)
    assert deliver(client, event).status_code == 204
    registration = one(engine, registrations)
    assert (registration["status"], registration["tuition_status"]) == (status, tuition)
    assert registration["sequence"] == 2


def test_the_snapshots_tuition_status_wins_over_the_event_type(client, engine):
    event = registration_event("tuition.payment_failed", tuition="paid")
    assert deliver(client, event).status_code == 204
    assert one(engine, registrations)["tuition_status"] == "paid"


def test_a_failed_payment_keeps_failed_tuition_and_places_no_hold_by_itself(client, engine):
    assert (
        deliver(client, registration_event("tuition.payment_failed", tuition="failed")).status_code
        == 204
    )
    assert one(engine, registrations)["tuition_status"] == "failed"
    assert one(engine, sis_students)["hold_active"] is False


def test_a_hold_is_placed_with_its_reason_and_released(client, engine):
    placed = student_event(
        "student.hold.placed", sequence=1, hold={"code": "FIN", "reason": "Payment failed"}
    )
    assert deliver(client, placed).status_code == 204
    student = one(engine, sis_students)
    assert student["hold_active"] is True
    assert student["hold_reason"] == "FIN: Payment failed"
    assert student["hold_sequence"] == 1

    assert deliver(client, student_event("student.hold.released", sequence=2)).status_code == 204
    student = one(engine, sis_students)
    assert (student["hold_active"], student["hold_reason"]) == (False, None)


def test_an_older_hold_event_does_not_undo_a_newer_one(client, engine):
    assert deliver(client, student_event("student.hold.released", sequence=5)).status_code == 204
    assert deliver(client, student_event("student.hold.placed", sequence=4)).status_code == 204
    assert one(engine, sis_students)["hold_active"] is False
    outcomes = {r["type"]: r["outcome"] for r in rows(engine, webhook_deliveries)}
    assert outcomes == {"student.hold.released": "applied", "student.hold.placed": "stale"}


def test_a_hold_event_keeps_the_students_registrations_and_email(client, engine):
    assert deliver(client, registration_event()).status_code == 204
    assert deliver(client, student_event("student.hold.placed")).status_code == 204
    student = one(engine, sis_students)
    assert student["email"] == "ab12@example.edu" and student["hold_active"] is True
    assert one(engine, registrations)["status"] == "registered"


def test_onboarding_completion_marks_the_student_passed_and_it_stays_passed(client, engine):
    done = student_event("student.onboarding_completed", sequence=3)
    assert deliver(client, done).status_code == 204
    student = one(engine, sis_students)
    passed_at = student["onboarding_passed_at"]
    assert passed_at.replace(tzinfo=None) == datetime(2024, 1, 4, 9, 0)
    assert student["onboarding_sequence"] == 3

    # Nothing the SIS sends later takes a pass away (DOMAIN R2).
    for event in (
        student_event("student.onboarding_completed", sequence=2),
        student_event("student.hold.placed", sequence=9),
        registration_event(sequence=9),
    ):
        assert deliver(client, event).status_code == 204
    assert one(engine, sis_students)["onboarding_passed_at"] == passed_at


def test_a_known_type_the_tool_does_not_act_on_answers_202_and_is_kept(client, engine):
    response = deliver(client, {"type": "webhook.test", "timestamp": "2024-01-03T16:02:11Z"})
    assert response.status_code == 202
    assert response.get_json()["outcome"] == "ignored"
    delivery = one(engine, webhook_deliveries)
    assert (delivery["type"], delivery["outcome"]) == ("webhook.test", "ignored")
    assert not rows(engine, registrations)


def test_a_later_event_without_an_email_keeps_the_known_one(client, engine):
    assert deliver(client, registration_event(sequence=1)).status_code == 204
    assert deliver(client, registration_event(sequence=2, email=None)).status_code == 204
    assert one(engine, sis_students)["email"] == "ab12@example.edu"
    assert (
        deliver(client, registration_event(sequence=3, email="new@example.edu")).status_code == 204
    )
    assert one(engine, sis_students)["email"] == "new@example.edu"


def test_unknown_fields_are_ignored_and_kept_in_the_stored_payload(client, engine):
    event = registration_event()
    event["data"]["registration"]["grading_basis"] = "letter"
    event["sis_version"] = "2025.1"
    assert deliver(client, event).status_code == 204
    assert one(engine, webhook_deliveries)["payload"]["sis_version"] == "2025.1"


# --- exactly once, in sequence -----------------------------------------------------------------


def test_a_repeated_webhook_id_answers_204_and_changes_nothing(client, engine):
    event = registration_event(sequence=1)
    assert deliver(client, event, msg_id="msg_once").status_code == 204
    before = rows(engine, registrations)
    # A retry is re-signed with a new timestamp but keeps its id, even with another body.
    later = datetime.now(UTC) + timedelta(seconds=30)
    changed = registration_event(sequence=2, status="dropped")
    assert deliver(client, changed, msg_id="msg_once", at=later).status_code == 204
    assert rows(engine, registrations) == before
    assert len(rows(engine, webhook_deliveries)) == 1


def test_an_older_sequence_answers_204_and_changes_nothing(client, engine):
    assert deliver(client, registration_event(sequence=5, status="dropped")).status_code == 204
    before = rows(engine, registrations)
    assert deliver(client, registration_event(sequence=4, status="registered")).status_code == 204
    assert deliver(client, registration_event(sequence=5, status="registered")).status_code == 204
    assert rows(engine, registrations) == before
    outcomes = [r["outcome"] for r in rows(engine, webhook_deliveries)]
    assert outcomes == ["applied", "stale", "stale"]


def test_a_stale_event_does_not_touch_the_student_section_or_session(client, engine):
    assert deliver(client, registration_event(sequence=5)).status_code == 204
    stale = registration_event(sequence=1, email="old@example.edu")
    stale["data"]["registration"]["section"]["credit_hours"] = 4
    assert deliver(client, stale).status_code == 204
    assert one(engine, sis_students)["email"] == "ab12@example.edu"
    assert one(engine, sis_sections)["credit_hours"] == 3


def test_reordered_deliveries_end_at_each_registrations_highest_sequence(client, engine):
    history = {
        "reg-a": [("registered", "unpaid"), ("registered", "paid"), ("withdrawn", "paid")],
        "reg-b": [("registered", "unpaid"), ("registered", "failed"), ("canceled", "refunded")],
    }
    deliveries = [
        (reg, sequence, status, tuition)
        for reg, steps in history.items()
        for sequence, (status, tuition) in enumerate(steps, start=1)
    ]
    for reg, sequence, status, tuition in reversed(deliveries):
        event = registration_event(
            sequence=sequence, registration=reg, status=status, tuition=tuition
        )
        assert deliver(client, event).status_code == 204
    final = {r["sis_id"]: (r["status"], r["tuition_status"]) for r in rows(engine, registrations)}
    assert final == {"reg-a": ("withdrawn", "paid"), "reg-b": ("canceled", "refunded")}


# --- rejections: each answers as CONTRACT §4 says and changes nothing ---------------------------


@contextmanager
def app_with(app_config: dict[str, Any], **overrides: Any) -> Iterator[Any]:
    from lti_bridge.web import create_app

    app = create_app({**app_config, **overrides})
    try:
        yield app
    finally:
        app.extensions["lti_bridge"].engine.dispose()


def test_no_configured_secret_answers_503(app_config, engine):
    with app_with(app_config, webhook_secrets=()) as app:
        response = deliver(app.test_client(), registration_event())
    assert response.status_code == 503
    assert response.content_type == "application/problem+json"
    assert response.get_json() == {
        "type": "about:blank",
        "title": "Service Unavailable",
        "status": 503,
        "error": "webhooks_disabled",
        "detail": "no webhook secret is configured",
    }
    assert nothing_stored(engine)


def test_an_unusable_secret_answers_503(app_config, engine):
    with app_with(app_config, webhook_secrets=("whsec_!!!",)) as app:
        assert deliver(app.test_client(), registration_event()).status_code == 503
    assert nothing_stored(engine)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_signature_header_answers_401(client, engine, missing):
    body = json.dumps(registration_event())
    headers = signed_headers(body)
    del headers[missing]
    response = client.post("/webhooks/sis", data=body, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_signature"
    assert missing in response.get_json()["detail"]
    assert nothing_stored(engine)


def test_a_tampered_body_answers_401(client, engine):
    body = json.dumps(registration_event())
    headers = signed_headers(body)
    response = client.post("/webhooks/sis", data=body.replace("unpaid", "paid  "), headers=headers)
    assert response.status_code == 401
    assert nothing_stored(engine)


def test_a_signature_under_an_unknown_secret_answers_401(client, engine):
    assert deliver(client, registration_event(), secret=STRANGER_SECRET).status_code == 401
    assert nothing_stored(engine)


@pytest.mark.parametrize("skew", [timedelta(minutes=-6), timedelta(minutes=6)])
def test_a_timestamp_more_than_five_minutes_off_answers_401(client, engine, skew):
    response = deliver(client, registration_event(), at=datetime.now(UTC) + skew)
    assert response.status_code == 401
    assert nothing_stored(engine)


def test_a_body_that_is_not_json_answers_400(client, engine):
    response = deliver(client, b"{'type': 'tuition.paid'}")
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_json"
    assert nothing_stored(engine)


@pytest.mark.parametrize(
    "body",
    [
        b'{"sequence": NaN}',
        b'{"sequence": 1e400}',
        b"[" * 5000 + b"]" * 5000,
        b'{"type": "webhook.test", "timestamp": "2024-01-03T16:02:11Z", "data": '
        + b"[" * 970
        + b"]" * 970
        + b"}",
        b"",
    ],
)
def test_bodies_pythons_parser_would_choke_on_or_allow_answer_400(client, engine, body):
    response = client.post("/webhooks/sis", data=body, headers=signed_headers(body))
    assert response.status_code == 400
    assert nothing_stored(engine)


def test_a_body_above_the_limit_answers_413(app, client, engine):
    limit = app.extensions["lti_bridge"].settings.webhook_max_body_bytes
    event = registration_event()
    event["padding"] = "x" * limit
    response = deliver(client, event)
    assert response.status_code == 413
    assert response.get_json()["error"] == "payload_too_large"
    assert nothing_stored(engine)


def test_a_chunked_body_above_the_limit_answers_413_over_real_http(app, engine):
    limit = app.extensions["lti_bridge"].settings.webhook_max_body_bytes
    event = registration_event()
    event["padding"] = "x" * limit
    body = json.dumps(event).encode()
    with serve(app) as base:
        conn = http.client.HTTPConnection(base.removeprefix("http://"), timeout=10)
        # No Content-Length: only reading the body itself can tell its size.
        conn.request(
            "POST",
            "/webhooks/sis",
            body=iter([body[i : i + 8192] for i in range(0, len(body), 8192)]),
            headers=signed_headers(body),
            encode_chunked=True,
        )
        response = conn.getresponse()
        assert response.status == 413
        conn.close()
    assert nothing_stored(engine)


def test_a_schema_error_answers_422_naming_each_bad_field(client, engine):
    event = registration_event()
    del event["data"]["registration"]["status"]
    event["data"]["tuition"]["currency"] = "dollars"
    event["data"]["sequence"] = -1
    response = deliver(client, event)
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "invalid_event"
    assert body["status"] == 422 and body["detail"] == "the event does not match the schema"
    detail = body["errors"]["data"]
    assert detail["registration"]["status"] == ["Missing data for required field."]
    assert "currency" in detail["tuition"]
    assert "sequence" in detail
    assert nothing_stored(engine)


@pytest.mark.parametrize(
    "event",
    [
        {"type": "enrollment.exploded", "timestamp": "2024-01-03T16:02:11Z", "data": {}},
        [],
        42,
        None,
        {"timestamp": "2024-01-03T16:02:11Z"},
    ],
)
def test_unknown_types_and_non_object_bodies_answer_422(client, engine, event):
    assert deliver(client, event).status_code == 422
    assert nothing_stored(engine)


def test_rejected_deliveries_are_logged_with_their_reason(client, caplog):
    caplog.set_level(logging.WARNING, logger="lti_bridge.webhooks")
    deliver(client, registration_event(), secret=STRANGER_SECRET, msg_id="msg_forged")
    deliver(client, b"not json", msg_id="msg_garbled")
    lines = [r for r in caplog.records if r.name == "lti_bridge.webhooks"]
    messages = [TextFormatter().format(r) for r in lines]
    assert any("msg_forged" in m and "401" in m and "no signature matches" in m for m in messages)
    assert any("msg_garbled" in m and "400" in m for m in messages)


def test_other_methods_on_the_endpoint_are_refused_without_an_error(client):
    assert client.get("/webhooks/sis").status_code == 405


# --- secret rotation --------------------------------------------------------------------------


def test_during_rotation_either_secret_is_accepted_and_a_third_is_not(app_config, engine):
    with app_with(app_config, webhook_secrets=f"{NEW_SECRET} {SECRET}") as app:
        client = app.test_client()
        assert deliver(client, registration_event(sequence=1), secret=SECRET).status_code == 204
        assert deliver(client, registration_event(sequence=2), secret=NEW_SECRET).status_code == 204
        stranger = deliver(client, registration_event(sequence=3), secret=STRANGER_SECRET)
        assert stranger.status_code == 401
    assert one(engine, registrations)["sequence"] == 2


def test_a_sender_offering_old_and_new_signatures_is_accepted(client, engine):
    body = json.dumps(registration_event())
    headers = signed_headers(body, secret=STRANGER_SECRET)
    valid = signed_headers(
        body,
        msg_id=headers["webhook-id"],
        at=datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC),
    )
    headers["webhook-signature"] += " " + valid["webhook-signature"]
    assert client.post("/webhooks/sis", data=body, headers=headers).status_code == 204
    assert one(engine, registrations)


# --- concurrency over real HTTP -----------------------------------------------------------------


def _post_concurrently(base: str, requests: list[tuple[bytes, dict[str, str]]]) -> list[int]:
    statuses: list[int] = [0] * len(requests)
    barrier = threading.Barrier(len(requests))

    def send(index: int, body: bytes, headers: dict[str, str]) -> None:
        conn = http.client.HTTPConnection(base.removeprefix("http://"), timeout=30)
        conn.connect()
        barrier.wait()
        conn.request("POST", "/webhooks/sis", body=body, headers=headers)
        statuses[index] = conn.getresponse().status
        conn.close()

    threads = [
        threading.Thread(target=send, args=(i, body, headers))
        for i, (body, headers) in enumerate(requests)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


def test_concurrent_identical_deliveries_are_applied_once(app, engine):
    body = json.dumps(registration_event(sequence=1)).encode()
    headers = signed_headers(body, msg_id="msg_race")
    with serve(app) as base:
        statuses = _post_concurrently(base, [(body, headers)] * 12)
    assert statuses == [204] * 12
    delivery = one(engine, webhook_deliveries)
    assert (delivery["webhook_id"], delivery["outcome"]) == ("msg_race", "applied")
    assert one(engine, registrations)["sequence"] == 1


def test_concurrent_sequences_of_one_registration_end_at_the_highest(app, engine):
    requests = []
    for sequence in range(1, 13):
        status = "withdrawn" if sequence == 12 else "registered"
        body = json.dumps(registration_event(sequence=sequence, status=status)).encode()
        requests.append((body, signed_headers(body)))
    with serve(app) as base:
        statuses = _post_concurrently(base, requests)
    assert statuses == [204] * 12
    registration = one(engine, registrations)
    assert (registration["sequence"], registration["status"]) == (12, "withdrawn")
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(webhook_deliveries)).scalar()
    assert count == 12


def test_concurrent_first_events_of_one_new_student_create_one_student(app, engine):
    requests = []
    for index in range(10):
        body = json.dumps(registration_event(registration=f"reg-{index}")).encode()
        requests.append((body, signed_headers(body)))
    with serve(app) as base:
        statuses = _post_concurrently(base, requests)
    assert statuses == [204] * 10
    assert one(engine, sis_students)["sis_id"] == "110123456"
    assert len(rows(engine, registrations)) == 10


# --- audit and replay from the command line ------------------------------------------------------


def test_events_list_shows_each_accepted_delivery(app, client):
    deliver(client, registration_event(sequence=2), msg_id="msg_new")
    deliver(client, registration_event(sequence=1), msg_id="msg_old")
    deliver(client, student_event("student.hold.placed"), msg_id="msg_hold")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["events", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split("\t")[1] for line in lines] == ["msg_hold", "msg_old", "msg_new"]
    assert "\tenrollment.registered\tseq=1\tstale\t" in lines[1]
    only_holds = runner.invoke(args=["events", "list", "--type", "student.hold.placed"])
    assert only_holds.output.count("\n") == 1 and "msg_hold" in only_holds.output
    limited = runner.invoke(args=["events", "list", "--limit", "1"])
    assert limited.output.count("\n") == 1


def test_events_replay_reapplies_a_stored_delivery_respecting_sequence(app, client, engine):
    from sqlalchemy import delete

    deliver(client, registration_event(sequence=3, status="dropped"), msg_id="msg_3")
    deliver(client, registration_event(sequence=4, status="withdrawn"), msg_id="msg_4")
    runner = app.test_cli_runner()

    stale = runner.invoke(args=["events", "replay", "msg_3"])
    assert stale.exit_code == 0, stale.output
    assert "stale" in stale.output
    assert one(engine, registrations)["status"] == "withdrawn"

    # After losing the state (say, a restore), replay brings it back.
    with engine.begin() as conn:
        conn.execute(delete(registrations))
    result = runner.invoke(args=["events", "replay", "msg_4"])
    assert result.exit_code == 0, result.output
    assert "applied" in result.output
    assert one(engine, registrations)["status"] == "withdrawn"
    replayed = [r for r in rows(engine, webhook_deliveries) if r["webhook_id"] == "msg_4"][0]
    assert replayed["outcome"] == "applied" and replayed["error"].startswith("replayed ")


def test_events_replay_of_an_unknown_id_says_so_in_one_line(app):
    result = app.test_cli_runner().invoke(args=["events", "replay", "msg_nowhere"])
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [
        "Error: no delivery with webhook id msg_nowhere; see: lti-bridge events list"
    ]


# --- OpenAPI, and fuzzing the endpoint with it ----------------------------------------------------


def test_the_openapi_document_describes_every_event_type_and_answer(client):
    response = client.get("/webhooks/sis/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.")
    operation = document["paths"]["/webhooks/sis"]["post"]
    assert set(operation["responses"]) == {"202", "204", "400", "401", "413", "422", "503"}
    schemas = document["components"]["schemas"]
    types = {
        value
        for name in ("RegistrationEvent", "StudentEvent", "IgnoredEvent")
        for value in schemas[name]["properties"]["type"]["enum"]
    }
    assert types == {
        "enrollment.registered",
        "enrollment.dropped",
        "enrollment.withdrawn",
        "enrollment.canceled",
        "tuition.paid",
        "tuition.payment_failed",
        "tuition.refunded",
        "student.hold.placed",
        "student.hold.released",
        "student.onboarding_completed",
        "webhook.test",
    }


def _from_schema(schema: dict[str, Any], components: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values shaped like an OpenAPI schema, often valid, sometimes at or past its edges."""
    if "$ref" in schema:
        return st.deferred(
            lambda: _from_schema(components[schema["$ref"].rsplit("/", 1)[1]], components)
        )
    if "allOf" in schema:
        return _from_schema(schema["allOf"][0], components)
    nullable = st.none()
    if "enum" in schema:
        base: st.SearchStrategy[Any] = st.sampled_from(schema["enum"])
    elif schema.get("type") == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))
        base = st.fixed_dictionaries(
            {k: _from_schema(v, components) for k, v in properties.items() if k in required},
            optional={
                k: _from_schema(v, components) for k, v in properties.items() if k not in required
            },
        )
    elif schema.get("type") == "integer":
        base = st.integers(
            min_value=schema.get("minimum", -(2**70)) - 1,
            max_value=schema.get("maximum", 2**70) + 1,
        )
    elif schema.get("format") == "date":
        base = st.dates().map(str)
    elif schema.get("format") == "date-time":
        base = st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())
    elif schema.get("type") == "string":
        base = (
            st.from_regex(schema["pattern"], fullmatch=True)
            if "pattern" in schema
            else st.text(max_size=schema.get("maxLength", 40) + 2)
        )
    else:
        base = st.from_type(type(None)) | st.integers() | st.text()
    # Now and then any field is replaced by a value of the wrong kind.
    wrong = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.text(max_size=5),
        st.lists(st.none(), max_size=2),
    )
    # Rarely enough that whole bodies still come out valid often.
    return st.integers(0, 39).flatmap(
        lambda n: wrong if n == 0 else (nullable if n == 1 and schema.get("nullable") else base)
    )


def _openapi_bodies(document: dict[str, Any]) -> st.SearchStrategy[Any]:
    components = document["components"]["schemas"]
    request = document["paths"]["/webhooks/sis"]["post"]["requestBody"]
    choices = request["content"]["application/json"]["schema"]["oneOf"]
    return st.one_of([_from_schema(choice, components) for choice in choices])


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


def test_no_input_makes_the_endpoint_fail(client):
    from lti_bridge.web.webhooks import openapi_document

    bodies = st.one_of(
        st.binary(max_size=200),
        _json.map(lambda v: json.dumps(v).encode()),
        _openapi_bodies(openapi_document()).map(lambda v: json.dumps(v).encode()),
    )
    header_values = st.text(
        alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=40
    )
    signing = st.sampled_from(["signed", "signed", "stranger", "random", "none"])

    @settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        body=bodies,
        how=signing,
        noise=st.dictionaries(
            st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature"]),
            header_values,
            max_size=3,
        ),
    )
    def check(body: bytes, how: str, noise: dict[str, str]) -> None:
        text = body.decode("utf-8", errors="replace")
        if how == "signed":
            headers = signed_headers(text.encode())
            body = text.encode()
        elif how == "stranger":
            headers = signed_headers(text.encode(), secret=STRANGER_SECRET)
        elif how == "random":
            headers = dict(noise)
        else:
            headers = {}
        response = client.post("/webhooks/sis", data=body, headers=headers)
        assert response.status_code in {202, 204, 400, 401, 413, 422}, (
            response.status_code,
            response.data[:300],
        )
        if response.status_code >= 400:
            assert response.content_type == "application/problem+json"
            problem = response.get_json()
            assert {"type", "title", "status", "detail", "error"} <= set(problem)
            assert problem["status"] == response.status_code

    check()
