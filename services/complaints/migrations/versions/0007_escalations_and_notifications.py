"""escalations, their feed, and handlers' notifications

A statutory period of the office that a case missed goes into its supervisors' inbox
(`escalations`, 超期督办), and every change of one into the feed integrations read
(`escalation_events`, positions given under the lock of `escalation_feed`'s one row). A warning
on a period's warning day and a reassignment reach the handler (`notifications`, 办案提醒). All
are filed with the record writes that bring them from now on: the tables start empty.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-12 10:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'escalations',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('case_id', sa.String(length=64), nullable=False),
        sa.Column('period_id', sa.String(length=60), nullable=False),
        sa.Column('due_on', sa.Date(), nullable=False),
        sa.Column('missed_on', sa.Date(), nullable=False),
        sa.Column('provisional', sa.Boolean(), nullable=False),
        sa.Column('region_code', sa.String(length=6), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('supervisor', sa.String(length=200), nullable=False),
        sa.Column('assignee', sa.String(length=200), nullable=False),
        sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('resolution', sa.String(length=30), nullable=False),
        sa.Column('resolved_by', sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('case_id', 'period_id', 'due_on', name='uq_escalations_case_period_due'),
    )
    op.create_index('ix_escalations_inbox', 'escalations', ['state', 'due_on', 'id'])
    op.create_table(
        'escalation_events',
        sa.Column('position', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('escalation_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('case_id', sa.String(length=64), nullable=False),
        sa.Column('region_code', sa.String(length=6), nullable=False),
        sa.Column('period_id', sa.String(length=60), nullable=False),
        sa.Column('due_on', sa.Date(), nullable=False),
        sa.Column('missed_on', sa.Date(), nullable=False),
        sa.Column('actor', sa.String(length=200), nullable=False),
        sa.Column('resolution', sa.String(length=30), nullable=False),
        sa.ForeignKeyConstraint(['escalation_id'], ['escalations.id']),
        sa.PrimaryKeyConstraint('position'),
    )
    op.create_table(
        'escalation_feed',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('last_position', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'notifications',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('source_key', sa.String(length=120), nullable=False),
        sa.Column('recipient', sa.String(length=200), nullable=False),
        sa.Column('case_id', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('period_id', sa.String(length=60), nullable=False),
        sa.Column('due_on', sa.Date(), nullable=True),
        sa.Column('warn_on', sa.Date(), nullable=True),
        sa.Column('provisional', sa.Boolean(), nullable=False),
        sa.Column('actor', sa.String(length=200), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('source_key'),
    )
    op.create_index('ix_notifications_recipient', 'notifications', ['recipient', 'id'])


def downgrade() -> None:
    op.drop_index('ix_notifications_recipient', table_name='notifications')
    op.drop_table('notifications')
    op.drop_table('escalation_feed')
    op.drop_table('escalation_events')
    op.drop_index('ix_escalations_inbox', table_name='escalations')
    op.drop_table('escalations')

