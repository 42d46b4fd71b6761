"""Alembic, one migration history per service (each service owns its tables)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from suite import config, db

MIGRATED_SERVICES = ("registry", "complaints")


def alembic_config(service: str, database_url: str | None = None) -> Config:
    alembic = Config()
    alembic.set_main_option("script_location", str(config.REPO_ROOT / "services" / service / "migrations"))
    alembic.set_main_option("sqlalchemy.url", db.sync_url(database_url or config.database_url(service))
                            .replace("%", "%%"))
    return alembic


def upgrade(service: str, revision: str = "head", database_url: str | None = None) -> bool:
    """Migrate; False when the service has no tables yet."""
    if service not in MIGRATED_SERVICES:
        return False
    command.upgrade(alembic_config(service, database_url), revision)
    return True


def downgrade(service: str, revision: str = "base", database_url: str | None = None) -> bool:
    if service not in MIGRATED_SERVICES:
        return False
    command.downgrade(alembic_config(service, database_url), revision)
    return True
