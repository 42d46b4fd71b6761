"""The world the inspections tests run in (a helper module, not collected): a fresh registry
bulk-seeded with realistic agencies, the complaints and inspections services over loopback gRPC
on one kind of database, Temporal's time-skipping test server, and the suite's real worker. The
legal calendar is moved with the test server's clock (see tests/test_case_procedure.py), so
that every date a rule gives can be asserted exactly on the 2026 calendar."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import grpc
import sqlalchemy
from temporalio.testing import WorkflowEnvironment

from ipss.complaints.v1 import complaints_pb2_grpc as cpb_grpc
from ipss.inspections.v1 import inspections_pb2 as pb
from ipss.inspections.v1 import inspections_pb2_grpc as pb_grpc
from ipss.registry.v1 import registry_pb2_grpc as rpb_grpc
from services.registry import seed
from suite import clock, config, db, migrate
from tests import legal_time
from tests.conftest import fresh_database, metadata, token
from contracts import search_attributes
from workflows.worker import Activities, build_worker

TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"
SUPERVISOR = "supervisor-zhou"


@dataclass
class World:
    backend: str
    env: WorkflowEnvironment
    legal: legal_time.ScenarioClock
    registry_url: str
    registry: rpb_grpc.RegistryServiceStub
    inspections: pb_grpc.InspectionsServiceStub
    complaints: cpb_grpc.ComplaintsServiceStub
    inspections_store: object
    task_queue: str
    inspections_address: str
    registry_address: str
    complaints_address: str

    async def start_on(self, legal_day: str) -> None:
        await legal_time.start_on(self.env, self.legal, legal_day)

    async def goto(self, legal_day: str) -> None:
        await legal_time.goto(self.env, self.legal, legal_day)

    def agencies_in(self, province: str, statuses=("active", "suspended")) -> list:
        """Agencies of the seeded registry in a province, straight from its database (to know
        what a snapshot must hold)."""
        engine = sqlalchemy.create_engine(db.sync_url(self.registry_url))
        try:
            with engine.connect() as connection:
                return list(connection.execute(sqlalchemy.text(
                    "SELECT id, credit_code, name, region_code, kind, status FROM agencies "
                    "WHERE region_code LIKE :p AND status IN ('active', 'suspended') ORDER BY credit_code"),
                    {"p": province[:2] + "%"}))
        finally:
            engine.dispose()


def key() -> str:
    return f"key-{uuid.uuid4().hex}"


SUPERVISOR_MD = metadata("supervisor", subject=SUPERVISOR)


@asynccontextmanager
async def world(backend: str, agencies: int = 400, batch_size: int = 200,
                history_limit: int = 3000) -> AsyncIterator[World]:
    from services.complaints.server import build as build_complaints
    from services.inspections.server import build as build_inspections

    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(TEST_SERVER))
    await search_attributes.register(env.client)
    global legal_today
    legal = legal_time.ScenarioClock(date(2026, 3, 2))
    outer, legal_today = legal_today, legal.today
    queue = f"inspections-{uuid.uuid4().hex[:8]}"
    settings = config.TemporalSettings(address="", namespace="default", task_queue=queue)
    servers = []
    try:
        with fresh_database(backend) as registry_url, fresh_database(backend) as complaints_url, \
                fresh_database(backend) as inspections_url:
            migrate.upgrade("registry", database_url=registry_url)
            migrate.upgrade("complaints", database_url=complaints_url)
            migrate.upgrade("inspections", database_url=inspections_url)
            seed.seed(registry_url, agencies, 0, as_of=date(2026, 3, 1))
            from services.registry.server import build as build_registry

            registry_server, registry_store = build_registry(database_url=registry_url)
            registry_address = f"127.0.0.1:{await registry_server.start('127.0.0.1:0')}"
            servers.append((registry_server, registry_store.close))
            complaints_server, complaints = build_complaints(
                database_url=complaints_url, registry_address=registry_address, temporal_client=env.client,
                temporal_settings=settings, legal_clock=legal)
            complaints_address = f"127.0.0.1:{await complaints_server.start('127.0.0.1:0')}"
            servers.append((complaints_server, complaints.close))
            inspections_server, inspections = build_inspections(
                database_url=inspections_url, registry_address=registry_address, temporal_client=env.client,
                temporal_settings=settings, legal_clock=legal, batch_size=batch_size,
                history_limit=history_limit)
            inspections_address = f"127.0.0.1:{await inspections_server.start('127.0.0.1:0')}"
            servers.append((inspections_server, inspections.close))
            activities = Activities.connect(registry_address, complaints_address,
                                            token("machine", subject="ipss-worker"), inspections_address)
            channels = [grpc.aio.insecure_channel(a, options=[("grpc.max_receive_message_length", 64 << 20)])
                        for a in (registry_address, inspections_address, complaints_address)]
            try:
                async with build_worker(env.client, activities, queue):
                    yield World(backend, env, legal, registry_url, rpb_grpc.RegistryServiceStub(channels[0]),
                                pb_grpc.InspectionsServiceStub(channels[1]),
                                cpb_grpc.ComplaintsServiceStub(channels[2]), inspections.store, queue,
                                inspections_address, registry_address, complaints_address)
            finally:
                for channel in channels:
                    await channel.close()
                await activities.close()
                for server, close in reversed(servers):
                    await server.stop(0)
                    await close()
    finally:
        legal_today = outer
        await env.shutdown()


# ---- the directory and plans -------------------------------------------------------------------

async def register_inspectors(api: pb_grpc.InspectionsServiceStub, region: str, count: int, prefix: str
                              ) -> list[str]:
    ids = [f"{prefix}{index:03d}" for index in range(count)]
    await asyncio.gather(*(api.RegisterInspector(pb.RegisterInspectorRequest(
        idempotency_key=key(), id=inspector, name=f"检查员{inspector}", office="市场监督管理局知识产权科",
        region_code=region), metadata=SUPERVISOR_MD) for inspector in ids))
    return ids


def default_ratios(low: int = 1000, general: int = 2000, elevated: int = 5000, high: int = 10000
                   ) -> list[pb.SamplingRatio]:
    return [pb.SamplingRatio(risk_class=pb.RISK_CLASS_LOW, basis_points=low),
            pb.SamplingRatio(risk_class=pb.RISK_CLASS_GENERAL, basis_points=general),
            pb.SamplingRatio(risk_class=pb.RISK_CLASS_ELEVATED, basis_points=elevated),
            pb.SamplingRatio(risk_class=pb.RISK_CLASS_HIGH, basis_points=high)]


async def drawn_plan(api: pb_grpc.InspectionsServiceStub, regions: list[str], seed_value: str = "双色球 2026025期 03 08 12 19 27 31 + 09",
                     all_in_scope: bool = False, ratios: list | None = None, per_target: int = 2) -> pb.DrawRecord:
    plan = (await api.CreatePlan(pb.CreatePlanRequest(
        idempotency_key=key(), name="2026年度知识产权代理机构双随机抽查", region_codes=regions,
        all_in_scope=all_in_scope, ratios=[] if all_in_scope else (ratios or default_ratios()),
        inspectors_per_target=per_target), metadata=SUPERVISOR_MD)).plan
    await api.TakeSnapshot(pb.TakeSnapshotRequest(idempotency_key=key(), plan_id=plan.id, seed_source=SEED_SOURCE,
                                                  seed_available_on=legal_today().isoformat()), metadata=SUPERVISOR_MD)
    return (await api.Draw(pb.DrawRequest(idempotency_key=key(), plan_id=plan.id, seed_value=seed_value,
                                          seed_source=SEED_SOURCE), metadata=SUPERVISOR_MD)).record


# The seed source drawn_plan commits to (published the day of the commitment, after it), and the
# legal day of the services under test: the world's scenario day inside world(), else the wall
# clock's (the services' default legal clock).
SEED_SOURCE = "中国福利彩票 双色球 开奖公告（承诺当日开奖）"
legal_today = clock.today


async def campaign_of(api: pb_grpc.InspectionsServiceStub, record: pb.DrawRecord, starts_on: str, ends_on: str,
                      kind=pb.CAMPAIGN_KIND_SPECIAL_RECTIFICATION, theme=(6, 1)) -> pb.Campaign:
    return (await api.CreateCampaign(pb.CreateCampaignRequest(
        idempotency_key=key(), name="专利代理行业专项整治行动", kind=kind, theme=list(theme), plan_id=record.plan_id,
        starts_on=starts_on, ends_on=ends_on), metadata=SUPERVISOR_MD)).campaign


async def eventually(check, attempts: int = 400, pause: float = 0.05):
    """Wait, in real time, until `check()` (async) returns something true; return it."""
    for _ in range(attempts):
        found = await check()
        if found:
            return found
        await asyncio.sleep(pause)
    raise AssertionError("the condition was never met")


def province_codes(registry_url: str) -> list[str]:
    engine = sqlalchemy.create_engine(db.sync_url(registry_url))
    try:
        with engine.connect() as connection:
            return [f"{row[0]}0000" for row in connection.execute(sqlalchemy.text(
                "SELECT DISTINCT substr(region_code, 1, 2) FROM agencies ORDER BY 1"))]
    finally:
        engine.dispose()
