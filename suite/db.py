"""Database engines: SQLite (embedded default, WAL) and PostgreSQL (production), both async
for the services and sync for Alembic."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timezone

import sqlalchemy
from sqlalchemy import DateTime, event
from sqlalchemy.engine import Connection, make_url
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
    # Pages read through the memory map and a larger cache, not a system call per page: a lookup
    # in a registry of a million practitioners touches pages all over the file.
    cursor.execute(f"PRAGMA mmap_size={256 * 1024 * 1024}")
    cursor.execute("PRAGMA cache_size=-32768")
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
        # One connection per process: SQLite has one writer at a time, and writers on connections
        # of their own wait for each other in the busy handler's sleeps (up to 100 ms each) or,
        # when a deferred transaction's snapshot went stale, fail at once. Queued at the pool, the
        # next transaction starts the moment the last one ends. Reads that need no transaction
        # go through `reader` beside it.
        engine = create_async_engine(url, pool_size=1, max_overflow=0, hide_parameters=hide_parameters)
        tune_sqlite_engine(engine.sync_engine)
        return engine
    # No pre-ping: it costs a round trip on every checkout, as much as a lookup's query. A
    # connection that died (a database restart) fails its statement once, and SQLAlchemy then
    # discards every pooled connection older than the failure.
    # Custom plans only: asyncpg prepares every statement, and after five runs PostgreSQL may
    # keep a generic plan made without the values, which on skewed data (a province's agencies
    # under a name prefix) sorts thousands of rows where the values' own plan reads twenty.
    return create_async_engine(url, pool_size=10, max_overflow=10, hide_parameters=hide_parameters,
                               connect_args={"server_settings": {"plan_cache_mode": "force_custom_plan"}})


class InlineConnection:
    """A synchronous connection behind the awaitable `execute` of an AsyncConnection."""

    def __init__(self, connection: Connection):
        self._connection = connection

    async def execute(self, statement, parameters=None):
        return self._connection.execute(statement, parameters)


class InlineReader:
    """Reads of a SQLite database run on the event loop's own thread. The async driver runs
    every call (cursor, execute, fetch, close, reset) on a thread of its own, and each of those
    trips waits for the GIL behind the busy loop: a lookup cost more in trips than in SQLite. A
    read in WAL mode never waits for a writer, so it runs here at once; its connection is
    query-only, so nothing can write without the driver's thread and its busy timeout."""

    def __init__(self, url: str):
        # Reads never interleave (execute does not yield), so one connection serves them all.
        self._engine = sqlalchemy.create_engine(sync_url(url), pool_size=1, max_overflow=1)
        tune_sqlite_engine(self._engine)
        event.listen(self._engine, "connect", _query_only)

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[InlineConnection]:
        with self._engine.connect() as connection:
            yield InlineConnection(connection)


def _query_only(dbapi_connection, _record) -> None:
    dbapi_connection.execute("PRAGMA query_only=ON")


def reader(engine: AsyncEngine) -> AsyncEngine | InlineReader:
    """What reads that need no transaction of their own connect through. On PostgreSQL the same
    engine in autocommit, sparing the BEGIN and ROLLBACK round trips around the SELECTs (at READ
    COMMITTED each statement sees its own snapshot either way); on SQLite an InlineReader."""
    if engine.dialect.name == "sqlite":
        return InlineReader(engine.url.render_as_string(hide_password=False))
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)
