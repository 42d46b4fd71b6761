"""Alembic environment of the inspections service: its own tables, its own version table."""

from services.inspections.store import Base
from suite import migrate

# The inspections service's own advisory lock key: its replicas migrate one at a time.
migrate.run_online(Base.metadata, lock_key=0x1F55_0003)
