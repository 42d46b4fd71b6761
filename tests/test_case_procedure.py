"""The case procedure end to end on the time-skipping Temporal server: a citizen's report filed
through the real complaints service, handlers' and supervisors' actions through its RPCs, the
case workflow on a real worker, penalties landing in the real registry. Each scenario runs on
the legal calendar of 2026 (the State Council's schedule, from chinesecalendar) and asserts the
exact dates the law gives; the dates in the comments are counted by hand from that schedule:
weekday holidays 04-06, 05-01, 05-04, 05-05, 09-25, 10-01, 10-02, 10-05..10-07; make-up working
days 05-09 (Sat), 09-20 (Sun), 10-10 (Sat)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import grpc
import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from ipss.complaints.v1 import complaints_pb2 as cpb
from ipss.complaints.v1 import complaints_pb2_grpc as cpb_grpc
from ipss.registry.v1 import registry_pb2 as rpb
from ipss.registry.v1 import registry_pb2_grpc as rpb_grpc
from suite import migrate, testdata
from tests import legal_time
from tests.conftest import fresh_database, metadata
from tests.grpc_checks import error_info, eventually, field_reasons
from contracts import search_attributes
from contracts.case import CaseView
from workflows.case.workflow import CaseWorkflow
from workflows.activities.periods import PeriodActivities
from workflows.worker import WORKFLOWS, Activities, build_worker

HANDLER, SECOND_HANDLER, SUPERVISOR = "handler-wang", "handler-li", "supervisor-zhao"
TASK_QUEUE = "ipss-cases-test"
# The office the handlers and supervisors work at: Beijing (北京市知识产权局).
OFFICE = "110000"


@dataclass
class Court:
    """Everything a scenario drives: the time-skipping server, the services and their stubs."""

    env: WorkflowEnvironment
    legal: legal_time.ScenarioClock
    complaints: cpb_grpc.ComplaintsServiceStub
    registry: rpb_grpc.RegistryServiceStub
    # The office whose handlers and supervisors act (not a field: scenarios of another office subclass).
    office = OFFICE

    async def goto(self, legal_day: str) -> None:
        await legal_time.goto(self.env, self.legal, legal_day)

    async def start_on(self, legal_day: str) -> None:
        await legal_time.start_on(self.env, self.legal, legal_day)

    async def agency(self, region: str = "") -> rpb.Agency:
        region = region or self.office[:2] + "0108"
        answer = await self.registry.CreateAgency(testdata.agency_request(region), metadata=metadata("operator"))
        return answer.agency

    async def report(self, agency: rpb.Agency, real_name: bool = True,
                     category=cpb.VIOLATION_CATEGORY_FALSE_ADVERTISING) -> cpb.FileReportResponse:
        reporter = (cpb.Reporter(real_name=True, name="张三", phone="13800138000") if real_name
                    else cpb.Reporter(real_name=False))
        return await self.complaints.FileReport(cpb.FileReportRequest(
            idempotency_key=uuid.uuid4().hex, source=cpb.REPORT_SOURCE_PUBLIC, reporter=reporter,
            agency=cpb.ReportedAgency(credit_code=agency.credit_code), category=category,
            description="该机构在网站上承诺专利授权率百分之百，与事实不符。", occurred_on="2026-01-10"),
            metadata=metadata("citizen"))

    async def case_of(self, filed: cpb.FileReportResponse, agency: rpb.Agency) -> str:
        """The case a filing is on: its answer names it to a real-name reporter; an anonymous
        filing's answer names none (issue 15 item 3), and a handler finds it in the office's queue
        as the one case on the agency."""
        if filed.case_id:
            return filed.case_id
        listed = await self.complaints.ListCases(cpb.ListCasesRequest(
            agency_credit_code=agency.credit_code, include_closed=True), metadata=metadata("handler", self.office))
        [case] = listed.cases
        return case.case_id

    async def act(self, rpc: str, case_id: str, actor: str = HANDLER, **fields) -> cpb.Case:
        role = "supervisor" if actor.startswith("supervisor") else "handler"
        request = getattr(cpb, f"{rpc}Request")(idempotency_key=uuid.uuid4().hex, case_id=case_id, **fields)
        answer = await getattr(self.complaints, rpc)(request, metadata=metadata(role, self.office, subject=actor))
        return answer.case

    async def refused(self, rpc: str, case_id: str, actor: str = HANDLER, **fields) -> grpc.aio.AioRpcError:
        """The refusal, which names its reason (google.rpc.ErrorInfo) whoever refused: the
        server kit, the service or the case's workflow."""
        with pytest.raises(grpc.aio.AioRpcError) as refusal:
            await self.act(rpc, case_id, actor, **fields)
        error_info(refusal.value)
        return refusal.value

    async def escalations(self, case_id: str, supervisor: str = SUPERVISOR, **fields) -> list[cpb.Escalation]:
        """The case's escalations in a supervisor's inbox of the office."""
        answer = await self.complaints.ListEscalations(cpb.ListEscalationsRequest(page_size=500, **fields),
                                                       metadata=metadata("supervisor", self.office, subject=supervisor))
        return [e for e in answer.escalations if e.case_id == case_id]

    async def notifications(self, case_id: str, handler: str) -> list[cpb.Notification]:
        answer = await self.complaints.ListNotifications(cpb.ListNotificationsRequest(page_size=500),
                                                         metadata=metadata("handler", self.office, subject=handler))
        return [n for n in answer.notifications if n.case_id == case_id]

    async def state(self, case_id: str) -> CaseView:
        return await self.env.client.get_workflow_handle(case_id).query(CaseWorkflow.view)

    async def status(self, filed: cpb.FileReportResponse) -> cpb.GetReportStatusResponse:
        """The reporter's page once the case's record has caught up with its workflow (the first
        record is written by an activity just after the filing answers)."""
        view = await self.state(filed.case_id)
        for _ in range(100):
            summary = (await self.complaints.GetCase(cpb.GetCaseRequest(case_id=filed.case_id),
                                                     metadata=metadata("handler", self.office))).case.summary
            if (summary.next_deadline, cpb.CaseStage.Name(summary.stage)) == (
                    view.next_deadline, f"CASE_STAGE_{view.stage.upper()}"):
                break
            await asyncio.sleep(0.05)
        return await self.complaints.GetReportStatus(cpb.GetReportStatusRequest(
            tracking_code=filed.tracking_code, tracking_secret=filed.tracking_secret))


