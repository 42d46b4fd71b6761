"""provisional deadlines, and what the surcharge of any day is computed from

A case's next deadline may rest on a year whose holiday schedule is not published yet (暂定);
the record says so. The late-payment surcharge (加处罚款) is computed for the day a record is
read, from the day the fine was paid and the reviews during which none accrues, so the record
keeps both. Existing cases get false and an empty list: none was counted on a provisional year,
and their surcharge facts come with the workflow's next write.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 10:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('cases', sa.Column('next_deadline_provisional', sa.Boolean(), nullable=False,
                                     server_default=sa.false()))
    op.add_column('cases', sa.Column('paid_on', sa.Date(), nullable=True))
    op.add_column('cases', sa.Column('surcharge_paused', sa.JSON(), nullable=False, server_default='[]'))


def downgrade() -> None:
    # SQLite drops a column in place since 3.35.
    op.drop_column('cases', 'surcharge_paused')
    op.drop_column('cases', 'paid_on')
    op.drop_column('cases', 'next_deadline_provisional')
