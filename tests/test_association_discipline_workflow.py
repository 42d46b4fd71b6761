"""The AssociationDiscipline workflow (行业自律惩戒记入信用记录) end to end: Temporal's time-skipping
test server, the suite's real worker and activities, and the real registry over loopback gRPC (once
per database). Six months of publicity pass in well under a second."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone

import pytest
from temporalio.client import WorkflowHandle
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from contracts import search_attributes
from contracts.discipline import DISCIPLINE_WORKFLOW, VIEW_QUERY, DisciplineReport, DisciplineView, workflow_id
from ipss.registry.v1 import registry_pb2 as pb
from ipss.registry.v1 import registry_pb2_grpc as pb_grpc
from rules import Rules, WorkingDayCalendar
from suite import clock, testdata
from tests.conftest import metadata, token
from tests.test_agency_suspension_workflow import TEST_SERVER, WORKER_SUBJECT, china_today
from workflows.association_discipline import PERIOD
from workflows.worker import WORKFLOWS, Activities, build_worker

OPERATOR = metadata("operator")
MACHINE = metadata("machine")  # the worker's and the services' own calls


@pytest.fixture
async def temporal() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of its own for each test: the registry refuses a decision dated
    after its today, so no test may start where another one skipped to."""
    assert TEST_SERVER, "temporal-test-server is not installed next to the interpreter"
    async with await WorkflowEnvironment.start_time_skipping(test_server_existing_path=TEST_SERVER) as env:
        await search_attributes.register(env.client)
        yield env


@asynccontextmanager
async def worker(temporal: WorkflowEnvironment, registry) -> AsyncIterator[str]:
    activities = Activities.connect(registry_address=registry.address,
                                    token=token("machine", subject=WORKER_SUBJECT))
    queue = f"discipline-test-{uuid.uuid4().hex[:8]}"
    try:
        async with build_worker(temporal.client, activities, queue):
            yield queue
    finally:
        await activities.close()


async def new_association(api) -> pb.Association:
    code = testdata.credit_code("110000")
    return (await api.CreateAssociation(pb.CreateAssociationRequest(
        idempotency_key=uuid.uuid4().hex, name=f"知识产权服务业协会{code[-6:]}", credit_code=code,
        region_code="110000", kinds=[pb.AGENCY_KIND_PATENT]), metadata=OPERATOR)).association


async def new_agency(api, member_of: pb.Association | None) -> pb.Agency:
    agency = (await api.CreateAgency(testdata.agency_request("110108", established_on="2016-03-01"),
                                     metadata=OPERATOR)).agency
    if member_of is not None:
        await api.AdmitMember(pb.AdmitMemberRequest(idempotency_key=uuid.uuid4().hex, association_id=member_of.id,
                                                    agency_id=agency.id, joined_on="2020-01-01"), metadata=OPERATOR)
    return agency


def expected_publicity(decided_on: date) -> tuple[str, bool]:
    """The last day of publicity and whether it is provisional, from the rules file and the
    calendar, as the worker's period activities read them."""
    calendar, period = WorkingDayCalendar.load(), Rules.load().periods[PERIOD]
    due = calendar.deadline(decided_on, period)
    return due.isoformat(), bool(calendar.provisional_years(decided_on, period, due))


def report_for(association: pb.Association, agency: pb.Agency, decided_on: date,
               measure: str = "public_censure") -> DisciplineReport:
    return DisciplineReport(association_id=association.id, agency_id=agency.id, measure=measure,
                            document_number=f"京知协惩字〔2026〕{uuid.uuid4().hex[:6]}号",
                            decided_on=decided_on.isoformat())


async def start(temporal: WorkflowEnvironment, report: DisciplineReport, queue: str) -> WorkflowHandle:
    return await temporal.client.start_workflow(
        DISCIPLINE_WORKFLOW, report, id=workflow_id(report.association_id, report.document_number),
        task_queue=queue, result_type=DisciplineView)


async def view_at(handle: WorkflowHandle, *stages: str) -> DisciplineView:
    """Wait (in real time; test time stands still outside result()) until the workflow says so."""
    for _ in range(200):
        view = await handle.query(VIEW_QUERY, result_type=DisciplineView)
        if view.stage in stages:
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"the workflow never reached {stages}")


async def member_events(api, association: pb.Association) -> list[pb.MemberEvent]:
    answer = await api.ReadMemberEvents(pb.ReadMemberEventsRequest(after_position=0, limit=1000),
                                        metadata=metadata("association", association_id=association.id))
    return list(answer.events)


def activity_attempts(history, name: str) -> list[int]:
    scheduled = {e.event_id for e in history.events if e.HasField("activity_task_scheduled_event_attributes")
                 and e.activity_task_scheduled_event_attributes.activity_type.name == name}
    return [e.activity_task_started_event_attributes.attempt for e in history.events
            if e.HasField("activity_task_started_event_attributes")
            and e.activity_task_started_event_attributes.scheduled_event_id in scheduled]


