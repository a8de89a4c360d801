"""index students by platform user id: the credit gate finds a launch's student by it

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_sis_students_platform_user_id", "sis_students", ["platform_user_id"])


def downgrade() -> None:
    op.drop_index("ix_sis_students_platform_user_id", table_name="sis_students")
