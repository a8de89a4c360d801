"""offerings name the platform whose contexts they map, where a university has several

A context id is the platform's own: two LMSs may both have a course "1234". An offering's
``issuer`` is the issuer of the platform its contexts belong to; empty means any registered
platform (a university with one LMS). A for-credit context is unique per platform.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("offerings") as batch_op:
        batch_op.add_column(
            sa.Column("issuer", sa.String(length=512), nullable=False, server_default=sa.text("''"))
        )
        batch_op.drop_constraint("uq_offerings_for_credit_context_id", type_="unique")
        batch_op.create_unique_constraint(
            "uq_offerings_for_credit_context_id_issuer", ["for_credit_context_id", "issuer"]
        )


def downgrade() -> None:
    with op.batch_alter_table("offerings") as batch_op:
        batch_op.drop_constraint("uq_offerings_for_credit_context_id_issuer", type_="unique")
        batch_op.create_unique_constraint(
            "uq_offerings_for_credit_context_id", ["for_credit_context_id"]
        )
        batch_op.drop_column("issuer")
