"""SIS students name the platform their platform user id belongs to

A ``platform_user_id`` the SIS sends is an identifier on one LMS; another LMS may have a user
with the same ``sub``. ``platform_issuer`` holds the issuer the SIS event named for it; where
the event names none, the setting ``LTI_BRIDGE_SIS_PLATFORM_ISSUER`` says which platform the
SIS's ids refer to. Launches from any other platform never match it.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sis_students") as batch_op:
        batch_op.add_column(sa.Column("platform_issuer", sa.String(length=512), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sis_students") as batch_op:
        batch_op.drop_column("platform_issuer")