def deadline(case: cpb.Case | CaseView, period_id: str):
    found = [d for d in case.deadlines if d.period_id == period_id]
    assert found, f"no {period_id} deadline in {[d.period_id for d in case.deadlines]}"
    return found[0]


@contextlib.asynccontextmanager
async def convened(registry, court_type: type[Court] = Court, legal_day: date = date(2026, 1, 5),
                   task_queue: str = TASK_QUEUE, periods: PeriodActivities | None = None):
    """A court on the time-skipping server: the complaints service on a fresh database of the
    registry's kind, on a legal calendar the scenario moves, and the suite's worker (its period
    activities on the calendar given, the installed one by default)."""
    from services.complaints.server import build

    server_binary = Path(sys.executable).parent / "temporal-test-server"
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(server_binary))
    await search_attributes.register(env.client)
    backend = "sqlite" if registry.database_url.startswith("sqlite") else "postgresql"
    legal = legal_time.ScenarioClock(legal_day)
    with fresh_database(backend) as url:
        migrate.upgrade("complaints", database_url=url)
        server, complaints = build(database_url=url, registry_address=registry.address, temporal_client=env.client,
                                   temporal_settings=_settings(task_queue), legal_clock=legal,
                                   calendar=(lambda: periods.calendar) if periods else None)
        port = await server.start("127.0.0.1:0")
        activities = Activities.connect(registry.address, f"127.0.0.1:{port}", periods=periods)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        try:
            async with build_worker(env.client, activities, task_queue):
                yield court_type(env, legal, cpb_grpc.ComplaintsServiceStub(channel),
                                 rpb_grpc.RegistryServiceStub(registry.channel))
        finally:
            await channel.close()
            await activities.close()
            await server.stop(0)
            await complaints.close()
            await env.shutdown()


@pytest.fixture(scope="module")
async def court(registry):
    async with convened(registry) as court:
        yield court


def _settings(task_queue: str):
    from suite import config

    return config.TemporalSettings(address="", namespace="default", task_queue=task_queue)


# ---- verification: opened or not, on time or late --------------------------------------------

async def test_not_opened_tells_the_real_name_reporter(court: Court):
    await court.start_on("2026-03-02")
    filed = await court.report(await court.agency())
    view = await court.state(filed.case_id)
    # 15 working days after Monday 03-02: 03-23; the warning at 12 working days: 03-18.
    assert deadline(view, "verify_and_open").due_on == "2026-03-23"
    assert deadline(view, "verify_and_open").warn_on == "2026-03-18"
    assert (await court.status(filed)).next_deadline == "2026-03-23"

    await court.goto("2026-03-10")
    case = await court.act("DeclineCase", filed.case_id, reason="举报内容经核查不属实")
    assert case.summary.stage == cpb.CASE_STAGE_CLOSED
    assert case.summary.outcome == cpb.CASE_OUTCOME_NOT_OPENED
    assert deadline(case, "verify_and_open").state == "met"
    assert deadline(case, "notify_reporter_of_opening").state == "met"
    status = await court.status(filed)
    assert any("不予立案" in m.text for m in status.messages)
    assert status.next_deadline == ""


