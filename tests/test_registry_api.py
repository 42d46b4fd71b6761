"""The registry service (ipss.registry.v1.RegistryService) over loopback gRPC, once on SQLite and
once on PostgreSQL: every RPC's happy path; every refusal with the status and the fields the API
promises, and with nothing stored changed; region scopes, roles and tokens; idempotent retries.

The server and its database are shared by the whole session, so every test makes its own
agencies and practitioners with unique credit codes, identity numbers and names."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta, timezone

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy import func, select

from ipss.options.v1 import options_pb2
from ipss.registry.v1 import registry_pb2 as pb
from ipss.registry.v1 import registry_pb2_grpc as pb_grpc
from services.registry import domain, store
from suite import auth, clock, config, testdata
from suite.protos import enum_value
from tests import grpc_checks as checks
from tests.conftest import metadata
from tests.grpc_checks import invalid, refused

SERVICE = pb.DESCRIPTOR.services_by_name["RegistryService"]
Code = grpc.StatusCode
BEIJING, SHANGHAI = "110000", "310000"
GRADING = domain.GradingRules.load()


# ---- unique, valid identifiers ---------------------------------------------------------------

def uid() -> str:
    return uuid.uuid4().hex[:12]


def key() -> str:
    return f"key-{uuid.uuid4().hex}"


def today() -> date:
    return clock.today()


def day(offset: int) -> str:
    return (today() + timedelta(days=offset)).isoformat()


# ---- requests ---------------------------------------------------------------------------------

def agency_request(region_code: str = "110108", **fields) -> pb.CreateAgencyRequest:
    values = dict(
        idempotency_key=key(), name=f"测试{uid()}知识产权代理有限公司", kind=pb.AGENCY_KIND_PATENT,
        credit_code=testdata.credit_code(region_code[:2] + "0000"), licence_number=f"{uid().upper()}-11",
        region_code=region_code, legal_form=pb.LEGAL_FORM_LIMITED_COMPANY, legal_representative="王建国",
        address="北京市海淀区知春路1号" + uid(), phone="010-62345678", established_on="2015-06-01")
    values.update(fields)
    return pb.CreateAgencyRequest(**values)


def practitioner_request(**fields) -> pb.RegisterPractitionerRequest:
    values = dict(idempotency_key=key(), name=f"李{uid()}", kind=pb.PRACTITIONER_KIND_PATENT_ATTORNEY,
                  resident_id=testdata.resident_id(), phone="13912345678", certificate_number=f"C{uid().upper()}1",
                  qualified_on="2012-11-20")
    values.update(fields)
    return pb.RegisterPractitionerRequest(**values)


def suspension(agency_id: str, effective_on: str, until: str, **fields) -> pb.ChangeAgencyStatusRequest:
    return pb.ChangeAgencyStatusRequest(
        idempotency_key=key(), agency_id=agency_id, to_status=pb.AGENCY_STATUS_SUSPENDED, effective_on=effective_on,
        suspended_until=until, reason="停止承接新业务 six months", decision_reference="case-2026-110000-000123",
        **fields)


def status_change(agency_id: str, to_status: int, effective_on: str, **fields) -> pb.ChangeAgencyStatusRequest:
    return pb.ChangeAgencyStatusRequest(idempotency_key=key(), agency_id=agency_id, to_status=to_status,
                                        effective_on=effective_on, reason="decision", **fields)


def credit_event(occurred_on: str, publicity_ends_on: str, kind: int = pb.CREDIT_EVENT_KIND_FINE,
                 **fields) -> pb.RecordCreditEventRequest:
    values = dict(idempotency_key=key(), kind=kind, source=pb.CREDIT_EVENT_SOURCE_CASE,
                  source_reference=f"case-{uid()}", occurred_on=occurred_on, publicity_ends_on=publicity_ends_on,
                  summary=f"penalty {uid()}")
    values.update(fields)
    return pb.RecordCreditEventRequest(**values)


# ---- the caller side --------------------------------------------------------------------------

OPERATOR = metadata("operator")


@pytest.fixture
def api(registry) -> pb_grpc.RegistryServiceStub:
    return pb_grpc.RegistryServiceStub(registry.channel)


async def create_agency(api, request: pb.CreateAgencyRequest | None = None, **fields) -> pb.Agency:
    return (await api.CreateAgency(request or agency_request(**fields), metadata=OPERATOR)).agency


async def register(api, **fields) -> pb.Practitioner:
    return (await api.RegisterPractitioner(practitioner_request(**fields), metadata=OPERATOR)).practitioner


async def file_practice(api, practitioner_id: str, agency_id: str, started_on: str, transfer: bool = False
                        ) -> pb.Practitioner:
    return (await api.FilePractice(pb.FilePracticeRequest(
        idempotency_key=key(), practitioner_id=practitioner_id, agency_id=agency_id, filing_number=f"F{uid()}",
        started_on=started_on, transfer=transfer), metadata=OPERATOR)).practitioner


def nothing_stored_changes(registry):
    return checks.nothing_stored_changes(registry.store.engine, store.Base.metadata)


async def count(registry, statement) -> int:
    async with registry.store.engine.connect() as connection:
        return await connection.scalar(statement)


# ---- agencies ---------------------------------------------------------------------------------

async def test_create_agency_stores_what_was_sent(api):
    request = agency_request(shareholders=[
        pb.Shareholder(name="王建国", holds_attorney_certificate=True),
        pb.Shareholder(name="北京某投资有限公司", holds_attorney_certificate=False)])

    created = (await api.CreateAgency(request, metadata=OPERATOR)).agency

    assert created.id
    for name in ("name", "kind", "credit_code", "licence_number", "region_code", "legal_form", "legal_representative",
                 "address", "phone", "established_on"):
        assert getattr(created, name) == getattr(request, name), name
    assert list(created.shareholders) == list(request.shareholders)
    assert created.status == pb.AGENCY_STATUS_ACTIVE
    assert not created.status_history and not created.parent_agency_id
    assert abs(created.created_at.ToDatetime(tzinfo=timezone.utc) - clock.now()) < timedelta(minutes=1)
    got = (await api.GetAgency(pb.GetAgencyRequest(id=created.id), metadata=metadata("handler"))).agency
    assert got == created


async def test_a_branch_names_its_head_office(api):
    head = await create_agency(api)
    branch = await create_agency(api, region_code="310104", parent_agency_id=head.id)
    assert branch.parent_agency_id == head.id
    got = await api.GetAgency(pb.GetAgencyRequest(id=branch.id), metadata=OPERATOR)
    assert got.agency.parent_agency_id == head.id


async def test_a_branch_of_an_unknown_head_office_is_invalid(api, registry):
    async with nothing_stored_changes(registry):
        await invalid(api.CreateAgency(agency_request(parent_agency_id="ag-nosuchagency"), metadata=OPERATOR),
                      "parent_agency_id")


async def test_a_revoked_head_office_opens_no_branch(api, registry):
    head = await create_agency(api)
    await api.ChangeAgencyStatus(status_change(head.id, pb.AGENCY_STATUS_REVOKED, day(0)), metadata=OPERATOR)
    async with nothing_stored_changes(registry):
        await refused(api.CreateAgency(agency_request(parent_agency_id=head.id), metadata=OPERATOR),
                      Code.FAILED_PRECONDITION)


async def test_a_credit_code_is_registered_once(api, registry):
    first = await create_agency(api)
    async with nothing_stored_changes(registry):
        await refused(api.CreateAgency(agency_request(credit_code=first.credit_code), metadata=OPERATOR),
                      Code.ALREADY_EXISTS)


async def test_create_agency_names_every_bad_field(api, registry):
    request = pb.CreateAgencyRequest(
        idempotency_key="short", name="名" * 201, kind=42, credit_code="91110000802100433X",
        licence_number="has spaces", region_code="990000", legal_form=pb.LEGAL_FORM_UNSPECIFIED,
        shareholders=[pb.Shareholder(name="ok"), pb.Shareholder(name="")], parent_agency_id="p" * 65,
        legal_representative="人" * 101, address="址" * 301, phone="12345", established_on="2020-02-30")
    async with nothing_stored_changes(registry):
        await invalid(api.CreateAgency(request, metadata=OPERATOR),
                      "idempotency_key", "name", "kind", "credit_code", "licence_number", "region_code",
                      "legal_form", "shareholders[1].name", "parent_agency_id", "legal_representative", "address",
                      "phone", "established_on")
        await invalid(api.CreateAgency(pb.CreateAgencyRequest(), metadata=OPERATOR),
                      "idempotency_key", "name", "kind", "credit_code", "region_code", "legal_form",
                      "established_on")
        await invalid(api.CreateAgency(agency_request(established_on=day(1)), metadata=OPERATOR), "established_on")
        too_many = [pb.Shareholder(name=f"股东{i}") for i in range(201)]
        await invalid(api.CreateAgency(agency_request(shareholders=too_many), metadata=OPERATOR), "shareholders")


async def test_get_agency_refusals(api):
    await refused(api.GetAgency(pb.GetAgencyRequest(id="ag-nosuchagency"), metadata=OPERATOR), Code.NOT_FOUND)
    await invalid(api.GetAgency(pb.GetAgencyRequest(), metadata=OPERATOR), "id")
    await invalid(api.GetAgency(pb.GetAgencyRequest(id="x" * 65), metadata=OPERATOR), "id")


# ---- search -----------------------------------------------------------------------------------

async def search_all(api, request: pb.SearchAgenciesRequest, caller=OPERATOR) -> list[pb.Agency]:
    """Every page of a search, checking each page's size."""
    found, token = [], ""
    while True:
        request.page_token = token
        page = await api.SearchAgencies(request, metadata=caller)
        assert len(page.agencies) <= (request.page_size or 50)
        found += page.agencies
        token = page.next_page_token
        if not token:
            return found
        assert len(page.agencies) == request.page_size


