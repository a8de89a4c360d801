"""Statements run on the DBAPI connection mean what SQLAlchemy's execution of them means."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import bindparam, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from lti_bridge.adapters.db.driver import DriverStatement
from lti_bridge.adapters.db.engine import make_engine
from lti_bridge.adapters.db.tables import platforms, resource_links, sis_sessions, sis_students
from lti_bridge.adapters.db.upsert import insert_or_update

NOW = datetime(2024, 8, 26, 14, 30, 5, 123456, tzinfo=UTC)


def _platform(conn) -> int:
    return int(
        insert_or_update(
            conn,
            platforms,
            {
                "issuer": "https://lms.example.edu",
                "client_id": "c1",
                "auth_login_url": "https://lms.example.edu/auth",
                "auth_token_url": "https://lms.example.edu/token",
                "key_set_url": "https://lms.example.edu/jwks",
                "created_at": NOW,
                "updated_at": NOW,
            },
            keys=["issuer", "client_id"],
            update=["updated_at"],
        )
    )


def test_values_written_raw_read_back_the_same_through_sqlalchemy(engine):
    with engine.connect() as conn:
        platform_id = _platform(conn)
        insert_or_update(
            conn,
            resource_links,
            {
                "platform_id": platform_id,
                "context_id": "ctx",
                "resource_link_id": "link-1",
                "title": "Final exam",
                "custom": {"access": "for_credit", "n": [1, 2]},
                "created_at": NOW,
                "updated_at": NOW,
            },
            keys=["platform_id", "resource_link_id"],
            update=["title", "custom", "updated_at"],
            returning=None,
        )
        conn.commit()
        row = conn.execute(select(resource_links)).mappings().one()
    assert row["custom"] == {"access": "for_credit", "n": [1, 2]}
    assert row["updated_at"].replace(tzinfo=UTC) == NOW
    assert row["platform_id"] == platform_id


def test_rows_come_back_typed_as_sqlalchemy_would_type_them(engine):
    with engine.begin() as conn:
        conn.execute(
            sis_sessions.insert(),
            {
                "code": "2024-S1",
                "starts_on": date(2024, 8, 26),
                "ends_on": date(2024, 12, 13),
                "enrollment_opens_at": NOW,
                "enrollment_closes_at": NOW,
            },
        )
        conn.execute(
            sis_students.insert(),
            {"sis_id": "s1", "hold_active": True, "hold_reason": None, "created_at": NOW,
             "updated_at": NOW},
        )
    by_code = DriverStatement(select(sis_sessions).where(sis_sessions.c.code == bindparam("code")))
    holds = DriverStatement(
        select(sis_students.c.sis_id, sis_students.c.hold_active, sis_students.c.hold_reason)
    )
    with engine.connect() as conn:
        (session,) = by_code.rows(conn, {"code": "2024-S1"})
        (student,) = holds.rows(conn, {})
        expected = conn.execute(select(sis_sessions)).one()
    assert session.starts_on == date(2024, 8, 26)
    assert session.enrollment_opens_at.replace(tzinfo=UTC) == NOW
    assert tuple(session) == tuple(expected)
    assert student.hold_active is True and student.hold_reason is None


def test_a_duplicate_key_raises_sqlalchemys_integrity_error_and_rolls_back(engine):
    insert = DriverStatement(platforms.insert(), column_keys=[
        "issuer", "client_id", "auth_login_url", "auth_token_url", "key_set_url",
        "created_at", "updated_at",
    ])
    values = {
        "issuer": "https://lms.example.edu", "client_id": "c1", "auth_login_url": "a",
        "auth_token_url": "t", "key_set_url": "k", "created_at": NOW, "updated_at": NOW,
    }
    with engine.connect() as conn:
        insert.execute(conn, values)
        conn.commit()
        with pytest.raises(IntegrityError):
            insert.execute(conn, values)
        conn.rollback()
        assert conn.execute(select(platforms.c.id)).all() != []


def test_statements_join_the_connections_transaction(engine):
    with engine.connect() as conn:
        _platform(conn)
        assert conn.in_transaction()
        conn.rollback()
    with engine.connect() as conn:
        assert conn.execute(select(platforms.c.id)).all() == []


def test_python_side_column_defaults_fill_what_a_call_leaves_out(engine):
    insert = DriverStatement(sis_students.insert())
    with engine.begin() as conn:
        insert.execute(conn, {"sis_id": "s2", "created_at": NOW, "updated_at": NOW})
    with engine.connect() as conn:
        assert conn.execute(select(sis_students.c.hold_active)).scalar() is False


_STUDENT = DriverStatement(
    select(sis_students.c.email).where(sis_students.c.sis_id == bindparam("s"))
)


def _add_student(conn, sis_id: str, email: str) -> None:
    insert_or_update(
        conn,
        sis_students,
        {"sis_id": sis_id, "email": email, "created_at": NOW, "updated_at": NOW},
        keys=["sis_id"],
        update=["email", "updated_at"],
        returning=None,
    )


def test_a_statement_run_again_between_others_sees_what_they_wrote(engine):
    # Each statement keeps its cursor on the connection; the results must not.
    with engine.begin() as conn:
        _add_student(conn, "s-1", "one@example.edu")
        assert _STUDENT.rows(conn, {"s": "s-1"})[0].email == "one@example.edu"
        _add_student(conn, "s-1", "uno@example.edu")
        assert _STUDENT.rows(conn, {"s": "s-1"})[0].email == "uno@example.edu"
        assert _STUDENT.rows(conn, {"s": "s-2"}) == []
    with engine.connect() as conn:
        assert _STUDENT.rows(conn, {"s": "s-1"})[0].email == "uno@example.edu"


@pytest.fixture
def pg_engine(pg_database):
    """PostgreSQL only: SQLite has no server to drop a connection."""
    eng = make_engine(pg_database)
    yield eng
    with eng.begin() as conn:
        conn.execute(sis_students.delete().where(sis_students.c.sis_id == "s-3"))
    eng.dispose()


def test_a_statement_on_a_connection_the_server_dropped_fails_once_then_runs_again(pg_engine):
    engine = pg_engine
    with engine.begin() as conn:
        _add_student(conn, "s-3", "three@example.edu")
    with engine.connect() as conn:
        assert _STUDENT.rows(conn, {"s": "s-3"})[0].email == "three@example.edu"
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        conn.rollback()
        with engine.connect() as admin:
            admin.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
            admin.commit()
        with pytest.raises(DBAPIError) as failed:
            _STUDENT.rows(conn, {"s": "s-3"})
        assert failed.value.connection_invalidated
        conn.rollback()
        # A new server connection, with a cursor of its own.
        assert _STUDENT.rows(conn, {"s": "s-3"})[0].email == "three@example.edu"