async def test_a_missed_verification_period_escalates_to_the_supervisors_inbox(court: Court):
    await court.start_on("2026-03-02")
    agency = await court.agency()
    filed = await court.report(agency, real_name=False)
    case_id = await court.case_of(filed, agency)
    await court.act("AssignCase", case_id, assignee=HANDLER)
    await court.goto("2026-03-23")  # its last day: nothing is late yet
    assert await court.escalations(case_id) == []
    feed = await court.complaints.ListEscalationEvents(cpb.ListEscalationEventsRequest(),
                                                       metadata=metadata("operator", OFFICE))
    await court.goto("2026-03-24")
    view = await court.state(case_id)
    assert view.overdue
    assert deadline(view, "verify_and_open").state == "missed"
    assert any(t.action == "deadline_missed" and t.data["on"] == "2026-03-24" for t in view.timeline)
    listed = await court.complaints.ListCases(cpb.ListCasesRequest(overdue_only=True),
                                              metadata=metadata("supervisor"))
    assert case_id in [c.case_id for c in listed.cases]

    # The day after the last day it is in the inbox of the office's supervisors, and on the feed.
    [escalation] = await eventually(lambda: court.escalations(case_id))
    assert (escalation.period_id, escalation.due_on, escalation.missed_on, escalation.days_overdue,
            escalation.state, escalation.supervisor, escalation.assignee, escalation.region_code) == (
        "verify_and_open", "2026-03-23", "2026-03-24", 1, cpb.ESCALATION_STATE_OPEN, "", HANDLER, "110108")
    events = await court.complaints.ListEscalationEvents(cpb.ListEscalationEventsRequest(
        after_position=feed.last_position), metadata=metadata("operator", OFFICE))
    assert [(e.kind, e.case_id, e.due_on, e.missed_on) for e in events.events if e.case_id == case_id] == [
        (cpb.ESCALATION_EVENT_KIND_RAISED, case_id, "2026-03-23", "2026-03-24")]
    await court.goto("2026-03-26")
    [escalation] = await court.escalations(case_id)
    assert escalation.days_overdue == 3  # counted on the day the inbox is read

    # A supervisor takes it and reassigns the case: the assignee changes, the timeline says so,
    # the escalation is resolved and the new handler is told.
    await court.complaints.AcknowledgeEscalation(cpb.AcknowledgeEscalationRequest(
        escalation_id=escalation.escalation_id), metadata=metadata("supervisor", OFFICE, subject=SUPERVISOR))
    assert (await court.escalations(case_id))[0].supervisor == SUPERVISOR
    refusal = await court.refused("ReassignCase", case_id, assignee=SECOND_HANDLER, reason="改派")
    assert refusal.code() == grpc.StatusCode.PERMISSION_DENIED  # a handler cannot reassign
    refusal = await court.refused("ReassignCase", case_id, actor=SUPERVISOR, assignee=HANDLER, reason="改派")
    assert refusal.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_reasons(refusal) == {"assignee": "REASSIGN_TO_SAME_HANDLER"}
    case = await court.act("ReassignCase", case_id, actor=SUPERVISOR, assignee=SECOND_HANDLER,
                           reason="原承办人外出培训，逾期未核查")
    assert case.summary.assignee == SECOND_HANDLER
    [entry] = [e for e in case.timeline if e.action == "reassigned"]
    assert (entry.actor, dict(entry.data)) == (SUPERVISOR, {
        "assignee": SECOND_HANDLER, "previous_assignee": HANDLER, "reason": "原承办人外出培训，逾期未核查"})
    assert await court.escalations(case_id) == []
    [resolved] = await court.escalations(case_id, include_resolved=True)
    assert (resolved.state, resolved.resolution, resolved.resolved_by) == (
        cpb.ESCALATION_STATE_RESOLVED, cpb.ESCALATION_RESOLUTION_REASSIGNED, SUPERVISOR)
    [told] = await court.notifications(case_id, SECOND_HANDLER)
    assert (told.kind, told.actor) == (cpb.NOTIFICATION_KIND_REASSIGNED, SUPERVISOR)

    # The new handler opens the case late: the timeline says the missed duty was done.
    case = await court.act("OpenCase", case_id, actor=SECOND_HANDLER, reason="核查属实")
    assert deadline(case, "verify_and_open").state == "missed"  # the record of compliance keeps it
    assert any(e.action == "overdue_duty_done" and e.data["on"] == "2026-03-26" for e in case.timeline)
    history = await court.env.client.get_workflow_handle(case_id).fetch_history()
    await Replayer(workflows=WORKFLOWS).replay_workflow(history)


