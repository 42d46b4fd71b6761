"""credit events can be withdrawn

A penalty revoked or changed on review is withdrawn from the public register (撤回公示) and no
longer counts in a credit grade; its record stays, with the day and the reason.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 16:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('credit_events', sa.Column('withdrawn_on', sa.Date(), nullable=True))
    op.add_column('credit_events', sa.Column('withdrawal_reason', sa.Text(), nullable=False, server_default=''))


def downgrade() -> None:
    # SQLite drops a column in place since 3.35.
    op.drop_column('credit_events', 'withdrawal_reason')
    op.drop_column('credit_events', 'withdrawn_on')
