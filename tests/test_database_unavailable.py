"""A database that cannot be reached answers UNAVAILABLE (google.rpc.ErrorInfo reason
DATABASE_UNAVAILABLE), for reads and writes, never INTERNAL: PostgreSQL on a port nobody listens
on, and an SQLite file that cannot be opened. The same server answers again once its database
does."""

from __future__ import annotations

import uuid

import grpc
import pytest
from sqlalchemy import func, select

from ipss.complaints.v1 import complaints_pb2 as cpb
from ipss.complaints.v1 import complaints_pb2_grpc as cpb_grpc
from ipss.registry.v1 import registry_pb2 as pb
from ipss.registry.v1 import registry_pb2_grpc as pb_grpc
from services.complaints import store
from suite import config, db, migrate, testdata
from tests.conftest import BACKENDS, fresh_database, metadata
from tests.grpc_checks import error_info

UNREACHABLE = {"postgresql": "postgresql+asyncpg://postgres@127.0.0.1:1/ipss_unreachable",
               "sqlite": "sqlite+aiosqlite:////nonexistent-directory/ipss/registry.db"}


async def refused(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await call
    return refusal.value


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_registry_answers_unavailable_for_reads_and_writes(backend):
    from services.registry.server import build

    server, store = build(database_url=UNREACHABLE[backend])
    port = await server.start("127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.RegistryServiceStub(channel)
            for call in (stub.LookupAgencyPublic(pb.LookupAgencyPublicRequest(query="北京")),
                         stub.CreateAgency(testdata.agency_request(), metadata=metadata("operator"))):
                refusal = await refused(call)
                assert refusal.code() == grpc.StatusCode.UNAVAILABLE, refusal
                assert error_info(refusal).reason == "DATABASE_UNAVAILABLE"
    finally:
        await server.stop(0)
        await store.close()


async def test_a_report_filed_while_the_database_is_away_is_unavailable_and_a_retry_files_it_once(registry,
                                                                                                 complaints):
    """The complaints service's database file comes into being after the first attempt: the
    retry with the same idempotency key files one report."""
    from services.complaints.server import build

    temporal = dict(temporal_client=complaints.temporal,  # a queue nobody polls: the case only starts
                    temporal_settings=config.TemporalSettings("", "", f"unpolled-{uuid.uuid4().hex[:8]}"))
    backend = "postgresql" if registry.database_url.startswith("postgresql") else "sqlite"
    agency = (await pb_grpc.RegistryServiceStub(registry.channel).CreateAgency(
        testdata.agency_request(), metadata=metadata("operator"))).agency
    request = cpb.FileReportRequest(
        idempotency_key=uuid.uuid4().hex, source=cpb.REPORT_SOURCE_PUBLIC, reporter=cpb.Reporter(real_name=False),
        agency=cpb.ReportedAgency(credit_code=agency.credit_code), category=cpb.VIOLATION_CATEGORY_FALSE_ADVERTISING,
        description="该机构承诺“包授权”，收费后未办理。")
    unreachable = UNREACHABLE[backend].replace("registry", "complaints")
    server, service = build(database_url=unreachable, registry_address=registry.address, **temporal)
    port = await server.start("127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            refusal = await refused(cpb_grpc.ComplaintsServiceStub(channel).FileReport(request,
                                                                                         metadata=metadata("citizen")))
        assert refusal.code() == grpc.StatusCode.UNAVAILABLE and error_info(refusal).reason == "DATABASE_UNAVAILABLE"
    finally:
        await server.stop(0)
        await service.close()
    with fresh_database(backend) as url:
        migrate.upgrade("complaints", database_url=url)
        server, service = build(database_url=url, registry_address=registry.address, **temporal)
        port = await server.start("127.0.0.1:0")
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = cpb_grpc.ComplaintsServiceStub(channel)
                first = await stub.FileReport(request, metadata=metadata("citizen"))
                again = await stub.FileReport(request, metadata=metadata("citizen"))
            assert (first.case_id, first.tracking_code) == (again.case_id, again.tracking_code)
            async with db.sessionmaker(service.store.engine)() as session:
                assert await session.scalar(select(func.count()).select_from(store.Report)) == 1
        finally:
            await server.stop(0)
            await service.close()
