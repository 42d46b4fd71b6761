"""The reporter's identity reaches no one but the officers handling the case (issue 15 item 3;
投诉举报处理暂行办法 art. 33), proven end to end: a real-name report with sentinel values (name,
phone, resident id, e-mail) is filed through the public FileReport RPC over gRPC against the real
registry, complaints, inspections and linkage services, the suite's worker and a Temporal server
(the time-skipping one, its client sealing payloads as the suite's do); one case is walked to a
published fine, another to an association's measure through the linkage endpoint. Then every log
line, every workflow history (its payloads opened with the codec), every table of the three
databases (the reporters' sealed column as raw bytes; SQLite's files as they lie on disk), every
public answer and every association answer is searched: no sentinel anywhere. Each search is
shown able to find: the handler's GetCase names the reporter, the opened identity holds the name,
the opened payloads hold the reporter's reference, the logs hold the filing's line."""

from __future__ import annotations

import json
import logging
import random
import sys
import tempfile
import uuid
from datetime import date
from pathlib import Path

import grpc
import sqlalchemy
from google.protobuf import descriptor
from google.protobuf.json_format import MessageToJson
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.testing import WorkflowEnvironment

from contracts import search_attributes
from ipss.complaints.v1 import complaints_pb2 as cpb
from ipss.complaints.v1 import complaints_pb2_grpc as cpb_grpc
from ipss.linkage.v1 import linkage_pb2 as lpb
from ipss.registry.v1 import registry_pb2 as rpb
from ipss.registry.v1 import registry_pb2_grpc as rpb_grpc
from services.complaints import store as complaints_store
from suite import codes, db, migrate, payload_codec
from tests import legal_time
from tests.conftest import fresh_database, metadata
from tests.test_case_procedure import SUPERVISOR, Court, _settings
from tests.test_linkage import Link, new_association, start_link, stop_link
from tests.test_linkage_round_trip import feed_until
from workflows.worker import Activities, build_worker

TASK_QUEUE = "ipss-confidentiality-test"
FINE = cpb.Penalty(kind=cpb.PENALTY_KIND_FINE, fine_cny=50_000)


def sentinel_reporter() -> cpb.Reporter:
    """A reporter no other test files: each value unlike anything else the suite stores."""
    tag = uuid.uuid4().hex[:6]
    first17 = f"110105{random.randint(1950, 1999)}0{random.randint(1, 9)}1{random.randint(0, 8)}{random.randint(100, 999)}"
    return cpb.Reporter(real_name=True, name=f"哨兵{tag}", phone=f"139{random.randint(10**7, 10**8 - 1)}",
                        resident_id=first17 + codes.resident_id_check_char(first17),
                        email=f"sentinel-{tag}@example.com")


def identity_values(reporter: cpb.Reporter) -> list[str]:
    return [reporter.name, reporter.phone, reporter.resident_id, reporter.email]


def found_in(text: str | bytes, values: list[str]) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [v for v in values if v.encode() in data]


# ---- the stack -----------------------------------------------------------------------------------

class Stack(Court):
    """The case procedure's court, with the linkage endpoint and the databases to search. Its
    office is one no other scenario's cases are numbered in: the registry is the session's, and
    the events a case records there are keyed by the case's id (case-2026-450000-000001 here)."""

    office = "450000"

    link: Link | None = None
    complaints_url: str = ""
    inspections_url: str = ""


