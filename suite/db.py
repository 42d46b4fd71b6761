"""Database engines: SQLite (embedded default, WAL) and PostgreSQL (production), both async
for the services and sync for Alembic."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import DateTime, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeDecorator

_SYNC_DRIVERS = {"sqlite+aiosqlite": "sqlite+pysqlite", "postgresql+asyncpg": "postgresql+psycopg"}
# Execution option of a transaction that will write (see _begin_sqlite).
WRITE = {"ipss_write": True}


class Instant(TypeDecorator):
    """A moment in time, read back timezone-aware on every backend. SQLite keeps no offset: there
    a moment is stored as UTC wall time, which would otherwise come back naive and be misread."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and dialect.name == "sqlite":
            return value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sync_url(url: str) -> str:
    """The same database through a synchronous driver (for Alembic and bulk loading)."""
    parsed = make_url(url)
    return parsed.set(drivername=_SYNC_DRIVERS.get(parsed.drivername, parsed.drivername)).render_as_string(
        hide_password=False)


def _tune_sqlite(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the one writer; the busy timeout makes writers queue, not fail.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _begin_sqlite(connection) -> None:
    # SQLite has no SELECT ... FOR UPDATE, and the driver begins a transaction only at its first
    # write, after the reads that write depends on. A transaction marked WRITE takes the write
    # lock as it begins instead, so what it reads cannot change before it writes; readers still
    # run beside it (WAL).
    if connection.get_execution_options().get("ipss_write", False):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def tune_sqlite_engine(sync_engine) -> None:
    event.listen(sync_engine, "connect", _tune_sqlite)
    event.listen(sync_engine, "begin", _begin_sqlite)


def create_engine(url: str, hide_parameters: bool = False) -> AsyncEngine:
    """`hide_parameters` keeps bound values (e.g. a reporter's identity) out of error messages,
    and so out of the logs that record them."""
    if is_sqlite(url):
        engine = create_async_engine(url, pool_size=8, max_overflow=0, hide_parameters=hide_parameters)
        tune_sqlite_engine(engine.sync_engine)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True,
                               hide_parameters=hide_parameters)


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)
