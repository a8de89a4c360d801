"""The per-thread autocommitted connection launch bookkeeping runs on, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from lti_bridge.adapters.db.engine import make_engine
from lti_bridge.adapters.db.tables import lti_store
from lti_bridge.adapters.db.thread_connections import ThreadConnections


def _insert(conn, key: str) -> None:
    conn.execute(
        lti_store.insert(),
        {"key": key, "value": {"k": key}, "expires_at": datetime(2099, 1, 1, tzinfo=UTC)},
    )


def test_each_statement_is_committed_at_once(engine):
    statements = ThreadConnections(engine)
    with statements.connection(write=True) as conn:
        _insert(conn, "a")
    # Visible to another connection right away: no transaction was left open.
    with engine.connect() as other:
        assert other.execute(select(func.count()).select_from(lti_store)).scalar() == 1
    statements.close_all()


def test_a_thread_reuses_its_connection_and_gives_it_back_when_it_ends(engine):
    statements = ThreadConnections(engine)
    seen: dict[int, list[object]] = {}

    def work(n: int) -> None:
        for _ in range(3):
            with statements.connection() as conn:
                seen.setdefault(n, []).append(conn)
                conn.execute(text("SELECT 1"))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Three uses per thread on one connection, each thread its own.
    assert all(len({id(c) for c in conns}) == 1 for conns in seen.values())
    assert len({id(conns[0]) for conns in seen.values()}) == 4
    # None is still out of the pool once the threads ended.
    assert engine.pool.checkedout() == 0


def test_a_failed_statement_leaves_the_connection_usable(engine):
    statements = ThreadConnections(engine)
    with pytest.raises(DBAPIError), statements.connection() as conn:
        conn.execute(text("SELECT * FROM no_such_table"))
    with statements.connection() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1
    statements.close_all()


@pytest.fixture
def pg_engine(pg_database):
    """PostgreSQL only: these tests read, so the session's database needs no emptying."""
    eng = make_engine(pg_database)
    yield eng
    eng.dispose()


def terminate(engine, pid: int) -> None:
    """End a server session as a PostgreSQL restart does, and wait until it is gone."""
    with create_engine(engine.url, poolclass=NullPool).connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        admin.commit()
        for _ in range(200):
            alive = admin.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            ).scalar()
            admin.commit()
            if not alive:
                return
            time.sleep(0.01)
    raise AssertionError(f"backend {pid} still alive")


def test_a_statement_connection_closed_by_a_postgresql_restart_reconnects_without_failing(
    pg_engine,
):
    engine = pg_engine
    statements = ThreadConnections(engine)
    with statements.connection() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    terminate(engine, pid)
    with statements.connection() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar() != pid
    statements.close_all()


def test_a_pooled_connection_closed_by_a_postgresql_restart_is_replaced_before_use(pg_engine):
    engine = pg_engine
    with engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    terminate(engine, pid)
    # The pool hands out its one idle connection first: the dead one is found and replaced.
    with engine.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar() != pid


def test_postgresql_relaxed_commits_stay_on_the_statement_connection(pg_engine):
    engine = pg_engine
    statements = ThreadConnections(engine)
    with statements.connection() as conn:
        assert conn.execute(text("SHOW synchronous_commit")).scalar() == "off"
    statements.close_all()
    # The relaxed connection was discarded, not pooled: every pooled one commits durably.
    conns = [engine.connect() for _ in range(3)]
    try:
        for conn in conns:
            assert conn.execute(text("SHOW synchronous_commit")).scalar() == "on"
    finally:
        for conn in conns:
            conn.close()

