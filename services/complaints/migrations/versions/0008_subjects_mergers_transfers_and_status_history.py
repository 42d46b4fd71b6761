"""who a case is about, mergers, transfers awaiting acceptance, and the status history

A case is about a registered agency, an entity the registry does not know (未登记主体) or a
practitioner (从业人员): `subject_kind`, the practitioner's columns, the address a reporter gave,
and `subject_key`, which says which reports are about the same subject (joining an open case,
merging). Every existing case is about a registered agency: its key is its agency's id. A case
merged into another (并案) names it (`merged_into`), and a report moved with its reporters to
that case remembers the case it was filed in (`reports.merged_from`). A case transferred here
names the office that sent it (`transferred_from`). The stage history records each status too
(`case_stage_changes.status`); the changes recorded before were stage changes, their status empty.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-14 10:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

CASE_TEXTS = [('subject_kind', sa.String(length=30), 'agency'), ('subject_key', sa.String(length=300), ''),
              ('subject_address', sa.String(length=200), ''), ('practitioner_id', sa.String(length=64), ''),
              ('practitioner_name', sa.String(length=100), ''), ('practitioner_certificate', sa.String(length=40), ''),
              ('merged_into', sa.String(length=64), ''), ('transferred_from', sa.String(length=6), '')]


def upgrade() -> None:
    for name, kind, default in CASE_TEXTS:
        op.add_column('cases', sa.Column(name, kind, nullable=False, server_default=default))
    op.execute("UPDATE cases SET subject_key = 'agency:' || agency_id")
    op.create_index('ix_cases_subject', 'cases', ['subject_key', 'category', 'received_on'])
    op.add_column('reports', sa.Column('merged_from', sa.String(length=64), nullable=False, server_default=''))
    op.create_index('ix_reports_merged_from', 'reports', ['merged_from'])
    op.add_column('case_stage_changes', sa.Column('status', sa.String(length=60), nullable=False, server_default=''))


def downgrade() -> None:
    # SQLite drops a column in place since 3.35.
    op.drop_column('case_stage_changes', 'status')
    op.drop_index('ix_reports_merged_from', table_name='reports')
    op.drop_column('reports', 'merged_from')
    op.drop_index('ix_cases_subject', table_name='cases')
    for name, _, _ in reversed(CASE_TEXTS):
        op.drop_column('cases', name)
