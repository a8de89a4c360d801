"""Database failures leave a unit of work as the tool's own errors, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select

from lti_bridge.adapters.db.engine import make_engine
from lti_bridge.adapters.db.recent import RecentWrites
from lti_bridge.adapters.db.tables import webhook_deliveries
from lti_bridge.adapters.db.thread_connections import ThreadConnections
from lti_bridge.adapters.db.uow import SqlAlchemyUnitOfWork
from lti_bridge.domain.errors import ConcurrentWriteError, StorageUnavailableError
from lti_bridge.domain.outbox import SIS_RESULT, OutboxMessage

NOW = datetime(2024, 3, 20, 12, 0, tzinfo=UTC)


def uow_on(engine):
    return SqlAlchemyUnitOfWork(engine, RecentWrites(), ThreadConnections(engine))


DELIVERY = {"webhook_id": "w", "type": "tuition.paid", "received_at": NOW, "outcome": "applied",
            "payload": {}}


def test_a_key_another_transaction_took_is_a_concurrent_write(engine):
    with engine.begin() as conn:
        conn.execute(insert(webhook_deliveries), DELIVERY)
    uow = uow_on(engine)
    with pytest.raises(ConcurrentWriteError) as caught, uow:
        uow.conn.execute(insert(webhook_deliveries), DELIVERY)
        uow.commit()
    assert caught.value.retry_after == 1
    # Nothing half-done stays behind, and the next unit of work works.
    with uow:
        count = uow.conn.execute(select(func.count()).select_from(webhook_deliveries)).scalar()
    assert count == 1


def test_a_database_without_schema_says_to_upgrade(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    uow = uow_on(engine)
    message = OutboxMessage(
        kind=SIS_RESULT, key="k", payload={}, section_sis_id="S", registration_sis_id="r"
    )
    with pytest.raises(StorageUnavailableError) as caught, uow:
        uow.outbox.enqueue(message, NOW)
    assert "run: lti-bridge db upgrade" in str(caught.value)
    assert caught.value.retry_after == 5
    engine.dispose()


@pytest.mark.postgres
def test_a_database_that_does_not_answer_is_unavailable():
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2")
    uow = uow_on(engine)
    with pytest.raises(StorageUnavailableError) as caught, uow:
        uow.outbox.counts()
    assert str(caught.value).startswith("database unavailable (OperationalError)")
    engine.dispose()
