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
    with op.batch_alter_table('credit_events') as batch:
        batch.add_column(sa.Column('withdrawn_on', sa.Date(), nullable=True))
        batch.add_column(sa.Column('withdrawal_reason', sa.Text(), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('credit_events') as batch:
        batch.drop_column('withdrawal_reason')
        batch.drop_column('withdrawn_on')