async def convened_with_sealed_payloads(registry, certs: Path):
    """Services and worker on a time-skipping server whose client seals payloads
    (suite.payload_codec, the configured key), as suite.workflow_client.connect does."""
    from contextlib import AsyncExitStack

    from services.complaints.server import build as build_complaints
    from services.inspections.server import build as build_inspections

    exits = AsyncExitStack()
    server_binary = Path(sys.executable).parent / "temporal-test-server"
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(server_binary),
                                                       data_converter=payload_codec.data_converter())
    exits.push_async_callback(env.shutdown)
    await search_attributes.register(env.client)
    backend = "sqlite" if registry.database_url.startswith("sqlite") else "postgresql"
    legal = legal_time.ScenarioClock(date(2026, 1, 5))
    complaints_url = exits.enter_context(fresh_database(backend))
    inspections_url = exits.enter_context(fresh_database(backend))
    migrate.upgrade("complaints", database_url=complaints_url)
    migrate.upgrade("inspections", database_url=inspections_url)
    server, complaints = build_complaints(database_url=complaints_url, registry_address=registry.address,
                                          temporal_client=env.client, temporal_settings=_settings(TASK_QUEUE),
                                          legal_clock=legal)
    port = await server.start("127.0.0.1:0")
    exits.push_async_callback(complaints.close)
    exits.push_async_callback(server.stop, 0)
    inspections_server, inspections = build_inspections(
        database_url=inspections_url, registry_address=registry.address, temporal_client=env.client,
        temporal_settings=_settings(TASK_QUEUE), legal_clock=legal)
    inspections_port = await inspections_server.start("127.0.0.1:0")
    exits.push_async_callback(inspections.close)
    exits.push_async_callback(inspections_server.stop, 0)
    activities = Activities.connect(registry.address, f"127.0.0.1:{port}",
                                    inspections_address=f"127.0.0.1:{inspections_port}")
    exits.push_async_callback(activities.close)
    await exits.enter_async_context(build_worker(env.client, activities, TASK_QUEUE))
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    exits.push_async_callback(channel.close)
    link = await start_link(registry, certs, complaints_address=f"127.0.0.1:{port}", temporal_client=env.client,
                            temporal_settings=_settings(TASK_QUEUE))
    exits.push_async_callback(stop_link, link)
    stack = Stack(env, legal, cpb_grpc.ComplaintsServiceStub(channel), rpb_grpc.RegistryServiceStub(registry.channel))
    stack.link, stack.complaints_url, stack.inspections_url = link, complaints_url, inspections_url
    return stack, exits


# ---- the walk ------------------------------------------------------------------------------------

async def file(stack: Stack, agency: rpb.Agency, reporter: cpb.Reporter, category) -> cpb.FileReportResponse:
    return await stack.complaints.FileReport(cpb.FileReportRequest(
        idempotency_key=uuid.uuid4().hex, source=cpb.REPORT_SOURCE_PUBLIC, reporter=reporter,
        agency=cpb.ReportedAgency(credit_code=agency.credit_code), category=category,
        description="该机构在网站上承诺专利授权率百分之百，与事实不符。", occurred_on="2026-01-10"), metadata=metadata("citizen"))


