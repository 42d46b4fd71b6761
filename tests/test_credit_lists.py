"""The credit lists (经营异常名录, 严重违法失信名单): the registry's entries over loopback gRPC, once
per database, on a register of this module's own (a listing reaches every agency in it); and the
CreditLists workflow's clocks on Temporal's time-skipping server with the suite's worker: a
non-filer listed on the day after the window, and moved to the serious-violation list on the day
its three years run out.

The registry answers on the legal day a test names (replicas of it on the same database with
their own legal clock), since a removal is asked for on a day."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, time, timedelta

import grpc
import pytest
from temporalio.testing import WorkflowEnvironment

from contracts import search_attributes
from contracts.credit_lists import CREDIT_LISTS_WORKFLOW, VIEW_QUERY, CreditListsState, CreditListsView
from ipss.registry.v1 import registry_pb2 as pb
from ipss.registry.v1 import registry_pb2_grpc as pb_grpc
from rules import Rules, WorkingDayCalendar
from services.registry.server import build
from suite import clock, migrate, testdata
from tests.conftest import BACKENDS, fresh_database, metadata, token
from tests.grpc_checks import error_info, eventually, invalid
from tests.test_agency_suspension_workflow import TEST_SERVER, WORKER_SUBJECT
from workflows.worker import Activities, build_worker

OPERATOR, HANDLER, PUBLIC = metadata("operator"), metadata("handler"), metadata("public")
MACHINE = metadata("machine")  # the worker's and the services' own calls
ABNORMAL, SERIOUS = pb.CREDIT_LIST_ABNORMAL_OPERATION, pb.CREDIT_LIST_SERIOUS_VIOLATION
# The law's default window is 1–31 March: non-filers of 2026 are listed on 1 April 2027.
LISTING_DAY_2027 = date(2027, 4, 1)


def key() -> str:
    return uuid.uuid4().hex


@pytest.fixture(params=BACKENDS)
def database(request) -> str:
    with fresh_database(request.param) as url:
        migrate.upgrade("registry", database_url=url)
        yield url


@asynccontextmanager
async def registry_on(database_url: str, legal_day: date | None = None
                      ) -> AsyncIterator[tuple[pb_grpc.RegistryServiceStub, str]]:
    """A registry replica on the database whose legal today is `legal_day` (the wall clock's if
    none): a stub and its address."""
    offset = (clock.today() - legal_day).days if legal_day else 0
    server, store = build(database_url=database_url, legal_clock=clock.LegalClock(offset))
    address = f"127.0.0.1:{await server.start('127.0.0.1:0')}"
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            yield pb_grpc.RegistryServiceStub(channel), address
    finally:
        await server.stop(0)
        await store.close()


async def agency(api, **fields) -> pb.Agency:
    values = {"established_on": "2016-03-01", **fields}
    return (await api.CreateAgency(testdata.agency_request("110108", **values), metadata=OPERATOR)).agency


async def file_report(api, agency_id: str, year: int, filed_on: str, caller=OPERATOR) -> pb.AnnualReport:
    return (await api.FileAnnualReport(pb.FileAnnualReportRequest(
        idempotency_key=key(), agency_id=agency_id, year=year, filed_on=filed_on, employees=12, practitioners=5,
        revenue_cny=3_000_000, summary=f"{year} 年度报告"), metadata=caller)).report


async def entries(api, which: int, on: str, agency_id: str = "") -> list[pb.CreditListEntry]:
    return list((await api.ListCreditListEntries(pb.ListCreditListEntriesRequest(
        list=which, on=on, agency_id=agency_id, page_size=1000), metadata=PUBLIC)).entries)


async def remove(api, agency_id: str, which: int, caller=HANDLER):
    return await api.RequestListRemoval(pb.RequestListRemovalRequest(
        idempotency_key=key(), agency_id=agency_id, list=which, reason="已补报年度报告，申请移出"), metadata=caller)


def expected_move(listed_on: date) -> date:
    """The day after three years on the abnormal list, from the rules file and the calendar."""
    calendar, period = WorkingDayCalendar.load(), Rules.load().periods["abnormal_list_to_serious"]
    return calendar.deadline(listed_on, period) + timedelta(days=1)


# ---- the registry's entries --------------------------------------------------------------------

async def test_non_filers_are_listed_once_on_the_listing_day_and_taken_off_when_they_file(database):
    async with registry_on(database) as (api, _):
        filed, missing = await agency(api), await agency(api)
        trademark = await agency(api, kind=pb.AGENCY_KIND_TRADEMARK)
        founded_2026 = await agency(api, established_on="2026-01-10")
        await file_report(api, filed.id, 2026, "2027-03-20")

        await invalid(api.ListAnnualReportNonFilers(pb.ListAnnualReportNonFilersRequest(
            report_year=2026, listed_on="2027-03-31"), metadata=MACHINE), "listed_on")
        first = await list_non_filers(api, 2026, LISTING_DAY_2027)
        again = await list_non_filers(api, 2026, LISTING_DAY_2027)
        assert (first.listed, first.already_listed, again.listed, again.already_listed) == (2, 0, 0, 2)
        earlier = await list_non_filers(api, 2025, date(2026, 4, 1))  # before 2026, founded_2026 owed nothing
        assert earlier.listed == 2

        on_the_day = await entries(api, ABNORMAL, "2027-04-01")
        assert {(e.agency_id, e.report_year) for e in on_the_day} == {
            (missing.id, 2026), (founded_2026.id, 2026), (filed.id, 2025), (missing.id, 2025)}
        assert trademark.id not in {e.agency_id for e in on_the_day}
        [entry] = [e for e in on_the_day if e.agency_id == missing.id and e.report_year == 2026]
        assert (entry.listed_on, entry.reason) == ("2027-04-01", "annual_report_missing")
        assert entry.moves_to_serious_on == expected_move(LISTING_DAY_2027).isoformat()
        assert {e.report_year for e in await entries(api, ABNORMAL, "2027-03-31")} == {2025}
        profile = (await api.GetCreditProfile(pb.GetCreditProfileRequest(agency_id=founded_2026.id,
                                                                         as_of="2027-04-02"),
                                              metadata=HANDLER)).profile
        assert [r.kind for r in profile.reasons] == [pb.CREDIT_EVENT_KIND_ABNORMAL_OPERATION_LIST]

    async with registry_on(database, date(2027, 5, 10)) as (api, _):
        refusal = await _refused(remove(api, founded_2026.id, ABNORMAL))
        assert (refusal.code(), error_info(refusal).reason) == (grpc.StatusCode.FAILED_PRECONDITION,
                                                                 "ANNUAL_REPORT_STILL_MISSING")
        await file_report(api, founded_2026.id, 2026, "2027-05-10")
        removed = (await remove(api, founded_2026.id, ABNORMAL)).entry
        assert (removed.removed_on, removed.removal_reason) == ("2027-05-10", "annual_report_filed")
        assert founded_2026.id not in {e.agency_id for e in await entries(api, ABNORMAL, "2027-05-10")}
        assert founded_2026.id in {e.agency_id for e in await entries(api, ABNORMAL, "2027-05-09")}
        profile = (await api.GetCreditProfile(pb.GetCreditProfileRequest(agency_id=founded_2026.id,
                                                                         as_of="2027-05-10"),
                                              metadata=HANDLER)).profile
        assert [r.kind for r in profile.reasons] == [pb.CREDIT_EVENT_KIND_ABNORMAL_OPERATION_LIST_REMOVAL]
        refusal = await _refused(remove(api, founded_2026.id, ABNORMAL))
        assert error_info(refusal).reason == "NOT_ON_LIST"


async def list_non_filers(api, report_year: int, listed_on: date) -> pb.ListAnnualReportNonFilersResponse:
    return await api.ListAnnualReportNonFilers(pb.ListAnnualReportNonFilersRequest(
        report_year=report_year, listed_on=listed_on.isoformat()), metadata=MACHINE)


async def test_the_lists_are_counted_on_each_day_asked(database):
    """The lists' sizes over time (统计): who was on a list at the end of each day, as the public
    entries say, in the region asked; bad days are named."""
    async with registry_on(database) as (api, _):
        removed, stays = await agency(api), await agency(api)
        elsewhere = (await api.CreateAgency(testdata.agency_request("310104", established_on="2016-03-01"),
                                            metadata=OPERATOR)).agency
        await list_non_filers(api, 2026, LISTING_DAY_2027)
    async with registry_on(database, date(2027, 5, 10)) as (api, _):
        await file_report(api, removed.id, 2026, "2027-05-10")
        await remove(api, removed.id, ABNORMAL)
        days = ["2027-03-31", "2027-04-01", "2027-05-09", "2027-05-10"]
        counted = await api.CountCreditListEntries(pb.CountCreditListEntriesRequest(
            list=ABNORMAL, days=days), metadata=PUBLIC)
        assert [c.on for c in counted.counts] == days
        listed = {day: len([e for e in await entries(api, ABNORMAL, day)]) for day in days}
        assert [c.entries for c in counted.counts] == [listed[day] for day in days]
        assert listed["2027-05-09"] - listed["2027-05-10"] == 1 and listed["2027-03-31"] < listed["2027-04-01"]
        beijing = await api.CountCreditListEntries(pb.CountCreditListEntriesRequest(
            list=ABNORMAL, days=days, region_code="110000"), metadata=PUBLIC)
        shanghai = await api.CountCreditListEntries(pb.CountCreditListEntriesRequest(
            list=ABNORMAL, days=days, region_code="310000"), metadata=PUBLIC)
        assert [a.entries + b.entries for a, b in zip(beijing.counts, shanghai.counts)] == \
            [c.entries for c in counted.counts]
        assert shanghai.counts[1].entries >= 1 and elsewhere.id and stays.id
        serious = await api.CountCreditListEntries(pb.CountCreditListEntriesRequest(
            list=SERIOUS, days=["2027-05-10"]), metadata=PUBLIC)
        assert [c.entries for c in serious.counts] == [0]
        await invalid(api.CountCreditListEntries(pb.CountCreditListEntriesRequest(
            list=ABNORMAL, days=["2027-02-30", "2027-04-01", "soon"]), metadata=PUBLIC), "days[0]", "days[2]")
        await invalid(api.CountCreditListEntries(pb.CountCreditListEntriesRequest(
            days=["2027-04-01"] * 61, region_code="11"), metadata=PUBLIC), "list", "days", "region_code")


async def test_three_years_on_the_abnormal_list_move_an_agency_and_early_removal_waits_a_year(database):
    async with registry_on(database) as (api, _):
        stays = await agency(api)
        await list_non_filers(api, 2026, LISTING_DAY_2027)
        moves_on = expected_move(LISTING_DAY_2027)
        early = await api.EscalateAbnormalListings(pb.EscalateAbnormalListingsRequest(
            on=(moves_on - timedelta(days=1)).isoformat()), metadata=MACHINE)
        assert (early.moved, early.next_move_on) == (0, moves_on.isoformat())
        due = await api.EscalateAbnormalListings(pb.EscalateAbnormalListingsRequest(
            on=(moves_on + timedelta(days=3)).isoformat()), metadata=MACHINE)
        assert (due.moved, due.next_move_on) == (1, "")

        [serious] = await entries(api, SERIOUS, moves_on.isoformat(), stays.id)
        assert (serious.listed_on, serious.reason) == (moves_on.isoformat(), "moved_from_abnormal_list")
        assert not await entries(api, ABNORMAL, moves_on.isoformat(), stays.id)
        profile = (await api.GetCreditProfile(pb.GetCreditProfileRequest(agency_id=stays.id,
                                                                         as_of=moves_on.isoformat()),
                                              metadata=HANDLER)).profile
        assert profile.grade == pb.CREDIT_GRADE_D
        early_from = date.fromisoformat(serious.early_removal_from)
        await file_report(api, stays.id, 2026, "2030-06-01")

    async with registry_on(database, early_from - timedelta(days=1)) as (api, _):
        refusal = await _refused(remove(api, stays.id, SERIOUS))
        assert error_info(refusal).reason == "EARLY_REMOVAL_NOT_YET"
    async with registry_on(database, early_from) as (api, _):
        removed = (await remove(api, stays.id, SERIOUS)).entry
        assert (removed.removed_on, removed.removal_reason) == (early_from.isoformat(), "early_removal")


async def test_an_association_files_and_asks_for_its_members_only(database):
    async with registry_on(database) as (api, _):
        member, stranger = await agency(api), await agency(api)
        association = (await api.CreateAssociation(pb.CreateAssociationRequest(
            idempotency_key=key(), name=f"专利代理师协会{key()[:6]}", credit_code=testdata.credit_code("110000"),
            region_code="110000", kinds=[pb.AGENCY_KIND_PATENT]), metadata=OPERATOR)).association
        await api.AdmitMember(pb.AdmitMemberRequest(idempotency_key=key(), association_id=association.id,
                                                    agency_id=member.id, joined_on="2020-01-01"), metadata=OPERATOR)
        caller = metadata("association", association_id=association.id)
        assert (await file_report(api, member.id, 2025, "2026-03-10", caller)).year == 2025
        refusal = await _refused(file_report(api, stranger.id, 2025, "2026-03-10", caller))
        assert refusal.code() == grpc.StatusCode.NOT_FOUND
        refusal = await _refused(remove(api, stranger.id, ABNORMAL, caller))
        assert refusal.code() == grpc.StatusCode.NOT_FOUND


async def _refused(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await call
    return refusal.value


# ---- the workflow's clocks ---------------------------------------------------------------------

@pytest.fixture
async def temporal() -> AsyncIterator[WorkflowEnvironment]:
    assert TEST_SERVER, "temporal-test-server is not installed next to the interpreter"
    async with await WorkflowEnvironment.start_time_skipping(test_server_existing_path=TEST_SERVER) as env:
        await search_attributes.register(env.client)
        yield env


async def test_the_workflow_lists_on_the_listing_day_and_moves_three_years_on(temporal, database):
    assert clock.today() < LISTING_DAY_2027, "this scenario starts before the 2027 listing day"
    async with registry_on(database) as (api, address):
        filer, non_filer = await agency(api), await agency(api)
        await file_report(api, filer.id, 2026, "2027-03-02")
        activities = Activities.connect(registry_address=address, token=token("machine", subject=WORKER_SUBJECT))
        queue = f"credit-lists-{key()[:8]}"
        try:
            async with build_worker(temporal.client, activities, queue):
                handle = await temporal.client.start_workflow(CREDIT_LISTS_WORKFLOW, CreditListsState(),
                                                              id=f"credit-lists-{key()[:8]}", task_queue=queue)
                async def asleep():
                    view = await handle.query(VIEW_QUERY, result_type=CreditListsView)
                    return view if view.wakes_on else None
                view = await eventually(asleep)
                assert (view.listed_through_year, view.next_listing_on, view.wakes_on) == (
                    2025, LISTING_DAY_2027.isoformat(), LISTING_DAY_2027.isoformat())

                await _sleep_until(temporal, LISTING_DAY_2027 - timedelta(days=1))
                assert not await entries(api, ABNORMAL, "2027-04-01")
                await _sleep_until(temporal, LISTING_DAY_2027 + timedelta(days=1))
                [listed] = await entries(api, ABNORMAL, "2027-04-01")
                assert (listed.agency_id, listed.listed_on) == (non_filer.id, "2027-04-01")

                moves_on = date.fromisoformat(listed.moves_to_serious_on)
                await _sleep_until(temporal, moves_on + timedelta(days=1))
                serious = [e for e in await entries(api, SERIOUS, moves_on.isoformat()) if e.report_year == 2026]
                assert [(e.agency_id, e.listed_on) for e in serious] == [(non_filer.id, moves_on.isoformat())]
                view = await handle.query(VIEW_QUERY, result_type=CreditListsView)
                assert view.listed_through_year == moves_on.year - 1
        finally:
            await activities.close()


async def _sleep_until(temporal: WorkflowEnvironment, day: date) -> None:
    """Skip time to noon (China time) of `day`: the workflow's work of that morning is done."""
    moment = datetime.combine(day, time(12), tzinfo=clock.CHINA)
    await temporal.sleep(max(timedelta(0), moment - await temporal.get_current_time()))