@pytest.mark.parametrize("page_size", [1, 2, 3])
async def test_search_pages_through_every_agency_once_in_name_id_order(api, page_size):
    prefix = f"分页{uid()}"
    # Equal names make the id the tie-break the page token must carry.
    created = [await create_agency(api, name=prefix + letter) for letter in "BACABDA"]

    found = await search_all(api, pb.SearchAgenciesRequest(query=prefix, page_size=page_size))

    assert [a.id for a in found] == [a.id for a in sorted(created, key=lambda a: (a.name, a.id))]


async def test_search_filters_by_kind_region_status_and_identifiers(api):
    prefix = f"筛选{uid()}"
    patent_bj = await create_agency(api, name=prefix + "A", region_code="110108")
    trademark_bj = await create_agency(api, name=prefix + "B", region_code="110105", kind=pb.AGENCY_KIND_TRADEMARK)
    patent_sh = await create_agency(api, name=prefix + "C", region_code="310104")
    suspended_bj = await create_agency(api, name=prefix + "D", region_code="110228")
    copyright_gd = await create_agency(api, name=prefix + "E", region_code="440305", kind=pb.AGENCY_KIND_COPYRIGHT)
    await api.ChangeAgencyStatus(suspension(suspended_bj.id, day(0), day(180)), metadata=OPERATOR)

    async def ids(caller=OPERATOR, **filters) -> list[str]:
        return [a.id for a in await search_all(api, pb.SearchAgenciesRequest(page_size=2, **filters), caller)]

    assert await ids(query=prefix) == [a.id for a in (patent_bj, trademark_bj, patent_sh, suspended_bj,
                                                      copyright_gd)]
    assert await ids(query=prefix, kinds=[pb.AGENCY_KIND_PATENT]) == [patent_bj.id, patent_sh.id, suspended_bj.id]
    assert await ids(query=prefix, kinds=[pb.AGENCY_KIND_TRADEMARK, pb.AGENCY_KIND_COPYRIGHT]) == [
        trademark_bj.id, copyright_gd.id]
    assert await ids(query=prefix, region_code=BEIJING) == [patent_bj.id, trademark_bj.id, suspended_bj.id]
    assert await ids(query=prefix, region_code="110100") == [patent_bj.id, trademark_bj.id]
    assert await ids(query=prefix, region_code="110105") == [trademark_bj.id]
    assert await ids(query=prefix, region_code=SHANGHAI) == [patent_sh.id]
    assert await ids(query=prefix, statuses=[pb.AGENCY_STATUS_SUSPENDED]) == [suspended_bj.id]
    assert await ids(query=prefix, statuses=[pb.AGENCY_STATUS_ACTIVE], kinds=[pb.AGENCY_KIND_PATENT],
                     region_code=BEIJING) == [patent_bj.id]
    assert await ids(query=patent_sh.credit_code) == [patent_sh.id]
    assert await ids(query=trademark_bj.licence_number) == [trademark_bj.id]
    assert await ids(query=prefix + "Z") == []
    # A caller whose scope is Beijing sees Beijing only, unless it asks for more, which it may not.
    beijing_handler = metadata("handler", region=BEIJING)
    assert await ids(beijing_handler, query=prefix) == [patent_bj.id, trademark_bj.id, suspended_bj.id]
    assert await ids(beijing_handler, query=patent_sh.credit_code) == []
    await refused(api.SearchAgencies(pb.SearchAgenciesRequest(query=prefix, region_code=SHANGHAI),
                                     metadata=beijing_handler), Code.PERMISSION_DENIED)


async def test_search_answers_the_basic_view_unless_the_full_one_is_asked_for(api):
    prefix = f"视图{uid()}"
    created = await create_agency(api, name=prefix + "A", shareholders=[
        pb.Shareholder(name="张三", holds_attorney_certificate=True), pb.Shareholder(name="李四")])
    await api.ChangeAgencyStatus(suspension(created.id, day(0), day(180)), metadata=OPERATOR)
    full = (await api.GetAgency(pb.GetAgencyRequest(id=created.id), metadata=OPERATOR)).agency
    assert len(full.shareholders) == 2 and len(full.status_history) == 1

    async def found(view) -> pb.Agency:
        (agency,) = (await api.SearchAgencies(pb.SearchAgenciesRequest(query=prefix, view=view),
                                              metadata=OPERATOR)).agencies
        return agency

    basic = pb.Agency()
    basic.CopyFrom(full)
    del basic.shareholders[:]
    del basic.status_history[:]
    assert await found(pb.AGENCY_VIEW_UNSPECIFIED) == basic
    assert await found(pb.AGENCY_VIEW_BASIC) == basic
    assert await found(pb.AGENCY_VIEW_FULL) == full


async def test_search_agencies_names_every_bad_field(api):
    await invalid(api.SearchAgencies(pb.SearchAgenciesRequest(
        query="名" * 201, kinds=[pb.AGENCY_KIND_PATENT] * 9, region_code="1101", statuses=[1, 2, 3, 4, 1],
        page_size=501, page_token="t" * 401), metadata=OPERATOR),
        "query", "kinds", "region_code", "statuses", "page_size", "page_token")
    await invalid(api.SearchAgencies(pb.SearchAgenciesRequest(kinds=[77], statuses=[9], page_size=-1, view=5),
                                     metadata=OPERATOR), "kinds", "statuses", "page_size", "view")
    await invalid(api.SearchAgencies(pb.SearchAgenciesRequest(page_token="bm90IGEgdG9rZW4"), metadata=OPERATOR),
                  "page_token")


# ---- status -----------------------------------------------------------------------------------

async def test_status_moves_and_their_history(api):
    agency = await create_agency(api)
    supervisor = metadata("supervisor", subject="supervisor-zhang")
    moves = [
        suspension(agency.id, day(-30), day(150)),
        status_change(agency.id, pb.AGENCY_STATUS_ACTIVE, day(-20), decision_reference="case-lift"),
        suspension(agency.id, day(-10), day(170)),
        status_change(agency.id, pb.AGENCY_STATUS_REVOKED, day(-5)),
        status_change(agency.id, pb.AGENCY_STATUS_DEREGISTERED, day(0)),
    ]
    previous = pb.AGENCY_STATUS_ACTIVE
    for move in moves:
        changed = (await api.ChangeAgencyStatus(move, metadata=supervisor)).agency
        assert changed.status == move.to_status
        assert changed.suspended_until == move.suspended_until
        last = changed.status_history[-1]
        assert (last.from_status, last.to_status) == (previous, move.to_status)
        previous = move.to_status

    history = (await api.GetAgency(pb.GetAgencyRequest(id=agency.id), metadata=OPERATOR)).agency.status_history
    assert [(c.to_status, c.effective_on, c.suspended_until, c.reason, c.decision_reference) for c in history] == [
        (m.to_status, m.effective_on, m.suspended_until, m.reason, m.decision_reference) for m in moves]
    assert {c.recorded_by for c in history} == {"supervisor-zhang"}
    assert all(c.recorded_at.seconds for c in history)


