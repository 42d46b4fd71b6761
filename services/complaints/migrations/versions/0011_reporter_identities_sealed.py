"""reporters' identities sealed at rest

The identity fields of each reporter (name, phone, resident_id, organisation, email) become one
column, `identity`: their JSON sealed with AES-256-GCM under the reporter key
(IPSS_COMPLAINTS_REPORTER_KEY, suite.config.reporter_key), bound to the reporter's reference.
The rows stored before are sealed on upgrade, and opened again on downgrade; both need the key.
The format is written out here rather than taken from services.complaints.identities, so that
this revision keeps doing what it did when that module changes.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 10:00:00
"""
import json

from alembic import op
import sqlalchemy as sa

from suite import config
from suite.sealing import Sealer

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

IDENTITY_FIELDS = ('name', 'phone', 'resident_id', 'organisation', 'email')
PLAIN_COLUMNS = [sa.Column('name', sa.String(length=100), nullable=False, server_default=''),
                 sa.Column('phone', sa.String(length=20), nullable=False, server_default=''),
                 sa.Column('resident_id', sa.String(length=18), nullable=False, server_default=''),
                 sa.Column('organisation', sa.String(length=200), nullable=False, server_default=''),
                 sa.Column('email', sa.String(length=200), nullable=False, server_default='')]
reporters = sa.table('reporters', sa.column('reference', sa.String), sa.column('identity', sa.LargeBinary),
                     *(sa.column(name, sa.String) for name in IDENTITY_FIELDS))


def context(reference: str) -> bytes:
    return f"reporters/{reference}".encode()


# SQLite would alter the table with batch operations by copying it and dropping the old one, which
# reports' foreign keys still point at (they cannot be switched off inside the migration's
# transaction): every change here is one SQLite makes in place (ADD COLUMN with a default, DROP
# COLUMN), and the default the new column is added with only lets it be NOT NULL in a table in use.


def upgrade() -> None:
    op.add_column('reporters', sa.Column('identity', sa.LargeBinary(), nullable=False, server_default=''))
    sealer, connection = Sealer(config.reporter_key()), op.get_bind()
    for row in connection.execute(sa.select(reporters.c.reference, *(reporters.c[n] for n in IDENTITY_FIELDS))):
        fields = {name: getattr(row, name) for name in IDENTITY_FIELDS}
        sealed = sealer.seal(json.dumps(fields, ensure_ascii=False, sort_keys=True).encode(), context(row.reference))
        connection.execute(reporters.update().where(reporters.c.reference == row.reference).values(identity=sealed))
    for name in IDENTITY_FIELDS:
        op.drop_column('reporters', name)
    if connection.dialect.name == "postgresql":
        op.alter_column('reporters', 'identity', server_default=None)


def downgrade() -> None:
    for column in PLAIN_COLUMNS:
        op.add_column('reporters', column._copy())
    sealer, connection = Sealer(config.reporter_key()), op.get_bind()
    for row in connection.execute(sa.select(reporters.c.reference, reporters.c.identity)):
        fields = json.loads(sealer.open(row.identity, context(row.reference)))
        connection.execute(reporters.update().where(reporters.c.reference == row.reference).values(
            **{name: fields.get(name, '') for name in IDENTITY_FIELDS}))
    op.drop_column('reporters', 'identity')
    if connection.dialect.name == "postgresql":
        for name in IDENTITY_FIELDS:
            op.alter_column('reporters', name, server_default=None)