async def test_the_warning_at_eighty_percent_reaches_the_assigned_handler(court: Court):
    await court.start_on("2026-03-02")
    agency = await court.agency()
    assigned = await court.report(agency)
    unassigned = await court.report(agency, category=cpb.VIOLATION_CATEGORY_CERTIFICATE_LENDING)
    await court.act("AssignCase", assigned.case_id, assignee=SECOND_HANDLER)
    # 15 working days from 03-02 end on 03-23; 80 % of them, 12, on 03-18.
    assert deadline(await court.state(assigned.case_id), "verify_and_open").warn_on == "2026-03-18"
    await court.goto("2026-03-17")
    assert await court.notifications(assigned.case_id, SECOND_HANDLER) == []
    await court.goto("2026-03-18")
    [warning] = await eventually(lambda: court.notifications(assigned.case_id, SECOND_HANDLER))
    assert (warning.kind, warning.period_id, warning.due_on, warning.warn_on, warning.actor,
            warning.HasField("read_at")) == (cpb.NOTIFICATION_KIND_DUE_SOON, "verify_and_open", "2026-03-23",
                                            "2026-03-18", "system", False)
    assert await court.notifications(assigned.case_id, HANDLER) == []
    # Nobody is assigned the other case: its office's queue shows it due soon, ahead of the rest.
    queue = (await court.complaints.ListCases(cpb.ListCasesRequest(region_code=OFFICE, page_size=500),
                                              metadata=metadata("handler", OFFICE))).cases
    [shown] = [c for c in queue if c.case_id == unassigned.case_id]
    assert shown.due_soon and shown.next_deadline == "2026-03-23" and not shown.assignee
    ranks = [0 if c.overdue else 1 if c.due_soon else 2 for c in queue]
    assert ranks == sorted(ranks)


# ---- extensions (four eyes) and the clock stopped across a holiday -----------------------------

async def test_extension_approved_by_another_supervisor_and_refused(court: Court):
    await court.start_on("2026-03-02")
    filed = await court.report(await court.agency())
    case_id = filed.case_id
    await court.goto("2026-03-16")
    await court.act("RequestExtension", case_id, actor="supervisor-qian", reason="需调取专利局数据")
    refusal = await court.refused("ApproveExtension", case_id, actor="supervisor-qian")
    assert refusal.code() == grpc.StatusCode.FAILED_PRECONDITION
    case = await court.act("ApproveExtension", case_id, actor=SUPERVISOR)
    # 15 more working days: 03-24..03-27, 03-30..04-03, (04-06 holiday), 04-07..04-10, 04-13, 04-14.
    assert deadline(case, "verify_and_open").due_on == "2026-04-14"
    refusal = await court.refused("RequestExtension", case_id, reason="再延长")
    assert refusal.code() == grpc.StatusCode.FAILED_PRECONDITION

    other = await court.report(await court.agency())
    await court.act("RequestExtension", other.case_id, reason="需调取专利局数据")
    case = await court.act("RefuseExtension", other.case_id, actor=SUPERVISOR, reason="证据已足")
    # Filed on Monday 03-16: 03-17..03-20, 03-23..03-27, 03-30..04-03, (04-06), 04-07.
    assert deadline(case, "verify_and_open").due_on == "2026-04-07"
    assert "approve_extension" not in case.allowed_actions


async def test_clock_suspended_across_national_day(court: Court):
    await court.start_on("2026-09-21")
    filed = await court.report(await court.agency())
    view = await court.state(filed.case_id)
    # 09-22..09-24, (09-25 holiday), 09-28..09-30, (10-01..10-07), 10-08, 10-09, 10-10 (make-up
    # Saturday), 10-12..10-16, 10-19: the 15th working day.
    assert deadline(view, "verify_and_open").due_on == "2026-10-19"
    await court.goto("2026-09-24")
    refusal = await court.refused("SuspendClock", filed.case_id, cause="hearing", reason="听证")
    assert refusal.code() == grpc.StatusCode.INVALID_ARGUMENT
    case = await court.act("SuspendClock", filed.case_id, cause="appraisal", reason="委托鉴定")
    assert deadline(case, "verify_and_open").state == "paused"
    await court.goto("2026-10-09")
    case = await court.act("ResumeClock", filed.case_id, reason="鉴定意见已出")
    # 3 working days were used (09-22..09-24); the other 12 count from 10-10 (make-up Saturday):
    # 10-10, 10-12..10-16, 10-19..10-23, 10-26.
    assert deadline(case, "verify_and_open").due_on == "2026-10-26"
    assert deadline(case, "verify_and_open").state == "running"


# ---- endings without a penalty -----------------------------------------------------------------

async def test_opened_and_closed_without_penalty(court: Court):
    await court.start_on("2026-03-02")
    filed = await court.report(await court.agency())
    await court.goto("2026-03-05")
    case = await court.act("OpenCase", filed.case_id, reason="初步核实存在虚假宣传")
    assert case.summary.stage == cpb.CASE_STAGE_INVESTIGATION
    # 90 calendar days after 03-05: Wednesday 06-03.
    assert deadline(case, "decide_ordinary_case").due_on == "2026-06-03"
    status = await court.status(filed)
    assert status.stage == cpb.CASE_STAGE_INVESTIGATION and any("立案" in m.text for m in status.messages)

    refusal = await court.refused("ApproveDecision", filed.case_id, actor=SUPERVISOR)
    assert refusal.code() == grpc.StatusCode.FAILED_PRECONDITION  # nothing to approve yet
    await court.goto("2026-04-10")
    await court.act("SubmitDecision", filed.case_id, penalty=cpb.Penalty(kind=cpb.PENALTY_KIND_NONE),
                    reason="违法事实不成立")
    case = await court.act("ApproveDecision", filed.case_id, actor=SUPERVISOR)
    assert case.summary.stage == cpb.CASE_STAGE_CLOSED
    assert case.summary.outcome == cpb.CASE_OUTCOME_NO_PENALTY
    assert deadline(case, "decide_ordinary_case").state == "met"


