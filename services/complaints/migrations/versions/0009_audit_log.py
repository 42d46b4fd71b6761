"""the audit log

Every state-changing call appends an entry to `audit_log` in its own transaction, hash-chained
to the one before, and every thousandth entry (or on demand) the chain's head is signed into
`audit_checkpoints` (suite.audit). The log starts empty: the changes committed before this
revision were not recorded.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 14:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'audit_log',
        sa.Column('position', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('subject', sa.String(length=200), nullable=False),
        sa.Column('role', sa.String(length=40), nullable=False),
        sa.Column('rpc', sa.String(length=100), nullable=False),
        sa.Column('request_id', sa.String(length=100), nullable=False),
        sa.Column('digest_before', sa.String(length=64), nullable=False),
        sa.Column('digest_after', sa.String(length=64), nullable=False),
        sa.Column('prev_hash', sa.String(length=64), nullable=False),
        sa.Column('entry_hash', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('position'),
    )
    op.create_table(
        'audit_checkpoints',
        sa.Column('position', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('entry_hash', sa.String(length=64), nullable=False),
        sa.Column('key_id', sa.String(length=64), nullable=False),
        sa.Column('signature', sa.String(length=100), nullable=False),
        sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('position'),
    )


def downgrade() -> None:
    op.drop_table('audit_checkpoints')
    op.drop_table('audit_log')
