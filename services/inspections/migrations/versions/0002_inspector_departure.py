"""inspectors can leave the directory

An inspector transferred, retired or no longer holding a law-enforcement certificate leaves the
directory from a day: later draws leave them out; the entry stays, with the day, the reason and
who recorded it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 17:45:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('inspectors', sa.Column('left_on', sa.Date(), nullable=True))
    op.add_column('inspectors', sa.Column('leaving_reason', sa.String(length=500), nullable=False, server_default=''))
    op.add_column('inspectors', sa.Column('departure_recorded_by', sa.String(length=200), nullable=True))


def downgrade() -> None:
    # SQLite drops a column in place since 3.35.
    op.drop_column('inspectors', 'departure_recorded_by')
    op.drop_column('inspectors', 'leaving_reason')
    op.drop_column('inspectors', 'left_on')
