"""Activities of the inspection workflows, as the suite's worker: read a campaign's next targets
and write campaign and task records in the inspections service, and open a case for a violation
through the complaints intake (source `inspection`), all over gRPC."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import activity
from temporalio.exceptions import ApplicationError

from ipss.complaints.v1 import complaints_pb2 as cpb
from ipss.complaints.v1 import complaints_pb2_grpc as cpb_grpc
from ipss.inspections.v1 import inspections_pb2 as pb
from ipss.inspections.v1 import inspections_pb2_grpc as pb_grpc
from suite.protos import enum_value
from workflows.activities.service_client import ServiceClient
from contracts.inspections import CampaignReport, Figures, TaskView

STAGE = pb.TaskStage.DESCRIPTOR
OUTCOME = pb.CheckOutcome.DESCRIPTOR
CATEGORY = cpb.ViolationCategory.DESCRIPTOR
CAMPAIGN_STATUS = pb.CampaignStatus.DESCRIPTOR


@dataclass
class TargetsQuestion:
    campaign_id: str
    from_position: int
    limit: int
    # How many targets the campaign has been told it has: an addition announces itself from inside
    # its transaction, so the service may not show its targets yet.
    announced: int = 0


ADDITION_NOT_COMMITTED = "ADDITION_NOT_COMMITTED"


@dataclass
class TaskTarget:
    task_id: str
    credit_code: str
    inspectors: list[str]


@dataclass
class TargetBatch:
    targets: list[TaskTarget]
    # How many targets the campaign holds now, those added by supervisors included.
    target_count: int


@dataclass
class CampaignRecord:
    campaign_id: str
    revision: int
    status: str  # running, ended, closed_early
    figures: Figures
    report: CampaignReport | None = None


@dataclass
class CaseOrder:
    """A finding that opens a case (检查发现 → 立案): the task files it once."""

    task_id: str
    credit_code: str
    category: str
    findings: str
    occurred_on: str


def figures_message(figures: Figures) -> pb.CampaignProgress:
    return pb.CampaignProgress(**vars(figures))


def task_progress_request(view: TaskView) -> pb.RecordTaskProgressRequest:
    """A task's view as its record's write: the service keeps what the console shows, the
    provisional (暂定) marks of its due days included."""
    return pb.RecordTaskProgressRequest(
        task_id=view.task_id, revision=view.revision, stage=enum_value(STAGE, view.stage),
        outcome=enum_value(OUTCOME, view.outcome), category=enum_value(CATEGORY, view.category),
        findings=view.findings, checked_on=view.checked_on, rectify_due_on=view.rectify_due_on,
        rectify_due_provisional=view.rectify_due_provisional, rechecked_on=view.rechecked_on,
        rectified=view.rectified, case_id=view.case_id, publish_due_on=view.publish_due_on,
        publish_due_provisional=view.publish_due_provisional, published_on=view.published_on,
        overdue=view.overdue, allowed_actions=view.allowed_actions)


class CaseIntake(ServiceClient):
    service = "complaints"
    stub_type = cpb_grpc.ComplaintsServiceStub

    async def file(self, order: CaseOrder) -> str:
        response = await self._call(self._stub.FileReport, cpb.FileReportRequest(
            idempotency_key=f"{order.task_id}:case", source=cpb.REPORT_SOURCE_INSPECTION,
            agency=cpb.ReportedAgency(credit_code=order.credit_code), category=enum_value(CATEGORY, order.category),
            description=order.findings, occurred_on=order.occurred_on, source_reference=order.task_id))
        return response.case_id


class InspectionActivities(ServiceClient):
    service = "inspections"
    stub_type = pb_grpc.InspectionsServiceStub

    def __init__(self, address: str | None = None, complaints_address: str | None = None, token: str | None = None):
        super().__init__(address, token)
        self._intake = CaseIntake(complaints_address, token)

    def all(self) -> list:
        return [self.campaign_targets, self.record_campaign_progress, self.record_task_progress, self.open_case]

    async def close(self) -> None:
        await super().close()
        await self._intake.close()

    @activity.defn(name="inspections.campaign_targets")
    async def campaign_targets(self, question: TargetsQuestion) -> TargetBatch:
        """The next targets from a position; while an announced addition has not committed, a
        retryable failure (the workflow's retry policy decides how long to wait for it)."""
        response = await self._call(self._stub.GetCampaignTargets, pb.GetCampaignTargetsRequest(
            campaign_id=question.campaign_id, from_position=question.from_position, limit=question.limit))
        if not response.targets and response.target_count < question.announced:
            raise ApplicationError(f"{question.announced - response.target_count} announced targets of "
                                   f"{question.campaign_id} are not committed yet", type=ADDITION_NOT_COMMITTED)
        return TargetBatch(targets=[TaskTarget(task_id=t.id, credit_code=t.agency.credit_code,
                                               inspectors=list(t.inspector_ids)) for t in response.targets],
                           target_count=response.target_count)

    @activity.defn(name="inspections.record_campaign_progress")
    async def record_campaign_progress(self, record: CampaignRecord) -> bool:
        request = pb.RecordCampaignProgressRequest(
            campaign_id=record.campaign_id, revision=record.revision, progress=figures_message(record.figures),
            status=enum_value(CAMPAIGN_STATUS, record.status))
        if record.report is not None:
            request.report.CopyFrom(pb.CampaignReport(
                ending=enum_value(CAMPAIGN_STATUS, record.report.ending), closed_on=record.report.closed_on,
                reason=record.report.reason, figures=figures_message(record.report.figures)))
        return (await self._call(self._stub.RecordCampaignProgress, request)).applied

    @activity.defn(name="inspections.record_task_progress")
    async def record_task_progress(self, view: TaskView) -> bool:
        return (await self._call(self._stub.RecordTaskProgress, task_progress_request(view))).applied

    @activity.defn(name="inspections.open_case")
    async def open_case(self, order: CaseOrder) -> str:
        return await self._intake.file(order)