async def test_a_measure_is_public_for_its_period_then_its_publicity_ends(temporal, registry):
    api = pb_grpc.RegistryServiceStub(registry.channel)
    association = await new_association(api)
    agency = await new_agency(api, member_of=association)
    decided_on = await china_today(temporal)
    report = report_for(association, agency, decided_on)
    ends_on, provisional = expected_publicity(decided_on)
    # The publicity ends after its last day: 00:00 China time on the next day.
    ends_at = datetime.combine(date.fromisoformat(ends_on) + timedelta(days=1), time(0), tzinfo=clock.CHINA)

    async with worker(temporal, registry) as queue:
        handle = await start(temporal, report, queue)
        view = await view_at(handle, "public")
        assert (view.publicity_period, view.publicity_ends_on, view.provisional) == (PERIOD, ends_on, provisional)
        assert view.credit_event_id and not view.refused_because
        # On the credit record, public until its last day, and graded.
        recorded = await api.RecordAssociationDiscipline(pb.RecordAssociationDisciplineRequest(
            association_id=association.id, agency_id=agency.id, measure=pb.DISCIPLINE_MEASURE_PUBLIC_CENSURE,
            document_number=report.document_number, decided_on=report.decided_on, publicity_ends_on=ends_on),
            metadata=MACHINE)
        assert (recorded.event.id, recorded.event.kind, recorded.event.publicity_ends_on) == (
            view.credit_event_id, pb.CREDIT_EVENT_KIND_ASSOCIATION_DISCIPLINE, ends_on)
        profile = (await api.GetCreditProfile(pb.GetCreditProfileRequest(agency_id=agency.id),
                                              metadata=metadata("handler"))).profile
        assert view.credit_event_id in [reason.event_id for reason in profile.reasons]
        assert [(e.kind, e.subject_id) for e in await member_events(api, association)
                if e.kind == pb.MEMBER_EVENT_KIND_DISCIPLINE_RECORDED] == [
            (pb.MEMBER_EVENT_KIND_DISCIPLINE_RECORDED, view.credit_event_id)]
        # An operator finds it in the Temporal UI by the agency, its region, its stage and its end.
        found = (await handle.describe()).typed_search_attributes
        assert (found.get(search_attributes.AGENCY_CREDIT_CODE), found.get(search_attributes.REGION_CODE),
                found.get(search_attributes.CASE_STATUS), found.get(search_attributes.NEXT_DEADLINE)) == (
            agency.credit_code, agency.region_code, "public", ends_at)
        # The same document number reported again is the same workflow.
        with pytest.raises(WorkflowAlreadyStartedError):
            await start(temporal, replace(report, measure="warning"), queue)
        assert await temporal.get_current_time() < ends_at

        outcome = await handle.result()

    assert (outcome.stage, outcome.credit_event_id, outcome.publicity_ends_on) == (
        "ended", view.credit_event_id, ends_on)
    history = await handle.fetch_history()
    (timer,) = [e for e in history.events if e.HasField("timer_started_event_attributes")]
    fires_at = (timer.event_time.ToDatetime(tzinfo=timezone.utc)
                + timer.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta())
    assert ends_at <= fires_at < ends_at + timedelta(seconds=5)
    (ended_asked,) = [e.event_time.ToDatetime(tzinfo=timezone.utc) for e in history.events
                      if e.HasField("activity_task_scheduled_event_attributes")
                      and e.activity_task_scheduled_event_attributes.activity_type.name
                      == "registry.record_publicity_ended"]
    assert ended_asked >= ends_at
    await Replayer(workflows=WORKFLOWS).replay_workflow(history)
    assert [e.subject_id for e in await member_events(api, association)
            if e.kind == pb.MEMBER_EVENT_KIND_PUBLICATION_ENDED] == [view.credit_event_id]


async def test_a_measure_against_a_non_member_is_refused_without_retrying(temporal, registry):
    api = pb_grpc.RegistryServiceStub(registry.channel)
    association = await new_association(api)
    stranger = await new_agency(api, member_of=None)
    report = report_for(association, stranger, await china_today(temporal), measure="warning")

    async with worker(temporal, registry) as queue:
        handle = await start(temporal, report, queue)
        outcome = await handle.result()
        assert (await handle.query(VIEW_QUERY, result_type=DisciplineView)) == outcome

    assert outcome.stage == "refused" and "not found" in outcome.refused_because and not outcome.credit_event_id
    history = await handle.fetch_history()
    assert activity_attempts(history, "registry.record_association_discipline") == [1]
    assert activity_attempts(history, "registry.record_publicity_ended") == []
    assert not [e for e in history.events if e.HasField("timer_started_event_attributes")]
    assert not [e for e in await member_events(api, association) if e.agency_id == stranger.id]


async def test_a_measure_the_contract_does_not_know_is_refused_before_the_registry_is_asked(temporal, registry):
    api = pb_grpc.RegistryServiceStub(registry.channel)
    association = await new_association(api)
    agency = await new_agency(api, member_of=association)
    report = report_for(association, agency, await china_today(temporal), measure="expulsion")

    async with worker(temporal, registry) as queue:
        outcome = await (await start(temporal, report, queue)).result()

    assert outcome.stage == "refused" and "expulsion" in outcome.refused_because
