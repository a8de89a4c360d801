"""leave room in each page of the tables updated in place, so PostgreSQL updates them HOT

Registrations change with every SIS event and with a learner's first access (DOMAIN R9), students
with holds and onboarding, learners with each launch's bookkeeping; none of these updates touches
an indexed column. With room left on the page PostgreSQL keeps the new row version there and
adds no index entries (a heap-only tuple), so the credit gate's index reads do not wade through
dead versions until VACUUM comes by. Pages written from now on keep the room; ``VACUUM FULL`` of
a table repacks its old ones. SQLite has no such setting.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = ("registrations", "sis_students", "learners")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} SET (fillfactor = 80)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
