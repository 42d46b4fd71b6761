"""Intake in the complaints service (ipss.complaints.v1.ComplaintsService) over loopback gRPC, once
on SQLite and once on PostgreSQL, with the real registry and a real Temporal dev server: attachments,
every source of a report, anonymous and real-name reporters, idempotent retries that file once and
start one workflow, duplicates joining an open case, the reporter's status page, and every refusal
with nothing stored changed. No worker runs here, so a case's workflow is started but takes no
step; the last test adds the suite's worker to see a joining reporter reach the workflow.

The servers and databases are shared by the session, so every test makes its own agencies (in
its own county) and reports."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import logging
import uuid
from contextlib import asynccontextmanager
from datetime import timedelta

import grpc
import pytest
import structlog
from sqlalchemy import select
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from ipss.complaints.v1 import complaints_pb2 as pb
from ipss.complaints.v1 import complaints_pb2_grpc as pb_grpc
from ipss.registry.v1 import registry_pb2 as reg_pb
from ipss.registry.v1 import registry_pb2_grpc as reg_grpc
from services.complaints import domain, store
from services.complaints.server import build
from suite import clock, config, testdata
from suite.protos import enum_word
from tests import grpc_checks as checks
from tests.conftest import COMPLAINTS_TRACKING_KEY, metadata, token
from tests.grpc_checks import eventually
from tests.grpc_checks import invalid, refused
from contracts import search_attributes
from workflows.activities.periods import PeriodActivities
from workflows.worker import Activities, build_worker

Code = grpc.StatusCode
OPERATOR = metadata("operator")
MACHINE = metadata("machine")  # the worker's and the services' own calls
CITIZEN = metadata("citizen")
PUBLIC = metadata("public")
HANDLER = metadata("handler")
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(13)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(20) + b"\xff\xd9"


# ---- unique identifiers and requests ---------------------------------------------------------

def uid() -> str:
    return uuid.uuid4().hex[:12]


def key() -> str:
    return f"key-{uuid.uuid4().hex}"


_counties = itertools.count()


def new_county(province: str = "11") -> str:
    """A county code no other test of the session uses: its cases are this test's alone."""
    n = next(_counties)
    return f"{province}{1 + n // 99 % 99:02d}{1 + n % 99:02d}"


def real_name(**fields) -> pb.Reporter:
    values = dict(real_name=True, name=f"张{uid()}", phone="139" + str(uuid.uuid4().int)[:8],
                  resident_id=testdata.resident_id())
    values.update(fields)
    return pb.Reporter(**values)


ANONYMOUS = pb.Reporter(real_name=False)


def report(target: reg_pb.Agency, reporter: pb.Reporter | None = ANONYMOUS, **fields) -> pb.FileReportRequest:
    """A report on `target` by its credit code (`agency=` names it otherwise)."""
    values = dict(idempotency_key=key(), source=pb.REPORT_SOURCE_PUBLIC, agency=pb.ReportedAgency(
                      credit_code=target.credit_code),
                  category=pb.VIOLATION_CATEGORY_FALSE_ADVERTISING,
                  description=f"该机构承诺“包授权”，收费后未办理 {uid()}", occurred_on=day(-30))
    values.update(fields)
    request = pb.FileReportRequest(**values)
    if reporter is not None:
        request.reporter.CopyFrom(reporter)
    return request


def day(offset: int) -> str:
    return (clock.today() + timedelta(days=offset)).isoformat()


# ---- the caller side ----------------------------------------------------------------------------

@pytest.fixture
def api(complaints) -> pb_grpc.ComplaintsServiceStub:
    return pb_grpc.ComplaintsServiceStub(complaints.channel)


@pytest.fixture
def registry_api(registry) -> reg_grpc.RegistryServiceStub:
    return reg_grpc.RegistryServiceStub(registry.channel)


async def new_agency(registry_api, region_code: str | None = None, **fields) -> reg_pb.Agency:
    region_code = region_code or new_county()
    values = dict(idempotency_key=key(), name=f"测试{uid()}知识产权代理有限公司", kind=reg_pb.AGENCY_KIND_PATENT,
                  credit_code=testdata.credit_code(region_code[:2] + "0000"), licence_number=f"{uid().upper()}-11",
                  region_code=region_code, legal_form=reg_pb.LEGAL_FORM_LIMITED_COMPANY,
                  established_on="2015-06-01")
    values.update(fields)
    return (await registry_api.CreateAgency(reg_pb.CreateAgencyRequest(**values), metadata=OPERATOR)).agency


async def file(api, request: pb.FileReportRequest, caller=CITIZEN) -> pb.FileReportResponse:
    return await api.FileReport(request, metadata=caller)


async def case_of(complaints, answer: pb.FileReportResponse) -> str:
    """The case a filing is on: the answer names it to staff sources and real-name reporters; an
    anonymous public filing's answer names none (issue 15 item 3), and the test finds it in the
    record by the report's tracking code, as the office does."""
    if answer.case_id:
        return answer.case_id
    [kept] = await rows(complaints, store.Report, store.Report.tracking_code == answer.tracking_code)
    return kept.case_id


def nothing_stored_changes(complaints):
    return checks.nothing_stored_changes(complaints.store.engine, store.Base.metadata)


async def rows(complaints, model, *conditions) -> list:
    async with complaints.store.sessions() as session:
        return list((await session.execute(select(model).where(*conditions))).scalars())


