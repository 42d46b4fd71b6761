"""the credit lists

An agency's time on the abnormal-operations list (经营异常名录) or the serious-violation list
(严重违法失信名单), kept by the CreditLists workflow's clocks: listed the day after the annual
report window closes without its report, moved to the serious-violation list three years on,
removed when it asks once the cause is cured. Entries of agencies listed before this revision
(by hand, as credit events only) are not rebuilt: the table starts empty.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 14:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'credit_list_entries',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('agency_id', sa.String(length=64), nullable=False),
        sa.Column('list', sa.String(length=30), nullable=False),
        sa.Column('reason', sa.String(length=40), nullable=False),
        sa.Column('report_year', sa.Integer(), nullable=False),
        sa.Column('listed_on', sa.Date(), nullable=False),
        sa.Column('moves_to_serious_on', sa.Date(), nullable=True),
        sa.Column('early_removal_from', sa.Date(), nullable=True),
        sa.Column('removed_on', sa.Date(), nullable=True),
        sa.Column('removal_reason', sa.String(length=40), nullable=False),
        sa.Column('credit_event_id', sa.String(length=64), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['agency_id'], ['agencies.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_credit_list_entries_agency_id', 'credit_list_entries', ['agency_id'])
    op.create_index('ix_credit_list_entries_due_moves', 'credit_list_entries',
                    ['list', 'removed_on', 'moves_to_serious_on'])
    op.create_index('ix_credit_list_entries_listed', 'credit_list_entries', ['list', 'listed_on', 'id'])


def downgrade() -> None:
    op.drop_index('ix_credit_list_entries_listed', table_name='credit_list_entries')
    op.drop_index('ix_credit_list_entries_due_moves', table_name='credit_list_entries')
    op.drop_index('ix_credit_list_entries_agency_id', table_name='credit_list_entries')
    op.drop_table('credit_list_entries')
