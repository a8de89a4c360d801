"""carry-over: a report per learner and section with its items, and the AGS scopes each context's
launches granted (issue 14)

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _ts(name: str, *, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("contexts") as batch_op:
        batch_op.add_column(sa.Column("ags_scopes", sa.JSON(), nullable=True))
    op.create_table(
        "carryover_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("section_sis_id", sa.String(length=255), nullable=False),
        sa.Column("student_sis_id", sa.String(length=255), nullable=False),
        sa.Column("registration_sis_id", sa.String(length=255), nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=True),
        sa.Column("learner_sub", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("planned_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_carryover_reports")),
        sa.UniqueConstraint(
            "section_sis_id", "student_sis_id", name="uq_carryover_reports_section_student"
        ),
    )
    op.create_index("ix_carryover_reports_student_sis_id", "carryover_reports", ["student_sis_id"])
    op.create_table(
        "carryover_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=512), nullable=False),
        sa.Column("non_credit_item_id", sa.String(length=1024), nullable=True),
        sa.Column("for_credit_item_id", sa.String(length=1024), nullable=True),
        sa.Column("score_given", sa.String(length=32), nullable=True),
        sa.Column("score_maximum", sa.String(length=32), nullable=True),
        _ts("result_at", nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("outbox_key", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["carryover_reports.id"],
            name=op.f("fk_carryover_items_report_id_carryover_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_carryover_items")),
    )
    op.create_index("ix_carryover_items_report_id", "carryover_items", ["report_id"])


def downgrade() -> None:
    op.drop_index("ix_carryover_items_report_id", table_name="carryover_items")
    op.drop_table("carryover_items")
    op.drop_index("ix_carryover_reports_student_sis_id", table_name="carryover_reports")
    op.drop_table("carryover_reports")
    with op.batch_alter_table("contexts") as batch_op:
        batch_op.drop_column("ags_scopes")