async def test_transfer_and_referral_end_the_case(court: Court):
    await court.start_on("2026-03-02")
    transferred = await court.report(await court.agency())
    case = await court.act("TransferCase", transferred.case_id, target_authority="北京市公安局",
                           reason="涉嫌犯罪，移送公安机关")
    assert case.summary.outcome == cpb.CASE_OUTCOME_TRANSFERRED
    assert deadline(case, "verify_and_open").state == "cancelled"

    moved = await court.report(await court.agency())
    case = await court.act("TransferCase", moved.case_id, target_region_code="310000", reason="机构实际经营地在上海")
    # It waits for the Shanghai office to accept it (tests/test_case_doors.py), the clock stopped.
    assert case.summary.region_code == "310000" and case.summary.stage == cpb.CASE_STAGE_AWAITING_ACCEPTANCE
    assert deadline(case, "verify_and_open").state == "paused"
    refusal = await court.refused("OpenCase", moved.case_id)  # a Beijing handler no longer reaches it
    assert refusal.code() == grpc.StatusCode.PERMISSION_DENIED

    # A referral to an association waits for its answer (tests/test_case_referral.py), the clock stopped.
    referred = await court.report(await court.agency())
    case = await court.act("ReferToAssociation", referred.case_id, association_id="assoc-bj-patent",
                           reason="情节轻微，转行业自律处理")
    assert case.summary.stage == cpb.CASE_STAGE_REFERRED and case.summary.outcome == cpb.CASE_OUTCOME_UNSPECIFIED
    assert deadline(case, "verify_and_open").state == "paused"
    refusal = await court.refused("OpenCase", referred.case_id)
    assert refusal.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_duplicate_report_joins_the_open_case(court: Court):
    await court.start_on("2026-03-02")
    agency = await court.agency()
    first = await court.report(agency)
    await court.goto("2026-03-20")
    second = await court.report(agency, real_name=False)
    # An anonymous filing is not told it joined a case (a probe learns nothing); the office sees it.
    assert (second.joined_existing_case, second.case_id) == (False, "")
    assert await court.case_of(second, agency) == first.case_id
    assert (await court.state(first.case_id)).reporter_count == 2
    await court.goto("2026-04-20")  # past the 30-day merge window: a new case
    third = await court.report(agency)
    assert not third.joined_existing_case and third.case_id != first.case_id


async def test_an_anonymous_report_joining_an_investigation_is_not_told_of_it(court: Court):
    """A probe files anonymously on an agency under investigation: its page says what its own
    filing implies (received that day, under verification), nothing of the case it joined: not
    its stage, deadline or earlier entries, nor the joined notice. A real-name reporter joining
    the same case is told (DOMAIN.md: real-name reporters learn whether a case was opened)."""
    await court.start_on("2026-03-02")
    agency = await court.agency()
    first = await court.report(agency)
    await court.goto("2026-03-05")
    await court.act("OpenCase", first.case_id)
    await court.goto("2026-03-20")
    probe = await court.report(agency, real_name=False)
    named = await court.report(agency)
    assert named.case_id == first.case_id

    told = await court.status(named)
    assert told.stage == cpb.CASE_STAGE_INVESTIGATION and told.next_deadline
    assert {m.action or m.notice for m in told.messages} >= {"received", "opened", "joined"}

    # The probe's answer names no case: the page is read once the case's record has caught up.
    probe_on_case = cpb.FileReportResponse(case_id=first.case_id, tracking_code=probe.tracking_code,
                                           tracking_secret=probe.tracking_secret)
    page = await court.status(probe_on_case)
    assert (page.stage, page.stage_label, page.next_deadline) == (cpb.CASE_STAGE_VERIFICATION, "核查中（审查是否立案）", "")
    assert [(m.action, m.notice, dict(m.data)) for m in page.messages] == [("received", "", {"on": "2026-03-20"})]
    assert page.filed_on == "2026-03-20" and page.agency_name == agency.name

    await court.goto("2026-04-10")
    await court.act("SubmitDecision", first.case_id, penalty=cpb.Penalty(kind=cpb.PENALTY_KIND_NONE),
                    reason="违法事实不成立")
    await court.act("ApproveDecision", first.case_id, actor=SUPERVISOR)
    page = await court.status(probe_on_case)
    assert (page.stage, page.next_deadline) == (cpb.CASE_STAGE_CLOSED, "")
    assert [m.action for m in page.messages] == ["received"]
    assert (await court.status(named)).stage == cpb.CASE_STAGE_CLOSED


