"""End to end on the real Temporal dev server: a complaint filed over gRPC becomes a running case
workflow that an operator finds in the Temporal UI by the agency's credit code, its tracking code
shows the next statutory deadline, and a handler's action moves it — through the real registry
and complaints services and the suite's worker.

The legal calendar runs on 2026-03-02 here: the days a case counts must lie in years whose
working-day schedule is known (chinesecalendar knows 2026; 2027's is an operator's to load)."""

from __future__ import annotations

import asyncio
import json
from datetime import date

from ipss.complaints.v1 import complaints_pb2 as pb
from suite import clock
from tests.conftest import metadata
from tests.grpc_checks import eventually
from tests.test_complaints_intake import (file, new_agency, real_name, registry_api,  # noqa: F401
                                          replica_with_worker, report, uid)
from contracts.case import CaseView, STATE_QUERY

LEGAL_DAY = date(2026, 3, 2)


def local_activities(history) -> list[str]:
    """The local activities a workflow ran, by type, as their markers in its history record them."""
    return [json.loads(event.marker_recorded_event_attributes.details["data"].payloads[0].data)["activity_type"]
            for event in history.events if event.HasField("marker_recorded_event_attributes")
            and event.marker_recorded_event_attributes.marker_name == "core_local_activity"]


async def test_a_filed_complaint_runs_as_a_case_an_operator_can_find(registry, registry_api, complaints):
    agency = await new_agency(registry_api)
    legal = clock.LegalClock((clock.today() - LEGAL_DAY).days)
    async with replica_with_worker(registry, complaints, f"e2e-{uid()}", legal) as (_, api):
        reporter = real_name()
        filed = await file(api, report(agency, reporter, occurred_on="2026-01-15"))

        async def running_cases():
            query = f'AgencyCreditCode = "{agency.credit_code}" AND ExecutionStatus = "Running"'
            return [w.id async for w in complaints.temporal.list_workflows(query)]
        assert await eventually(running_cases) == [filed.case_id]

        async def status_with_deadline():
            answer = await api.GetReportStatus(pb.GetReportStatusRequest(
                tracking_code=filed.tracking_code, tracking_secret=filed.tracking_secret))
            return answer if answer.next_deadline else None
        status = await eventually(status_with_deadline)
        handle = complaints.temporal.get_workflow_handle(filed.case_id)
        view = await handle.query(STATE_QUERY, result_type=CaseView)
        verify = next(d for d in view.deadlines if d.period_id == "verify_and_open")
        assert status.next_deadline == verify.due_on == view.next_deadline == "2026-03-23"
        assert status.stage == pb.CASE_STAGE_VERIFICATION

        case = (await api.OpenCase(pb.OpenCaseRequest(idempotency_key=uid(), case_id=filed.case_id,
                                                     reason="线索属实"),
                                   metadata=metadata("handler", subject="handler-wang"))).case
        assert case.summary.stage == pb.CASE_STAGE_INVESTIGATION
        assert "propose_penalty" in case.allowed_actions

        async def opened():
            query = f'AgencyCreditCode = "{agency.credit_code}" AND CaseStage = "investigation"'
            return [w.id async for w in complaints.temporal.list_workflows(query)]
        assert await eventually(opened) == [filed.case_id]
        status = await api.GetReportStatus(pb.GetReportStatusRequest(
            tracking_code=filed.tracking_code, tracking_secret=filed.tracking_secret))
        assert status.stage == pb.CASE_STAGE_INVESTIGATION and status.messages
        history = await handle.fetch_history()
        recorded = history.to_json()
        # The service gave the rules and the first period in the start: the case's first task
        # asked the worker's calendar nothing, and only wrote the record.
        assert local_activities(history)[0] == "complaints.record_progress"
        assert reporter.name not in recorded and reporter.phone not in recorded
        assert reporter.resident_id not in recorded
