"""catalog: offerings, catalog settings, learners' onboarding pass

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "offerings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("section_sis_id", sa.String(length=255), nullable=False),
        sa.Column("for_credit_context_id", sa.String(length=255), nullable=False),
        sa.Column("non_credit_context_id", sa.String(length=255), nullable=True),
        sa.Column("grade_scale", sa.JSON(), nullable=False),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offerings")),
        sa.UniqueConstraint("section_sis_id", name=op.f("uq_offerings_section_sis_id")),
        sa.UniqueConstraint(
            "for_credit_context_id", name=op.f("uq_offerings_for_credit_context_id")
        ),
    )
    op.create_index(
        "ix_offerings_non_credit_context_id", "offerings", ["non_credit_context_id"]
    )
    op.create_table(
        "catalog_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_settings")),
    )
    with op.batch_alter_table("learners") as batch_op:
        batch_op.add_column(
            sa.Column("onboarding_passed_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("learners") as batch_op:
        batch_op.drop_column("onboarding_passed_at")
    op.drop_table("catalog_settings")
    op.drop_index("ix_offerings_non_credit_context_id", table_name="offerings")
    op.drop_table("offerings")