# ---- penalties ---------------------------------------------------------------------------------

async def _to_decision(court: Court, penalty: cpb.Penalty, received="2026-03-02") -> tuple[str, rpb.Agency]:
    """Report, open on 03-05, serve the prior notice on 04-01, let the statement period (04-09)
    run out, decide on 04-15 (approved by a supervisor)."""
    await court.start_on(received)
    agency = await court.agency()
    filed = await court.report(agency)
    await court.goto("2026-03-05")
    await court.act("OpenCase", filed.case_id)
    await court.goto("2026-04-01")
    case = await court.act("ProposePenalty", filed.case_id, penalty=penalty, reason="虚假宣传，证据确凿")
    # 5 working days after Wednesday 04-01: 04-02, 04-03, (04-06 holiday), 04-07..04-09.
    assert deadline(case, "statement_and_defence").due_on == "2026-04-09"
    refusal = await court.refused("SubmitDecision", filed.case_id, penalty=penalty, reason="决定")
    assert refusal.code() == grpc.StatusCode.FAILED_PRECONDITION  # the party may still speak
    info = error_info(refusal)
    assert (info.reason, dict(info.metadata)) == ("STATEMENT_WINDOW_OPEN", {"due_on": "2026-04-09",
                                                                             "provisional": "False"})
    await court.goto("2026-04-15")
    await court.act("SubmitDecision", filed.case_id, penalty=penalty, reason="维持告知内容")
    refusal = await court.refused("ApproveDecision", filed.case_id, actor=HANDLER)
    assert refusal.code() == grpc.StatusCode.PERMISSION_DENIED  # a handler cannot approve
    await court.act("ApproveDecision", filed.case_id, actor=SUPERVISOR)
    return filed.case_id, agency


async def _public_penalties(court: Court, agency: rpb.Agency):
    found = await court.registry.LookupAgencyPublic(rpb.LookupAgencyPublicRequest(query=agency.credit_code))
    return list(found.agencies[0].penalties)


async def test_warning_is_recorded_but_not_published(court: Court):
    case_id, agency = await _to_decision(court, cpb.Penalty(kind=cpb.PENALTY_KIND_WARNING))
    view = await court.state(case_id)
    assert view.outcome == "warning"
    assert not [d for d in view.deadlines if d.period_id == "publish_penalty"]
    assert await _public_penalties(court, agency) == []
    profile = await court.registry.GetCreditProfile(rpb.GetCreditProfileRequest(
        agency_id=agency.id, as_of="2026-04-20"), metadata=metadata("handler"))
    assert [r.kind for r in profile.profile.reasons] == [rpb.CREDIT_EVENT_KIND_WARNING]


async def test_fine_paid_on_time_is_published_for_three_years(court: Court):
    case_id, agency = await _to_decision(court, cpb.Penalty(kind=cpb.PENALTY_KIND_FINE, fine_cny=50000))
    view = await court.state(case_id)
    assert deadline(view, "publish_penalty").state == "met"
    assert deadline(view, "publicity_standard").due_on == "2029-04-15"
    [published] = await _public_penalties(court, agency)
    assert (published.kind, published.fine_cny, published.decided_on, published.publicity_ends_on) == (
        rpb.CREDIT_EVENT_KIND_FINE, 50000, "2026-04-15", "2029-04-15")
    await court.goto("2026-04-16")
    case = await court.act("RecordService", case_id, party_present=True)
    # 15 calendar days after 04-16 is Friday 05-01, a holiday; 05-02..05-05 are rest days too.
    assert deadline(case, "pay_fine").due_on == "2026-05-06"
    await court.goto("2026-05-06")
    case = await court.act("RecordPayment", case_id, amount_cny=50000)
    assert deadline(case, "pay_fine").state == "met" and case.surcharge_cny == 0
    refusal = await court.refused("CloseCase", case_id)
    assert refusal.code() == grpc.StatusCode.FAILED_PRECONDITION  # the review windows still run
    # Reconsideration: 60 days from 04-16 is Monday 06-15; litigation: 6 months, 10-16.
    assert deadline(case, "reconsideration_window").due_on == "2026-06-15"
    assert deadline(case, "litigation_window").due_on == "2026-10-16"
    await court.goto("2026-10-19")
    case = await court.act("CloseCase", case_id)
    assert case.summary.stage == cpb.CASE_STAGE_CLOSED and case.summary.outcome == cpb.CASE_OUTCOME_FINE
    # Credit repair may be applied for after six months of publicity, complied with.
    assert any(t.action == "credit_repair_open" for t in (await court.state(case_id)).timeline)
    # The workflow runs outside the sandbox: its code must replay this history command for command.
    history = await court.env.client.get_workflow_handle(case_id).fetch_history()
    await Replayer(workflows=WORKFLOWS).replay_workflow(history)


