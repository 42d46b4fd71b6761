"""a task's due days may be provisional

The publication and rectification deadlines of a task may rest on a year whose holiday schedule
the State Council has not published yet (暂定); the record says so, for the console to mark.
Existing tasks get false: none was counted on a provisional year.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 10:05:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('tasks', sa.Column('publish_due_provisional', sa.Boolean(), nullable=False,
                                     server_default=sa.false()))
    op.add_column('tasks', sa.Column('rectify_due_provisional', sa.Boolean(), nullable=False,
                                     server_default=sa.false()))


def downgrade() -> None:
    # SQLite drops a column in place since 3.35.
    op.drop_column('tasks', 'rectify_due_provisional')
    op.drop_column('tasks', 'publish_due_provisional')
