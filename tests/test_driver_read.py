"""suite.db.DriverRead: a SELECT run on the driver's own connection gives what SQLAlchemy's own
execution would, values converted by the columns' types, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import Boolean, Column, Date, Integer, MetaData, String, Table, bindparam, func, insert, select

from suite import db

metadata = MetaData()
items = Table("items", metadata, Column("id", Integer, primary_key=True), Column("name", String(20)),
              Column("due_on", Date), Column("open", Boolean), Column("recorded_at", db.Instant()))
ROWS = [dict(id=1, name="甲", due_on=date(2026, 12, 31), open=True,
             recorded_at=datetime(2026, 12, 1, 8, 30, tzinfo=timezone.utc)),
        dict(id=2, name="乙", due_on=None, open=False, recorded_at=datetime(2026, 12, 2, tzinfo=timezone.utc)),
        dict(id=3, name="丙", due_on=date(2027, 1, 4), open=True,
             recorded_at=datetime(2026, 12, 3, tzinfo=timezone.utc))]


@pytest.fixture
async def engine(database_url):
    engine = db.create_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
        await connection.execute(insert(items), ROWS)
    yield engine
    await engine.dispose()


async def test_rows_are_those_sqlalchemy_reads_with_their_types(engine):
    statement = (select(items, func.upper(items.c.name).label("shouted"))
                 .where(items.c.due_on >= bindparam("from_day", type_=Date), items.c.id != 99)
                 .order_by(items.c.id).limit(bindparam("limit", type_=Integer)))
    read = db.DriverRead(statement)
    parameters = {"from_day": date(2026, 12, 1), "limit": 5}
    async with db.reader(engine).connect() as connection:
        expected = [tuple(row) for row in await connection.execute(statement, parameters)]
        rows = await read.rows(connection, parameters)
        again = await read.rows(connection, {"from_day": date(2027, 1, 1), "limit": 5})
    assert [tuple(row) for row in rows] == expected
    assert [(r.id, r.due_on, r.open, r.recorded_at) for r in rows] == [
        (1, date(2026, 12, 31), True, ROWS[0]["recorded_at"]), (3, date(2027, 1, 4), True, ROWS[2]["recorded_at"])]
    assert rows[0].recorded_at.tzinfo is not None
    assert [r.id for r in again] == [3]


async def test_a_failed_read_leaves_its_connection_out_of_the_pool(engine):
    missing = Table("missing", MetaData(), Column("id", Integer))
    async with db.reader(engine).connect() as connection:
        with pytest.raises(Exception, match="missing"):
            await db.DriverRead(select(missing.c.id)).rows(connection, {})
        assert connection.invalidated
    async with db.reader(engine).connect() as connection:
        read = db.DriverRead(select(items.c.id).where(items.c.id == bindparam("id", type_=Integer)))
        assert [r.id for r in await read.rows(connection, {"id": 2})] == [2]


async def test_an_expanding_in_list_is_refused(engine):
    read = db.DriverRead(select(items.c.id).where(items.c.id.in_(bindparam("ids", expanding=True))))
    async with db.reader(engine).connect() as connection:
        with pytest.raises(ValueError, match="IN list"):
            await read.rows(connection, {"ids": [1, 2]})
