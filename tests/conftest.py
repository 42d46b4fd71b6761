"""Test kit: fresh databases on SQLite and PostgreSQL, real gRPC servers on loopback ports, and
tokens for every role. Every backend-dependent test runs once per database; under CI
PostgreSQL is required, elsewhere a missing PostgreSQL skips its half with the reason."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

import grpc
import pytest
import sqlalchemy

_VAR = tempfile.mkdtemp(prefix="ipss-test-")
os.environ.setdefault("IPSS_VAR_DIR", _VAR)  # the development token keys are made there, for this run

from suite import auth, migrate  # noqa: E402 - the environment above must be set first

POSTGRES_ADMIN_URL = os.environ.get("IPSS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BACKENDS = ("sqlite", "postgresql")


def _postgres_problem() -> str | None:
    try:
        engine = sqlalchemy.create_engine(POSTGRES_ADMIN_URL)
        with engine.connect():
            pass
        engine.dispose()
    except sqlalchemy.exc.OperationalError as error:
        return f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable: {error.orig}"
    return None


_POSTGRES_PROBLEM = _postgres_problem()


@contextmanager
def fresh_database(backend: str) -> Iterator[str]:
    """A new empty database; yields its async SQLAlchemy URL and drops it afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="ipss-db-") as directory:
            yield f"sqlite+aiosqlite:///{os.path.join(directory, 'test.db')}"
        return
    if _POSTGRES_PROBLEM:
        if os.environ.get("CI"):
            pytest.fail(f"CI requires PostgreSQL: {_POSTGRES_PROBLEM}")
        pytest.skip(_POSTGRES_PROBLEM)
    name = f"ipss_test_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    url = sqlalchemy.engine.make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+asyncpg", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request) -> Iterator[str]:
    """An empty database, once per backend."""
    with fresh_database(request.param) as url:
        yield url


def token(role: str, region: str = auth.NATIONWIDE, subject: str = "", association_id: str = "") -> str:
    """A token for the role: the machine key's for `machine` (the worker's and the services' own
    calls), the development sign-in key's for a person; an association's names one (an
    association of no test's own unless given)."""
    if role == "machine":
        return auth.machine_signer().mint("machine", subject or "test-machine", region=region)
    if role == "association":
        association_id = association_id or "assoc-of-no-test"
    return auth.mint(role, subject or f"test-{role}", region=region, association_id=association_id)


def metadata(role: str, region: str = auth.NATIONWIDE, subject: str = "", association_id: str = ""
             ) -> tuple[tuple[str, str], ...]:
    """gRPC call metadata for a caller; the public role sends no token."""
    if role == "public":
        return ()
    return (("authorization", f"Bearer {token(role, region, subject, association_id)}"),)


@dataclass
class RunningService:
    """A service's real gRPC server on a loopback port, with its own database."""

    address: str
    database_url: str
    channel: grpc.aio.Channel
    store: object
    temporal: object = None  # the Temporal client a service starts its workflows with, if any


@asynccontextmanager
async def running_registry(backend: str) -> AsyncIterator[RunningService]:
    """The registry service over loopback on a fresh database of `backend`, migrated to head."""
    from services.registry.server import build

    with fresh_database(backend) as url:
        migrate.upgrade("registry", database_url=url)
        server, store = build(database_url=url)
        port = await server.start("127.0.0.1:0")
        address = f"127.0.0.1:{port}"
        channel = grpc.aio.insecure_channel(address)
        try:
            yield RunningService(address, url, channel, store)
        finally:
            await channel.close()
            await server.stop(0)
            await store.close()


@pytest.fixture(scope="session", params=BACKENDS)
async def registry(request) -> AsyncIterator[RunningService]:
    """The registry, once per backend for the session."""
    async with running_registry(request.param) as running:
        yield running


@pytest.fixture(scope="session")
async def temporal_env():
    """A real Temporal dev server (the binary installed in the venv, nothing downloaded) with the
    suite's search attributes, once for the session. No worker polls it unless a test runs one."""
    import sys
    from pathlib import Path

    from temporalio.testing import WorkflowEnvironment

    from contracts import search_attributes

    cli = Path(sys.executable).parent / "temporal"
    assert cli.exists(), f"the Temporal CLI is not installed next to {sys.executable}"
    namespaces = [arg for backend in BACKENDS for arg in ("--namespace", temporal_namespace(backend))]
    async with await WorkflowEnvironment.start_local(dev_server_existing_path=str(cli),
                                                     search_attributes=search_attributes.ALL,
                                                     dev_server_extra_args=namespaces) as env:
        yield env


def temporal_namespace(backend: str) -> str:
    """Each backend's services get their own namespace: their databases number cases alike, and
    a case's workflow id is its case id."""
    return f"ipss-{backend}"


# No worker runs beside the complaints fixture, so an update (join, an action) waits this long
# for one before the service answers UNAVAILABLE.
COMPLAINTS_UPDATE_WAIT = 1.0
COMPLAINTS_TRACKING_KEY = b"test-tracking-key"


@pytest.fixture(scope="session")
async def complaints(registry, temporal_env) -> AsyncIterator[RunningService]:
    """The complaints service over loopback, on the registry fixture's kind of database, asking
    that registry and starting case workflows in its backend's namespace of the Temporal dev
    server (its client is `.temporal`; a worker for its workflows polls that namespace's
    IPSS_TEMPORAL_TASK_QUEUE)."""
    from temporalio.client import Client

    from services.complaints.server import build

    backend = "sqlite" if registry.database_url.startswith("sqlite") else "postgresql"
    client = await Client.connect(temporal_env.client.service_client.config.target_host,
                                  namespace=temporal_namespace(backend))
    with fresh_database(backend) as url:
        migrate.upgrade("complaints", database_url=url)
        server, running = build(database_url=url, registry_address=registry.address, temporal_client=client,
                                update_wait_seconds=COMPLAINTS_UPDATE_WAIT, key=COMPLAINTS_TRACKING_KEY)
        port = await server.start("127.0.0.1:0")
        address = f"127.0.0.1:{port}"
        channel = grpc.aio.insecure_channel(address, options=[("grpc.max_send_message_length", -1)])
        try:
            yield RunningService(address, url, channel, running.store, client)
        finally:
            await channel.close()
            await server.stop(0)
            await running.close()
