"""sis: students, sessions, sections, registrations, webhook deliveries

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 10:17:37.654909
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('registrations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sis_id', sa.String(length=255), nullable=False),
    sa.Column('student_sis_id', sa.String(length=255), nullable=False),
    sa.Column('section_sis_id', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('enrolled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tuition_status', sa.String(length=16), nullable=False),
    sa.Column('tuition_amount_cents', sa.BigInteger(), nullable=True),
    sa.Column('tuition_currency', sa.String(length=3), nullable=True),
    sa.Column('sequence', sa.BigInteger(), nullable=False),
    sa.Column('first_restricted_access_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registrations')),
    sa.UniqueConstraint('sis_id', name=op.f('uq_registrations_sis_id'))
    )
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.create_index('ix_registrations_section_sis_id', ['section_sis_id'], unique=False)
        batch_op.create_index('ix_registrations_student_sis_id', ['student_sis_id'], unique=False)

    op.create_table('sis_sections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sis_id', sa.String(length=255), nullable=False),
    sa.Column('course_code', sa.String(length=64), nullable=False),
    sa.Column('credit_hours', sa.Integer(), nullable=False),
    sa.Column('session_code', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sis_sections')),
    sa.UniqueConstraint('sis_id', name=op.f('uq_sis_sections_sis_id'))
    )
    op.create_table('sis_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('enrollment_opens_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('enrollment_closes_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sis_sessions')),
    sa.UniqueConstraint('code', name=op.f('uq_sis_sessions_code'))
    )
    op.create_table('sis_students',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sis_id', sa.String(length=255), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('platform_user_id', sa.String(length=255), nullable=True),
    sa.Column('hold_active', sa.Boolean(), nullable=False),
    sa.Column('hold_reason', sa.Text(), nullable=True),
    sa.Column('hold_sequence', sa.BigInteger(), nullable=True),
    sa.Column('onboarding_passed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('onboarding_sequence', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sis_students')),
    sa.UniqueConstraint('sis_id', name=op.f('uq_sis_students_sis_id'))
    )
    op.create_table('webhook_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('webhook_id', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('sequence', sa.BigInteger(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries')),
    sa.UniqueConstraint('webhook_id', name=op.f('uq_webhook_deliveries_webhook_id'))
    )


def downgrade() -> None:
    op.drop_table('webhook_deliveries')
    op.drop_table('sis_students')
    op.drop_table('sis_sessions')
    op.drop_table('sis_sections')
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_index('ix_registrations_student_sis_id')
        batch_op.drop_index('ix_registrations_section_sis_id')

    op.drop_table('registrations')
