"""credit repair and joint punishment

Applications for credit repair (信用修复申请) with the penalties they name, each run by a CreditRepair
workflow whose start is committed with it in the workflow outbox; a granted repair ends a penalty's
publicity early and keeps the day it would have ended (credit_events.repaired_on,
publicity_planned_until). Joint punishment measures (联合惩戒) resting on a serious-violation list
entry or a named bad-faith credit event. Agencies already on the serious-violation list before this
revision get no measures rebuilt: the table starts empty.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 10:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('credit_events', sa.Column('repaired_on', sa.Date(), nullable=True))
    op.add_column('credit_events', sa.Column('credit_repair_id', sa.String(length=64), nullable=True))
    op.add_column('credit_events', sa.Column('publicity_planned_until', sa.Date(), nullable=True))
    op.create_table(
        'credit_repairs',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('agency_id', sa.String(length=64), nullable=False),
        sa.Column('stage', sa.String(length=20), nullable=False),
        sa.Column('last_step', sa.String(length=20), nullable=False),
        sa.Column('applied_on', sa.Date(), nullable=False),
        sa.Column('eligible_from', sa.Date(), nullable=False),
        sa.Column('applicant', sa.String(length=200), nullable=False),
        sa.Column('association_id', sa.String(length=64), nullable=False),
        sa.Column('statement', sa.Text(), nullable=False),
        sa.Column('compliance', sa.Text(), nullable=False),
        sa.Column('checked_by', sa.String(length=200), nullable=False),
        sa.Column('checked_on', sa.Date(), nullable=True),
        sa.Column('compliance_evidence', sa.Text(), nullable=False),
        sa.Column('decided_by', sa.String(length=200), nullable=False),
        sa.Column('decided_on', sa.Date(), nullable=True),
        sa.Column('refusal_reason', sa.Text(), nullable=False),
        sa.Column('check_request_id', sa.String(length=100), nullable=False),
        sa.Column('decision_request_id', sa.String(length=100), nullable=False),
        sa.Column('revision', sa.Integer(), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['agency_id'], ['agencies.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_credit_repairs_agency_id', 'credit_repairs', ['agency_id'])
    op.create_index('ix_credit_repairs_stage_applied', 'credit_repairs', ['stage', 'applied_on', 'id'])
    op.create_table(
        'credit_repair_events',
        sa.Column('repair_id', sa.String(length=64), nullable=False),
        sa.Column('credit_event_id', sa.String(length=64), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['credit_event_id'], ['credit_events.id']),
        sa.ForeignKeyConstraint(['repair_id'], ['credit_repairs.id']),
        sa.PrimaryKeyConstraint('repair_id', 'credit_event_id'),
    )
    op.create_index('ix_credit_repair_events_credit_event_id', 'credit_repair_events', ['credit_event_id'])
    op.create_table(
        'joint_punishments',
        sa.Column('id', sa.String(length=80), nullable=False),
        sa.Column('agency_id', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('basis', sa.String(length=30), nullable=False),
        sa.Column('basis_id', sa.String(length=64), nullable=False),
        sa.Column('starts_on', sa.Date(), nullable=False),
        sa.Column('ends_on', sa.Date(), nullable=False),
        sa.Column('ended_because', sa.String(length=20), nullable=False),
        sa.Column('decision_reference', sa.String(length=100), nullable=False),
        sa.Column('recorded_by', sa.String(length=200), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['agency_id'], ['agencies.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_joint_punishments_agency_id', 'joint_punishments', ['agency_id'])
    op.create_index('ix_joint_punishments_basis_id', 'joint_punishments', ['basis_id'])
    op.create_index('ix_joint_punishments_in_force', 'joint_punishments', ['ends_on', 'starts_on'])
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
    op.drop_index('ix_joint_punishments_in_force', table_name='joint_punishments')
    op.drop_index('ix_joint_punishments_basis_id', table_name='joint_punishments')
    op.drop_index('ix_joint_punishments_agency_id', table_name='joint_punishments')
    op.drop_table('joint_punishments')
    op.drop_index('ix_credit_repair_events_credit_event_id', table_name='credit_repair_events')
    op.drop_table('credit_repair_events')
    op.drop_index('ix_credit_repairs_stage_applied', table_name='credit_repairs')
    op.drop_index('ix_credit_repairs_agency_id', table_name='credit_repairs')
    op.drop_table('credit_repairs')
    # SQLite drops a column in place since 3.35.
    op.drop_column('credit_events', 'publicity_planned_until')
    op.drop_column('credit_events', 'credit_repair_id')
    op.drop_column('credit_events', 'repaired_on')