@asynccontextmanager
async def replica_without_temporal(complaints, registry, monkeypatch):
    """Another replica of the service, on the same database, that cannot reach Temporal."""
    monkeypatch.setenv("IPSS_TEMPORAL_ADDRESS", "127.0.0.1:1")
    server, replica = build(database_url=complaints.database_url, registry_address=registry.address,
                            key=COMPLAINTS_TRACKING_KEY)
    port = await server.start("127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield pb_grpc.ComplaintsServiceStub(channel)
    finally:
        await server.stop(0)
        await replica.close()


@asynccontextmanager
async def replica_with_worker(registry, complaints, queue: str, legal_clock: clock.LegalClock | None = None,
                              periods: PeriodActivities | None = None):
    """Another replica of the service, on the same database, starting case workflows on a task
    queue of its own, and the suite's worker on that queue writing the records back through the
    replica's RecordCaseProgress: the replica's address and a stub of it."""
    server, replica = build(database_url=complaints.database_url, registry_address=registry.address,
                            temporal_client=complaints.temporal, key=COMPLAINTS_TRACKING_KEY,
                            temporal_settings=config.TemporalSettings("", "", queue), legal_clock=legal_clock,
                            calendar=(lambda: periods.calendar) if periods else None)
    address = f"127.0.0.1:{await server.start('127.0.0.1:0')}"
    activities = Activities.connect(registry_address=registry.address, complaints_address=address,
                                    token=token("machine", subject="ipss-worker"), periods=periods)
    try:
        async with grpc.aio.insecure_channel(address) as channel, build_worker(complaints.temporal, activities, queue):
            yield address, pb_grpc.ComplaintsServiceStub(channel)
    finally:
        await activities.close()
        await server.stop(0)
        await replica.close()


async def describe(complaints, case_id: str):
    return await complaints.temporal.get_workflow_handle(case_id).describe()


async def workflow_input(complaints, case_id: str) -> dict:
    """The CaseStart the workflow was started with, as Temporal keeps it in the history."""
    history = await complaints.temporal.get_workflow_handle(case_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    return json.loads(started.input.payloads[0].data)


# ---- attachments ---------------------------------------------------------------------------------

@pytest.mark.parametrize("content_type, content", [
    ("application/pdf", PDF), ("image/png", PNG), ("image/jpeg", JPEG),
    ("text/plain; charset=utf-8", "合同第三条约定“不授权全额退款”。".encode()),
    ("text/plain", "收据编号 0042".encode("gb18030"))], ids=["pdf", "png", "jpeg", "utf-8", "gb18030"])
async def test_accepted_attachments_are_named_by_their_sha256(api, complaints, content_type, content):
    content = content + uid().encode()
    answer = await api.UploadAttachment(pb.UploadAttachmentRequest(
        filename="证据.bin", content_type=content_type, content=content), metadata=PUBLIC)
    assert answer.attachment_id == hashlib.sha256(content).hexdigest()
    assert answer.size_bytes == len(content)
    [kept] = await rows(complaints, store.Attachment, store.Attachment.id == answer.attachment_id)
    assert kept.content == content and kept.content_type == content_type.split(";")[0]


async def test_the_same_content_twice_is_stored_once(api, complaints):
    content = PDF + uid().encode()
    first = await api.UploadAttachment(pb.UploadAttachmentRequest(
        filename="a.pdf", content_type="application/pdf", content=content), metadata=CITIZEN)
    second = await api.UploadAttachment(pb.UploadAttachmentRequest(
        filename="copy of a.pdf", content_type="application/pdf", content=content), metadata=HANDLER)
    assert first == second
    assert len(await rows(complaints, store.Attachment, store.Attachment.id == first.attachment_id)) == 1


async def test_an_attachment_of_the_largest_size_is_accepted(api):
    content = PDF + b"0" * (domain.MAX_ATTACHMENT_BYTES - len(PDF))
    answer = await api.UploadAttachment(pb.UploadAttachmentRequest(
        filename="big.pdf", content_type="application/pdf", content=content), metadata=PUBLIC)
    assert answer.size_bytes == domain.MAX_ATTACHMENT_BYTES


@pytest.mark.parametrize("fields, bad", [
    (dict(content_type="image/gif", content=b"GIF89a" + bytes(10)), {"content_type"}),
    (dict(content_type="application/pdf", content=PNG), {"content"}),
    (dict(content_type="image/png", content=PDF), {"content"}),
    (dict(content_type="text/plain", content=PDF), {"content"}),
    (dict(content_type="text/plain", content=b"\x00\x01binary\xff\xfe"), {"content"}),
    (dict(content_type="application/pdf", content=b""), {"content"}),
    (dict(content_type="application/pdf", content=PDF + b"0" * (domain.MAX_ATTACHMENT_BYTES - len(PDF) + 1)),
     {"content"}),
    (dict(filename="", content_type="", content=PDF), {"filename", "content_type"}),
], ids=["gif", "png-as-pdf", "pdf-as-png", "pdf-as-text", "binary-as-text", "empty", "too-large", "unnamed"])
async def test_attachments_refused_by_type_size_and_content(api, complaints, fields, bad):
    request = pb.UploadAttachmentRequest(filename="x.pdf")
    for name, value in fields.items():
        setattr(request, name, value)
    async with nothing_stored_changes(complaints):
        await invalid(api.UploadAttachment(request, metadata=PUBLIC), *bad)


async def test_attachments_are_not_for_administrators(api, complaints):
    async with nothing_stored_changes(complaints):
        await refused(api.UploadAttachment(pb.UploadAttachmentRequest(
            filename="a.pdf", content_type="application/pdf", content=PDF), metadata=metadata("admin")),
            Code.PERMISSION_DENIED)


# ---- filing: sources, reporters, the new case and its workflow ----------------------------------

async def test_an_anonymous_public_report_opens_a_case_and_starts_its_workflow(api, registry_api, complaints):
    agency = await new_agency(registry_api)
    attachment = await api.UploadAttachment(pb.UploadAttachmentRequest(
        filename="广告截图.png", content_type="image/png", content=PNG + uid().encode()), metadata=PUBLIC)
    answer = await file(api, report(agency, attachment_ids=[attachment.attachment_id]), PUBLIC)

    # An anonymous public filing is told no case (nor whether it joined one): a probe learns nothing.
    assert (answer.case_id, answer.joined_existing_case) == ("", False)
    case_id = await case_of(complaints, answer)
    province = agency.region_code[:2] + "0000"
    assert case_id.startswith(f"case-{clock.today().year}-{province}-")
    assert len(case_id.rsplit("-", 1)[1]) == 6
    assert len(answer.tracking_code) == 11 and set(answer.tracking_code) <= set(domain.TRACKING_ALPHABET + "-")
    assert len(answer.tracking_secret) == 19 and set(answer.tracking_secret) <= set(domain.TRACKING_ALPHABET + "-")

    [case] = await rows(complaints, store.Case, store.Case.id == case_id)
    assert (case.stage, case.status, case.region_code, case.agency_id, case.source, case.category) == (
        "verification", "received", agency.region_code, agency.id, "public", "false_advertising")
    assert case.received_on == clock.today() and case.reporter_count == 1
    [reporter] = await rows(complaints, store.Reporter, store.Reporter.case_id == case.id)
    opened = complaints.store.identities.open(reporter.reference, reporter.real_name, reporter.identity)
    assert not reporter.real_name and (opened.name, opened.phone, opened.resident_id) == ("", "", "")
    [kept] = await rows(complaints, store.Report, store.Report.case_id == case.id)
    assert kept.secret_sha256 == hashlib.sha256(answer.tracking_secret.encode()).hexdigest()
    assert answer.tracking_secret not in str(await checks.stored(complaints.store.engine, store.Base.metadata))

    described = await describe(complaints, case_id)
    assert described.status == WorkflowExecutionStatus.RUNNING
    assert described.workflow_type == "Case"
    attributes = described.typed_search_attributes
    assert (attributes.get(search_attributes.CASE_STAGE), attributes.get(search_attributes.CASE_STATUS), attributes.get(search_attributes.REGION_CODE),
            attributes.get(search_attributes.AGENCY_CREDIT_CODE), attributes.get(search_attributes.VIOLATION_CATEGORY)) == (
        "verification", "received", agency.region_code, agency.credit_code, "false_advertising")
    start = await workflow_input(complaints, case_id)
    assert start["case_id"] == case_id and start["region_code"] == agency.region_code
    assert start["agency"]["agency_id"] == agency.id and start["agency"]["kind"] == "patent"
    assert start["rules_version"] == case.rules_version != ""
    assert start["reporters"] == [{"reference": reporter.reference, "real_name": False}]


async def test_a_real_name_reporter_is_known_only_to_this_service(api, registry_api, complaints):
    agency = await new_agency(registry_api)
    who = real_name(organisation="某某科技有限公司", email="report@example.com")
    answer = await file(api, report(agency, who))

    [reporter] = await rows(complaints, store.Reporter, store.Reporter.case_id == answer.case_id)
    # Sealed at rest: the row shows none of it; the key the service holds opens it.
    stored = str(await checks.stored(complaints.store.engine, store.Base.metadata))
    assert not [value for value in (who.name, who.phone, who.resident_id, who.organisation, who.email)
                if value in stored]
    opened = complaints.store.identities.open(reporter.reference, reporter.real_name, reporter.identity)
    assert (opened.real_name, opened.name, opened.phone, opened.resident_id, opened.organisation, opened.email) == (
        True, who.name, who.phone, who.resident_id, who.organisation, who.email)
    assert reporter.reference.startswith("rp-")
    history = await complaints.temporal.get_workflow_handle(answer.case_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    payload = started.input.payloads[0].data.decode()
    assert reporter.reference in payload
    for identity in (who.name, who.phone, who.resident_id, who.organisation, who.email):
        assert identity not in payload


@pytest.mark.parametrize("role, source", [
    ("handler", pb.REPORT_SOURCE_DEPARTMENT_TRANSFER), ("supervisor", pb.REPORT_SOURCE_HIGHER_OFFICE),
    ("handler", pb.REPORT_SOURCE_HIGHER_OFFICE), ("inspector", pb.REPORT_SOURCE_INSPECTION),
    ("operator", pb.REPORT_SOURCE_INSPECTION), ("association", pb.REPORT_SOURCE_ASSOCIATION)])
async def test_staff_inspections_and_associations_file_their_own_sources(api, registry_api, complaints, role,
                                                                         source):
    agency = await new_agency(registry_api)
    answer = await file(api, report(agency, None, source=source, source_reference=f"国知办函〔2026〕{uid()}号"),
                        metadata(role))
    [case] = await rows(complaints, store.Case, store.Case.id == answer.case_id)
    assert case.source == enum_word(pb.ReportSource.DESCRIPTOR, source)
    assert case.reporter_count == 0 and case.source_reference.startswith("国知办函")
    assert answer.tracking_code and answer.tracking_secret


@pytest.mark.parametrize("role, source", [
    ("citizen", pb.REPORT_SOURCE_DEPARTMENT_TRANSFER), ("public", pb.REPORT_SOURCE_INSPECTION),
    ("handler", pb.REPORT_SOURCE_PUBLIC), ("inspector", pb.REPORT_SOURCE_ASSOCIATION),
    ("association", pb.REPORT_SOURCE_HIGHER_OFFICE), ("operator", pb.REPORT_SOURCE_PUBLIC)])
async def test_a_source_outside_the_callers_role_is_denied(api, registry_api, complaints, role, source):
    agency = await new_agency(registry_api)
    async with nothing_stored_changes(complaints):
        await refused(file(api, report(agency, source=source, source_reference="ref-1"), metadata(role)),
                      Code.PERMISSION_DENIED)


async def test_administrators_file_no_reports(api, registry_api, complaints):
    agency = await new_agency(registry_api)
    async with nothing_stored_changes(complaints):
        await refused(file(api, report(agency), metadata("admin")), Code.PERMISSION_DENIED)


async def test_the_agency_is_found_by_licence_number_or_exact_name(api, registry_api, complaints):
    agency = await new_agency(registry_api)
    by_licence = await file(api, report(agency, agency=pb.ReportedAgency(licence_number=agency.licence_number),
                                        category=pb.VIOLATION_CATEGORY_CERTIFICATE_LENDING))
    by_name = await file(api, report(agency, agency=pb.ReportedAgency(name=agency.name),
                                     category=pb.VIOLATION_CATEGORY_CLIENT_SECRET_LEAK))
    unknown_code_known_name = await file(api, report(
        agency, agency=pb.ReportedAgency(credit_code=testdata.credit_code(), name=agency.name),
        category=pb.VIOLATION_CATEGORY_IMPROPER_SOLICITATION))
    for answer in (by_licence, by_name, unknown_code_known_name):
        [case] = await rows(complaints, store.Case, store.Case.id == await case_of(complaints, answer))
        assert (case.agency_id, case.agency_name, case.agency_credit_code) == (
            agency.id, agency.name, agency.credit_code)


async def test_a_report_on_an_agency_the_registry_does_not_know_is_invalid(api, registry_api, complaints):
    agency = await new_agency(registry_api)
    async with nothing_stored_changes(complaints):
        await invalid(file(api, report(agency, agency=pb.ReportedAgency(
            credit_code=testdata.credit_code()))), "agency")
        await invalid(file(api, report(agency, agency=pb.ReportedAgency(licence_number="NO-SUCH-1"))), "agency")
        await invalid(file(api, report(agency, agency=pb.ReportedAgency(name=agency.name[:-2]))), "agency")


async def test_two_agencies_of_the_same_name_need_a_better_identifier(api, registry_api, complaints):
    name = f"同名{uid()}代理事务所"
    await new_agency(registry_api, name=name)
    agency = await new_agency(registry_api, name=name)
    async with nothing_stored_changes(complaints):
        await invalid(file(api, report(agency, agency=pb.ReportedAgency(name=name))), "agency.name")


@pytest.mark.parametrize("reporter, source_reference, bad", [
    (None, "", {"reporter"}),
    (pb.Reporter(real_name=False, name="王五", phone="13912345678"), "", {"reporter.name", "reporter.phone"}),
    (pb.Reporter(real_name=False, email="x@example.com"), "", {"reporter.email"}),
    (pb.Reporter(real_name=True), "", {"reporter.name", "reporter.phone", "reporter.resident_id"}),
    (pb.Reporter(real_name=True, name="王五"), "", {"reporter.phone", "reporter.resident_id"}),
    (pb.Reporter(real_name=True, phone="13912345678"), "", {"reporter.name"}),
    (pb.Reporter(real_name=True, name="王五", phone="12345"), "", {"reporter.phone"}),
    (pb.Reporter(real_name=True, name="王五", resident_id="110108199001011234"), "", {"reporter.resident_id"}),
    (ANONYMOUS, "ref-7", {"source_reference"}),
])
async def test_what_a_public_reporter_must_and_must_not_give(api, registry_api, complaints, reporter,
                                                            source_reference, bad):
    agency = await new_agency(registry_api)
    async with nothing_stored_changes(complaints):
        await invalid(file(api, report(agency, reporter, source_reference=source_reference)), *bad)


async def test_staff_reports_name_their_source_document(api, registry_api, complaints):
    agency = await new_agency(registry_api)
    async with nothing_stored_changes(complaints):
        await invalid(file(api, report(agency, None, source=pb.REPORT_SOURCE_DEPARTMENT_TRANSFER), HANDLER),
                      "source_reference")
        await invalid(file(api, report(agency, None, source=pb.REPORT_SOURCE_INSPECTION), OPERATOR),
                      "source_reference")


async def test_file_report_names_every_bad_field(api, registry_api, complaints):
    agency = await new_agency(registry_api)
    async with nothing_stored_changes(complaints):
        await invalid(file(api, pb.FileReportRequest()), "idempotency_key", "source", "category", "description")
        nobody = report(agency)
        nobody.ClearField("agency")
        error = await refused(file(api, nobody), Code.INVALID_ARGUMENT)
        assert checks.field_reasons(error) == {"agency": "REPORT_SUBJECT_REQUIRED"}
        await invalid(file(api, report(agency, idempotency_key="short", description="太短", occurred_on="2026-02-30",
                                       agency=pb.ReportedAgency(credit_code="91110000ABCDEFGH12"),
                                       attachment_ids=["x"] * 21)),
                      "idempotency_key", "description", "occurred_on", "agency.credit_code", "attachment_ids")
        await invalid(file(api, report(agency, occurred_on=day(1))), "occurred_on")
        await invalid(file(api, report(agency, attachment_ids=["not-an-id", "A" * 64])),
                      "attachment_ids[0]", "attachment_ids[1]")
        await invalid(file(api, report(agency, attachment_ids=[hashlib.sha256(uid().encode()).hexdigest()])),
                      "attachment_ids[0]")


# ---- idempotency and concurrency -------------------------------------------------------------------

async def test_a_retried_filing_files_once_and_starts_one_workflow(api, registry_api, complaints):
    agency = await new_agency(registry_api)
    request = report(agency, real_name())
    first = await file(api, request)
    run_id = (await describe(complaints, first.case_id)).run_id
    again = await file(api, request)

    assert again == first  # the same case, tracking code and secret
    assert len(await rows(complaints, store.Report, store.Report.case_id == first.case_id)) == 1
    assert len(await rows(complaints, store.Reporter, store.Reporter.case_id == first.case_id)) == 1
    assert len(await rows(complaints, store.Case, store.Case.agency_id == agency.id)) == 1
    assert (await describe(complaints, first.case_id)).run_id == run_id

    changed = pb.FileReportRequest()
    changed.CopyFrom(request)
    changed.description += "（补充）"
    async with nothing_stored_changes(complaints):
        await invalid(file(api, changed), "idempotency_key")


async def test_an_anonymous_callers_key_replays_only_the_identical_request(api, registry_api, complaints):
    """The public shares one identity ("anonymous"): its keys are scoped by the request's digest,
    so a key guessed or seen in another's request neither replays that filer's tracking code and
    secret nor says the key was taken (issue 15 item 7); the identical request still files once."""
    agency = await new_agency(registry_api)
    mine = report(agency, real_name())
    first = await file(api, mine, PUBLIC)
    assert await file(api, mine, PUBLIC) == first  # a retry of the same bytes: the first answer

    guessed = report(agency, ANONYMOUS, idempotency_key=mine.idempotency_key,
                     category=pb.VIOLATION_CATEGORY_CERTIFICATE_LENDING)
    theirs = await file(api, guessed, PUBLIC)  # another caller's request with the same key: its own filing
    assert theirs.tracking_code != first.tracking_code and theirs.tracking_secret != first.tracking_secret
    assert await file(api, guessed, PUBLIC) == theirs
    case_id = await case_of(complaints, theirs)
    assert case_id != first.case_id
    assert len(await rows(complaints, store.Report, store.Report.tracking_code.in_(
        [first.tracking_code, theirs.tracking_code]))) == 2
    keys = await rows(complaints, store.IdempotencyRecord, store.IdempotencyRecord.key == mine.idempotency_key)
    assert sorted(k.caller for k in keys) == sorted(f"anonymous:{k.request_sha256}" for k in keys) and len(keys) == 2

    # A caller with a token keeps its own key space: another request under its key is refused.
    signed = report(agency, real_name())
    await file(api, signed)
    changed = pb.FileReportRequest()
    changed.CopyFrom(signed)
    changed.description += "（补充）"
    await invalid(file(api, changed), "idempotency_key")


async def test_uploads_no_case_references_are_deleted_a_day_after_they_were_uploaded(
        api, registry_api, complaints, monkeypatch):
    """Issue 15 item 7: the sweep (a periodic task of the service) deletes an upload no report or
    evidence references once a day has passed since it was uploaded (again); a referenced one stays."""
    from services.complaints.uploads import UploadSweeper

    async def upload(content: bytes) -> str:
        return (await api.UploadAttachment(pb.UploadAttachmentRequest(
            filename="截图.png", content_type="image/png", content=content), metadata=PUBLIC)).attachment_id

    async def kept(*ids: str) -> set[str]:
        return {a.id for a in await rows(complaints, store.Attachment, store.Attachment.id.in_(ids))}

    real_now = clock.now()
    shifted = [real_now]
    monkeypatch.setattr(clock, "now", lambda: shifted[0])
    stray, again = await upload(PNG + uid().encode()), PNG + uid().encode()
    await upload(again)
    evidence = await upload(PNG + uid().encode())
    await file(api, report(await new_agency(registry_api), real_name(), attachment_ids=[evidence]))
    sweeper = UploadSweeper(complaints.store)

    shifted[0] = real_now + timedelta(hours=23)
    await upload(again)  # the same content uploaded again: its day starts anew
    await sweeper.sweep()
    assert await kept(stray, evidence, domain.content_address(again)) == {
        stray, evidence, domain.content_address(again)}  # none a day old yet

    shifted[0] = real_now + timedelta(days=1, minutes=1)
    assert await sweeper.sweep() >= 1
    assert await kept(stray, evidence, domain.content_address(again)) == {evidence, domain.content_address(again)}
    shifted[0] = real_now + timedelta(days=2)
    await sweeper.sweep()
    assert await kept(stray, evidence, domain.content_address(again)) == {evidence}  # referenced: it stays


async def test_a_caller_over_its_upload_quota_is_told_when_to_try_again(api, complaints, monkeypatch):
    """Issue 15 item 7: uploads are counted per caller (a token's subject; the public by its
    address) in the last hour; one more than the quota is RESOURCE_EXHAUSTED with RetryInfo, and
    another caller's quota is its own."""
    from google.rpc import error_details_pb2, status_pb2

    monkeypatch.setitem(domain.UPLOAD_QUOTAS, "public", domain.UploadQuota(uploads=2, bytes=2**20))
    monkeypatch.setitem(domain.UPLOAD_QUOTAS, "citizen", domain.UploadQuota(uploads=1, bytes=2**20))
    real_now = clock.now()
    shifted = [real_now + timedelta(days=30)]  # a window of its own: no other test's uploads in it
    monkeypatch.setattr(clock, "now", lambda: shifted[0])

    def upload(caller, content: bytes = b""):
        return api.UploadAttachment(pb.UploadAttachmentRequest(
            filename="截图.png", content_type="image/png", content=content or PNG + uid().encode()), metadata=caller)

    who = metadata("citizen", subject=f"citizen-{uid()}")
    await upload(who)
    with pytest.raises(grpc.aio.AioRpcError) as refused_upload:
        await upload(who)
    assert refused_upload.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = status_pb2.Status.FromString(dict(refused_upload.value.trailing_metadata())["grpc-status-details-bin"])
    details = {d.type_url.rsplit("/", 1)[1]: d for d in status.details}
    retry = error_details_pb2.RetryInfo()
    details["google.rpc.RetryInfo"].Unpack(retry)
    assert 3590 <= retry.retry_delay.seconds <= 3600
    info = error_details_pb2.ErrorInfo()
    details["google.rpc.ErrorInfo"].Unpack(info)
    assert (info.reason, info.metadata["uploads"]) == ("UPLOAD_QUOTA_EXCEEDED", "1")
    await upload(metadata("citizen", subject=f"citizen-{uid()}"))  # another caller: its own quota

    await upload(PUBLIC)
    with pytest.raises(grpc.aio.AioRpcError) as too_big:
        await upload(PUBLIC, PNG + b"x" * 2**20)  # the bytes, not only the count
    assert too_big.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # The console, a trusted front end on loopback, names each visitor's own address: its own quota.
    visitor = (("x-ipss-client-address", f"203.0.113.{uuid.uuid4().int % 250 + 1}"),)
    await upload(visitor)
    await upload(visitor)
    with pytest.raises(grpc.aio.AioRpcError):
        await upload(visitor)
    assert domain.upload_caller("public", "anonymous", "ipv4:198.51.100.9:4242", "203.0.113.1",
                                frozenset({"127.0.0.1"})) == "peer:198.51.100.9"  # not trusted: ignored
    assert domain.upload_caller("public", "anonymous", "ipv6:[::1]:4242", "", frozenset()) == "peer:::1"
    shifted[0] += timedelta(minutes=61)  # the window moved on
    await upload(PUBLIC)
    await upload(who)


async def test_a_report_filed_while_temporal_is_away_answers_and_its_case_starts_later(
        api, registry, registry_api, complaints, monkeypatch):
    """A replica that cannot reach Temporal still commits the report and answers with the tracking
    code; the case's start waits in the workflow outbox, and a replica that reaches Temporal
    sends it (here its relay; a retry of the request would too)."""
    agency = await new_agency(registry_api)
    request = report(agency, real_name())
    async with replica_without_temporal(complaints, registry, monkeypatch) as broken:
        answer = await broken.FileReport(request, metadata=CITIZEN)
    assert answer.tracking_code and answer.tracking_secret and not answer.joined_existing_case
    [case] = await rows(complaints, store.Case, store.Case.agency_id == agency.id)
    assert case.id == answer.case_id
    [waiting] = await rows(complaints, store.WorkflowOutbox, store.WorkflowOutbox.workflow_id == case.id)
    assert waiting.sent_at is None and waiting.attempts >= 1 and waiting.last_error
    with pytest.raises(RPCError):
        await describe(complaints, case.id)

    async def sent():
        return [m for m in await rows(complaints, store.WorkflowOutbox, store.WorkflowOutbox.workflow_id == case.id)
                if m.sent_at is not None]
    assert len(await eventually(sent)) == 1
    assert (await describe(complaints, case.id)).status == WorkflowExecutionStatus.RUNNING
    again = await file(api, request)
    assert (again.case_id, again.tracking_code, again.tracking_secret) == (
        answer.case_id, answer.tracking_code, answer.tracking_secret)
    assert len(await rows(complaints, store.Report, store.Report.case_id == case.id)) == 1


async def test_concurrent_filings_in_a_province_get_consecutive_case_numbers(api, registry_api, complaints):
    agencies = [await new_agency(registry_api, new_county("32")) for _ in range(6)]
    answers = await asyncio.gather(*(file(api, report(a)) for a in agencies))
    case_ids = [await case_of(complaints, a) for a in answers]
    numbers = sorted(int(c.rsplit("-", 1)[1]) for c in case_ids)
    assert numbers == list(range(numbers[0], numbers[0] + 6))
    assert all(c.startswith(f"case-{clock.today().year}-320000-") for c in case_ids)


async def test_concurrent_reports_on_the_same_conduct_make_one_case(api, registry_api, complaints):
    agency = await new_agency(registry_api)
    results = await asyncio.gather(*(file(api, report(agency, None, source=pb.REPORT_SOURCE_INSPECTION,
                                                      source_reference=f"检查任务-{i}"), OPERATOR)
                                     for i in range(5)))
    assert len({r.case_id for r in results}) == 1
    assert sorted(r.joined_existing_case for r in results) == [False, True, True, True, True]
    assert len(await rows(complaints, store.Case, store.Case.agency_id == agency.id)) == 1


# ---- duplicates (并案) -----------------------------------------------------------------------------

async def test_a_report_on_the_same_conduct_joins_the_open_case(api, registry_api, complaints):
    """Joining tells the running workflow through its `join` signal, sent from the workflow outbox:
    it reaches the workflow's history with no worker running, and a retry replays the same answer
    and signals nothing twice."""
    agency = await new_agency(registry_api)
    first = await file(api, report(agency, real_name()))
    request = report(agency, real_name(), agency=pb.ReportedAgency(name=agency.name))
    joined_answer = await file(api, request)
    assert joined_answer == await file(api, request)
    assert joined_answer.joined_existing_case and joined_answer.case_id == first.case_id

    [case] = await rows(complaints, store.Case, store.Case.agency_id == agency.id)
    assert case.id == first.case_id and case.reporter_count == 2
    reports = await rows(complaints, store.Report, store.Report.case_id == case.id)
    assert [r.joined_existing_case for r in sorted(reports, key=lambda r: r.id)] == [False, True]
    joined = max(reports, key=lambda r: r.id)
    [kept] = await rows(complaints, store.IdempotencyRecord, store.IdempotencyRecord.key == request.idempotency_key)
    replay = pb.FileReportResponse.FromString(kept.response)
    assert (replay.case_id, replay.tracking_code, replay.joined_existing_case) == (
        case.id, joined.tracking_code, True)
    assert replay.tracking_secret == ""  # the secret is derived again, never kept
    messages = await rows(complaints, store.ReporterMessage, store.ReporterMessage.report_id == joined.id)
    assert [m.notice_key for m in messages] == [domain.JOINED_NOTICE_KEY]
    outbox = await rows(complaints, store.WorkflowOutbox, store.WorkflowOutbox.workflow_id == case.id)
    assert [(m.kind, m.sent_at is not None) for m in sorted(outbox, key=lambda m: m.id)] == [
        ("start", True), ("signal", True)]
    history = await complaints.temporal.get_workflow_handle(case.id).fetch_history()
    signals = [e.workflow_execution_signaled_event_attributes.signal_name for e in history.events
               if e.HasField("workflow_execution_signaled_event_attributes")]
    assert signals == ["join"]


async def test_another_category_or_a_closed_case_opens_a_new_case(api, registry_api, complaints):
    agency = await new_agency(registry_api)
    first = await file(api, report(agency, None, source=pb.REPORT_SOURCE_INSPECTION, source_reference="T-1"),
                       OPERATOR)
    other = await file(api, report(agency, None, source=pb.REPORT_SOURCE_INSPECTION, source_reference="T-2",
                                   category=pb.VIOLATION_CATEGORY_UNLICENSED_PRACTICE), OPERATOR)
    assert other.case_id != first.case_id and not other.joined_existing_case

    async with complaints.store.sessions() as session, session.begin():
        (await session.get(store.Case, first.case_id)).stage = "closed"
    again = await file(api, report(agency, None, source=pb.REPORT_SOURCE_INSPECTION, source_reference="T-3"),
                       OPERATOR)
    assert again.case_id not in (first.case_id, other.case_id) and not again.joined_existing_case


async def test_a_report_after_the_duplicate_window_opens_a_new_case(api, registry_api, complaints):
    agency = await new_agency(registry_api)
    first = await file(api, report(agency, None, source=pb.REPORT_SOURCE_INSPECTION, source_reference="T-1"),
                       OPERATOR)
    window = complaints_rules().duplicate_window
    async with complaints.store.sessions() as session, session.begin():
        case = await session.get(store.Case, first.case_id)
        case.received_on = clock.today() - timedelta(days=window.length + 1)
    later = await file(api, report(agency, None, source=pb.REPORT_SOURCE_INSPECTION, source_reference="T-2"),
                       OPERATOR)
    assert later.case_id != first.case_id and not later.joined_existing_case

    async with complaints.store.sessions() as session, session.begin():
        case = await session.get(store.Case, later.case_id)
        case.received_on = clock.today() - timedelta(days=window.length)
    last_day = await file(api, report(agency, None, source=pb.REPORT_SOURCE_INSPECTION, source_reference="T-3"),
                          OPERATOR)
    assert last_day.case_id == later.case_id and last_day.joined_existing_case


def complaints_rules() -> domain.IntakeRules:
    from services.complaints.server import intake_rules
    return intake_rules()


# ---- the reporter's status page ---------------------------------------------------------------------

async def test_the_status_page_shows_public_progress_and_no_internal_notes(api, registry_api, complaints):
    agency = await new_agency(registry_api)
    who = real_name()
    answer = await file(api, report(agency, who))

    def progress(revision: int, *entries: pb.TimelineEntry) -> pb.RecordCaseProgressRequest:
        return pb.RecordCaseProgressRequest(
            case_id=answer.case_id, revision=revision,
            summary=pb.CaseSummary(case_id=answer.case_id, stage=pb.CASE_STAGE_INVESTIGATION, status="opened",
                                   region_code=agency.region_code, next_deadline=day(60),
                                   next_deadline_period="decide_ordinary_case"), new_entries=entries)
    # An entry recorded in words, before entries had data; then entries as the workflow writes them now.
    await api.RecordCaseProgress(progress(1, pb.TimelineEntry(
        revision=1, actor="system", action="received", detail="收到举报 report received", internal=False)),
        metadata=MACHINE)
    await api.RecordCaseProgress(progress(
        2, pb.TimelineEntry(revision=2, actor="handler-li", action="opened", data={"on": day(0)}, internal=False),
        pb.TimelineEntry(revision=2, actor="handler-li", action="verification_recorded",
                         data={"reason": "内部：举报人曾在该机构任职"}, internal=True)), metadata=MACHINE)
    await api.NotifyReporters(pb.NotifyReportersRequest(case_id=answer.case_id, notice_key="opening-decision",
                                                        code="opened", real_name_only=True), metadata=MACHINE)

    for code, secret in ((answer.tracking_code, answer.tracking_secret),
                         (answer.tracking_code.lower().replace("-", ""), " " + answer.tracking_secret.lower())):
        status = await api.GetReportStatus(pb.GetReportStatusRequest(tracking_code=code, tracking_secret=secret),
                                           metadata=PUBLIC)
        assert status.stage == pb.CASE_STAGE_INVESTIGATION and status.stage_label == "已立案，调查取证中"
        assert (status.next_deadline, status.agency_name, status.category, status.filed_on) == (
            day(60), agency.name, pb.VIOLATION_CATEGORY_FALSE_ADVERTISING, clock.today().isoformat())
        assert [(m.action, m.notice, dict(m.data), m.text) for m in status.messages] == [
            ("", "", {}, "收到举报 report received"), ("opened", "", {"on": day(0)}, f"{day(0)} 立案调查"),
            ("", "opened", {}, "您举报的问题已立案调查")]
        shown = str(status)
        for hidden in ("内部", "handler-li", who.name, who.phone, who.resident_id):
            assert hidden not in shown


async def test_a_wrong_code_or_secret_is_not_found_without_saying_which(api, registry_api, complaints):
    agency = await new_agency(registry_api)
    answer = await file(api, report(agency))
    other = await file(api, report(agency, category=pb.VIOLATION_CATEGORY_LOW_PRICE_COMPETITION))
    wrong_pairs = [(answer.tracking_code, other.tracking_secret), (other.tracking_code, answer.tracking_secret),
                   ("ZZZZZ-ZZZZZ", answer.tracking_secret), (answer.tracking_code, "2222-2222-2222-2222")]
    messages = set()
    for code, secret in wrong_pairs:
        error = await refused(api.GetReportStatus(pb.GetReportStatusRequest(
            tracking_code=code, tracking_secret=secret), metadata=PUBLIC), Code.NOT_FOUND)
        messages.add(error.details())
    assert len(messages) == 1 and answer.tracking_code not in messages.pop()
    await invalid(api.GetReportStatus(pb.GetReportStatusRequest(), metadata=PUBLIC),
                  "tracking_code", "tracking_secret")


# ---- logs ---------------------------------------------------------------------------------------------

async def test_no_log_line_carries_a_reporters_identity(api, registry_api, complaints, caplog):
    agency = await new_agency(registry_api)
    who = real_name(organisation=f"举报单位{uid()}", email=f"{uid()}@example.com")
    caplog.set_level(logging.INFO)  # the service's level (IPSS_LOG_LEVEL); drivers' DEBUG lines stay off
    with structlog.testing.capture_logs() as captured:
        answer = await file(api, report(agency, who))
        await refused(file(api, report(agency, pb.Reporter(real_name=False, name=who.name, phone=who.phone))),
                      Code.INVALID_ARGUMENT)
        await api.GetCase(pb.GetCaseRequest(case_id=answer.case_id), metadata=HANDLER)
    assert any(line.get("event") == "report filed" and line.get("case_id") == answer.case_id for line in captured)
    assert any(line.get("event") == "rpc" and line.get("code") == "INVALID_ARGUMENT" for line in captured)
    written = json.dumps(captured, ensure_ascii=False, default=str) + caplog.text
    for identity in (who.name, who.phone, who.resident_id, who.organisation, who.email):
        assert identity not in written


# ---- with the suite's worker ------------------------------------------------------------------------

async def test_with_a_worker_a_joining_reporter_reaches_the_case_workflow(registry, registry_api, complaints):
    """End to end: a replica of the service starting workflows on its own task queue, and the
    suite's worker on that queue writing the record back through RecordCaseProgress."""
    from contracts.case import CaseView, STATE_QUERY

    agency = await new_agency(registry_api)
    async with replica_with_worker(registry, complaints, f"complaints-join-{uid()}") as (_, api):
        first = await file(api, report(agency, real_name()))
        joined = await file(api, report(agency, real_name(), agency=pb.ReportedAgency(name=agency.name)))
        assert joined.case_id == first.case_id and joined.joined_existing_case
        again = await file(api, report(agency, ANONYMOUS, category=pb.VIOLATION_CATEGORY_FALSE_ADVERTISING))
        assert (again.case_id, again.joined_existing_case) == ("", False)  # an anonymous filing is told neither
        assert await case_of(complaints, again) == first.case_id

        view = await complaints.temporal.get_workflow_handle(first.case_id).query(
            STATE_QUERY, result_type=CaseView)
        assert view.reporter_count == 3
        case = (await api.GetCase(pb.GetCaseRequest(case_id=first.case_id), metadata=HANDLER)).case
        assert case.summary.reporter_count == 3 and case.summary.next_deadline
        assert [e.action for e in case.timeline].count("reporter_joined") == 2