async def test_forbidden_status_moves_fail_their_precondition(api, registry):
    agency = await create_agency(api)
    await api.ChangeAgencyStatus(suspension(agency.id, day(-10), day(100)), metadata=OPERATOR)
    async with nothing_stored_changes(registry):
        # A change may not take effect before the last one.
        await refused(api.ChangeAgencyStatus(status_change(agency.id, pb.AGENCY_STATUS_ACTIVE, day(-11)),
                                             metadata=OPERATOR), Code.FAILED_PRECONDITION)
    await api.ChangeAgencyStatus(status_change(agency.id, pb.AGENCY_STATUS_REVOKED, day(-5)), metadata=OPERATOR)
    async with nothing_stored_changes(registry):
        for to_status in (pb.AGENCY_STATUS_ACTIVE, pb.AGENCY_STATUS_REVOKED):
            await refused(api.ChangeAgencyStatus(status_change(agency.id, to_status, day(0)), metadata=OPERATOR),
                          Code.FAILED_PRECONDITION)
        await refused(api.ChangeAgencyStatus(suspension(agency.id, day(0), day(10)), metadata=OPERATOR),
                      Code.FAILED_PRECONDITION)
    await api.ChangeAgencyStatus(status_change(agency.id, pb.AGENCY_STATUS_DEREGISTERED, day(0)), metadata=OPERATOR)
    async with nothing_stored_changes(registry):
        for to_status in (pb.AGENCY_STATUS_ACTIVE, pb.AGENCY_STATUS_REVOKED, pb.AGENCY_STATUS_DEREGISTERED):
            error = await refused(api.ChangeAgencyStatus(status_change(agency.id, to_status, day(1)),
                                                         metadata=OPERATOR), Code.FAILED_PRECONDITION)
            status = rpc_status.from_call(error)
            assert any(d.Is(error_details_pb2.PreconditionFailure.DESCRIPTOR) for d in status.details)
    active = await create_agency(api)
    async with nothing_stored_changes(registry):
        await refused(api.ChangeAgencyStatus(status_change(active.id, pb.AGENCY_STATUS_ACTIVE, day(0)),
                                             metadata=OPERATOR), Code.FAILED_PRECONDITION)


def reinstatement(agency_id: str, effective_on: str, revocation_reference: str = "case-2026-310000-000042",
                  idempotency_key: str = "") -> pb.ReinstateAgencyRequest:
    return pb.ReinstateAgencyRequest(idempotency_key=idempotency_key or key(), agency_id=agency_id,
                                     revocation_reference=revocation_reference, effective_on=effective_on,
                                     reason="行政复议决定撤销原吊销决定 the reconsideration revoked the decision")


async def test_a_revocation_revoked_on_review_returns_the_agency_to_its_earlier_status(api, registry):
    revoked_while_active, revoked_while_suspended = await create_agency(api), await create_agency(api)
    await api.ChangeAgencyStatus(suspension(revoked_while_suspended.id, day(-20), day(60)), metadata=OPERATOR)
    for agency in (revoked_while_active, revoked_while_suspended):
        await api.ChangeAgencyStatus(status_change(agency.id, pb.AGENCY_STATUS_REVOKED, day(-10),
                                                   decision_reference="case-2026-310000-000042"), metadata=OPERATOR)
    request = reinstatement(revoked_while_active.id, day(-1))
    reinstated = (await api.ReinstateAgency(request, metadata=OPERATOR)).agency
    assert (reinstated.status, reinstated.suspended_until) == (pb.AGENCY_STATUS_ACTIVE, "")
    last = reinstated.status_history[-1]
    assert (last.to_status, last.effective_on, last.decision_reference) == (
        pb.AGENCY_STATUS_ACTIVE, day(-1), "case-2026-310000-000042")
    # A retry with the same key answers the same and records nothing more.
    assert (await api.ReinstateAgency(request, metadata=OPERATOR)).agency == reinstated
    # The suspension it had before runs on to its own last day.
    resumed = (await api.ReinstateAgency(reinstatement(revoked_while_suspended.id, day(0)), metadata=OPERATOR)).agency
    assert (resumed.status, resumed.suspended_until) == (pb.AGENCY_STATUS_SUSPENDED, day(60))


async def test_reinstate_agency_refusals(api, registry):
    agency, active = await create_agency(api), await create_agency(api)
    await api.ChangeAgencyStatus(status_change(agency.id, pb.AGENCY_STATUS_REVOKED, day(-10),
                                               decision_reference="case-2026-310000-000042"), metadata=OPERATOR)
    async with nothing_stored_changes(registry):
        await invalid(api.ReinstateAgency(pb.ReinstateAgencyRequest(), metadata=OPERATOR),
                      "idempotency_key", "agency_id", "revocation_reference", "effective_on", "reason")
        await invalid(api.ReinstateAgency(reinstatement(agency.id, "2026-13-01", "r" * 101), metadata=OPERATOR),
                      "effective_on", "revocation_reference")
        await refused(api.ReinstateAgency(reinstatement("ag-nosuchagency", day(0)), metadata=OPERATOR),
                      Code.NOT_FOUND)
        # Only the decision that revoked the licence can be undone, not before it took effect.
        await refused(api.ReinstateAgency(reinstatement(agency.id, day(0), "case-2026-310000-000999"),
                                          metadata=OPERATOR), Code.FAILED_PRECONDITION)
        await refused(api.ReinstateAgency(reinstatement(agency.id, day(-11)), metadata=OPERATOR),
                      Code.FAILED_PRECONDITION)
        await refused(api.ReinstateAgency(reinstatement(active.id, day(0)), metadata=OPERATOR),
                      Code.FAILED_PRECONDITION)
        await refused(api.ReinstateAgency(reinstatement(agency.id, day(0)), metadata=metadata(
            "supervisor", region="310000")), Code.PERMISSION_DENIED)


async def test_change_agency_status_refusals(api, registry):
    agency = await create_agency(api)
    async with nothing_stored_changes(registry):
        await invalid(api.ChangeAgencyStatus(pb.ChangeAgencyStatusRequest(), metadata=OPERATOR),
                      "idempotency_key", "agency_id", "to_status", "effective_on", "reason")
        await invalid(api.ChangeAgencyStatus(pb.ChangeAgencyStatusRequest(
            idempotency_key=key(), agency_id=agency.id, to_status=9, effective_on="20260101",
            suspended_until="2026-1-1", reason="理" * 501, decision_reference="d" * 101), metadata=OPERATOR),
            "to_status", "effective_on", "suspended_until", "reason", "decision_reference")
        await invalid(api.ChangeAgencyStatus(suspension(agency.id, day(0), ""), metadata=OPERATOR),
                      "suspended_until")
        await invalid(api.ChangeAgencyStatus(suspension(agency.id, day(0), day(0)), metadata=OPERATOR),
                      "suspended_until")
        await invalid(api.ChangeAgencyStatus(status_change(agency.id, pb.AGENCY_STATUS_REVOKED, day(0),
                                                           suspended_until=day(9)), metadata=OPERATOR),
                      "suspended_until")
        await refused(api.ChangeAgencyStatus(suspension("ag-nosuchagency", day(0), day(9)), metadata=OPERATOR),
                      Code.NOT_FOUND)


# ---- practitioners ----------------------------------------------------------------------------

async def test_register_and_get_a_practitioner(api):
    request = practitioner_request()
    registered = (await api.RegisterPractitioner(request, metadata=OPERATOR)).practitioner
    for name in ("name", "kind", "resident_id", "phone", "certificate_number", "qualified_on"):
        assert getattr(registered, name) == getattr(request, name), name
    assert not registered.current_agency_id and not registered.filings
    got = (await api.GetPractitioner(pb.GetPractitionerRequest(id=registered.id), metadata=OPERATOR)).practitioner
    assert got == registered


async def test_a_person_and_a_certificate_are_registered_once(api, registry):
    first = await register(api)
    async with nothing_stored_changes(registry):
        await refused(api.RegisterPractitioner(practitioner_request(resident_id=first.resident_id), metadata=OPERATOR),
                      Code.ALREADY_EXISTS)
        await refused(api.RegisterPractitioner(practitioner_request(certificate_number=first.certificate_number),
                                               metadata=OPERATOR), Code.ALREADY_EXISTS)


async def test_register_practitioner_names_every_bad_field(api, registry):
    wrong_check = testdata.resident_id()
    wrong_check = wrong_check[:17] + ("0" if wrong_check[17] != "0" else "1")
    async with nothing_stored_changes(registry):
        await invalid(api.RegisterPractitioner(pb.RegisterPractitionerRequest(
            idempotency_key="k" * 101, name="名" * 101, kind=8, resident_id=wrong_check, phone="0551",
            certificate_number="no spaces", qualified_on="2012-13-01"), metadata=OPERATOR),
            "idempotency_key", "name", "kind", "resident_id", "phone", "certificate_number", "qualified_on")
        await invalid(api.RegisterPractitioner(pb.RegisterPractitionerRequest(), metadata=OPERATOR),
                      "idempotency_key", "name", "kind", "resident_id")
        await invalid(api.RegisterPractitioner(practitioner_request(resident_id="110108199902300011"),
                                               metadata=OPERATOR), "resident_id")


async def test_get_practitioner_refusals(api):
    await refused(api.GetPractitioner(pb.GetPractitionerRequest(id="pr-nosuchperson"), metadata=OPERATOR),
                  Code.NOT_FOUND)
    await invalid(api.GetPractitioner(pb.GetPractitionerRequest(), metadata=OPERATOR), "id")


