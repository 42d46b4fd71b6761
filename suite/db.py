"""Database engines: SQLite (embedded default, WAL) and PostgreSQL (production), both async
for the services and sync for Alembic."""

from __future__ import annotations

import errno
import sqlite3
from collections import namedtuple
from datetime import datetime, timezone

import asyncpg
from sqlalchemy import DateTime, event, exc, pool
from sqlalchemy.dialects import postgresql, registry, sqlite
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.sql import Select
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import await_

from suite.errors import NotFound, Unavailable

_SYNC_DRIVERS = {"sqlite+aiosqlite": "sqlite+pysqlite", "sqlite+ipss_inline": "sqlite+pysqlite",
                 "postgresql+asyncpg": "postgresql+psycopg"}
# Execution option of a transaction that will write (see _begin_sqlite).
WRITE = {"ipss_write": True}


class InlineSQLiteDialect(SQLiteDialect_pysqlite):
    """SQLite for the asyncio engine, its statements run on the event loop's own thread. The
    aiosqlite driver hands every call (execute, fetch, commit...) to a thread of its own and back,
    about half a millisecond a trip: a filing of ten statements cost more in trips than in SQLite.
    Here a statement takes microseconds and the loop waits for nothing else, since a process has
    one connection (see create_engine) and only another process can hold the write lock, for at
    most the busy timeout. Waiting for the connection itself stays asynchronous (the pool)."""

    driver = "ipss_inline"
    is_async = True
    supports_statement_cache = True

    @classmethod
    def get_pool_class(cls, url):
        return pool.AsyncAdaptedQueuePool

    def connect(self, *args, **kwargs):
        return super().connect(*args, factory=_InlineConnection, **kwargs)

    # The asyncio Connection insists that a statement awaited its driver: each statement awaits,
    # once, a coroutine that is done at once (a switch of greenlets, no turn of the event loop).
    def do_execute(self, cursor, statement, parameters, context=None):
        await_(_at_once())
        super().do_execute(cursor, statement, parameters, context)

    def do_execute_no_params(self, cursor, statement, context=None):
        await_(_at_once())
        super().do_execute_no_params(cursor, statement, context)

    def do_executemany(self, cursor, statement, parameters, context=None):
        await_(_at_once())
        super().do_executemany(cursor, statement, parameters, context)


async def _at_once() -> None:
    return None


class _InlineCursor(sqlite3.Cursor):
    async def _async_soft_close(self) -> None:
        """The asyncio result's hook for a driver that buffers rows; these are read as they are
        fetched, on this thread."""


class _InlineConnection(sqlite3.Connection):
    def cursor(self, factory=_InlineCursor):
        return super().cursor(factory)


registry.register("sqlite.ipss_inline", __name__, "InlineSQLiteDialect")


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
        engine = create_async_engine(make_url(url).set(drivername="sqlite+ipss_inline"), pool_size=1, max_overflow=0,
                                     hide_parameters=hide_parameters)
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


def _query_only(dbapi_connection, _record) -> None:
    dbapi_connection.execute("PRAGMA query_only=ON")


def reader(engine: AsyncEngine) -> AsyncEngine:
    """What reads that need no transaction of their own connect through. On PostgreSQL the same
    engine in autocommit, sparing the BEGIN and ROLLBACK round trips around the SELECTs (at READ
    COMMITTED each statement sees its own snapshot either way); on SQLite connections of their own
    beside the writer's, query-only (in WAL mode a read never waits for a writer)."""
    if engine.dialect.name == "sqlite":
        reads = create_async_engine(engine.url, pool_size=2, max_overflow=0)
        tune_sqlite_engine(reads.sync_engine)
        event.listen(reads.sync_engine, "connect", _query_only)
        return reads
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def key_reader(reads: AsyncEngine) -> AsyncEngine:
    """What reads by an exact key or a name prefix connect through: statements whose best plan is
    the same whatever the values (an index lookup, or an index walk in name order up to a limit).
    On PostgreSQL a pool of its own in which the server may keep a generic plan for each prepared
    statement; planning anew on every run (the main engine's custom plans) was about a third of a
    public lookup's cost. On SQLite, `reads` (what `reader` gave) itself."""
    if reads.dialect.name == "sqlite":
        return reads
    return create_async_engine(reads.url, pool_size=10, max_overflow=10, isolation_level="AUTOCOMMIT",
                               hide_parameters=reads.sync_engine.hide_parameters)


