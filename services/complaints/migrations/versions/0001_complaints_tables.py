"""complaints tables

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 12:11:51.748019
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('attachments',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('case_counters',
    sa.Column('province', sa.String(length=6), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('province', 'year')
    )
    op.create_table('cases',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=30), nullable=False),
    sa.Column('status', sa.String(length=60), nullable=False),
    sa.Column('outcome', sa.String(length=40), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('agency_name', sa.String(length=200), nullable=False),
    sa.Column('agency_credit_code', sa.String(length=18), nullable=False),
    sa.Column('agency_kind', sa.String(length=30), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('source', sa.String(length=30), nullable=False),
    sa.Column('source_reference', sa.String(length=100), nullable=False),
    sa.Column('occurred_on', sa.Date(), nullable=True),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('assignee', sa.String(length=200), nullable=False),
    sa.Column('next_deadline', sa.Date(), nullable=True),
    sa.Column('next_deadline_period', sa.String(length=60), nullable=False),
    sa.Column('due_sort', sa.Date(), nullable=False),
    sa.Column('overdue', sa.Boolean(), nullable=False),
    sa.Column('due_soon', sa.Boolean(), nullable=False),
    sa.Column('reporter_count', sa.Integer(), nullable=False),
    sa.Column('fine_cny', sa.BigInteger(), nullable=False),
    sa.Column('surcharge_cny', sa.BigInteger(), nullable=False),
    sa.Column('rules_version', sa.String(length=20), nullable=False),
    sa.Column('deadlines', sa.JSON(), nullable=False),
    sa.Column('allowed_actions', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_assignee', ['assignee'], unique=False)
        batch_op.create_index('ix_cases_credit_code', ['agency_credit_code'], unique=False)
        batch_op.create_index('ix_cases_duplicates', ['agency_id', 'category', 'received_on'], unique=False)
        batch_op.create_index('ix_cases_queue', ['due_sort', 'id'], unique=False)
        batch_op.create_index('ix_cases_region_queue', ['region_code', 'due_sort', 'id'], unique=False)
        batch_op.create_index('ix_cases_stage', ['stage'], unique=False)

    op.create_table('idempotency_keys',
    sa.Column('method', sa.String(length=100), nullable=False),
    sa.Column('caller', sa.String(length=200), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('request_sha256', sa.String(length=64), nullable=False),
    sa.Column('response', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('method', 'caller', 'key')
    )
    op.create_table('case_attachments',
    sa.Column('case_id', sa.String(length=64), nullable=False),
    sa.Column('attachment_id', sa.String(length=64), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['attachment_id'], ['attachments.id'], ),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('case_id', 'attachment_id')
    )
    op.create_table('case_notices',
    sa.Column('case_id', sa.String(length=64), nullable=False),
    sa.Column('notice_key', sa.String(length=100), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('real_name_only', sa.Boolean(), nullable=False),
    sa.Column('notified', sa.Integer(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('case_id', 'notice_key')
    )
    op.create_table('reporters',
    sa.Column('reference', sa.String(length=40), nullable=False),
    sa.Column('case_id', sa.String(length=64), nullable=False),
    sa.Column('real_name', sa.Boolean(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('resident_id', sa.String(length=18), nullable=False),
    sa.Column('organisation', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('reference')
    )
    with op.batch_alter_table('reporters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reporters_case_id'), ['case_id'], unique=False)

    op.create_table('timeline_entries',
    sa.Column('case_id', sa.String(length=64), nullable=False),
    sa.Column('record_revision', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('internal', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('case_id', 'record_revision', 'position')
    )
    op.create_table('reports',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.String(length=64), nullable=False),
    sa.Column('tracking_code', sa.String(length=20), nullable=False),
    sa.Column('secret_sha256', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=30), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('occurred_on', sa.Date(), nullable=True),
    sa.Column('source_reference', sa.String(length=100), nullable=False),
    sa.Column('reporter_reference', sa.String(length=40), nullable=True),
    sa.Column('joined_existing_case', sa.Boolean(), nullable=False),
    sa.Column('filed_on', sa.Date(), nullable=False),
    sa.Column('filed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.ForeignKeyConstraint(['reporter_reference'], ['reporters.reference'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tracking_code')
    )
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reports_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reports_reporter_reference'), ['reporter_reference'], unique=False)

    op.create_table('reporter_messages',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('notice_key', sa.String(length=100), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('report_id', 'notice_key', name='uq_reporter_messages_report_notice')
    )
    with op.batch_alter_table('reporter_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reporter_messages_report_id'), ['report_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('reporter_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reporter_messages_report_id'))

    op.drop_table('reporter_messages')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reports_reporter_reference'))
        batch_op.drop_index(batch_op.f('ix_reports_case_id'))

    op.drop_table('reports')
    op.drop_table('timeline_entries')
    with op.batch_alter_table('reporters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reporters_case_id'))

    op.drop_table('reporters')
    op.drop_table('case_notices')
    op.drop_table('case_attachments')
    op.drop_table('idempotency_keys')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_stage')
        batch_op.drop_index('ix_cases_region_queue')
        batch_op.drop_index('ix_cases_queue')
        batch_op.drop_index('ix_cases_duplicates')
        batch_op.drop_index('ix_cases_credit_code')
        batch_op.drop_index('ix_cases_assignee')

    op.drop_table('cases')
    op.drop_table('case_counters')
    op.drop_table('attachments')
