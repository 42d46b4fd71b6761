"""Each service's Alembic history, on SQLite and PostgreSQL: from an empty database up to head
gives the tables its SQLAlchemy models describe, exactly, and down to base takes them away."""

from __future__ import annotations

import importlib

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
