"""Activities that write a case's record and reporters' messages in the complaints service,
through its gRPC API, as the suite's worker."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from temporalio import activity

from ipss.complaints.v1 import complaints_pb2 as pb
from ipss.complaints.v1 import complaints_pb2_grpc as pb_grpc
from suite import telemetry
from suite.protos import enum_value
from workflows.activities.service_client import ServiceClient
from contracts.case import CaseView, TimelineItem

STAGE = pb.CaseStage.DESCRIPTOR
OUTCOME = pb.CaseOutcome.DESCRIPTOR
CATEGORY = pb.ViolationCategory.DESCRIPTOR
SOURCE = pb.ReportSource.DESCRIPTOR
REFERRAL_ANSWER = pb.ReferralAnswer.DESCRIPTOR
SUBJECT_KIND = pb.SubjectKind.DESCRIPTOR


@dataclass
class ProgressRecord:
    view: CaseView
    new_entries: list[TimelineItem]


@dataclass
class Notice:
    """A notice to a case's reporters: what it says as a code and the values its words need (the
    reporter's page words it), sent once per key."""

    case_id: str
    notice_key: str
    real_name_only: bool
    # A notice scheduled before notices had codes arrives without one: the service refuses it, so
    # the action that sent it is refused as failed half-way and taken again, rather than retried
    # for ever.
    code: str = ""
    data: dict[str, str] = field(default_factory=dict)


def progress_request(record: ProgressRecord) -> pb.RecordCaseProgressRequest:
    view = record.view
    summary = pb.CaseSummary(
        case_id=view.case_id, stage=enum_value(STAGE, view.stage), status=view.status,
        outcome=enum_value(OUTCOME, view.outcome), region_code=view.region_code,
        agency_id=view.agency.agency_id, agency_name=view.agency.name, agency_credit_code=view.agency.credit_code,
        category=enum_value(CATEGORY, view.category), source=enum_value(SOURCE, view.source),
        assignee=view.assignee, received_on=view.received_on, next_deadline=view.next_deadline,
        next_deadline_period=view.next_deadline_period, next_deadline_provisional=view.next_deadline_provisional,
        overdue=view.overdue, due_soon=view.due_soon, reporter_count=view.reporter_count,
        subject_kind=enum_value(SUBJECT_KIND, view.subject_kind), agency_kind=view.agency.kind,
        merged_into_case_id=view.merged_into, transferred_from_region_code=view.transferred_from)
    if view.practitioner:
        summary.practitioner_id = view.practitioner.practitioner_id
        summary.practitioner_name = view.practitioner.name
        summary.practitioner_certificate_number = view.practitioner.certificate_number
    if view.referral:
        referral = view.referral
        summary.referral.CopyFrom(pb.Referral(
            association_id=referral.association_id, sent_on=referral.sent_on, grounds=referral.grounds,
            answer=enum_value(REFERRAL_ANSWER, referral.answer) if referral.answer else 0,
            answered_on=referral.answered_on, measure=referral.measure, answer_reason=referral.answer_reason))
    entries = []
    for item in record.new_entries:
        entry = pb.TimelineEntry(revision=item.revision, actor=item.actor, action=item.action, data=item.data,
                                 internal=item.internal)
        entry.at.FromDatetime(datetime.fromisoformat(item.at))
        entries.append(entry)
    return pb.RecordCaseProgressRequest(
        case_id=view.case_id, revision=view.revision, summary=summary,
        deadlines=[pb.Deadline(period_id=d.period_id, due_on=d.due_on, warn_on=d.warn_on, legal_source=d.legal_source,
                               description=d.description, state=d.state, provisional=d.provisional,
                               awaiting_schedule=d.awaiting_schedule) for d in view.deadlines],
        new_entries=entries, allowed_actions=view.allowed_actions, fine_cny=view.fine_cny,
        surcharge_cny=view.surcharge_cny, paid_on=view.paid_on,
        surcharge_paused=[pb.ReviewSpan(filed_on=filed_on, concluded_on=concluded_on)
                          for filed_on, concluded_on in view.surcharge_paused])


class ComplaintsActivities(ServiceClient):
    service = "complaints"
    stub_type = pb_grpc.ComplaintsServiceStub

    @activity.defn(name="complaints.record_progress")
    async def record_progress(self, record: ProgressRecord) -> bool:
        response = await self._call(self._stub.RecordCaseProgress, progress_request(record))
        if response.applied:
            telemetry.count_deadline_events(record.new_entries)
        return response.applied

    @activity.defn(name="complaints.notify_reporters")
    async def notify_reporters(self, notice: Notice) -> int:
        response = await self._call(self._stub.NotifyReporters, pb.NotifyReportersRequest(
            case_id=notice.case_id, notice_key=notice.notice_key, code=notice.code, data=notice.data,
            real_name_only=notice.real_name_only))
        return response.notified
