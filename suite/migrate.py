"""Alembic, one migration history per service (each service owns its tables)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, engine_from_config, pool, text

from suite import config, db

MIGRATED_SERVICES = ("registry", "complaints", "inspections")


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


def run_online(metadata: MetaData, lock_key: int) -> None:
    """The body of every service's migrations/env.py: migrate the database Alembic was pointed at,
    holding a PostgreSQL advisory lock (`lock_key`, one per service) so that replicas migrating at
    once take turns."""
    from alembic import context

    alembic = context.config
    engine = engine_from_config(alembic.get_section(alembic.config_ini_section), prefix="sqlalchemy.",
                                poolclass=pool.NullPool)
    if db.is_sqlite(str(engine.url)):
        db.tune_sqlite_engine(engine)
    with engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": lock_key})
        context.configure(connection=connection, target_metadata=metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
        if postgres:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key})
            connection.commit()
