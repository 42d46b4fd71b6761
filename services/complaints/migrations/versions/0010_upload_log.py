"""the upload log: per-caller upload quotas

Each upload is logged with who made it (a token's subject, or the public's address), when and
its size; UploadAttachment refuses a caller over its quota in the last hour (RESOURCE_EXHAUSTED
with RetryInfo). The periodic upload sweep deletes the log's rows older than the window, and
the uploads no case references a day after they were uploaded.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 14:10:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'upload_log',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('caller', sa.String(length=200), nullable=False),
        sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('size_bytes', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('upload_log', schema=None) as batch_op:
        batch_op.create_index('ix_upload_log_caller_at', ['caller', 'uploaded_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('upload_log', schema=None) as batch_op:
        batch_op.drop_index('ix_upload_log_caller_at')
    op.drop_table('upload_log')
