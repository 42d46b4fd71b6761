"""referrals to industry associations, and the member-event outbox

A case referred to an industry association (移交行业自律) keeps its referral on the record: the
association, the day, the office's grounds, and the association's answer (accepted, a measure
taken, declined with the reason). Existing cases were never referred: empty. The outbox holds
the events about agencies (a case opened, a decision, a publication and its end, a referral)
committed with the case record, until the relay hands them to the registry's feed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-10 10:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

TEXTS = [('referral_association_id', sa.String(length=64)), ('referral_grounds', sa.Text()),
         ('referral_answer', sa.String(length=20)), ('referral_measure', sa.String(length=200)),
         ('referral_answer_reason', sa.Text())]
DAYS = ['referral_sent_on', 'referral_answered_on']


def upgrade() -> None:
    for name, kind in TEXTS:
        op.add_column('cases', sa.Column(name, kind, nullable=False, server_default=''))
    for name in DAYS:
        op.add_column('cases', sa.Column(name, sa.Date(), nullable=True))
    op.create_index('ix_cases_referral', 'cases', ['referral_association_id', 'referral_sent_on', 'id'])
    create_member_event_outbox()


def downgrade() -> None:
    drop_member_event_outbox()
    op.drop_index('ix_cases_referral', table_name='cases')
    # SQLite drops a column in place since 3.35.
    for name in reversed(DAYS):
        op.drop_column('cases', name)
    for name, _ in reversed(TEXTS):
        op.drop_column('cases', name)


def create_member_event_outbox() -> None:
    op.create_table(
        'member_event_outbox',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('source_key', sa.String(length=200), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('agency_id', sa.String(length=64), nullable=False),
        sa.Column('agency_credit_code', sa.String(length=18), nullable=False),
        sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('subject_id', sa.String(length=100), nullable=False),
        sa.Column('facts', sa.JSON(), nullable=False),
        sa.Column('association_id', sa.String(length=64), nullable=False),
        sa.Column('relayed_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('source_key', name='uq_member_event_outbox_source_key'),
    )
    op.create_index('ix_member_event_outbox_unrelayed', 'member_event_outbox', ['relayed_at', 'id'])


def drop_member_event_outbox() -> None:
    op.drop_index('ix_member_event_outbox_unrelayed', table_name='member_event_outbox')
    op.drop_table('member_event_outbox')
