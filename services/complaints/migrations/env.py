"""Alembic environment of the complaints service: its own tables, its own version table."""

from alembic import context
from sqlalchemy import engine_from_config, pool, text

from services.complaints.store import Base
from suite import db

config = context.config
# A fixed key so that two replicas migrating at once take turns (PostgreSQL advisory lock).
MIGRATION_LOCK = 0x1F55_0002


def run_migrations_online() -> None:
    engine = engine_from_config(config.get_section(config.config_ini_section), prefix="sqlalchemy.",
                                poolclass=pool.NullPool)
    if db.is_sqlite(str(engine.url)):
        db.tune_sqlite_engine(engine)
    with engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        context.configure(connection=connection, target_metadata=Base.metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
        if postgres:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()


run_migrations_online()
