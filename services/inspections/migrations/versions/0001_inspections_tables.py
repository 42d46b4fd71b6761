"""inspections tables

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 12:35:55.062071
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('counters',
    sa.Column('name', sa.String(length=20), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('name', 'year')
    )
    op.create_table('idempotency_keys',
    sa.Column('method', sa.String(length=100), nullable=False),
    sa.Column('caller', sa.String(length=200), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('request_sha256', sa.String(length=64), nullable=False),
    sa.Column('response', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('method', 'caller', 'key')
    )
    op.create_table('inspectors',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('office', sa.String(length=200), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('inspectors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspectors_region_code'), ['region_code'], unique=False)

    op.create_table('plans',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('regions', sa.JSON(), nullable=False),
    sa.Column('kinds', sa.JSON(), nullable=False),
    sa.Column('all_in_scope', sa.Boolean(), nullable=False),
    sa.Column('ratios', sa.JSON(), nullable=False),
    sa.Column('inspectors_per_target', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('snapshot_hash', sa.String(length=64), nullable=False),
    sa.Column('snapshot_count', sa.Integer(), nullable=False),
    sa.Column('snapshot_as_of', sa.Date(), nullable=True),
    sa.Column('snapshot_taken_by', sa.String(length=200), nullable=False),
    sa.Column('snapshot_taken_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('snapshot_content', sa.LargeBinary(), nullable=True),
    sa.Column('campaign_id', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('campaigns',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('theme', sa.JSON(), nullable=False),
    sa.Column('plan_id', sa.String(length=64), nullable=False),
    sa.Column('regions', sa.JSON(), nullable=False),
    sa.Column('inspectors_per_target', sa.Integer(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('rules_version', sa.String(length=20), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('target_count', sa.Integer(), nullable=False),
    sa.Column('additions', sa.Integer(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('started', sa.Integer(), nullable=False),
    sa.Column('checked', sa.Integer(), nullable=False),
    sa.Column('no_problem', sa.Integer(), nullable=False),
    sa.Column('problems', sa.Integer(), nullable=False),
    sa.Column('rectified', sa.Integer(), nullable=False),
    sa.Column('violations', sa.Integer(), nullable=False),
    sa.Column('cases_opened', sa.Integer(), nullable=False),
    sa.Column('overdue', sa.Integer(), nullable=False),
    sa.Column('published', sa.Integer(), nullable=False),
    sa.Column('not_started', sa.Integer(), nullable=False),
    sa.Column('report', sa.JSON(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('plan_id')
    )
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaigns_status'), ['status'], unique=False)

    op.create_table('draws',
    sa.Column('plan_id', sa.String(length=64), nullable=False),
    sa.Column('algorithm_version', sa.String(length=40), nullable=False),
    sa.Column('seed_value', sa.String(length=200), nullable=False),
    sa.Column('seed_source', sa.String(length=500), nullable=False),
    sa.Column('snapshot_hash', sa.String(length=64), nullable=False),
    sa.Column('pool_hash', sa.String(length=64), nullable=False),
    sa.Column('result_hash', sa.String(length=64), nullable=False),
    sa.Column('population', sa.Integer(), nullable=False),
    sa.Column('inspector_count', sa.Integer(), nullable=False),
    sa.Column('target_count', sa.Integer(), nullable=False),
    sa.Column('drawn_by', sa.String(length=200), nullable=False),
    sa.Column('drawn_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('result', sa.LargeBinary(), nullable=False),
    sa.Column('target_names', sa.JSON(), nullable=False),
    sa.Column('document', sa.LargeBinary(), nullable=False),
    sa.Column('document_sha256', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], ),
    sa.PrimaryKeyConstraint('plan_id')
    )
    op.create_table('exclusions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('inspector_id', sa.String(length=40), nullable=False),
    sa.Column('reason', sa.String(length=30), nullable=False),
    sa.Column('agency_credit_code', sa.String(length=18), nullable=True),
    sa.Column('region_code', sa.String(length=6), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('recorded_by', sa.String(length=200), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('removed_by', sa.String(length=200), nullable=False),
    sa.Column('removal_reason', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['inspector_id'], ['inspectors.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('exclusions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exclusions_inspector_id'), ['inspector_id'], unique=False)

    op.create_table('tasks',
    sa.Column('id', sa.String(length=100), nullable=False),
    sa.Column('campaign_id', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('agency_credit_code', sa.String(length=18), nullable=False),
    sa.Column('agency_name', sa.String(length=200), nullable=False),
    sa.Column('agency_region_code', sa.String(length=6), nullable=False),
    sa.Column('agency_kind', sa.String(length=20), nullable=False),
    sa.Column('inspector_ids', sa.JSON(), nullable=False),
    sa.Column('added', sa.Boolean(), nullable=False),
    sa.Column('stage', sa.String(length=20), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('findings', sa.Text(), nullable=False),
    sa.Column('checked_on', sa.Date(), nullable=True),
    sa.Column('rectify_due_on', sa.Date(), nullable=True),
    sa.Column('rechecked_on', sa.Date(), nullable=True),
    sa.Column('rectified', sa.Boolean(), nullable=False),
    sa.Column('case_id', sa.String(length=64), nullable=False),
    sa.Column('publish_due_on', sa.Date(), nullable=True),
    sa.Column('published_on', sa.Date(), nullable=True),
    sa.Column('overdue', sa.Boolean(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tasks_agency_credit_code'), ['agency_credit_code'], unique=False)
        batch_op.create_index('ix_tasks_campaign_position', ['campaign_id', 'position'], unique=True)
        batch_op.create_index('ix_tasks_published', ['published_on', 'id'], unique=False)

    op.create_table('task_inspectors',
    sa.Column('task_id', sa.String(length=100), nullable=False),
    sa.Column('inspector_id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], ),
    sa.PrimaryKeyConstraint('task_id', 'inspector_id')
    )
    with op.batch_alter_table('task_inspectors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_inspectors_inspector_id'), ['inspector_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('task_inspectors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_inspectors_inspector_id'))

    op.drop_table('task_inspectors')
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_published')
        batch_op.drop_index('ix_tasks_campaign_position')
        batch_op.drop_index(batch_op.f('ix_tasks_agency_credit_code'))

    op.drop_table('tasks')
    with op.batch_alter_table('exclusions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exclusions_inspector_id'))

    op.drop_table('exclusions')
    op.drop_table('draws')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaigns_status'))

    op.drop_table('campaigns')
    op.drop_table('plans')
    with op.batch_alter_table('inspectors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspectors_region_code'))

    op.drop_table('inspectors')
    op.drop_table('idempotency_keys')
    op.drop_table('counters')
