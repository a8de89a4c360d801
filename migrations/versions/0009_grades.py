"""final grades: submissions (versioned per registration), the instructor's adjustments, the audit
trail, and each offering's grading settings beyond its scale and weights (issue 13)

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _ts(name: str, *, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("offerings") as batch_op:
        batch_op.add_column(sa.Column("grading", sa.JSON(), nullable=True))
    op.create_table(
        "grade_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("section_sis_id", sa.String(length=255), nullable=False),
        sa.Column("registration_sis_id", sa.String(length=255), nullable=False),
        sa.Column("student_sis_id", sa.String(length=255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sourced_id", sa.String(length=255), nullable=False),
        sa.Column("letter", sa.String(length=16), nullable=False),
        sa.Column("percent", sa.String(length=16), nullable=True),
        sa.Column("last_attended", sa.Date(), nullable=True),
        sa.Column("incomplete_grade", sa.String(length=16), nullable=True),
        sa.Column("incomplete_until", sa.Date(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("released_by", sa.String(length=512), nullable=False),
        _ts("released_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grade_submissions")),
        sa.UniqueConstraint("sourced_id", name=op.f("uq_grade_submissions_sourced_id")),
        sa.UniqueConstraint(
            "registration_sis_id", "version", name="uq_grade_submissions_registration_version"
        ),
    )
    op.create_index(
        "ix_grade_submissions_section_sis_id", "grade_submissions", ["section_sis_id"]
    )
    op.create_table(
        "grade_adjustments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("registration_sis_id", sa.String(length=255), nullable=False),
        sa.Column("section_sis_id", sa.String(length=255), nullable=False),
        sa.Column("override_letter", sa.String(length=16), nullable=True),
        sa.Column("override_reason", sa.Text(), nullable=True),
        sa.Column("incomplete", sa.Boolean(), nullable=False),
        sa.Column("incomplete_reason", sa.Text(), nullable=True),
        sa.Column("updated_by", sa.String(length=512), nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grade_adjustments")),
        sa.UniqueConstraint(
            "registration_sis_id", name=op.f("uq_grade_adjustments_registration_sis_id")
        ),
    )
    op.create_table(
        "grade_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("section_sis_id", sa.String(length=255), nullable=False),
        sa.Column("registration_sis_id", sa.String(length=255), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("letter", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("actor", sa.String(length=512), nullable=False),
        _ts("at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grade_audit")),
    )
    op.create_index("ix_grade_audit_section_sis_id", "grade_audit", ["section_sis_id"])


def downgrade() -> None:
    op.drop_index("ix_grade_audit_section_sis_id", table_name="grade_audit")
    op.drop_table("grade_audit")
    op.drop_table("grade_adjustments")
    op.drop_index("ix_grade_submissions_section_sis_id", table_name="grade_submissions")
    op.drop_table("grade_submissions")
    with op.batch_alter_table("offerings") as batch_op:
        batch_op.drop_column("grading")
