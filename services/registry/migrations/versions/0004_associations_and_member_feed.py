"""industry associations, memberships, association certificates and the member events feed

Associations (行业协会) and their members over time; the disciplinary measures they record on
their members' credit records (a credit event now keeps the measure it grades by); the client
certificates they link in with; and the member events feed: one row per event and association,
positions given in commit order under the lock of the feed's one state row, inserted here.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 09:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('credit_events', sa.Column('measure', sa.String(length=30), nullable=False, server_default=''))

    op.create_table('associations',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('credit_code', sa.String(length=18), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('kinds', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('credit_code')
    )
    with op.batch_alter_table('associations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_associations_region_code'), ['region_code'], unique=False)

    op.create_table('memberships',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('association_id', sa.String(length=64), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('joined_on', sa.Date(), nullable=False),
    sa.Column('left_on', sa.Date(), nullable=True),
    sa.Column('ended_by', sa.String(length=20), nullable=False),
    sa.Column('reference', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], ),
    sa.ForeignKeyConstraint(['association_id'], ['associations.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_memberships_agency_id'), ['agency_id'], unique=False)
        batch_op.create_index('ix_memberships_association_agency', ['association_id', 'agency_id'], unique=False)

    op.create_table('association_disciplines',
    sa.Column('association_id', sa.String(length=64), nullable=False),
    sa.Column('document_number', sa.String(length=100), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('measure', sa.String(length=30), nullable=False),
    sa.Column('credit_event_id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], ),
    sa.ForeignKeyConstraint(['association_id'], ['associations.id'], ),
    sa.ForeignKeyConstraint(['credit_event_id'], ['credit_events.id'], ),
    sa.PrimaryKeyConstraint('association_id', 'document_number'),
    sa.UniqueConstraint('credit_event_id')
    )

    op.create_table('association_certificates',
    sa.Column('fingerprint_sha256', sa.String(length=64), nullable=False),
    sa.Column('association_id', sa.String(length=64), nullable=False),
    sa.Column('not_after', sa.Date(), nullable=False),
    sa.Column('revoked_on', sa.Date(), nullable=True),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['association_id'], ['associations.id'], ),
    sa.PrimaryKeyConstraint('fingerprint_sha256')
    )
    with op.batch_alter_table('association_certificates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_association_certificates_association_id'), ['association_id'],
                              unique=False)

    op.create_table('member_events',
    sa.Column('position', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('association_id', sa.String(length=64), nullable=False),
    sa.Column('source_key', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('agency_name', sa.String(length=200), nullable=False),
    sa.Column('agency_credit_code', sa.String(length=18), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('subject_id', sa.String(length=100), nullable=False),
    sa.Column('facts', sa.JSON(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['association_id'], ['associations.id'], ),
    sa.PrimaryKeyConstraint('position'),
    sa.UniqueConstraint('association_id', 'source_key', name='uq_member_events_association_source_key')
    )
    with op.batch_alter_table('member_events', schema=None) as batch_op:
        batch_op.create_index('ix_member_events_association_position', ['association_id', 'position'], unique=False)
        batch_op.create_index('ix_member_events_recorded_at', ['recorded_at'], unique=False)

    state = op.create_table('member_feed_state',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last_position', sa.BigInteger(), nullable=False),
    sa.Column('pruned_through', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    # The one row every append locks.
    op.bulk_insert(state, [{'id': 1, 'last_position': 0, 'pruned_through': 0}])

    op.create_table('member_feed_cursors',
    sa.Column('association_id', sa.String(length=64), nullable=False),
    sa.Column('acknowledged_position', sa.BigInteger(), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['association_id'], ['associations.id'], ),
    sa.PrimaryKeyConstraint('association_id')
    )


def downgrade() -> None:
    op.drop_table('member_feed_cursors')
    op.drop_table('member_feed_state')
    with op.batch_alter_table('member_events', schema=None) as batch_op:
        batch_op.drop_index('ix_member_events_recorded_at')
        batch_op.drop_index('ix_member_events_association_position')
    op.drop_table('member_events')
    with op.batch_alter_table('association_certificates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_association_certificates_association_id'))
    op.drop_table('association_certificates')
    op.drop_table('association_disciplines')
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_index('ix_memberships_association_agency')
        batch_op.drop_index(batch_op.f('ix_memberships_agency_id'))
    op.drop_table('memberships')
    with op.batch_alter_table('associations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_associations_region_code'))
    op.drop_table('associations')
    op.drop_column('credit_events', 'measure')
