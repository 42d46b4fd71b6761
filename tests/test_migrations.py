"""Each service's Alembic history, on SQLite and PostgreSQL: from an empty database up to head
gives the tables its SQLAlchemy models describe, exactly, and down to base takes them away; a
column added to a table that already holds rows gives those rows its default."""

from __future__ import annotations

import importlib
from datetime import date, datetime, timezone

import pytest
import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from suite import db, migrate
from tests.conftest import BACKENDS, fresh_database

VERSION_TABLE = "alembic_version"


def models(service: str) -> sqlalchemy.MetaData:
    """The tables a service's store declares (services/<name>/store.py, class Base)."""
    return importlib.import_module(f"services.{service}.store").Base.metadata


def table_names(url: str) -> set[str]:
    engine = sqlalchemy.create_engine(db.sync_url(url))
    try:
        return set(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def differences(url: str, metadata: sqlalchemy.MetaData) -> list:
    engine = sqlalchemy.create_engine(db.sync_url(url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, metadata)
    finally:
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def empty_database(request):
    with fresh_database(request.param) as url:
        yield url


@pytest.mark.parametrize("service", migrate.MIGRATED_SERVICES)
def test_upgrade_to_head_builds_the_models_and_downgrade_removes_them(service, empty_database):
    expected = set(models(service).tables)
    assert expected, f"{service} declares no tables"
    assert table_names(empty_database) == set()

    assert migrate.upgrade(service, database_url=empty_database)
    assert table_names(empty_database) == expected | {VERSION_TABLE}
    assert differences(empty_database, models(service)) == []

    assert migrate.downgrade(service, "base", database_url=empty_database)
    assert table_names(empty_database) == {VERSION_TABLE}

    # And up again: a downgrade leaves nothing behind that would stop the next upgrade.
    assert migrate.upgrade(service, database_url=empty_database)
    assert differences(empty_database, models(service)) == []


# Migrations that add columns to tables in use: (service, the revision before, table, the added
# columns with what a row stored before reads in them).
ADDED_COLUMNS = [
    ("complaints", "0002", "cases", {"next_deadline_provisional": False, "paid_on": None, "surcharge_paused": []}),
    ("inspections", "0003", "tasks", {"publish_due_provisional": False, "rectify_due_provisional": False}),
    ("complaints", "0003", "timeline_entries", {"data": {}}),
    ("complaints", "0003", "reporter_messages", {"code": "", "data": {}}),
    ("complaints", "0003", "case_notices", {"code": "", "data": {}}),
]


def sample_row(table: sqlalchemy.Table) -> dict:
    """A value for every column, the same in every table so that foreign keys find their rows."""
    def value(column: sqlalchemy.Column):
        if isinstance(column.type, sqlalchemy.JSON):
            return []
        kind = column.type.python_type
        samples = {str: "1", int: 1, bool: False, float: 1.0, bytes: b"1", date: date(2026, 11, 2),
                   datetime: datetime(2026, 11, 2, tzinfo=timezone.utc)}
        return samples[kind]
    return {column.name: value(column) for column in table.columns}


@pytest.mark.parametrize("service, before, table, added", ADDED_COLUMNS)
def test_columns_added_to_tables_in_use_give_stored_rows_their_defaults(service, before, table, added,
                                                                        empty_database):
    assert migrate.upgrade(service, before, database_url=empty_database)
    engine = sqlalchemy.create_engine(db.sync_url(empty_database))
    try:
        stored = sqlalchemy.MetaData()
        stored.reflect(engine)
        with engine.begin() as connection:
            for each in stored.sorted_tables:
                if each.name != VERSION_TABLE:
                    connection.execute(each.insert().values(sample_row(each)))
        assert migrate.upgrade(service, database_url=empty_database)
        columns = models(service).tables[table].c
        with engine.connect() as connection:
            row = connection.execute(sqlalchemy.select(*(columns[name] for name in added))).one()
    finally:
        engine.dispose()
    assert dict(zip(added, row)) == added


def test_reporters_stored_before_are_sealed_on_upgrade_and_opened_on_downgrade(empty_database):
    """Complaints 0011: a reporter row of 0010 holds its identity in plain columns; after the
    upgrade the row holds no trace of it, GetCase's reading opens it again, and a downgrade puts
    the plain columns back as they were."""
    from services.complaints.identities import ReporterIdentities

    who = dict(name="迁移哨兵", phone="13912345678", resident_id="11010519491231002X", organisation="哨兵科技有限公司",
               email="sentinel@example.com")
    assert migrate.upgrade("complaints", "0010", database_url=empty_database)
    engine = sqlalchemy.create_engine(db.sync_url(empty_database))
    try:
        stored = sqlalchemy.MetaData()
        stored.reflect(engine)
        with engine.begin() as connection:
            for table in ("cases", "reporters"):
                row = sample_row(stored.tables[table]) | (dict(reference="rp-sentinel", real_name=True, **who)
                                                          if table == "reporters" else {})
                connection.execute(stored.tables[table].insert().values(row))
        assert migrate.upgrade("complaints", database_url=empty_database)
        with engine.connect() as connection:
            [row] = connection.execute(sqlalchemy.text("SELECT * FROM reporters")).all()
        assert not [value for value in who.values() if value.encode() in repr(tuple(row)).encode()
                    or value.encode() in b"".join(v for v in row if isinstance(v, bytes))]
        opened = ReporterIdentities().open(row.reference, row.real_name, row.identity)
        assert {name: getattr(opened, name) for name in who} == who and opened.real_name

        assert migrate.downgrade("complaints", "0010", database_url=empty_database)
        with engine.connect() as connection:
            [row] = connection.execute(sqlalchemy.text(
                "SELECT name, phone, resident_id, organisation, email FROM reporters")).all()
        assert tuple(row) == tuple(who.values())
    finally:
        engine.dispose()
