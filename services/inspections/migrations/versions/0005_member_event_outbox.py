"""the member-event outbox

A task's result published (检查结果公示) is an event about its agency for the registry's member
events feed: committed here with the task record, until the relay hands it to the registry.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-10 10:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_member_event_outbox()


def downgrade() -> None:
    drop_member_event_outbox()


def create_member_event_outbox() -> None:
    op.create_table(
        'member_event_outbox',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('source_key', sa.String(length=200), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('agency_id', sa.String(length=64), nullable=False),
        sa.Column('agency_credit_code', sa.String(length=18), nullable=False),
        sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('subject_id', sa.String(length=100), nullable=False),
        sa.Column('facts', sa.JSON(), nullable=False),
        sa.Column('association_id', sa.String(length=64), nullable=False),
        sa.Column('relayed_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('source_key', name='uq_member_event_outbox_source_key'),
    )
    op.create_index('ix_member_event_outbox_unrelayed', 'member_event_outbox', ['relayed_at', 'id'])


def drop_member_event_outbox() -> None:
    op.drop_index('ix_member_event_outbox_unrelayed', table_name='member_event_outbox')
    op.drop_table('member_event_outbox')
