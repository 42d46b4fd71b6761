"""The AgencySuspension workflow (停止承接新业务) end to end: Temporal's time-skipping test server,
the suite's real worker and registry activities, and the real registry over loopback gRPC (once
per database). A suspension of a month passes in well under a second."""

from __future__ import annotations

import asyncio
import shutil
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from ipss.registry.v1 import registry_pb2 as pb
from ipss.registry.v1 import registry_pb2_grpc as pb_grpc
from suite import clock, testdata
from tests.conftest import metadata, token
from contracts import search_attributes
from workflows.agency_suspension import AgencySuspensionWorkflow, SuspensionDecision, workflow_id
from workflows.worker import Activities, build_worker

WORKER_SUBJECT = "ipss-worker"
TEST_SERVER = shutil.which("temporal-test-server", path=str(Path(sys.executable).parent))


@pytest.fixture(scope="module")
async def temporal() -> AsyncIterator[WorkflowEnvironment]:
    assert TEST_SERVER, f"temporal-test-server is not installed next to {sys.executable}"
    async with await WorkflowEnvironment.start_time_skipping(test_server_existing_path=TEST_SERVER) as env:
        await search_attributes.register(env.client)
        yield env


@asynccontextmanager
async def worker(temporal: WorkflowEnvironment, registry) -> AsyncIterator[str]:
    """The suite's worker on its own task queue, calling the registry as an operator."""
    activities = Activities.connect(registry_address=registry.address,
                                    token=token("machine", subject=WORKER_SUBJECT))
    queue = f"suspension-test-{uuid.uuid4().hex[:8]}"
    try:
        async with build_worker(temporal.client, activities, queue):
            yield queue
    finally:
        await activities.close()


async def new_agency(api) -> pb.Agency:
    request = testdata.agency_request("110108", established_on="2016-03-01")
    return (await api.CreateAgency(request, metadata=metadata("operator"))).agency


async def agency_now(api, agency_id: str) -> pb.Agency:
    return (await api.GetAgency(pb.GetAgencyRequest(id=agency_id), metadata=metadata("handler"))).agency


async def stage_reached(handle: WorkflowHandle, stage: str) -> None:
    """Wait (in real time; test time stands still outside result()) until the workflow says so."""
    for _ in range(100):
        if (await handle.query(AgencySuspensionWorkflow.status)).stage == stage:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the workflow never reached {stage}")


def decision_for(agency: pb.Agency, first_day: date, last_day: date) -> SuspensionDecision:
    return SuspensionDecision(agency_id=agency.id, effective_on=first_day.isoformat(),
                              suspended_until=last_day.isoformat(), reason="停止承接新业务 one month",
                              decision_reference=f"case-2026-110000-{uuid.uuid4().hex[:6]}")


async def china_today(temporal: WorkflowEnvironment) -> date:
    """Today in China by the test server's clock, which the workflow's timer runs on: skipping
    moves it ahead of the wall clock."""
    return (await temporal.get_current_time()).astimezone(clock.CHINA).date()


def moments(history, attributes: str) -> list[datetime]:
    return [e.event_time.ToDatetime(tzinfo=timezone.utc) for e in history.events if e.HasField(attributes)]


async def test_a_suspension_is_lifted_on_the_day_after_its_last_day(temporal, registry):
    api = pb_grpc.RegistryServiceStub(registry.channel)
    agency = await new_agency(api)
    first_day = await china_today(temporal)
    last_day = first_day + timedelta(days=30)
    decision = decision_for(agency, first_day, last_day)
    # 00:00 China time on the day after the last day of the suspension.
    lifts_at = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=clock.CHINA)

    async with worker(temporal, registry) as queue:
        handle = await temporal.client.start_workflow(AgencySuspensionWorkflow.run, decision,
                                                      id=workflow_id(decision), task_queue=queue)
        await stage_reached(handle, "suspended")
        during = await agency_now(api, agency.id)
        assert (during.status, during.suspended_until) == (pb.AGENCY_STATUS_SUSPENDED, last_day.isoformat())
        assert await temporal.get_current_time() < lifts_at

        outcome = await handle.result()

    assert outcome.stage == "lifted"
    assert datetime.fromisoformat(outcome.lifts_at) == lifts_at
    # One durable timer, firing at that moment, and the lift asked for only then.
    history = await handle.fetch_history()
    (timer,) = [e for e in history.events if e.HasField("timer_started_event_attributes")]
    fires_at = (timer.event_time.ToDatetime(tzinfo=timezone.utc)
                + timer.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta())
    assert lifts_at <= fires_at < lifts_at + timedelta(seconds=5)
    suspend_asked, lift_asked = moments(history, "activity_task_scheduled_event_attributes")
    assert suspend_asked < lifts_at - timedelta(days=30) and lift_asked >= lifts_at
    after = await agency_now(api, agency.id)
    assert (after.status, after.suspended_until) == (pb.AGENCY_STATUS_ACTIVE, "")
    assert [(c.from_status, c.to_status, c.effective_on, c.suspended_until, c.decision_reference, c.recorded_by)
            for c in after.status_history] == [
        (pb.AGENCY_STATUS_ACTIVE, pb.AGENCY_STATUS_SUSPENDED, first_day.isoformat(), last_day.isoformat(),
         decision.decision_reference, WORKER_SUBJECT),
        (pb.AGENCY_STATUS_SUSPENDED, pb.AGENCY_STATUS_ACTIVE, (last_day + timedelta(days=1)).isoformat(), "",
         decision.decision_reference, WORKER_SUBJECT)]


async def test_a_suspension_of_an_agency_revoked_meanwhile_is_not_lifted(temporal, registry):
    api = pb_grpc.RegistryServiceStub(registry.channel)
    agency = await new_agency(api)
    first_day = await china_today(temporal)
    decision = decision_for(agency, first_day, first_day + timedelta(days=60))

    async with worker(temporal, registry) as queue:
        handle = await temporal.client.start_workflow(AgencySuspensionWorkflow.run, decision,
                                                      id=workflow_id(decision), task_queue=queue)
        await stage_reached(handle, "suspended")
        await api.ChangeAgencyStatus(pb.ChangeAgencyStatusRequest(
            idempotency_key=f"key-{uuid.uuid4().hex}", agency_id=agency.id, to_status=pb.AGENCY_STATUS_REVOKED,
            effective_on=first_day.isoformat(), reason="吊销 licence revoked", decision_reference="case-revoke"),
            metadata=metadata("supervisor", subject="supervisor-li"))

        outcome = await handle.result()

    assert outcome.stage == "not_lifted"
    assert "revoked" in outcome.note
    after = await agency_now(api, agency.id)
    assert after.status == pb.AGENCY_STATUS_REVOKED
    assert [(c.to_status, c.recorded_by) for c in after.status_history] == [
        (pb.AGENCY_STATUS_SUSPENDED, WORKER_SUBJECT), (pb.AGENCY_STATUS_REVOKED, "supervisor-li")]
