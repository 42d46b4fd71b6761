"""case stage changes: the moment a case entered each stage, for statistics and exports

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 13:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case_stage_changes',
    sa.Column('case_id', sa.String(length=64), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=30), nullable=False),
    sa.Column('entered_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('case_id', 'revision')
    )


def downgrade() -> None:
    op.drop_table('case_stage_changes')