async def test_practice_filing_transfer_and_end(api, registry):
    first, second = await create_agency(api), await create_agency(api)
    person = await register(api)

    filed = await file_practice(api, person.id, first.id, day(-100))
    assert filed.current_agency_id == first.id
    assert [(f.agency_id, f.started_on, f.ended_on) for f in filed.filings] == [(first.id, day(-100), "")]

    async with nothing_stored_changes(registry):
        # One agency at a time: a second filing is a transfer or nothing.
        await refused(file_practice(api, person.id, second.id, day(-50)), Code.FAILED_PRECONDITION)
        await refused(file_practice(api, person.id, first.id, day(-50), transfer=True), Code.FAILED_PRECONDITION)
        await invalid(file_practice(api, person.id, second.id, day(-100), transfer=True), "started_on")

    moved = await file_practice(api, person.id, second.id, day(-50), transfer=True)
    assert moved.current_agency_id == second.id
    got = (await api.GetPractitioner(pb.GetPractitionerRequest(id=person.id), metadata=OPERATOR)).practitioner
    assert [(f.agency_id, f.agency_name, f.started_on, f.ended_on) for f in got.filings] == [
        (first.id, first.name, day(-100), day(-50)), (second.id, second.name, day(-50), "")]
    assert got.filings[0].end_reason

    async def practising_at(agency: pb.Agency) -> list[str]:
        page = await api.SearchPractitioners(pb.SearchPractitionersRequest(agency_id=agency.id), metadata=OPERATOR)
        return [p.id for p in page.practitioners]
    assert await practising_at(second) == [person.id]
    assert await practising_at(first) == []

    async with nothing_stored_changes(registry):
        await invalid(api.EndPractice(pb.EndPracticeRequest(idempotency_key=key(), practitioner_id=person.id,
                                                            ended_on=day(-51), reason="离职"), metadata=OPERATOR),
                      "ended_on")
    ended = (await api.EndPractice(pb.EndPracticeRequest(
        idempotency_key=key(), practitioner_id=person.id, ended_on=day(0), reason="离职 left"),
        metadata=OPERATOR)).practitioner
    assert not ended.current_agency_id
    assert [(f.ended_on, f.end_reason) for f in ended.filings][-1] == (day(0), "离职 left")
    assert len(ended.filings) == 2
    assert await practising_at(second) == []
    async with nothing_stored_changes(registry):
        await refused(api.EndPractice(pb.EndPracticeRequest(
            idempotency_key=key(), practitioner_id=person.id, ended_on=day(0), reason="again"), metadata=OPERATOR),
            Code.FAILED_PRECONDITION)
        await refused(file_practice(api, person.id, first.id, day(1), transfer=True), Code.FAILED_PRECONDITION)
    again = await file_practice(api, person.id, first.id, day(1))
    assert again.current_agency_id == first.id and len(again.filings) == 3


async def test_nobody_files_practice_with_a_revoked_agency(api, registry):
    agency = await create_agency(api)
    person = await register(api)
    await api.ChangeAgencyStatus(status_change(agency.id, pb.AGENCY_STATUS_REVOKED, day(0)), metadata=OPERATOR)
    async with nothing_stored_changes(registry):
        await refused(file_practice(api, person.id, agency.id, day(0)), Code.FAILED_PRECONDITION)


async def test_practice_filing_refusals(api, registry):
    agency = await create_agency(api)
    person = await register(api)
    async with nothing_stored_changes(registry):
        await invalid(api.FilePractice(pb.FilePracticeRequest(), metadata=OPERATOR),
                      "idempotency_key", "practitioner_id", "agency_id", "started_on")
        await invalid(api.FilePractice(pb.FilePracticeRequest(
            idempotency_key=key(), practitioner_id="p" * 65, agency_id="a" * 65, filing_number="F 1",
            started_on="yesterday"), metadata=OPERATOR),
            "practitioner_id", "agency_id", "filing_number", "started_on")
        await refused(file_practice(api, "pr-nosuchperson", agency.id, day(0)), Code.NOT_FOUND)
        await refused(file_practice(api, person.id, "ag-nosuchagency", day(0)), Code.NOT_FOUND)
        await invalid(api.EndPractice(pb.EndPracticeRequest(), metadata=OPERATOR),
                      "idempotency_key", "practitioner_id", "ended_on", "reason")
        await refused(api.EndPractice(pb.EndPracticeRequest(
            idempotency_key=key(), practitioner_id="pr-nosuchperson", ended_on=day(0), reason="x"),
            metadata=OPERATOR), Code.NOT_FOUND)


async def test_search_practitioners_by_name_and_certificate_in_pages(api):
    surname = f"赵{uid()}"
    people = [await register(api, name=surname + given) for given in ("B", "A", "B", "C")]
    found, token = [], ""
    while True:
        page = await api.SearchPractitioners(pb.SearchPractitionersRequest(query=surname, page_size=1,
                                                                           page_token=token), metadata=OPERATOR)
        found += page.practitioners
        token = page.next_page_token
        if not token:
            break
    assert [p.id for p in found] == [p.id for p in sorted(people, key=lambda p: (p.name, p.id))]
    by_certificate = await api.SearchPractitioners(
        pb.SearchPractitionersRequest(query=people[2].certificate_number), metadata=OPERATOR)
    assert [p.id for p in by_certificate.practitioners] == [people[2].id]
    await invalid(api.SearchPractitioners(pb.SearchPractitionersRequest(
        query="名" * 101, agency_id="a" * 65, page_size=501, page_token="t" * 401), metadata=OPERATOR),
        "query", "agency_id", "page_size", "page_token")
    await invalid(api.SearchPractitioners(pb.SearchPractitionersRequest(page_token="%%%"), metadata=OPERATOR),
                  "page_token")


# ---- annual reports ---------------------------------------------------------------------------

def annual_report(agency_id: str, year: int, **fields) -> pb.FileAnnualReportRequest:
    values = dict(idempotency_key=key(), agency_id=agency_id, year=year, filed_on=f"{year + 1}-03-15",
                  employees=23, practitioners=9, revenue_cny=8_400_000, summary=f"{year} 年度报告")
    values.update(fields)
    return pb.FileAnnualReportRequest(**values)


async def test_one_annual_report_per_agency_and_year(api, registry):
    agency = await create_agency(api, established_on="2019-04-01")
    other = await create_agency(api)
    filed = []
    for year in (2024, 2019):
        request = annual_report(agency.id, year)
        report = (await api.FileAnnualReport(request, metadata=OPERATOR)).report
        assert (report.agency_id, report.year, report.filed_on, report.employees, report.practitioners,
                report.revenue_cny, report.summary) == (agency.id, year, request.filed_on, 23, 9, 8_400_000,
                                                        request.summary)
        filed.append(report)
    await api.FileAnnualReport(annual_report(other.id, 2024), metadata=OPERATOR)

    listed = (await api.ListAnnualReports(pb.ListAnnualReportsRequest(agency_id=agency.id),
                                          metadata=metadata("inspector"))).reports
    assert list(listed) == sorted(filed, key=lambda r: r.year)

    async with nothing_stored_changes(registry):
        await refused(api.FileAnnualReport(annual_report(agency.id, 2024, employees=1), metadata=OPERATOR),
                      Code.ALREADY_EXISTS)
        await invalid(api.FileAnnualReport(annual_report(agency.id, 2018), metadata=OPERATOR), "year")
        await invalid(api.FileAnnualReport(annual_report(agency.id, 2023, filed_on="2023-12-31"),
                                           metadata=OPERATOR), "year")


async def test_annual_report_refusals(api, registry):
    async with nothing_stored_changes(registry):
        await invalid(api.FileAnnualReport(pb.FileAnnualReportRequest(), metadata=OPERATOR),
                      "idempotency_key", "agency_id", "year", "filed_on")
        await invalid(api.FileAnnualReport(pb.FileAnnualReportRequest(
            idempotency_key=key(), agency_id="ag-x", year=1999, filed_on="2000/03/01", employees=-1,
            practitioners=1_000_001, revenue_cny=-5, summary="s" * 2001), metadata=OPERATOR),
            "year", "filed_on", "employees", "practitioners", "revenue_cny", "summary")
        await refused(api.FileAnnualReport(annual_report("ag-nosuchagency", 2024), metadata=OPERATOR),
                      Code.NOT_FOUND)
    await refused(api.ListAnnualReports(pb.ListAnnualReportsRequest(agency_id="ag-nosuchagency"), metadata=OPERATOR),
                  Code.NOT_FOUND)
    await invalid(api.ListAnnualReports(pb.ListAnnualReportsRequest(), metadata=OPERATOR), "agency_id")


# ---- credit -----------------------------------------------------------------------------------