async def test_fine_paid_late_carries_the_surcharge_and_review_pauses_it(court: Court):
    case_id, _ = await _to_decision(court, cpb.Penalty(kind=cpb.PENALTY_KIND_FINE, fine_cny=20000))
    await court.goto("2026-04-16")
    await court.act("RecordService", case_id, party_present=False)
    await court.goto("2026-05-10")
    await court.act("RecordReview", case_id, kind=cpb.REVIEW_KIND_RECONSIDERATION, pending=True)
    await court.goto("2026-05-20")
    await court.act("RecordReview", case_id, kind=cpb.REVIEW_KIND_RECONSIDERATION, pending=False, upheld=True)
    await court.goto("2026-05-25")
    # Late from 05-07; 05-10..05-20 pending: 05-07..05-09 and 05-21..05-25 = 8 days x 3 % = 24 %.
    refusal = await court.refused("RecordPayment", case_id, amount_cny=24799)
    assert refusal.code() == grpc.StatusCode.INVALID_ARGUMENT and "24800" in refusal.details()
    assert field_reasons(refusal) == {"amount_cny": "PAYMENT_SHORT"}
    assert error_info(refusal).metadata["field_violations.0.owed_cny"] == "24800"
    case = await court.act("RecordPayment", case_id, amount_cny=24800)
    assert case.summary.status == "paid" and case.surcharge_cny == 4800


async def _revoked_on_review(court: Court, case_id: str, revoked_on: str) -> cpb.Case:
    """The decision of 04-15 served on 04-16; reconsideration filed on 05-11 revokes it on `revoked_on`."""
    await court.goto("2026-04-16")
    await court.act("RecordService", case_id, party_present=True)
    await court.goto("2026-05-11")
    await court.act("RecordReview", case_id, kind=cpb.REVIEW_KIND_RECONSIDERATION, pending=True)
    await court.goto(revoked_on)
    return await court.act("RecordReview", case_id, kind=cpb.REVIEW_KIND_RECONSIDERATION, pending=False,
                           upheld=False)


async def test_a_penalty_revoked_on_review_is_withdrawn_from_the_register(court: Court):
    case_id, agency = await _to_decision(court, cpb.Penalty(kind=cpb.PENALTY_KIND_FINE, fine_cny=30000))
    assert len(await _public_penalties(court, agency)) == 1
    case = await _revoked_on_review(court, case_id, "2026-06-01")
    # Withdrawn the day the revocation is recorded, well inside its 3 working days.
    assert case.summary.status == "revoked_on_review"
    assert deadline(case, "withdraw_publication").state == "met"
    assert await _public_penalties(court, agency) == []
    profile = await court.registry.GetCreditProfile(rpb.GetCreditProfileRequest(
        agency_id=agency.id, as_of="2026-06-01"), metadata=metadata("handler"))
    assert list(profile.profile.reasons) == []
    assert any(t.action == "publication_withdrawn" for t in (await court.state(case_id)).timeline)
    case = await court.act("CloseCase", case_id)  # nothing is owed on a revoked decision
    assert case.summary.stage == cpb.CASE_STAGE_CLOSED


async def test_surcharge_never_exceeds_the_fine(court: Court):
    case_id, _ = await _to_decision(court, cpb.Penalty(kind=cpb.PENALTY_KIND_FINE, fine_cny=20000))
    await court.goto("2026-04-16")
    await court.act("RecordService", case_id, party_present=True)
    await court.goto("2026-09-01")  # 118 days late: 354 %, capped at the fine
    refusal = await court.refused("RecordPayment", case_id, amount_cny=39999)
    assert "40000" in refusal.details()
    case = await court.act("RecordPayment", case_id, amount_cny=40000)
    assert case.surcharge_cny == 20000


async def test_hearing_stops_the_decision_clock(court: Court):
    await court.start_on("2026-03-02")
    agency = await court.agency()
    filed = await court.report(agency)
    await court.goto("2026-03-05")
    await court.act("OpenCase", filed.case_id)
    await court.goto("2026-04-01")
    large = cpb.Penalty(kind=cpb.PENALTY_KIND_FINE, fine_cny=150000)  # >= 100,000 CNY: a hearing
    await court.act("ProposePenalty", filed.case_id, penalty=large, reason="情节严重")
    await court.goto("2026-04-03")
    # 7 working days before 04-14 are 04-02..04-13 (04-06 a holiday): notice on 04-03 is too late
    # for a hearing on 04-14; before 04-15 they are 04-03..04-14, so 04-03 is just in time.
    refusal = await court.refused("RequestHearing", filed.case_id, hearing_on="2026-04-14")
    assert refusal.code() == grpc.StatusCode.INVALID_ARGUMENT
    case = await court.act("RequestHearing", filed.case_id, hearing_on="2026-04-15")
    assert case.summary.stage == cpb.CASE_STAGE_HEARING
    assert deadline(case, "decide_ordinary_case").state == "paused"
    await court.goto("2026-04-15")
    case = await court.act("RecordHearing", filed.case_id, reason="当事人到场陈述")
    # 04-04..04-15 not counted: 06-03 + 12 days = Monday 06-15.
    assert deadline(case, "decide_ordinary_case").due_on == "2026-06-15"


