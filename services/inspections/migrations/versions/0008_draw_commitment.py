"""a plan's commitment before its draw

Taking the snapshot now also commits the plan, publicly and before the draw, to the seed source
(named in advance, with the day it publishes its value), the inspector pool (kept with its hash)
and the algorithm version; the draw record repeats the commitment's digest and when it was made.
Plans and draws from before keep empty values: they were drawn, or will be re-snapshotted, without one.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 14:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('plans', sa.Column('seed_source', sa.String(500), nullable=False, server_default=''))
    op.add_column('plans', sa.Column('seed_available_on', sa.Date(), nullable=True))
    op.add_column('plans', sa.Column('pool_hash', sa.String(64), nullable=False, server_default=''))
    op.add_column('plans', sa.Column('pool_content', sa.LargeBinary(), nullable=True))
    op.add_column('plans', sa.Column('commitment', sa.JSON(), nullable=True))
    op.add_column('plans', sa.Column('commitment_sha256', sa.String(64), nullable=False, server_default=''))
    op.add_column('draws', sa.Column('commitment_sha256', sa.String(64), nullable=False, server_default=''))
    op.add_column('draws', sa.Column('committed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('draws', 'committed_at')
    op.drop_column('draws', 'commitment_sha256')
    for column in ('commitment_sha256', 'commitment', 'pool_content', 'pool_hash', 'seed_available_on',
                   'seed_source'):
        op.drop_column('plans', column)
