"""The webhook degrades instead of failing: every database failure answers 503 with
Retry-After (the SIS retries, nothing is lost), and bodies no database can store answer 4xx
on SQLite and PostgreSQL alike."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.pool import NullPool

from lti_bridge.adapters.db.tables import registrations, webhook_deliveries
from tests.fixtures.sis_events import SECRET, registration_event, signed_headers


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    app_config["webhook_secrets"] = (SECRET,)
    app_config["database_pool_size"] = 1
    app_config["database_pool_timeout_seconds"] = 0.2
    return app_config


def send(client: Any, body: str, msg_id: str) -> Any:
    return client.post(
        "/webhooks/sis", data=body, headers=signed_headers(body, msg_id=msg_id)
    )


def count(engine: Any, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_webhook_finding_the_connection_pool_exhausted_answers_503_and_is_applied_on_retry(
    app: Any, client: Any, engine: Any
) -> None:
    import json

    body = json.dumps(registration_event(tuition="paid"))
    pool = app.extensions["lti_bridge"].engine
    # Every connection the pool may open (1 + overflow 10), held by other requests.
    held = [pool.connect() for _ in range(11)]
    try:
        assert pool.pool.checkedout() == 11
        busy = send(client, body, "msg_pool_1")
    finally:
        for conn in held:
            conn.close()

    assert busy.status_code == 503
    assert busy.headers["Retry-After"].isdigit()
    assert busy.get_json()["error"] == "database_unavailable"
    assert count(engine, webhook_deliveries) == 0
    # The SIS's retry of the very same delivery is applied once the pool has room.
    assert send(client, body, "msg_pool_1").status_code == 204
    assert count(engine, registrations) == 1


@pytest.mark.parametrize(
    "field",
    [
        '"note": "\\ud800"',
        '"note": "a\\u0000b"',
        '"\\udfff": 1',
        '"extra": {"deep": ["\\u0000"]}',
    ],
    ids=["lone-high-surrogate", "nul", "surrogate-in-a-key", "nested-nul"],
)
def test_a_body_holding_a_lone_surrogate_or_nul_is_refused_with_4xx_and_stores_nothing(
    client: Any, engine: Any, field: str
) -> None:
    import json

    event = json.dumps(registration_event())
    # In a field the schema ignores: the body itself is what is kept for audit.
    body = event[:-1] + ", " + field + "}"

    response = send(client, body, "msg_bad_text")

    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    assert response.get_json()["error"] == "invalid_json"
    assert count(engine, webhook_deliveries) == 0 and count(engine, registrations) == 0


def test_webhooks_after_a_postgresql_restart_are_applied_without_a_failure(
    app: Any, client: Any, engine: Any, db_url: str
) -> None:
    import json

    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL restarts")
    first = json.dumps(registration_event(tuition="unpaid", sequence=1))
    assert send(client, first, "msg_before_restart").status_code == 204

    # A restart ends every session of the database; the tool's pool still holds one.
    admin = create_engine(engine.url, poolclass=NullPool)
    with admin.connect() as conn:
        pids = conn.execute(
            text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
        ).scalars().all()
        for pid in pids:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        conn.commit()
        for _ in range(200):
            left = conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"),
                {"pids": list(pids)},
            ).scalar()
            conn.commit()
            if not left:
                break
            time.sleep(0.01)
    admin.dispose()
    assert pids

    second = json.dumps(registration_event("tuition.paid", tuition="paid", sequence=2))
    assert send(client, second, "msg_after_restart").status_code == 204