async def test_no_hearing_for_a_small_fine(court: Court):
    await court.start_on("2026-03-02")
    filed = await court.report(await court.agency())
    await court.goto("2026-03-05")
    await court.act("OpenCase", filed.case_id)
    case = await court.act("ProposePenalty", filed.case_id,
                           penalty=cpb.Penalty(kind=cpb.PENALTY_KIND_FINE, fine_cny=50000), reason="虚假宣传")
    assert "request_hearing" not in case.allowed_actions
    refusal = await court.refused("RequestHearing", filed.case_id, hearing_on="2026-04-15")
    assert refusal.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_suspension_from_new_business_lands_in_the_registry(court: Court):
    penalty = cpb.Penalty(kind=cpb.PENALTY_KIND_SUSPENSION, suspension_months=6)
    case_id, agency = await _to_decision(court, penalty)
    await court.goto("2026-04-16")
    answer = await court.registry.GetAgency(rpb.GetAgencyRequest(id=agency.id), metadata=metadata("handler"))
    assert answer.agency.status == rpb.AGENCY_STATUS_SUSPENDED
    assert answer.agency.suspended_until == "2026-10-14"  # six months from 04-15, its last day


async def test_a_suspension_revoked_on_review_ends_early(court: Court):
    penalty = cpb.Penalty(kind=cpb.PENALTY_KIND_SUSPENSION, suspension_months=6)
    case_id, agency = await _to_decision(court, penalty)
    await _revoked_on_review(court, case_id, "2026-06-01")

    async def lifted():
        found = (await court.registry.GetAgency(rpb.GetAgencyRequest(id=agency.id),
                                                metadata=metadata("handler"))).agency
        return found if found.status == rpb.AGENCY_STATUS_ACTIVE else None
    for _ in range(200):
        if (agency_now := await lifted()) is not None:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the suspension was not lifted")
    assert (agency_now.status_history[-1].effective_on, agency_now.suspended_until) == ("2026-06-01", "")
    assert await _public_penalties(court, agency) == []


async def test_a_licence_revocation_revoked_on_review_reinstates_the_agency(court: Court):
    case_id, agency = await _to_decision(court, cpb.Penalty(kind=cpb.PENALTY_KIND_REVOCATION))
    registry_entry = (await court.registry.GetAgency(rpb.GetAgencyRequest(id=agency.id),
                                                     metadata=metadata("handler"))).agency
    assert registry_entry.status == rpb.AGENCY_STATUS_REVOKED
    assert registry_entry.status_history[-1].decision_reference == case_id
    case = await _revoked_on_review(court, case_id, "2026-06-01")
    assert case.summary.status == "revoked_on_review"
    registry_entry = (await court.registry.GetAgency(rpb.GetAgencyRequest(id=agency.id),
                                                     metadata=metadata("handler"))).agency
    assert (registry_entry.status, registry_entry.status_history[-1].effective_on) == (
        rpb.AGENCY_STATUS_ACTIVE, "2026-06-01")
    assert await _public_penalties(court, agency) == []
    assert any(t.action == "licence_reinstated" for t in (await court.state(case_id)).timeline)
    history = await court.env.client.get_workflow_handle(case_id).fetch_history()
    await Replayer(workflows=WORKFLOWS).replay_workflow(history)


async def test_action_in_the_wrong_stage_changes_nothing(court: Court):
    await court.start_on("2026-03-02")
    filed = await court.report(await court.agency())
    before = await court.state(filed.case_id)
    for rpc, fields in [("RecordPayment", {"amount_cny": 100}), ("RecordHearing", {"reason": "x"}),
                        ("CloseCase", {}), ("ResumeClock", {})]:
        refusal = await court.refused(rpc, filed.case_id, **fields)
        assert refusal.code() == grpc.StatusCode.FAILED_PRECONDITION, rpc
    refusal = await court.refused("ProposePenalty", filed.case_id,
                                  penalty=cpb.Penalty(kind=cpb.PENALTY_KIND_FINE), reason="x")
    assert refusal.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT)
    after = await court.state(filed.case_id)
    assert (after.revision, after.stage, after.timeline) == (before.revision, before.stage, before.timeline)


async def test_retried_action_applies_once(court: Court):
    await court.start_on("2026-03-02")
    filed = await court.report(await court.agency())
    request = cpb.AssignCaseRequest(idempotency_key="assign-" + uuid.uuid4().hex, case_id=filed.case_id,
                                    assignee=SECOND_HANDLER)
    first = await court.complaints.AssignCase(request, metadata=metadata("handler", subject=HANDLER))
    again = await court.complaints.AssignCase(request, metadata=metadata("handler", subject=HANDLER))
    assert first.case.summary.assignee == again.case.summary.assignee == SECOND_HANDLER
    view = await court.state(filed.case_id)
    assert [t.action for t in view.timeline].count("assigned") == 1
