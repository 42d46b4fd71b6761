"""the workflow outbox

A campaign commits the message that starts its workflow with the campaign itself; a relay sends
it to Temporal after the commit, however long Temporal is away (suite.workflow_outbox). Campaigns
created before this revision started their workflows at once: the table starts empty.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 13:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'workflow_outbox',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('message_key', sa.String(length=200), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('workflow_id', sa.String(length=200), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('update_id', sa.String(length=300), nullable=False),
        sa.Column('payload', sa.LargeBinary(), nullable=False),
        sa.Column('search_attributes', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('message_key', name='uq_workflow_outbox_message_key'),
    )
    op.create_index('ix_workflow_outbox_unsent', 'workflow_outbox', ['sent_at', 'due_at', 'id'])
    op.create_index('ix_workflow_outbox_workflow', 'workflow_outbox', ['workflow_id'])


def downgrade() -> None:
    op.drop_index('ix_workflow_outbox_workflow', table_name='workflow_outbox')
    op.drop_index('ix_workflow_outbox_unsent', table_name='workflow_outbox')
    op.drop_table('workflow_outbox')