async def walk(stack: Stack, registry, reporter: cpb.Reporter) -> dict:
    """Two reports by the sentinel reporter on an association's member: one walked to a published
    fine, the other referred to the association, which answers through the linkage endpoint. The
    answers every caller but the handlers got, by who got them."""
    await stack.start_on("2026-03-02")
    agency = await stack.agency()
    association = await new_association(registry, stack.link)
    await stack.registry.AdmitMember(rpb.AdmitMemberRequest(
        idempotency_key=uuid.uuid4().hex, association_id=association.id, agency_id=agency.id,
        joined_on="2025-01-02"), metadata=metadata("operator"))
    fined = await file(stack, agency, reporter, cpb.VIOLATION_CATEGORY_FALSE_ADVERTISING)
    referred = await file(stack, agency, reporter, cpb.VIOLATION_CATEGORY_IMPROPER_SOLICITATION)
    await stack.goto("2026-03-05")
    await stack.act("OpenCase", fined.case_id, reason="线索属实")
    await stack.act("ReferToAssociation", referred.case_id, association_id=association.id, reason="情节轻微，转行业自律处理")

    association_link = stack.link.stub(association.id)
    answers: dict[str, list[Message]] = {"public": [], "association": []}
    answers["association"].append(await association_link.ListReferrals(lpb.ListReferralsRequest()))
    await stack.goto("2026-03-09")
    answers["association"].append(await association_link.AnswerReferral(lpb.AnswerReferralRequest(
        idempotency_key=uuid.uuid4().hex, case_id=referred.case_id, answer=cpb.REFERRAL_ANSWER_ACCEPTED)))
    await stack.goto("2026-03-20")
    answers["association"].append(await association_link.AnswerReferral(lpb.AnswerReferralRequest(
        idempotency_key=uuid.uuid4().hex, case_id=referred.case_id, answer=cpb.REFERRAL_ANSWER_MEASURE_TAKEN,
        measure="约谈并责令整改")))

    await stack.goto("2026-04-01")
    await stack.act("ProposePenalty", fined.case_id, penalty=FINE, reason="虚假宣传，证据确凿")
    await stack.goto("2026-04-15")
    await stack.act("SubmitDecision", fined.case_id, penalty=FINE, reason="维持告知内容")
    await stack.act("ApproveDecision", fined.case_id, actor=SUPERVISOR)

    public = await stack.registry.LookupAgencyPublic(rpb.LookupAgencyPublicRequest(query=agency.credit_code))
    assert [p.fine_cny for p in public.agencies[0].penalties] == [50_000]  # the walk reached publication
    answers["public"] += [public, *[await stack.status(filed) for filed in (fined, referred)],
                          await stack.registry.ListCreditListEntries(rpb.ListCreditListEntriesRequest(
                              list=rpb.CREDIT_LIST_ABNORMAL_OPERATION, region_code=stack.office))]
    answers["association"] += [
        *await feed_until(stack.link, association.id, {rpb.MEMBER_EVENT_KIND_REFERRAL_SENT,
                                                       rpb.MEMBER_EVENT_KIND_CASE_OPENED,
                                                       rpb.MEMBER_EVENT_KIND_PUBLICATION}),
        await association_link.ListReferrals(lpb.ListReferralsRequest()),
        await association_link.GetMember(lpb.GetMemberRequest(agency_id=agency.id)),
        await stack.registry.ReadMemberEvents(rpb.ReadMemberEventsRequest(association_id=association.id), metadata=metadata(
            "association", subject=f"linkage:{association.id}", association_id=association.id))]
    return dict(answers=answers, case_ids=[fined.case_id, referred.case_id])


# ---- where to look -------------------------------------------------------------------------------

