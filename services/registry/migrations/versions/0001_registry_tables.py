"""registry tables

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 06:36:04.679560
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agencies',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('credit_code', sa.String(length=18), nullable=False),
    sa.Column('licence_number', sa.String(length=40), nullable=True),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('legal_form', sa.String(length=30), nullable=False),
    sa.Column('parent_agency_id', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('suspended_until', sa.Date(), nullable=True),
    sa.Column('legal_representative', sa.String(length=100), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('established_on', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['parent_agency_id'], ['agencies.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('credit_code')
    )
    with op.batch_alter_table('agencies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agencies_licence_number'), ['licence_number'], unique=False)
        batch_op.create_index('ix_agencies_name_id', ['name', 'id'], unique=False)
        batch_op.create_index('ix_agencies_region_name_id', ['region_code', 'name', 'id'], unique=False)

    op.create_table('idempotency_keys',
    sa.Column('method', sa.String(length=100), nullable=False),
    sa.Column('caller', sa.String(length=200), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('request_sha256', sa.String(length=64), nullable=False),
    sa.Column('response', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('method', 'caller', 'key')
    )
    op.create_table('agency_status_changes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=False),
    sa.Column('to_status', sa.String(length=20), nullable=False),
    sa.Column('effective_on', sa.Date(), nullable=False),
    sa.Column('suspended_until', sa.Date(), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('decision_reference', sa.String(length=100), nullable=False),
    sa.Column('recorded_by', sa.String(length=200), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('agency_status_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agency_status_changes_agency_id'), ['agency_id'], unique=False)

    op.create_table('annual_reports',
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('filed_on', sa.Date(), nullable=False),
    sa.Column('employees', sa.Integer(), nullable=False),
    sa.Column('practitioners', sa.Integer(), nullable=False),
    sa.Column('revenue_cny', sa.BigInteger(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], ),
    sa.PrimaryKeyConstraint('agency_id', 'year')
    )
    op.create_table('practitioners',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('resident_id', sa.String(length=18), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('certificate_number', sa.String(length=40), nullable=True),
    sa.Column('qualified_on', sa.Date(), nullable=True),
    sa.Column('current_agency_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['current_agency_id'], ['agencies.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('certificate_number'),
    sa.UniqueConstraint('resident_id')
    )
    with op.batch_alter_table('practitioners', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_practitioners_current_agency_id'), ['current_agency_id'], unique=False)
        batch_op.create_index('ix_practitioners_name_id', ['name', 'id'], unique=False)

    op.create_table('shareholders',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('holds_attorney_certificate', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('shareholders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shareholders_agency_id'), ['agency_id'], unique=False)

    op.create_table('credit_events',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=True),
    sa.Column('practitioner_id', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('source', sa.String(length=30), nullable=False),
    sa.Column('source_reference', sa.String(length=100), nullable=False),
    sa.Column('occurred_on', sa.Date(), nullable=False),
    sa.Column('publicity_ends_on', sa.Date(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('fine_cny', sa.BigInteger(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], ),
    sa.ForeignKeyConstraint(['practitioner_id'], ['practitioners.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('credit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credit_events_agency_id'), ['agency_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_credit_events_practitioner_id'), ['practitioner_id'], unique=False)

    op.create_table('practice_filings',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('practitioner_id', sa.String(length=64), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('filing_number', sa.String(length=40), nullable=False),
    sa.Column('started_on', sa.Date(), nullable=False),
    sa.Column('ended_on', sa.Date(), nullable=True),
    sa.Column('end_reason', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], ),
    sa.ForeignKeyConstraint(['practitioner_id'], ['practitioners.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('practice_filings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_practice_filings_agency_id'), ['agency_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_practice_filings_practitioner_id'), ['practitioner_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('practice_filings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_practice_filings_practitioner_id'))
        batch_op.drop_index(batch_op.f('ix_practice_filings_agency_id'))

    op.drop_table('practice_filings')
    with op.batch_alter_table('credit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credit_events_practitioner_id'))
        batch_op.drop_index(batch_op.f('ix_credit_events_agency_id'))

    op.drop_table('credit_events')
    with op.batch_alter_table('shareholders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shareholders_agency_id'))

    op.drop_table('shareholders')
    with op.batch_alter_table('practitioners', schema=None) as batch_op:
        batch_op.drop_index('ix_practitioners_name_id')
        batch_op.drop_index(batch_op.f('ix_practitioners_current_agency_id'))

    op.drop_table('practitioners')
    op.drop_table('annual_reports')
    with op.batch_alter_table('agency_status_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agency_status_changes_agency_id'))

    op.drop_table('agency_status_changes')
    op.drop_table('idempotency_keys')
    with op.batch_alter_table('agencies', schema=None) as batch_op:
        batch_op.drop_index('ix_agencies_region_name_id')
        batch_op.drop_index('ix_agencies_name_id')
        batch_op.drop_index(batch_op.f('ix_agencies_licence_number'))

    op.drop_table('agencies')
