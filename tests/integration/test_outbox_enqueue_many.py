"""``enqueue_many`` (a section's release queues hundreds of messages at once) keeps
``enqueue``'s rules, on SQLite and PostgreSQL: ids in order, the same key and body again a
no-op, the same key with another body refused, nothing half-written."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from lti_bridge.adapters.db.outbox_repository import SqlAlchemyOutboxRepository
from lti_bridge.adapters.db.tables import outbox
from lti_bridge.domain.errors import OutboxConflictError, ValidationError
from lti_bridge.domain.outbox import OutboxMessage

NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)


def message(key: str, score: float = 85.0) -> OutboxMessage:
    body = {"result": {"sourcedId": key, "score": score, "textScore": "B", "note": 'a "quote"'}}
    return OutboxMessage("sis.result", key, body, "SEC-1", f"reg-{key}")


def count(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(outbox)).scalar_one())


def test_a_batch_is_queued_with_its_ids_in_order_and_its_bodies_intact(engine) -> None:
    with engine.connect() as conn:
        repo = SqlAlchemyOutboxRepository(conn)
        first = repo.enqueue(message("k0"), NOW)
        ids = repo.enqueue_many([message("k2"), message("k0"), message("k1")], NOW)
        conn.commit()
        rows = {r.key: r for r in conn.execute(select(outbox))}

    assert ids[1] == first
    assert [rows["k2"].id, rows["k0"].id, rows["k1"].id] == ids
    assert rows["k1"].payload == message("k1").payload
    assert (rows["k1"].state, rows["k1"].attempts, rows["k1"].section_sis_id) == (
        "queued", 0, "SEC-1"
    )
    assert rows["k1"].registration_sis_id == "reg-k1"


def test_the_same_batch_again_queues_nothing_new(engine) -> None:
    batch = [message(f"k{i}") for i in range(50)]
    with engine.connect() as conn:
        first = SqlAlchemyOutboxRepository(conn).enqueue_many(batch, NOW)
        again = SqlAlchemyOutboxRepository(conn).enqueue_many(batch, NOW)
        conn.commit()
    assert first == again
    assert count(engine) == 50


def test_a_key_held_with_another_body_refuses_the_whole_batch(engine) -> None:
    with engine.connect() as conn:
        SqlAlchemyOutboxRepository(conn).enqueue(message("k1", score=40.0), NOW)
        conn.commit()
    with engine.connect() as conn, pytest.raises(OutboxConflictError, match="'k1'"):
        SqlAlchemyOutboxRepository(conn).enqueue_many([message("k0"), message("k1")], NOW)
    assert count(engine) == 1


def test_a_batch_naming_a_key_twice_or_holding_no_json_is_refused(engine) -> None:
    with engine.connect() as conn:
        repo = SqlAlchemyOutboxRepository(conn)
        with pytest.raises(ValidationError, match="twice"):
            repo.enqueue_many([message("k0"), message("k0")], NOW)
        bad = OutboxMessage("sis.result", "k9", {"when": NOW}, None, None)
        with pytest.raises(ValidationError, match="not JSON"):
            repo.enqueue_many([bad], NOW)
        assert repo.enqueue_many([], NOW) == []
