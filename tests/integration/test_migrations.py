"""The migrations build exactly the schema ``tables.py`` describes, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from lti_bridge.adapters.db.engine import alembic_config, current_revision, make_engine, upgrade
from lti_bridge.adapters.db.tables import metadata


def differences(engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return compare_metadata(context, metadata)


def test_the_migrated_database_matches_the_tables_module(engine):
    assert current_revision(engine) is not None
    assert differences(engine) == []


def test_every_migration_downgrades_and_upgrades_again_to_the_same_schema(engine):
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
        connection.commit()
    assert current_revision(engine) is None
    upgrade(engine)
    assert differences(engine) == []


def test_tables_updated_in_place_leave_room_for_heap_only_updates_on_postgresql(pg_database):
    # PostgreSQL only: SQLite has no fill factor, and the migration step skips it.
    engine = make_engine(pg_database)
    try:
        with engine.connect() as conn:
            options = dict(
                conn.execute(
                    text(
                        "SELECT relname, reloptions FROM pg_class WHERE relname IN "
                        "('registrations', 'sis_students', 'learners', 'lti_store')"
                    )
                ).all()
            )
    finally:
        engine.dispose()
    assert options["registrations"] == ["fillfactor=80"]
    assert options["sis_students"] == ["fillfactor=80"]
    assert options["learners"] == ["fillfactor=80"]
    assert options["lti_store"] is None


def test_deliveries_kept_from_before_0012_get_the_student_they_name(engine):
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0011")
        connection.commit()
    with engine.begin() as conn:
        for webhook_id, payload in (
            ("msg-1", '{"data": {"student": {"sis_id": "110123456"}}}'),
            ("msg-2", '{"data": {"section": {"sis_id": "S-1"}}}'),
        ):
            conn.execute(
                text(
                    "INSERT INTO webhook_deliveries (webhook_id, type, received_at, outcome, "
                    "payload) VALUES (:id, 'enrollment.registered', CURRENT_TIMESTAMP, "
                    "'applied', :payload)"
                ),
                {"id": webhook_id, "payload": payload},
            )
    upgrade(engine)
    with engine.connect() as conn:
        named = dict(
            conn.execute(
                text("SELECT webhook_id, student_sis_id FROM webhook_deliveries ORDER BY id")
            ).all()
        )
    assert named == {"msg-1": "110123456", "msg-2": None}
