"""Hostile input, proven (issue 15, item 1): Hypothesis sends every RPC of the registry, complaints
and inspections services malformed, oversized and adversarial requests (bench.hostile), as every
role the RPC admits and as nobody, over loopback to real servers on fresh databases, once per
backend. Every answer is a status the suite gives on purpose (never INTERNAL, UNKNOWN or
DATA_LOSS), comes within a second, and a refusal leaves every row the service stores as it was."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import grpc
import pytest
from sqlalchemy import MetaData

from bench.hostile import ANSWER_SECONDS, UNINTENDED, Rpc, examples, rpcs, send
from services.complaints import store as complaints_store
from services.inspections import store as inspections_store
from services.registry import store as registry_store
from suite import config, migrate
from tests.conftest import BACKENDS, COMPLAINTS_TRACKING_KEY, fresh_database, running_registry
from tests.grpc_checks import stored

pytestmark = pytest.mark.slow
EXAMPLES = 12


@dataclass
class Target:
    channel: grpc.aio.Channel
    engine: object
    tables: MetaData


@pytest.fixture(scope="module", params=BACKENDS)
async def services(request, temporal_env):
    """The three services on fresh databases of one backend, their workflows on a task queue no
    worker polls (an update gives up after half a second)."""
    from temporalio.client import Client

    from services.complaints.server import build as build_complaints
    from services.inspections.server import build as build_inspections

    backend = request.param
    client = await Client.connect(temporal_env.client.service_client.config.target_host)
    queue = config.TemporalSettings("", "", f"hostile-{uuid.uuid4().hex[:8]}")
    async with running_registry(backend) as registry:
        with fresh_database(backend) as complaints_url, fresh_database(backend) as inspections_url:
            migrate.upgrade("complaints", database_url=complaints_url)
            migrate.upgrade("inspections", database_url=inspections_url)
            complaints_server, complaints = build_complaints(
                database_url=complaints_url, registry_address=registry.address, temporal_client=client,
                temporal_settings=queue, update_wait_seconds=0.5, key=COMPLAINTS_TRACKING_KEY)
            inspections_server, inspections = build_inspections(
                database_url=inspections_url, registry_address=registry.address, temporal_client=client,
                temporal_settings=queue, update_wait_seconds=0.5)
            ports = [await s.start("127.0.0.1:0") for s in (complaints_server, inspections_server)]
            channels = [grpc.aio.insecure_channel(f"127.0.0.1:{p}") for p in ports]
            try:
                yield {"registry": Target(registry.channel, registry.store.engine, registry_store.Base.metadata),
                       "complaints": Target(channels[0], complaints.store.engine, complaints_store.Base.metadata),
                       "inspections": Target(channels[1], inspections.store.engine,
                                             inspections_store.Base.metadata)}
            finally:
                for channel in channels:
                    await channel.close()
                for server in (complaints_server, inspections_server):
                    await server.stop(0)
                await complaints.close()
                await inspections.close()


@pytest.mark.parametrize("rpc", list(rpcs()), ids=lambda rpc: rpc.path.rsplit(".", 1)[-1])
async def test_every_rpc_answers_hostile_input_on_purpose_in_time_and_keeps_what_is_stored(services, rpc: Rpc):
    target = services[rpc.service]
    for payload, role in examples(rpc, EXAMPLES):
        before = await stored(target.engine, target.tables) if rpc.writes() else None
        started = time.perf_counter()
        code = await send(target.channel, rpc, payload, role)
        elapsed = time.perf_counter() - started
        assert code not in UNINTENDED, (rpc.path, role, code, payload[:200])
        assert elapsed < ANSWER_SECONDS, (rpc.path, role, code, round(elapsed, 3))
        if before is not None and code != grpc.StatusCode.OK:
            assert await stored(target.engine, target.tables) == before, (rpc.path, role, code)
