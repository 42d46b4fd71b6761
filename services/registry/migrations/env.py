"""Alembic environment of the registry: its own tables, its own version table."""

from services.registry.store import Base
from suite import migrate

# The registry's own advisory lock key: its replicas migrate one at a time.
migrate.run_online(Base.metadata, lock_key=0x1F55_0001)