def expected_grade(points: list[int]) -> tuple[int, int]:
    """(score, grade) by the grading rules file: the base score less the points that count,
    graded by the floors, best grade first."""
    score = max(0, GRADING.base_score - sum(points))
    for letter in ("A", "B", "C"):
        if score >= GRADING.grade_floors[letter]:
            return score, enum_value(pb.CreditGrade.DESCRIPTOR, letter)
    return score, pb.CREDIT_GRADE_D


async def profile(api, agency_id: str, as_of: str = "") -> pb.CreditProfile:
    return (await api.GetCreditProfile(pb.GetCreditProfileRequest(agency_id=agency_id, as_of=as_of),
                                       metadata=metadata("handler"))).profile


async def test_the_credit_grade_is_recomputed_from_the_events_that_count(api):
    agency = await create_agency(api)
    warning = (await api.RecordCreditEvent(credit_event(
        day(-10), day(100), pb.CREDIT_EVENT_KIND_WARNING, agency_id=agency.id), metadata=OPERATOR)).event
    fine = (await api.RecordCreditEvent(credit_event(
        day(-5), day(200), agency_id=agency.id, fine_cny=50_000), metadata=metadata("supervisor"))).event
    assert (fine.agency_id, fine.kind, fine.fine_cny, fine.occurred_on) == (
        agency.id, pb.CREDIT_EVENT_KIND_FINE, 50_000, day(-5))

    clean = await profile(api, agency.id, day(-20))
    assert (clean.score, clean.grade, list(clean.reasons)) == (*expected_grade([]), [])

    now = await profile(api, agency.id)
    assert now.as_of == day(0) and now.rules_version == GRADING.version
    assert (now.score, now.grade) == expected_grade([GRADING.points["warning"], GRADING.points["fine"]])
    assert [(r.event_id, r.kind, r.points, r.counts_until) for r in now.reasons] == [
        (warning.id, pb.CREDIT_EVENT_KIND_WARNING, GRADING.points["warning"], day(100)),
        (fine.id, pb.CREDIT_EVENT_KIND_FINE, GRADING.points["fine"], day(200))]
    assert all(r.explanation for r in now.reasons)

    later = await profile(api, agency.id, day(150))
    assert (later.score, later.grade) == expected_grade([GRADING.points["fine"]])
    assert [r.event_id for r in later.reasons] == [fine.id]

    revocation = (await api.RecordCreditEvent(credit_event(
        day(0), day(1000), pb.CREDIT_EVENT_KIND_REVOCATION, agency_id=agency.id), metadata=OPERATOR)).event
    revoked = await profile(api, agency.id)
    assert revoked.grade == pb.CREDIT_GRADE_D
    assert revoked.score == expected_grade([GRADING.points[k] for k in ("warning", "fine", "revocation")])[0]
    assert [r.event_id for r in revoked.reasons if r.event_id == revocation.id and r.points == 0], \
        "the reason a revocation forces grade D"


async def test_record_credit_event_refusals(api, registry):
    agency = await create_agency(api)
    person = await register(api)
    async with nothing_stored_changes(registry):
        await invalid(api.RecordCreditEvent(pb.RecordCreditEventRequest(), metadata=OPERATOR),
                      "idempotency_key", "kind", "source", "source_reference", "occurred_on", "publicity_ends_on",
                      "summary")
        await invalid(api.RecordCreditEvent(pb.RecordCreditEventRequest(
            idempotency_key=key(), agency_id="a" * 65, kind=99, source=99, source_reference="r" * 101,
            occurred_on="2026-02-29", publicity_ends_on="x", summary="s" * 1001, fine_cny=-1), metadata=OPERATOR),
            "agency_id", "kind", "source", "source_reference", "occurred_on", "publicity_ends_on", "summary",
            "fine_cny")
        await invalid(api.RecordCreditEvent(credit_event(day(-1), day(9)), metadata=OPERATOR),
                      "agency_id", "practitioner_id")
        await invalid(api.RecordCreditEvent(credit_event(day(-1), day(9), agency_id=agency.id,
                                                         practitioner_id=person.id), metadata=OPERATOR),
                      "agency_id", "practitioner_id")
        await invalid(api.RecordCreditEvent(credit_event(day(1), day(9), agency_id=agency.id), metadata=OPERATOR),
                      "occurred_on")
        await invalid(api.RecordCreditEvent(credit_event(day(-1), day(-2), agency_id=agency.id), metadata=OPERATOR),
                      "publicity_ends_on")
        await refused(api.RecordCreditEvent(credit_event(day(-1), day(9), agency_id="ag-nosuchagency"),
                                            metadata=OPERATOR), Code.NOT_FOUND)
        await refused(api.RecordCreditEvent(credit_event(day(-1), day(9), practitioner_id="pr-nosuchperson"),
                                            metadata=OPERATOR), Code.NOT_FOUND)
    await invalid(api.GetCreditProfile(pb.GetCreditProfileRequest(agency_id=agency.id, as_of="2026-02-29"),
                                       metadata=OPERATOR), "as_of")
    await invalid(api.GetCreditProfile(pb.GetCreditProfileRequest(), metadata=OPERATOR), "agency_id")
    await refused(api.GetCreditProfile(pb.GetCreditProfileRequest(agency_id="ag-nosuchagency"), metadata=OPERATOR),
                  Code.NOT_FOUND)


def withdrawal(event_id: str, on: str, idempotency_key: str = "", reason: str = "复议决定撤销原处罚决定"
               ) -> pb.WithdrawCreditEventRequest:
    return pb.WithdrawCreditEventRequest(idempotency_key=idempotency_key or key(), event_id=event_id,
                                         withdrawn_on=on, reason=reason)


async def test_a_withdrawn_penalty_is_neither_shown_nor_counted(api, registry):
    agency = await create_agency(api, region_code="310104")
    fine = (await api.RecordCreditEvent(credit_event(day(-10), day(300), agency_id=agency.id, fine_cny=20_000,
                                                     summary="罚款 later revoked"), metadata=OPERATOR)).event
    public = (await api.LookupAgencyPublic(pb.LookupAgencyPublicRequest(query=agency.credit_code))).agencies[0]
    assert [p.summary for p in public.penalties] == ["罚款 later revoked"]
    assert (await profile(api, agency.id)).reasons

    async with nothing_stored_changes(registry):
        await invalid(api.WithdrawCreditEvent(pb.WithdrawCreditEventRequest(), metadata=OPERATOR),
                      "idempotency_key", "event_id", "withdrawn_on", "reason")
        await invalid(api.WithdrawCreditEvent(withdrawal(fine.id, "2026-02-30", reason="r" * 501), metadata=OPERATOR),
                      "withdrawn_on", "reason")
        await invalid(api.WithdrawCreditEvent(withdrawal(fine.id, day(1)), metadata=OPERATOR), "withdrawn_on")
        await invalid(api.WithdrawCreditEvent(withdrawal(fine.id, day(-11)), metadata=OPERATOR), "withdrawn_on")
        await refused(api.WithdrawCreditEvent(withdrawal("ce-nosuchevent", day(0)), metadata=OPERATOR),
                      Code.NOT_FOUND)
        await refused(api.WithdrawCreditEvent(withdrawal(fine.id, day(0)), metadata=metadata(
            "supervisor", region="110000")), Code.PERMISSION_DENIED)

    request = withdrawal(fine.id, day(-1))
    withdrawn = (await api.WithdrawCreditEvent(request, metadata=OPERATOR)).event
    assert (withdrawn.id, withdrawn.withdrawn_on, withdrawn.withdrawal_reason) == (
        fine.id, day(-1), "复议决定撤销原处罚决定")
    assert (await api.WithdrawCreditEvent(request, metadata=OPERATOR)).event == withdrawn
    async with nothing_stored_changes(registry):
        await refused(api.WithdrawCreditEvent(withdrawal(fine.id, day(0)), metadata=OPERATOR),
                      Code.FAILED_PRECONDITION)

    public = (await api.LookupAgencyPublic(pb.LookupAgencyPublicRequest(query=agency.credit_code))).agencies[0]
    assert list(public.penalties) == []
    cleared = await profile(api, agency.id)
    assert (cleared.score, cleared.grade, list(cleared.reasons)) == (*expected_grade([]), [])
    graded, token = [], ""
    while not graded:
        page = await api.ListAgencyCreditGrades(pb.ListAgencyCreditGradesRequest(
            region_code="310104", page_size=500, page_token=token), metadata=OPERATOR)
        graded = [g.grade for g in page.agencies if g.agency_id == agency.id]
        token = page.next_page_token
        assert graded or token, "the agency is listed"
    assert graded == [expected_grade([])[1]]


# ---- the public register ----------------------------------------------------------------------