def payloads_in(message: Message):
    """Every Temporal payload a history holds, wherever it is nested."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.type != descriptor.FieldDescriptor.TYPE_MESSAGE:
            continue
        if field.message_type.GetOptions().map_entry:
            values = value.values()
        elif field.is_repeated:
            values = value
        else:
            values = [value]
        for each in values:
            if isinstance(each, Message):
                yield from payloads_in(each)


async def histories(stack: Stack, workflow_ids: list[str]) -> tuple[str, str]:
    """The histories as Temporal stores them, and their payloads opened by the codec."""
    codec = payload_codec.SealingCodec()
    stored, opened = [], []
    for workflow_id in workflow_ids:
        history = await stack.env.client.get_workflow_handle(workflow_id).fetch_history()
        stored.append(history.to_json())
        payloads = [p for event in history.events for p in payloads_in(event)]
        opened += [p.data.decode(errors="replace") for p in await codec.decode(payloads)]
    return "\n".join(stored), "\n".join(opened)


def workflows_started(*urls: str) -> list[str]:
    """The workflows the services started and messaged, from their workflow outboxes: the run's
    histories (the time-skipping server lists no workflows)."""
    ids: set[str] = set()
    for url in urls:
        engine = sqlalchemy.create_engine(db.sync_url(url))
        try:
            with engine.connect() as connection:
                ids.update(connection.scalars(sqlalchemy.text("SELECT DISTINCT workflow_id FROM workflow_outbox")))
        finally:
            engine.dispose()
    return sorted(ids)


def every_row(url: str) -> bytes:
    """Every value of every table: bytes as they are stored, JSON as it reads (stored, its text may
    escape what it holds), the rest as the database writes it as text (dates beyond Python's too)."""
    engine = sqlalchemy.create_engine(db.sync_url(url))
    out = []
    try:
        tables = sqlalchemy.MetaData()
        tables.reflect(engine)
        with engine.connect() as connection:
            for table in tables.sorted_tables:
                columns = [c if isinstance(c.type, (sqlalchemy.LargeBinary, sqlalchemy.JSON))
                           else sqlalchemy.cast(c, sqlalchemy.Text) for c in table.columns]
                for row in connection.execute(sqlalchemy.select(*columns)):
                    out += [v if isinstance(v, bytes) else json.dumps(v, ensure_ascii=False, default=str).encode()
                            for v in row]
    finally:
        engine.dispose()
    return b"\n".join(out)


def database_files(url: str) -> bytes:
    """A SQLite database's files as they lie on disk (pages, the write-ahead log); nothing for PostgreSQL."""
    if not url.startswith("sqlite"):
        return b""
    path = Path(sqlalchemy.engine.make_url(url).database)
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def reporters_stored(url: str) -> tuple[list[str], str]:
    """The reporters' references, and their identities opened with the service's key: the one
    place they may be read."""
    engine = sqlalchemy.create_engine(db.sync_url(url))
    try:
        with engine.connect() as connection:
            rows = connection.execute(sqlalchemy.select(complaints_store.Reporter.__table__)).all()
    finally:
        engine.dispose()
    identities = complaints_store.ReporterIdentities()
    return [r.reference for r in rows], repr([identities.open(r.reference, r.real_name, r.identity) for r in rows])


def text_of(answers: list[Message]) -> str:
    return "\n".join(MessageToJson(a, ensure_ascii=False) for a in answers)


# ---- the test ------------------------------------------------------------------------------------

async def test_no_sentinel_of_a_real_name_reporter_reaches_a_log_a_history_a_table_or_an_answer(
        registry, capfd, caplog):
    # The standard library's records at the suite's level (IPSS_LOG_LEVEL, info by default; the
    # grpc extension's own DEBUG records from its threads can crash the interpreter at teardown);
    # structlog's lines, at every level, go to the captured stdout.
    caplog.set_level(logging.INFO)
    reporter = sentinel_reporter()
    sentinels = identity_values(reporter)
    with tempfile.TemporaryDirectory(prefix="ipss-certs-") as certs:
        stack, exits = await convened_with_sealed_payloads(registry, Path(certs))
        async with exits:
            walked = await walk(stack, registry, reporter)
            handled = (await stack.complaints.GetCase(cpb.GetCaseRequest(case_id=walked["case_ids"][0]),
                                                      metadata=metadata("handler", stack.office))).case
            # The officers handling the case may know who reported it: the sentinel went in.
            assert found_in(text_of([handled]), sentinels) == sentinels
            started = workflows_started(stack.complaints_url, stack.inspections_url)
            assert set(walked["case_ids"]) <= set(started)
            stored_histories, opened_payloads = await histories(stack, started)
            complaints_rows, complaints_files = every_row(stack.complaints_url), database_files(stack.complaints_url)
            references, opened_identities = reporters_stored(stack.complaints_url)
            inspections_rows = every_row(stack.inspections_url)
    registry_rows = every_row(registry.database_url)
    captured = capfd.readouterr()
    logs = captured.out + captured.err + caplog.text

    assert found_in(opened_identities, sentinels) == [reporter.name, reporter.phone, reporter.resident_id,
                                                      reporter.email]
    assert found_in(logs, walked["case_ids"]), "the log capture caught none of the walk's lines"
    assert found_in(opened_payloads, references) == references, "the codec opened none of the payloads"
    assert not found_in(stored_histories, references), "the histories hold payloads unsealed"

    searched = {
        "log lines": logs, "workflow histories as stored": stored_histories,
        "workflow payloads opened": opened_payloads, "complaints tables": complaints_rows,
        "complaints database files": complaints_files, "registry tables": registry_rows,
        "inspections tables": inspections_rows, "public answers": text_of(walked["answers"]["public"]),
        "association answers": text_of(walked["answers"]["association"])}
    assert {where: found_in(text, sentinels) for where, text in searched.items() if found_in(text, sentinels)} == {}