class DriverRead:
    """A SELECT of a hot read path, compiled once per dialect and run on the driver's own
    connection. SQLAlchemy's execution and result machinery cost as much as the driver itself on
    every run of a public lookup (measured here: 0.49 against 0.25 ms of CPU); what it works out
    each time (the SQL, the order of the parameters, how each value is converted to and from the
    database) is the same every time, so it is worked out once, with SQLAlchemy's own types. Rows
    come back as named tuples. Only parameters of fixed count are taken: an IN list needs one
    bind per item (SQLAlchemy's expanding IN rewrites the statement on every run)."""

    def __init__(self, statement):
        self.statement = statement
        self._compiled: dict[str, _CompiledRead] = {}

    async def rows(self, connection: AsyncConnection, parameters: dict) -> list[tuple]:
        compiled = self._compiled.get(connection.dialect.name)
        if compiled is None:
            compiled = self._compiled[connection.dialect.name] = _CompiledRead(self.statement, connection.dialect)
        driver = (await connection.get_raw_connection()).driver_connection
        arguments = compiled.arguments(parameters)
        try:
            if connection.dialect.name == "postgresql":
                records = await driver.fetch(compiled.sql, *arguments)
            else:
                records = driver.execute(compiled.sql, arguments).fetchall()
        except Exception:
            # As SQLAlchemy would on a connection that failed: not back into the pool.
            await connection.invalidate()
            raise
        return compiled.read(records)


_GIVEN = object()  # a parameter the caller gives at each run


class _CompiledRead:
    def __init__(self, statement, dialect):
        compiled = statement.compile(dialect=dialect)
        if compiled.post_compile_params or compiled.literal_execute_params:
            raise ValueError("a DriverRead takes no expanding (IN list) parameters")
        self.sql = compiled.string
        # (name, the value the statement fixes or _GIVEN, converter), in the statement's order.
        self._binds = [(name, _GIVEN if compiled.binds[name].required else compiled.binds[name].value,
                        compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
                       for name in compiled.positiontup]
        columns = list(statement.selected_columns)
        self._row = namedtuple("Row", [c.key for c in columns])
        converters = ((i, c.type.dialect_impl(dialect).result_processor(dialect, None)) for i, c in enumerate(columns))
        self._converters = [(i, convert) for i, convert in converters if convert is not None]

    def arguments(self, parameters: dict) -> list:
        values = []
        for name, fixed, convert in self._binds:
            value = parameters[name] if fixed is _GIVEN else fixed
            values.append(value if convert is None else convert(value))
        return values

    def read(self, records) -> list[tuple]:
        if not self._converters:
            return [self._row(*record) for record in records]
        rows = []
        for record in records:
            values = list(record)
            for index, convert in self._converters:
                values[index] = convert(values[index])
            rows.append(self._row(*values))
        return rows


def insert_for(session: AsyncSession, model):
    """An INSERT of the session's dialect, which can leave rows whose key is stored already
    (`.on_conflict_do_nothing`)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


async def one_or_not_found(session: AsyncSession, statement: Select, kind: str, key: str, for_update: bool = False):
    """The one row `statement` selects, or NOT_FOUND naming `kind` and `key`. The row is read
    afresh even when the session holds it already (a write decides on what is stored now, and
    options such as an undeferred column apply); `for_update` locks it until the transaction ends."""
    if for_update:
        statement = statement.with_for_update()
    found = (await session.execute(statement.execution_options(populate_existing=True))).scalar_one_or_none()
    if found is None:
        raise NotFound(kind, key)
    return found


# What a database that cannot be reached raises: the connection refused, reset or timed out, the
# server starting or shutting down, every pooled connection taken; SQLite's file that cannot be
# opened, is locked past the busy timeout, or fails on disk.
_UNREACHABLE_ERRNOS = {errno.ECONNREFUSED, errno.ECONNRESET, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT}
_UNREACHABLE_ASYNCPG = (asyncpg.exceptions.CannotConnectNowError, asyncpg.exceptions.ConnectionDoesNotExistError,
                        asyncpg.exceptions.ConnectionFailureError, asyncpg.exceptions.TooManyConnectionsError,
                        asyncpg.exceptions.AdminShutdownError)
_UNREACHABLE_SQLITE = ("unable to open database file", "database is locked", "disk i/o error")


def unreachable(error: BaseException) -> Unavailable | None:
    """The UNAVAILABLE a caller gets when `error` says the database could not be reached (the
    transaction never committed, so nothing was written), or None for any other error."""
    cause = error.orig if isinstance(error, exc.DBAPIError) else error
    if not (isinstance(error, exc.DBAPIError) and error.connection_invalidated
            or isinstance(error, exc.TimeoutError)
            or isinstance(cause, OSError) and cause.errno in _UNREACHABLE_ERRNOS
            or isinstance(cause, (ConnectionError, TimeoutError, *_UNREACHABLE_ASYNCPG))
            or isinstance(cause, sqlite3.OperationalError) and str(cause).lower().startswith(_UNREACHABLE_SQLITE)):
        return None
    return Unavailable("DATABASE_UNAVAILABLE", "the database did not answer and nothing was written: retry the "
                                               "request (with the same idempotency key) later")