async def test_the_public_sees_an_agency_without_private_details(api):
    agency = await create_agency(api, phone="13800138000", address=f"上海市浦东新区世纪大道{uid()}号")
    person = await register(api)
    await file_practice(api, person.id, agency.id, day(-30))
    await api.FileAnnualReport(annual_report(agency.id, 2023), metadata=OPERATOR)
    await api.FileAnnualReport(annual_report(agency.id, 2024), metadata=OPERATOR)
    await api.RecordCreditEvent(credit_event(day(-20), day(300), pb.CREDIT_EVENT_KIND_WARNING, agency_id=agency.id,
                                             summary="warning only"), metadata=OPERATOR)
    fine = credit_event(day(-10), day(80), agency_id=agency.id, fine_cny=30_000, summary="罚款 published")
    await api.RecordCreditEvent(fine, metadata=OPERATOR)
    await api.RecordCreditEvent(credit_event(day(-500), day(-1), agency_id=agency.id, summary="expired fine"),
                                metadata=OPERATOR)

    for query in (agency.credit_code, agency.licence_number, agency.name[:12]):
        answer = await api.LookupAgencyPublic(pb.LookupAgencyPublicRequest(query=query))
        assert [a.credit_code for a in answer.agencies] == [agency.credit_code], query

    answer = await api.LookupAgencyPublic(pb.LookupAgencyPublicRequest(query=agency.credit_code))
    public = answer.agencies[0]
    assert (public.name, public.kind, public.licence_number, public.region_code, public.legal_form, public.status,
            public.legal_representative) == (agency.name, agency.kind, agency.licence_number, agency.region_code,
                                             agency.legal_form, pb.AGENCY_STATUS_ACTIVE, agency.legal_representative)
    assert list(public.annual_report_years) == [2023, 2024]
    assert public.practitioner_count == 1
    assert public.credit_grade == (await profile(api, agency.id)).grade
    assert [(p.kind, p.decided_on, p.publicity_ends_on, p.summary, p.fine_cny) for p in public.penalties] == [
        (pb.CREDIT_EVENT_KIND_FINE, fine.occurred_on, fine.publicity_ends_on, fine.summary, 30_000)]
    published = answer.SerializeToString()
    for private in (agency.phone, agency.address, agency.id, person.resident_id, person.phone):
        assert private.encode() not in published


async def test_the_public_sees_a_practitioner_with_a_masked_identity(api):
    agency = await create_agency(api)
    person = await register(api, phone="13700001111")
    await file_practice(api, person.id, agency.id, day(-30))
    await api.RecordCreditEvent(credit_event(day(-3), day(30), pb.CREDIT_EVENT_KIND_WARNING,
                                             practitioner_id=person.id), metadata=OPERATOR)
    fine = credit_event(day(-2), day(60), practitioner_id=person.id, fine_cny=5_000)
    await api.RecordCreditEvent(fine, metadata=OPERATOR)

    for query in (person.certificate_number, person.name[:11]):
        answer = await api.LookupPractitionerPublic(pb.LookupPractitionerPublicRequest(query=query),
                                                    metadata=metadata("citizen"))
        assert len(answer.practitioners) == 1, query
        public = answer.practitioners[0]
        assert (public.name, public.kind, public.certificate_number, public.agency_name,
                public.agency_credit_code) == (person.name, person.kind, person.certificate_number, agency.name,
                                               agency.credit_code)
        rid = person.resident_id
        assert public.resident_id_masked == rid[0] + "*" * 16 + rid[-1]
        assert [(p.kind, p.fine_cny, p.summary) for p in public.penalties] == [
            (pb.CREDIT_EVENT_KIND_FINE, 5_000, fine.summary)]
        published = answer.SerializeToString()
        for private in (person.resident_id, rid[1:-1], person.phone, person.id):
            assert private.encode() not in published


async def test_public_lookup_refusals(api):
    await invalid(api.LookupAgencyPublic(pb.LookupAgencyPublicRequest(query="京", page_size=51)),
                  "query", "page_size")
    await invalid(api.LookupAgencyPublic(pb.LookupAgencyPublicRequest()), "query")
    await invalid(api.LookupPractitionerPublic(pb.LookupPractitionerPublicRequest(query="名" * 101, page_size=-1)),
                  "query", "page_size")
    await invalid(api.LookupPractitionerPublic(pb.LookupPractitionerPublicRequest()), "query")
    assert not (await api.LookupAgencyPublic(pb.LookupAgencyPublicRequest(query=f"无此{uid()}"))).agencies


# ---- roles, tokens and region scopes ----------------------------------------------------------

def declared_roles(method) -> frozenset[str]:
    return auth.declared_roles(method.GetOptions().Extensions[options_pb2.access])


def one_valid_request(rpc: str, agency: pb.Agency, person: pb.Practitioner):
    """A well-formed request of each RPC about an existing agency and practitioner."""
    return {
        "CreateAgency": lambda: agency_request(),
        "GetAgency": lambda: pb.GetAgencyRequest(id=agency.id),
        "SearchAgencies": lambda: pb.SearchAgenciesRequest(query=agency.name),
        "ChangeAgencyStatus": lambda: suspension(agency.id, day(0), day(90)),
        "ReinstateAgency": lambda: reinstatement(agency.id, day(0)),
        "RegisterPractitioner": lambda: practitioner_request(),
        "GetPractitioner": lambda: pb.GetPractitionerRequest(id=person.id),
        "SearchPractitioners": lambda: pb.SearchPractitionersRequest(query=person.name),
        "FilePractice": lambda: pb.FilePracticeRequest(idempotency_key=key(), practitioner_id=person.id,
                                                       agency_id=agency.id, started_on=day(0)),
        "EndPractice": lambda: pb.EndPracticeRequest(idempotency_key=key(), practitioner_id=person.id,
                                                     ended_on=day(0), reason="离职"),
        "FileAnnualReport": lambda: annual_report(agency.id, 2024),
        "ListAnnualReports": lambda: pb.ListAnnualReportsRequest(agency_id=agency.id),
        "RecordCreditEvent": lambda: credit_event(day(-1), day(90), agency_id=agency.id),
        "WithdrawCreditEvent": lambda: pb.WithdrawCreditEventRequest(
            idempotency_key=key(), event_id="ce-nosuchevent", withdrawn_on=day(0), reason="复议决定撤销原处罚决定"),
        "GetCreditProfile": lambda: pb.GetCreditProfileRequest(agency_id=agency.id),
        "ListAgencyCreditGrades": lambda: pb.ListAgencyCreditGradesRequest(page_size=10),
        "LookupAgencyPublic": lambda: pb.LookupAgencyPublicRequest(query=agency.credit_code),
        "LookupPractitionerPublic": lambda: pb.LookupPractitionerPublicRequest(query=person.certificate_number),
        # Associations (tests/test_registry_associations.py): an unknown association is NOT_FOUND past the gate.
        "CreateAssociation": lambda: pb.CreateAssociationRequest(
            idempotency_key=key(), name=f"测试协会{uid()}", credit_code=testdata.credit_code("110000"),
            region_code="110000", kinds=[pb.AGENCY_KIND_PATENT]),
        "ListAssociations": lambda: pb.ListAssociationsRequest(),
        "GetAssociation": lambda: pb.GetAssociationRequest(id=NO_ASSOCIATION),
        "AdmitMember": lambda: pb.AdmitMemberRequest(idempotency_key=key(), association_id=NO_ASSOCIATION,
                                                     agency_id=agency.id, joined_on=day(0)),
        "EndMembership": lambda: pb.EndMembershipRequest(idempotency_key=key(), association_id=NO_ASSOCIATION,
                                                         agency_id=agency.id, left_on=day(0),
                                                         ended_by=pb.MEMBERSHIP_END_LEFT),
        "ListMembers": lambda: pb.ListMembersRequest(association_id=NO_ASSOCIATION),
        "GetMember": lambda: pb.GetMemberRequest(association_id=NO_ASSOCIATION, agency_id=agency.id),
        "RecordAssociationDiscipline": lambda: pb.RecordAssociationDisciplineRequest(
            association_id=NO_ASSOCIATION, agency_id=agency.id, measure=pb.DISCIPLINE_MEASURE_WARNING,
            document_number=f"D{uid()}", decided_on=day(0), publicity_ends_on=day(90)),
        "RecordPublicityEnded": lambda: pb.RecordPublicityEndedRequest(event_id="ce-nosuchevent"),
        "RegisterAssociationCertificate": lambda: pb.RegisterAssociationCertificateRequest(
            association_id=NO_ASSOCIATION, fingerprint_sha256="0" * 64, not_after=day(30)),
        "RevokeAssociationCertificate": lambda: pb.RevokeAssociationCertificateRequest(
            fingerprint_sha256="0" * 64, revoked_on=day(0)),
        "ResolveAssociationCertificate": lambda: pb.ResolveAssociationCertificateRequest(fingerprint_sha256="0" * 64),
        "AppendMemberEvents": lambda: pb.AppendMemberEventsRequest(events=[pb.MemberEventDraft(
            source_key=f"roles:{uid()}", kind=pb.MEMBER_EVENT_KIND_CASE_OPENED, agency_id=agency.id,
            occurred_at=timestamp_now(), subject_id="case-roles", association_id=NO_ASSOCIATION)]),
        "ReadMemberEvents": lambda: pb.ReadMemberEventsRequest(association_id=NO_ASSOCIATION),
        "AcknowledgeMemberEvents": lambda: pb.AcknowledgeMemberEventsRequest(association_id=NO_ASSOCIATION,
                                                                             position=1),
        # Nothing is recorded before 2000: nothing is dropped.
        "PruneMemberEvents": lambda: pb.PruneMemberEventsRequest(before="2000-01-01"),
        # Credit lists (tests/test_credit_lists.py): not the listing day, nothing due, not on the list.
        "ListAnnualReportNonFilers": lambda: pb.ListAnnualReportNonFilersRequest(report_year=2024,
                                                                                 listed_on="2025-01-01"),
        "EscalateAbnormalListings": lambda: pb.EscalateAbnormalListingsRequest(on="2000-01-01"),
        "RequestListRemoval": lambda: pb.RequestListRemovalRequest(
            idempotency_key=key(), agency_id=agency.id, list=pb.CREDIT_LIST_ABNORMAL_OPERATION, reason="已补报"),
        "ListCreditListEntries": lambda: pb.ListCreditListEntriesRequest(list=pb.CREDIT_LIST_ABNORMAL_OPERATION,
                                                                         agency_id=agency.id),
        # Credit repair and joint punishment (tests/test_credit_repair.py, tests/test_joint_punishment.py):
        # nothing of these names exists.
        "ApplyForCreditRepair": lambda: pb.ApplyForCreditRepairRequest(
            idempotency_key=key(), agency_id=agency.id, credit_event_ids=["ce-nosuchevent"], statement="申请信用修复",
            compliance="罚款已缴清"),
        "GetCreditRepair": lambda: pb.GetCreditRepairRequest(id="cr-nosuchrepair"),
        "ListCreditRepairs": lambda: pb.ListCreditRepairsRequest(agency_id=agency.id),
        "CheckCreditRepair": lambda: pb.CheckCreditRepairRequest(
            idempotency_key=key(), repair_id="cr-nosuchrepair", outcome=pb.CREDIT_REPAIR_CHECK_OUTCOME_FOR_DECISION,
            compliance_evidence="缴款书"),
        "DecideCreditRepair": lambda: pb.DecideCreditRepairRequest(
            idempotency_key=key(), repair_id="cr-nosuchrepair", decision=pb.CREDIT_REPAIR_DECISION_GRANT),
        "RecordCreditRepairStep": lambda: pb.RecordCreditRepairStepRequest(
            repair_id="cr-nosuchrepair", step=pb.CREDIT_REPAIR_STEP_CHECKED, on=day(0), actor="test-handler"),
        "RecordJointPunishment": lambda: pb.RecordJointPunishmentRequest(
            idempotency_key=key(), credit_event_id="ce-nosuchevent",
            kinds=[pb.JOINT_PUNISHMENT_KIND_PROCUREMENT_RESTRICTION], decision_reference="联合惩戒备忘录"),
        "ListJointPunishments": lambda: pb.ListJointPunishmentsRequest(agency_id=agency.id),
        "ExportJointPunishments": lambda: pb.ExportJointPunishmentsRequest(format=pb.EXPORT_FORMAT_JSON),
        "CountCreditListEntries": lambda: pb.CountCreditListEntriesRequest(list=pb.CREDIT_LIST_ABNORMAL_OPERATION,
                                                                           days=["2026-12-31"]),
    }[rpc]()


