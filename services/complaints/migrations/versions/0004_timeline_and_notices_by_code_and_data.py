"""timeline entries and reporters' notices by code and data

The case workflow records what happened as a code and the values its words need, never prose:
each timeline entry keeps its data beside its action, and each notice to reporters its code and
data, so every reader words them in their own language. Existing rows keep the words they were
recorded with (`detail`, `text`) and get no code and empty data: they are shown as recorded.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 10:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('timeline_entries', sa.Column('data', sa.JSON(), nullable=False, server_default='{}'))
    for table in ('case_notices', 'reporter_messages'):
        op.add_column(table, sa.Column('code', sa.String(length=60), nullable=False, server_default=''))
        op.add_column(table, sa.Column('data', sa.JSON(), nullable=False, server_default='{}'))


def downgrade() -> None:
    # SQLite drops a column in place since 3.35.
    for table in ('reporter_messages', 'case_notices'):
        op.drop_column(table, 'data')
        op.drop_column(table, 'code')
    op.drop_column('timeline_entries', 'data')
