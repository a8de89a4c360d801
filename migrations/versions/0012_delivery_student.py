"""the SIS student each webhook delivery names, kept in its own indexed column, so a learner's
history reads their events without scanning every delivery's payload (issue 15)

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Deliveries kept from before: the student their payload names (events without one stay NULL).
_BACKFILL = {
    "postgresql": "UPDATE webhook_deliveries "
    "SET student_sis_id = (payload::json -> 'data' -> 'student') ->> 'sis_id'",
    "sqlite": "UPDATE webhook_deliveries "
    "SET student_sis_id = json_extract(payload, '$.data.student.sis_id')",
}


def upgrade() -> None:
    op.add_column(
        "webhook_deliveries", sa.Column("student_sis_id", sa.String(length=255), nullable=True)
    )
    op.execute(_BACKFILL[op.get_bind().dialect.name])
    op.create_index(
        "ix_webhook_deliveries_student_sis_id", "webhook_deliveries", ["student_sis_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_student_sis_id", table_name="webhook_deliveries")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("student_sis_id")