NO_ASSOCIATION = "as-nosuchassociation"


def timestamp_now():
    from suite.protos import timestamp
    return timestamp(clock.now())


async def test_every_rpc_admits_its_declared_roles_and_no_other(api, registry):
    agency, person = await create_agency(api), await register(api)
    for method in SERVICE.methods:
        declared = declared_roles(method)
        assert declared, method.name
        call = getattr(api, method.name)
        writes = "idempotency_key" in method.input_type.fields_by_name
        for role in auth.ROLES:
            request = one_valid_request(method.name, agency, person)
            if role in declared:
                # Admitted: whatever the answer, it is not the gate's.
                try:
                    await call(request, metadata=metadata(role))
                except grpc.aio.AioRpcError as error:
                    assert error.code() not in (Code.PERMISSION_DENIED, Code.UNAUTHENTICATED), (method.name, role)
                continue
            expected = Code.UNAUTHENTICATED if role == "public" else Code.PERMISSION_DENIED
            if writes:
                async with nothing_stored_changes(registry):
                    await refused(call(request, metadata=metadata(role)), expected)
            else:
                await refused(call(request, metadata=metadata(role)), expected)


def bad_tokens() -> dict[str, str]:
    def signed(claims: dict, key=None) -> str:
        return jwt.encode(claims, key or config.signin_key(), algorithm=auth.ALGORITHM)
    now = int(clock.now().timestamp())
    issuer = auth.SIGNIN_ISSUER
    stranger = auth.Signer(issuer, Ed25519PrivateKey.generate(), auth.PEOPLE)
    return {
        "another key": "Bearer " + stranger.mint("operator", "x"),
        "expired": "Bearer " + auth.mint("operator", "x", ttl_seconds=-60),
        "unknown role": "Bearer " + signed({"iss": issuer, "sub": "x", "role": "emperor", "region": auth.NATIONWIDE,
                                            "exp": now + 60}),
        "another issuer": "Bearer " + signed({"iss": "elsewhere", "sub": "x", "role": "operator",
                                              "region": auth.NATIONWIDE, "exp": now + 60}),
        "no expiry": "Bearer " + signed({"iss": issuer, "sub": "x", "role": "operator", "region": auth.NATIONWIDE}),
        "no region": "Bearer " + signed({"iss": issuer, "sub": "x", "role": "operator", "exp": now + 60}),
        "no region code": "Bearer " + signed({"iss": issuer, "sub": "x", "role": "operator", "region": "北京",
                                               "exp": now + 60}),
        "association unnamed": "Bearer " + signed({"iss": issuer, "sub": "x", "role": "association",
                                                    "region": auth.NATIONWIDE, "exp": now + 60}),
        # Each key signs its own roles only: the sign-in key no machine, the machine key no person.
        "machine by the sign-in key": "Bearer " + signed({"iss": issuer, "sub": "x", "role": "machine",
                                                           "region": auth.NATIONWIDE, "exp": now + 60}),
        "operator by the machine key": "Bearer " + signed({"iss": auth.MACHINE_ISSUER, "sub": "x", "role": "operator",
                                                            "region": auth.NATIONWIDE, "exp": now + 60},
                                                           config.machine_key()),
        "machine key under the sign-in issuer": "Bearer " + signed({"iss": issuer, "sub": "x", "role": "operator",
                                                                     "region": auth.NATIONWIDE, "exp": now + 60},
                                                                    config.machine_key()),
        "not a token": "Bearer not.a.token",
        "not bearer": "Basic " + auth.mint("operator", "x"),
        "empty bearer": "Bearer ",
    }


def test_a_key_signs_only_its_own_roles() -> None:
    with pytest.raises(ValueError):
        auth.signin_signer().mint("machine", "x")
    for person in ("operator", "admin", "handler"):
        with pytest.raises(ValueError):
            auth.machine_signer().mint(person, "x")


async def test_a_bad_token_is_refused_even_where_the_public_may_call(api, registry):
    agency = await create_agency(api)
    for problem, header in bad_tokens().items():
        caller = (("authorization", header),)
        await refused(api.GetAgency(pb.GetAgencyRequest(id=agency.id), metadata=caller), Code.UNAUTHENTICATED)
        await refused(api.LookupAgencyPublic(pb.LookupAgencyPublicRequest(query=agency.credit_code),
                                             metadata=caller), Code.UNAUTHENTICATED)
        async with nothing_stored_changes(registry):
            await refused(api.CreateAgency(agency_request(), metadata=caller), Code.UNAUTHENTICATED)


async def test_a_token_seen_before_is_refused_once_it_has_expired(api):
    agency = await create_agency(api)
    caller = (("authorization", "Bearer " + auth.mint("operator", "x", ttl_seconds=2)),)
    await api.GetAgency(pb.GetAgencyRequest(id=agency.id), metadata=caller)
    await asyncio.sleep(2.1)
    await refused(api.GetAgency(pb.GetAgencyRequest(id=agency.id), metadata=caller), Code.UNAUTHENTICATED)


