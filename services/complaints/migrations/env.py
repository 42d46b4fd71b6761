"""Alembic environment of the complaints service: its own tables, its own version table."""

from services.complaints.store import Base
from suite import migrate

# The complaints service's own advisory lock key: its replicas migrate one at a time.
migrate.run_online(Base.metadata, lock_key=0x1F55_0002)
