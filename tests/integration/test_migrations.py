"""The migrations build exactly the schema ``tables.py`` describes, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from lti_bridge.adapters.db.engine import alembic_config, current_revision, upgrade
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