async def test_a_caller_touches_nothing_outside_its_region(api, registry):
    shanghai = await create_agency(api, region_code="310104")
    practising_there = await register(api)
    await file_practice(api, practising_there.id, shanghai.id, day(-10))
    beijing_agency = await create_agency(api, region_code="110108")
    other = await register(api)

    def in_beijing(role: str):
        return metadata(role, region=BEIJING)

    refusals = [
        lambda: api.CreateAgency(agency_request(region_code="310104"), metadata=in_beijing("operator")),
        lambda: api.GetAgency(pb.GetAgencyRequest(id=shanghai.id), metadata=in_beijing("handler")),
        lambda: api.GetPractitioner(pb.GetPractitionerRequest(id=practising_there.id), metadata=in_beijing("handler")),
        lambda: api.SearchAgencies(pb.SearchAgenciesRequest(region_code="310104"), metadata=in_beijing("inspector")),
        lambda: api.ChangeAgencyStatus(suspension(shanghai.id, day(0), day(90)), metadata=in_beijing("supervisor")),
        lambda: file_practice_as(api, in_beijing("operator"), other.id, shanghai.id, day(0)),
        # Moving someone to Beijing ends their filing in Shanghai: that is Shanghai's business too.
        lambda: file_practice_as(api, in_beijing("operator"), practising_there.id, beijing_agency.id, day(0),
                                 transfer=True),
        lambda: api.EndPractice(pb.EndPracticeRequest(idempotency_key=key(), practitioner_id=practising_there.id,
                                                      ended_on=day(0), reason="离职"), metadata=in_beijing("operator")),
        lambda: api.FileAnnualReport(annual_report(shanghai.id, 2024), metadata=in_beijing("operator")),
        lambda: api.ListAnnualReports(pb.ListAnnualReportsRequest(agency_id=shanghai.id),
                                      metadata=in_beijing("inspector")),
        lambda: api.RecordCreditEvent(credit_event(day(-1), day(90), agency_id=shanghai.id),
                                      metadata=in_beijing("supervisor")),
        lambda: api.RecordCreditEvent(credit_event(day(-1), day(90), practitioner_id=practising_there.id),
                                      metadata=in_beijing("supervisor")),
        lambda: api.GetCreditProfile(pb.GetCreditProfileRequest(agency_id=shanghai.id),
                                     metadata=in_beijing("handler")),
    ]
    async with nothing_stored_changes(registry):
        for call in refusals:
            await refused(call(), Code.PERMISSION_DENIED)

    # Shanghai's own staff and the nationwide scope may.
    in_shanghai = metadata("handler", region=SHANGHAI)
    assert (await api.GetAgency(pb.GetAgencyRequest(id=shanghai.id), metadata=in_shanghai)).agency.id == shanghai.id
    assert (await api.GetCreditProfile(pb.GetCreditProfileRequest(agency_id=shanghai.id),
                                       metadata=in_shanghai)).profile.agency_id == shanghai.id
    # Personal data of those practising in Shanghai is Shanghai's: a search in Beijing leaves them out.
    for caller, finds in ((in_beijing("handler"), False), (in_shanghai, True), (metadata("handler"), True)):
        found = await api.SearchPractitioners(pb.SearchPractitionersRequest(query=practising_there.name),
                                              metadata=caller)
        assert (practising_there.id in [p.id for p in found.practitioners]) is finds
    assert (await api.GetPractitioner(pb.GetPractitionerRequest(id=practising_there.id),
                                      metadata=in_shanghai)).practitioner.id == practising_there.id
    # Someone practising nowhere belongs to no office's region.
    assert (await api.GetPractitioner(pb.GetPractitionerRequest(id=other.id),
                                      metadata=in_beijing("handler"))).practitioner.id == other.id
    moved = await file_practice_as(api, metadata("operator", region=SHANGHAI), other.id, shanghai.id, day(0))
    assert moved.practitioner.current_agency_id == shanghai.id


def file_practice_as(api, caller, practitioner_id: str, agency_id: str, started_on: str, transfer: bool = False):
    return api.FilePractice(pb.FilePracticeRequest(idempotency_key=key(), practitioner_id=practitioner_id,
                                                   agency_id=agency_id, started_on=started_on, transfer=transfer),
                            metadata=caller)


# ---- idempotency ------------------------------------------------------------------------------

async def test_a_retried_write_answers_the_same_and_changes_nothing_twice(api, registry):
    async def twice(call, request):
        first = await call(request, metadata=OPERATOR)
        async with nothing_stored_changes(registry):
            again = await call(request, metadata=OPERATOR)
        assert again == first
        return first

    agency = (await twice(api.CreateAgency, agency_request())).agency
    person = (await twice(api.RegisterPractitioner, practitioner_request())).practitioner
    await twice(api.FilePractice, pb.FilePracticeRequest(idempotency_key=key(), practitioner_id=person.id,
                                                          agency_id=agency.id, started_on=day(-9)))
    await twice(api.ChangeAgencyStatus, suspension(agency.id, day(-5), day(60)))
    await twice(api.FileAnnualReport, annual_report(agency.id, 2024))
    await twice(api.RecordCreditEvent, credit_event(day(-1), day(90), agency_id=agency.id))
    await twice(api.EndPractice, pb.EndPracticeRequest(idempotency_key=key(), practitioner_id=person.id,
                                                        ended_on=day(0), reason="离职"))
    got = (await api.GetAgency(pb.GetAgencyRequest(id=agency.id), metadata=OPERATOR)).agency
    assert len(got.status_history) == 1


async def test_a_key_reused_for_another_request_is_invalid(api, registry):
    request = agency_request()
    await api.CreateAgency(request, metadata=OPERATOR)
    changed = pb.CreateAgencyRequest()
    changed.CopyFrom(request)
    changed.name += "（变更）"
    async with nothing_stored_changes(registry):
        await invalid(api.CreateAgency(changed, metadata=OPERATOR), "idempotency_key")
    agency = await create_agency(api, agency_request())
    reused = suspension(agency.id, day(0), day(30))
    await api.ChangeAgencyStatus(reused, metadata=OPERATOR)
    reused.suspended_until = day(31)
    async with nothing_stored_changes(registry):
        await invalid(api.ChangeAgencyStatus(reused, metadata=OPERATOR), "idempotency_key")


async def test_concurrent_retries_write_once(api, registry):
    request = agency_request()
    answers = await asyncio.gather(*(api.CreateAgency(request, metadata=OPERATOR) for _ in range(6)))
    assert all(answer == answers[0] for answer in answers)
    assert await count(registry, select(func.count()).select_from(store.Agency)
                       .where(store.Agency.credit_code == request.credit_code)) == 1

    agency = answers[0].agency
    change = suspension(agency.id, day(0), day(30))
    changed = await asyncio.gather(*(api.ChangeAgencyStatus(change, metadata=OPERATOR) for _ in range(6)))
    assert all(answer == changed[0] for answer in changed)
    assert await count(registry, select(func.count()).select_from(store.AgencyStatusChange)
                       .where(store.AgencyStatusChange.agency_id == agency.id)) == 1

    event = credit_event(day(-1), day(90), agency_id=agency.id)
    recorded = await asyncio.gather(*(api.RecordCreditEvent(event, metadata=OPERATOR) for _ in range(6)))
    assert len({answer.event.id for answer in recorded}) == 1
    assert await count(registry, select(func.count()).select_from(store.CreditEvent)
                       .where(store.CreditEvent.agency_id == agency.id)) == 1


async def test_concurrent_filings_of_one_practitioner_keep_one_agency(api):
    """Different requests racing on one practitioner: one wins, the other sees its filing."""
    for _ in range(3):
        first, second = await create_agency(api), await create_agency(api)
        person = await register(api)
        outcomes = await asyncio.gather(file_practice(api, person.id, first.id, day(0)),
                                        file_practice(api, person.id, second.id, day(0)), return_exceptions=True)
        refusals = [o for o in outcomes if isinstance(o, Exception)]
        assert len(refusals) == 1 and refusals[0].code() == Code.FAILED_PRECONDITION, outcomes
        got = (await api.GetPractitioner(pb.GetPractitionerRequest(id=person.id), metadata=OPERATOR)).practitioner
        assert [f.agency_id for f in got.filings if not f.ended_on] == [got.current_agency_id]


def test_a_machine_token_is_short_lived_and_renewed_before_it_expires(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(auth.time, "monotonic", lambda: now[0])
    token = auth.MachineToken("ipss-worker")
    first = str(token)
    claims = jwt.decode(first, options={"verify_signature": False})
    assert claims["role"] == "machine" and claims["iss"] == auth.MACHINE_ISSUER
    assert claims["exp"] - claims["iat"] == auth.MACHINE_TOKEN_SECONDS <= 300
    assert str(token) == first  # reused while it has a while to live
    now[0] += auth.MACHINE_TOKEN_SECONDS - auth.MACHINE_TOKEN_MARGIN_SECONDS
    monkeypatch.setattr(auth.time, "time", lambda: claims["iat"] + 300.0)
    assert str(token) != first
