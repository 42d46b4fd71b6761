"""a task's record keeps what its workflow allows next

The console offers an inspector or a supervisor only the actions the task's workflow allows in
its stage, read from the record like everything else, never by asking the workflow.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 18:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('tasks', sa.Column('allowed_actions', sa.JSON(), nullable=False, server_default='[]'))


def downgrade() -> None:
    # SQLite drops a column in place since 3.35.
    op.drop_column('tasks', 'allowed_actions')
