"""gRPC servicer of ipss.complaints.v1.ComplaintsService: messages in, domain, store, registry and
workflow calls, messages out. Authorization, validation and error statuses happen before and
after, in the suite's interceptor."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from datetime import date

import grpc

from contracts.case import (OPENING_PERIOD, AgencyRef, CaseAction, CaseMerger, CaseStart, PractitionerRef,
                            ReporterRef)
from contracts.case_actions import CASE_ACTIONS, PENALTY, ActionSpec
from contracts.periods import PeriodQuestion
from ipss.complaints.v1 import complaints_pb2 as pb
from ipss.complaints.v1 import complaints_pb2_grpc as pb_grpc
from rules import Rules, Surcharge, WorkingDayCalendar
from services.complaints import domain, statistics, store
from services.complaints.cases import CaseWorkflows, join_message, start_message
from services.complaints.registry_client import ReportedAgencyLookup
from suite import auth, clock, codes, idempotency, workflow_outbox
from suite import logging as suite_logging
from suite.errors import DomainError, FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from suite.periods import plan_period, rules_of
from suite.protos import enum_value, enum_word, format_date, optional_word, parse_date, timestamp
from suite.regions import scoped_prefix
from suite.workflow_outbox import WorkflowMessage

SOURCE = pb.ReportSource.DESCRIPTOR
CATEGORY = pb.ViolationCategory.DESCRIPTOR
STAGE = pb.CaseStage.DESCRIPTOR
OUTCOME = pb.CaseOutcome.DESCRIPTOR
PENALTY_KIND = pb.PenaltyKind.DESCRIPTOR
REVIEW_KIND = pb.ReviewKind.DESCRIPTOR
REFERRAL_ANSWER = pb.ReferralAnswer.DESCRIPTOR
ESCALATION_STATE = pb.EscalationState.DESCRIPTOR
RESOLUTION = pb.EscalationResolution.DESCRIPTOR
EVENT_KIND = pb.EscalationEventKind.DESCRIPTOR
NOTIFICATION_KIND = pb.NotificationKind.DESCRIPTOR
SUBJECT_KIND = pb.SubjectKind.DESCRIPTOR
ATTACHMENT_ID = re.compile(r"[0-9a-f]{64}")
DEFAULT_PAGE_SIZE = 50

log = suite_logging.get("complaints")


class UnknownReport(DomainError):
    """A tracking code and secret that do not go together; which one was wrong is not told."""

    code = grpc.StatusCode.NOT_FOUND

    def __init__(self) -> None:
        super().__init__("REPORT_NOT_FOUND", "no report has this tracking code and secret")


class ComplaintsApi(pb_grpc.ComplaintsServiceServicer):
    def __init__(self, complaints: store.ComplaintsStore, registry: ReportedAgencyLookup, cases: CaseWorkflows,
                 outbox: workflow_outbox.WorkflowRelay, rules: domain.IntakeRules, secret_of: Callable[[str], str],
                 legal: clock.LegalClock):
        self.store = complaints
        self.outbox = outbox
        self.legal = legal
        self.registry = registry
        self.cases = cases
        self.rules = rules
        self.secret_of = secret_of
        # The front ends (the console) whose word on the public's address is taken for upload quotas.
        self.trusted_proxies = frozenset(
            a.strip() for a in os.environ.get("IPSS_COMPLAINTS_TRUSTED_PROXIES", "127.0.0.1,::1").split(",")
            if a.strip())

    # -- intake --

    async def UploadAttachment(self, request: pb.UploadAttachmentRequest, context) -> pb.UploadAttachmentResponse:
        media_type = domain.check_attachment(request.content_type, request.content)
        principal = auth.current()
        forwarded = dict(context.invocation_metadata() or ()).get(domain.CLIENT_ADDRESS_HEADER, "")
        caller = domain.upload_caller(principal.role, principal.subject, context.peer() or "", forwarded,
                                      self.trusted_proxies)
        quota, now = domain.upload_quota(principal.role), clock.now()
        domain.check_upload_quota(quota, *await self.store.uploads_since(caller, now - quota.window),
                                  len(request.content), now)
        attachment_id = domain.content_address(request.content)
        size = await self.store.store_attachment(attachment_id, media_type, request.filename, request.content, now)
        await self.store.log_upload(caller, size, now)
        return pb.UploadAttachmentResponse(attachment_id=attachment_id, size_bytes=size)

    async def FileReport(self, request: pb.FileReportRequest, context) -> pb.FileReportResponse:
        intake = intake_of(request)
        domain.check_source(auth.current().role, intake.source, intake.source_reference, intake.reporter)
        domain.check_occurred_on(intake.occurred_on, self.legal.today())
        subject = await self.registry.find_subject(request)
        messages: list[str] = []

        async def write(session):
            unknown = await self.store.unknown_attachments(session, intake.attachment_ids)
            if unknown:
                raise InvalidArgument([FieldViolation(f"attachment_ids[{i}]", "ATTACHMENT_NOT_UPLOADED",
                                                      "no attachment with this id was uploaded")
                                       for i, a in enumerate(intake.attachment_ids) if a in unknown])
            filing = await self.store.file_report(session, intake, subject, self.rules, self.legal.today(),
                                                  clock.now(), self.secret_of)
            messages[:] = await workflow_outbox.add(session, store.WorkflowOutbox, self._case_messages(filing, intake))
            # The secret is not kept with the answer: a replay derives it again (see domain.tracking_secret).
            return pb.FileReportResponse(case_id=filing.case_id, tracking_code=filing.tracking_code,
                                         joined_existing_case=filing.joined_existing_case)
        response = await idempotency.run_once(self.store.sessions, store.IdempotencyRecord, "FileReport", request,
                                              pb.FileReportResponse, write)
        # The report is on record with its case's messages: it stands whether or not Temporal
        # answers now (the relay sends what this cannot). A replay sends what is still unsent.
        if messages:
            await self.outbox.deliver(messages)
        else:
            await self.outbox.deliver_pending(response.case_id)
        log.info("report filed", case_id=response.case_id, source=intake.source,
                 joined_existing_case=response.joined_existing_case)
        response.tracking_secret = self.secret_of(response.tracking_code)
        if not domain.answer_names_case(intake.source, intake.reporter):
            # An anonymous filing could be a probe (is this agency under investigation?): its
            # answer neither says whether it joined a case nor names one a second probe could
            # be compared with. The stored answer keeps both (a replay delivers the case's
            # pending messages by its id); only what leaves the service is cut.
            response.ClearField("case_id")
            response.ClearField("joined_existing_case")
        return response

    def _case_messages(self, filing: store.Filing, intake: domain.Intake) -> list[WorkflowMessage]:
        """A case this report opened starts its workflow, from the rows just written; a reporter
        joining an open case is told to its workflow."""
        if filing.opened is not None:
            case, reporters = filing.opened
            return [start_message(case_start(case, reporters, self.legal.offset_days, self.rules.calendar))]
        if filing.reporter_reference is not None:
            return [join_message(filing.case_id, ReporterRef(filing.reporter_reference, intake.reporter.real_name))]
        return []

    async def GetReportStatus(self, request: pb.GetReportStatusRequest, context) -> pb.GetReportStatusResponse:
        status = await self.store.report_status(domain.normalize_tracking(request.tracking_code),
                                                request.tracking_secret)
        if status is None:
            raise UnknownReport()
        case, report = status.case, status.report
        if domain.sees_case_progress(report.source, status.real_name, report.joined_existing_case):
            progress = stage_fields(case.stage, case.next_deadline, case.next_deadline_provisional, status.messages)
        else:
            as_filed = domain.status_as_filed(case.stage, report.filed_at, report.filed_on)
            progress = stage_fields(as_filed.stage, None, False, as_filed.messages)
        return pb.GetReportStatusResponse(
            agency_name=domain.subject_name(case.subject_kind, case.agency_name, case.practitioner_name),
            category=enum_value(CATEGORY, case.category), filed_on=format_date(report.filed_on), **progress)

    # -- the queue and the record --

    async def ListCases(self, request: pb.ListCasesRequest, context) -> pb.ListCasesResponse:
        where = store.CaseFilter(
            region_prefix=scoped_prefix(request.region_code),
            stages=tuple(enum_word(STAGE, s) for s in request.stages),
            categories=tuple(enum_word(CATEGORY, c) for c in request.categories),
            agency_credit_code=request.agency_credit_code, assignee=request.assignee,
            overdue_only=request.overdue_only, include_closed=request.include_closed,
            awaiting_approval=request.awaiting_approval)
        today = self.legal.today()
        cases, next_token = await self.store.list_cases(where, today, request.page_size or DEFAULT_PAGE_SIZE,
                                                        store.decode_page_token(request.page_token))
        return pb.ListCasesResponse(cases=[summary_message(c, today) for c in cases], next_page_token=next_token)

    async def GetCase(self, request: pb.GetCaseRequest, context) -> pb.GetCaseResponse:
        return pb.GetCaseResponse(case=await self._case_in_scope(request.case_id))

    async def _case_in_scope(self, case_id: str) -> pb.Case:
        case_file = await self.store.case_file(case_id)
        auth.require_region(case_file.case.region_code, "the case")
        return case_message(case_file, domain.sees_reporters(auth.current().role), self.legal.today())

    # -- statistics and exports, from the records --

    async def GetCaseStatistics(self, request: pb.GetCaseStatisticsRequest, context
                                ) -> pb.GetCaseStatisticsResponse:
        scope = case_scope(request)
        counted = statistics.tally(await self.store.statistics_rows(scope), scope.region_prefix)
        return statistics_message(counted, scope.region_prefix)

    async def ExportCases(self, request: pb.ExportCasesRequest, context) -> pb.ExportCasesResponse:
        scope = case_scope(request)
        today = self.legal.today()
        page, token = await self.store.export_cases(scope, request.page_size or DEFAULT_PAGE_SIZE,
                                                    store.decode_export_token(request.page_token))
        return pb.ExportCasesResponse(cases=[exported_message(case, changes, today) for case, changes in page],
                                      next_page_token=token)

    # -- handler and supervisor actions: updates of the case's workflow --

    async def _act(self, action: str, request, **arguments) -> pb.Case:
        """Send the action to the case's workflow (its region in the caller's scope); the answer is
        the record the workflow wrote before the update returned. A case the action moved to
        another office's region is answered without its reporters: they are that office's now."""
        await self._send(action, request, **arguments)
        case_file = await self.store.case_file(request.case_id)
        still_ours = auth.current().covers_region(case_file.case.region_code)
        return case_message(case_file, still_ours and domain.sees_reporters(auth.current().role),
                            self.legal.today())

    async def _scoped_case(self, case_id: str) -> store.Case:
        case = await self.store.get_case(case_id)
        auth.require_region(case.region_code, "the case")
        return case

    async def _send(self, action: str, request, **arguments) -> None:
        case = await self._scoped_case(request.case_id)
        principal = auth.current()
        await self.cases.act(case.id, CaseAction(
            action=action, actor=principal.subject, actor_role=principal.role, request_id=request.idempotency_key,
            effective_on=request.effective_on, **arguments))

    async def AddEvidence(self, request: pb.AddEvidenceRequest, context) -> pb.AddEvidenceResponse:
        await self._scoped_case(request.case_id)
        if not await self.store.attachment_exists(request.attachment_id):
            raise InvalidArgument(FieldViolation("attachment_id", "ATTACHMENT_NOT_UPLOADED",
                                                 "no attachment with this id was uploaded"))
        await self._send("add_evidence", request, attachment_id=request.attachment_id, reason=request.reason)
        await self.store.add_evidence(request.case_id, request.attachment_id, clock.now())
        return pb.AddEvidenceResponse(case=await self._case_in_scope(request.case_id))

    # -- who the case is about (主体认定) and which case it is (并案) --

    async def MatchCaseSubject(self, request: pb.MatchCaseSubjectRequest, context) -> pb.MatchCaseSubjectResponse:
        """The registry entry the subject turned out to be, found in the registry by what the handler
        names (an agency for an entity, a practitioner's certificate for a practitioner) and handed
        to the workflow, which says whether the case may still be matched."""
        case = await self._scoped_case(request.case_id)
        agency, practitioner = None, None
        if case.subject_kind == domain.PRACTITIONER_SUBJECT:
            found = None
            if request.practitioner_certificate_number:
                found = await self.registry.find_practitioner(request.practitioner_certificate_number)
            if found is None:
                raise InvalidArgument(FieldViolation(
                    "practitioner_certificate_number", "PRACTITIONER_NOT_IN_REGISTRY",
                    "names no practitioner in the registry (by qualification certificate number)"))
            practitioner = PractitionerRef(found.practitioner_id, found.name, found.certificate_number)
        else:
            if not request.HasField("agency"):
                raise InvalidArgument(FieldViolation("agency", "MATCH_AGENCY_REQUIRED",
                                                     "names the registered agency the subject is"))
            found = await self.registry.find_agency(request.agency)
            agency = AgencyRef(found.agency_id, found.name, found.credit_code, found.region_code, found.kind)
        matched = await self._act("match_subject", request, matched_agency=agency, matched_practitioner=practitioner,
                                  reason=request.reason)
        log.info("case subject matched", case_id=case.id)
        return pb.MatchCaseSubjectResponse(case=matched)

    async def MergeCases(self, request: pb.MergeCasesRequest, context) -> pb.MergeCasesResponse:
        """Merge the case into another on the same conduct (并案): the other case takes its reporters
        in first (its workflow's merge_in update; the record write moves the reports and tells every
        reporter), then this case closes as merged (its workflow's merge action). Each update is
        taken once by its request id, so a retry after a failure between them finishes the merger."""
        merged = await self._scoped_case(request.case_id)
        into = await self._scoped_case(request.into_case_id)
        domain.check_merge(merged.id, merged.stage, merged.merged_into, merged.subject_key, into.id, into.subject_key)
        principal = auth.current()
        if merged.merged_into != into.id:
            reporters = [ReporterRef(reference, real) for reference, real in
                         await self.store.reporter_references(merged.id)]
            await self.cases.merge_in(into.id, CaseMerger(
                merged_case_id=merged.id, actor=principal.subject, actor_role=principal.role,
                request_id=request.idempotency_key, reason=request.reason, reporters=reporters,
                effective_on=request.effective_on))
            await self._send("merge", request, into_case_id=into.id, reason=request.reason)
        log.info("cases merged", case_id=merged.id, into_case_id=into.id)
        sees = domain.sees_reporters(principal.role)
        today = self.legal.today()
        return pb.MergeCasesResponse(case=case_message(await self.store.case_file(merged.id), sees, today),
                                     into_case=case_message(await self.store.case_file(into.id), sees, today))

    # -- referrals to industry associations (移交行业自律) --

    async def ListReferrals(self, request: pb.ListReferralsRequest, context) -> pb.ListReferralsResponse:
        """An association lists its own referrals (naming another finds nothing, as an unknown one
        would); staff name the association."""
        principal = auth.current()
        if principal.role == "association":
            association_id = principal.association_id
            if request.association_id and request.association_id != association_id:
                return pb.ListReferralsResponse()
        else:
            association_id = request.association_id
            if not association_id:
                raise InvalidArgument(FieldViolation("association_id", "REFERRAL_ASSOCIATION_REQUIRED",
                                                     "staff name the association whose referrals they list"))
        if not association_id:
            return pb.ListReferralsResponse()
        cases, next_token = await self.store.list_referrals(
            association_id, request.open_only, request.page_size or DEFAULT_PAGE_SIZE,
            store.decode_referrals_token(request.page_token))
        if principal.role != "association":
            cases = [c for c in cases if principal.covers_region(c.region_code)]
        return pb.ListReferralsResponse(referrals=[referral_message(c) for c in cases], next_page_token=next_token)

    async def AnswerReferral(self, request: pb.AnswerReferralRequest, context) -> pb.AnswerReferralResponse:
        """The association's answer, sent to the case's workflow as the action answer_referral by
        the association itself; the answer is the referral as recorded after it. A case not
        referred to the caller's association is NOT_FOUND, as one that does not exist."""
        association_id = auth.current().association_id
        case = await self.store.get_case(request.case_id)
        if not association_id or case.referral_association_id != association_id:
            raise NotFound("case", request.case_id)
        try:
            await self.cases.act(case.id, CaseAction(
                action="answer_referral", actor=association_id, actor_role=auth.current().role,
                request_id=request.idempotency_key, effective_on=request.effective_on,
                referral_answer=enum_word(REFERRAL_ANSWER, request.answer), measure=request.measure,
                reason=request.reason, association_id=association_id))
        except FailedPrecondition as refused:
            if refused.reason == "CASE_NOT_FOUND":
                raise NotFound("case", request.case_id) from None
            raise
        log.info("referral answered", case_id=case.id, association_id=association_id,
                 answer=enum_word(REFERRAL_ANSWER, request.answer))
        return pb.AnswerReferralResponse(referral=referral_message(await self.store.get_case(request.case_id)))

    # -- the supervisors' inbox (超期督办) and the handlers' notifications (办案提醒) --

    async def ListEscalations(self, request: pb.ListEscalationsRequest, context) -> pb.ListEscalationsResponse:
        entries, token, waiting = await self.store.list_escalations(
            scoped_prefix(request.region_code), auth.current().subject, request.include_resolved,
            request.page_size or DEFAULT_PAGE_SIZE, store.decode_inbox_token(request.page_token))
        today = self.legal.today()
        return pb.ListEscalationsResponse(escalations=[escalation_message(e, today) for e in entries],
                                          next_page_token=token, open_count=waiting)

    async def AcknowledgeEscalation(self, request: pb.AcknowledgeEscalationRequest, context
                                    ) -> pb.AcknowledgeEscalationResponse:
        found = await self.store.escalation(request.escalation_id)
        auth.require_region(found.escalation.region_code, "the escalation")
        taken = await self.store.acknowledge_escalation(request.escalation_id, auth.current().subject, clock.now())
        log.info("escalation acknowledged", case_id=taken.case.id, escalation_id=request.escalation_id)
        return pb.AcknowledgeEscalationResponse(escalation=escalation_message(taken, self.legal.today()))

    async def ListEscalationEvents(self, request: pb.ListEscalationEventsRequest, context
                                   ) -> pb.ListEscalationEventsResponse:
        events, last = await self.store.escalation_events(scoped_prefix(""), request.after_position,
                                                          request.page_size or DEFAULT_PAGE_SIZE)
        return pb.ListEscalationEventsResponse(events=[escalation_event_message(e) for e in events],
                                               last_position=last)

    async def ListNotifications(self, request: pb.ListNotificationsRequest, context
                                ) -> pb.ListNotificationsResponse:
        entries, token, unread = await self.store.list_notifications(
            auth.current().subject, scoped_prefix(""), request.unread_only, request.page_size or DEFAULT_PAGE_SIZE,
            store.decode_notifications_token(request.page_token))
        today = self.legal.today()
        return pb.ListNotificationsResponse(notifications=[notification_message(e, today) for e in entries],
                                            next_page_token=token, unread_count=unread)

    async def MarkNotificationRead(self, request: pb.MarkNotificationReadRequest, context
                                   ) -> pb.MarkNotificationReadResponse:
        read = await self.store.mark_notification_read(request.notification_id, auth.current().subject,
                                                       scoped_prefix(""), clock.now())
        return pb.MarkNotificationReadResponse(notification=notification_message(read, self.legal.today()))

    # -- written by the case workflow --

    async def RecordCaseProgress(self, request: pb.RecordCaseProgressRequest, context
                                 ) -> pb.RecordCaseProgressResponse:
        check_progress(request)
        now = clock.now()
        summary = request.summary
        progress = store.Progress(
            revision=request.revision,
            summary=dict(stage=enum_word(STAGE, summary.stage), status=summary.status,
                         outcome=optional_word(OUTCOME, summary.outcome),
                         region_code=summary.region_code, assignee=summary.assignee,
                         next_deadline=parse_date(summary.next_deadline),
                         next_deadline_period=summary.next_deadline_period,
                         next_deadline_provisional=summary.next_deadline_provisional, overdue=summary.overdue,
                         due_soon=summary.due_soon, fine_cny=request.fine_cny, surcharge_cny=request.surcharge_cny,
                         paid_on=parse_date(request.paid_on),
                         surcharge_paused=[[r.filed_on, r.concluded_on] for r in request.surcharge_paused],
                         merged_into=summary.merged_into_case_id,
                         transferred_from=summary.transferred_from_region_code),
            deadlines=[dict(period_id=d.period_id, due_on=d.due_on, warn_on=d.warn_on, legal_source=d.legal_source,
                            description=d.description, state=d.state, provisional=d.provisional,
                            awaiting_schedule=d.awaiting_schedule) for d in request.deadlines],
            allowed_actions=list(request.allowed_actions),
            new_entries=[dict(revision=e.revision or request.revision,
                              at=e.at.ToDatetime(clock.CHINA) if e.HasField("at") else now, actor=e.actor,
                              action=e.action, detail=e.detail, internal=e.internal, data=dict(e.data))
                         for e in request.new_entries],
            referral=referral_of_summary(summary.referral) if summary.HasField("referral") else None,
            subject=subject_of_summary(summary) if summary.subject_kind else None)
        applied = await self.store.record_progress(request.case_id, progress, now)
        return pb.RecordCaseProgressResponse(applied=applied)

    async def NotifyReporters(self, request: pb.NotifyReportersRequest, context) -> pb.NotifyReportersResponse:
        notified = await self.store.notify_reporters(request.case_id, request.notice_key, request.code,
                                                     dict(request.data), request.real_name_only, clock.now())
        return pb.NotifyReportersResponse(notified=notified)


def _action_rpc(spec: ActionSpec):
    """The RPC of a case action: its request's arguments, as the registry declares them, sent to the
    case's workflow; the answer is the case record."""
    answer = getattr(pb, f"{spec.rpc}Response")

    async def rpc(self: ComplaintsApi, request, context):
        return answer(case=await self._act(spec.name, request, **action_arguments(spec, request)))
    rpc.__name__ = rpc.__qualname__ = spec.rpc
    return rpc


for _spec in CASE_ACTIONS.values():
    if _spec.rpc not in vars(ComplaintsApi):  # AddEvidence, AnswerReferral, MatchCaseSubject, MergeCases: their own
        setattr(ComplaintsApi, _spec.rpc, _action_rpc(_spec))


def action_arguments(spec: ActionSpec, request) -> dict:
    """The CaseAction arguments an action reads, from its request: most by the same name; the
    penalty and the review from their sub-message and enum."""
    arguments = {}
    for name in spec.arguments:
        if name in PENALTY:
            arguments.update(penalty_arguments(request.penalty))
        elif name == "review_kind":
            arguments.update(review_kind=enum_word(REVIEW_KIND, request.kind), review_pending=request.pending,
                             review_upheld=request.upheld)
        elif not name.startswith("review_"):
            arguments[name] = getattr(request, name)
    return arguments


# ---- messages in -----------------------------------------------------------------------------------

def intake_of(request: pb.FileReportRequest) -> domain.Intake:
    bad_ids = [FieldViolation(f"attachment_ids[{i}]", "ATTACHMENT_ID_SHAPE", "must be an attachment id (64 hex digits)")
               for i, a in enumerate(request.attachment_ids) if not ATTACHMENT_ID.fullmatch(a)]
    if bad_ids:
        raise InvalidArgument(bad_ids)
    reporter = None
    if request.HasField("reporter"):
        r = request.reporter
        reporter = domain.ReporterIdentity(real_name=r.real_name, name=r.name, phone=r.phone,
                                           resident_id=r.resident_id, organisation=r.organisation, email=r.email)
    return domain.Intake(
        source=enum_word(SOURCE, request.source), category=enum_word(CATEGORY, request.category),
        description=request.description, occurred_on=parse_date(request.occurred_on),
        source_reference=request.source_reference, attachment_ids=tuple(request.attachment_ids), reporter=reporter)


def penalty_arguments(penalty: pb.Penalty) -> dict:
    return dict(penalty_kind=enum_word(PENALTY_KIND, penalty.kind), fine_cny=penalty.fine_cny,
                suspension_months=penalty.suspension_months)


def check_progress(request: pb.RecordCaseProgressRequest) -> None:
    """The record the workflow writes must be about this case and in a shape the queue can read."""
    summary = request.summary
    violations = []
    if summary.case_id != request.case_id:
        violations.append(FieldViolation("summary.case_id", "SUMMARY_OF_ANOTHER_CASE", "must be the request's case_id"))
    if summary.stage == pb.CASE_STAGE_UNSPECIFIED:
        violations.append(FieldViolation("summary.stage", "FIELD_REQUIRED", "is required"))
    region_problem = codes.region_code_problem(summary.region_code)
    if region_problem:
        violations.append(FieldViolation("summary.region_code", region_problem.reason, region_problem.description))
    date_problem = summary.next_deadline and codes.date_problem(summary.next_deadline)
    if date_problem:
        violations.append(FieldViolation("summary.next_deadline", date_problem.reason, date_problem.description))
    if violations:
        raise InvalidArgument(violations)


def referral_of_summary(referral: pb.Referral) -> dict:
    """The referral a workflow's summary carries, as the record keeps it."""
    return dict(association_id=referral.association_id, sent_on=parse_date(referral.sent_on),
                grounds=referral.grounds, answer=optional_word(REFERRAL_ANSWER, referral.answer),
                answered_on=parse_date(referral.answered_on), measure=referral.measure,
                answer_reason=referral.answer_reason)


def subject_of_summary(summary: pb.CaseSummary) -> dict:
    """Who the case is about, as the workflow's summary says (matched to the registry, perhaps)."""
    return dict(subject_kind=enum_word(SUBJECT_KIND, summary.subject_kind), agency_id=summary.agency_id,
                agency_name=summary.agency_name, agency_credit_code=summary.agency_credit_code,
                agency_kind=summary.agency_kind, practitioner_id=summary.practitioner_id,
                practitioner_name=summary.practitioner_name,
                practitioner_certificate=summary.practitioner_certificate_number)


def case_scope(request: pb.GetCaseStatisticsRequest | pb.ExportCasesRequest) -> store.CaseScope:
    received_from, received_to = parse_date(request.received_from), parse_date(request.received_to)
    if received_from and received_to and received_from > received_to:
        raise InvalidArgument(FieldViolation("received_to", "RANGE_ENDS_BEFORE_START",
                                             "must not be before received_from", {"received_from": received_from}))
    return store.CaseScope(scoped_prefix(request.region_code), received_from, received_to)


def case_start(case: store.Case, reporters: list[store.Reporter], calendar_offset_days: int,
               calendar: WorkingDayCalendar) -> CaseStart:
    """The case's start, with its first period placed on this service's calendar."""
    received_on = case.received_on.isoformat()
    opening = plan_period(rules_of(case.rules_version), calendar,
                          PeriodQuestion(case.rules_version, OPENING_PERIOD, received_on))
    return CaseStart(
        case_id=case.id, region_code=case.region_code,
        agency=AgencyRef(agency_id=case.agency_id, name=case.agency_name, credit_code=case.agency_credit_code,
                               region_code=case.region_code, kind=case.agency_kind),
        category=case.category, source=case.source, received_on=received_on,
        occurred_on=format_date(case.occurred_on), rules_version=case.rules_version,
        reporters=[ReporterRef(reference=r.reference, real_name=r.real_name) for r in reporters],
        calendar_offset_days=calendar_offset_days, opening_plan=opening, subject_kind=case.subject_kind,
        practitioner=PractitionerRef(case.practitioner_id, case.practitioner_name, case.practitioner_certificate)
        if case.subject_kind == domain.PRACTITIONER_SUBJECT else None)


# ---- messages out -----------------------------------------------------------------------------------

def summary_message(case: store.Case, today) -> pb.CaseSummary:
    return pb.CaseSummary(
        case_id=case.id, stage=enum_value(STAGE, case.stage), status=case.status,
        outcome=enum_value(OUTCOME, case.outcome) if case.outcome else 0, region_code=case.region_code,
        agency_id=case.agency_id, agency_name=case.agency_name, agency_credit_code=case.agency_credit_code,
        category=enum_value(CATEGORY, case.category), source=enum_value(SOURCE, case.source), assignee=case.assignee,
        received_on=format_date(case.received_on), next_deadline=format_date(case.next_deadline),
        next_deadline_period=case.next_deadline_period, next_deadline_provisional=case.next_deadline_provisional,
        overdue=domain.is_overdue(case.overdue, case.next_deadline, today), due_soon=case.due_soon,
        reporter_count=case.reporter_count, updated_at=timestamp(case.updated_at),
        referral=referral_message(case) if case.referral_association_id else None,
        subject_kind=enum_value(SUBJECT_KIND, case.subject_kind), agency_kind=case.agency_kind,
        practitioner_id=case.practitioner_id, practitioner_name=case.practitioner_name,
        practitioner_certificate_number=case.practitioner_certificate, subject_address=case.subject_address,
        merged_into_case_id=case.merged_into, transferred_from_region_code=case.transferred_from)


def optional_timestamp(value):
    return timestamp(value) if value else None


def escalation_message(entry: store.InboxEntry, today) -> pb.Escalation:
    e = entry.escalation
    return pb.Escalation(
        escalation_id=e.id, case_id=e.case_id, period_id=e.period_id, due_on=format_date(e.due_on),
        missed_on=format_date(e.missed_on), region_code=e.region_code, state=enum_value(ESCALATION_STATE, e.state),
        supervisor=e.supervisor, assignee=e.assignee, provisional=e.provisional,
        days_overdue=0 if e.state == domain.RESOLVED else domain.days_overdue(e.due_on, today),
        raised_at=timestamp(e.raised_at), acknowledged_at=optional_timestamp(e.acknowledged_at),
        resolved_at=optional_timestamp(e.resolved_at), resolution=enum_value(RESOLUTION, e.resolution),
        resolved_by=e.resolved_by, case=summary_message(entry.case, today))


def escalation_event_message(event: store.EscalationEvent) -> pb.EscalationEvent:
    return pb.EscalationEvent(
        position=event.position, kind=enum_value(EVENT_KIND, event.kind), at=timestamp(event.at),
        escalation_id=event.escalation_id, case_id=event.case_id, region_code=event.region_code,
        period_id=event.period_id, due_on=format_date(event.due_on), missed_on=format_date(event.missed_on),
        actor=event.actor, resolution=enum_value(RESOLUTION, event.resolution))


def notification_message(entry: store.NotificationEntry, today) -> pb.Notification:
    n = entry.notification
    return pb.Notification(
        notification_id=n.id, kind=enum_value(NOTIFICATION_KIND, n.kind), case_id=n.case_id, period_id=n.period_id,
        due_on=format_date(n.due_on), warn_on=format_date(n.warn_on), provisional=n.provisional, actor=n.actor,
        created_at=timestamp(n.created_at), read_at=optional_timestamp(n.read_at),
        case=summary_message(entry.case, today))


def referral_message(case: store.Case) -> pb.Referral:
    return pb.Referral(
        case_id=case.id, association_id=case.referral_association_id, agency_id=case.agency_id,
        agency_name=case.agency_name, agency_credit_code=case.agency_credit_code,
        category=enum_value(CATEGORY, case.category), region_code=case.region_code,
        sent_on=format_date(case.referral_sent_on), grounds=case.referral_grounds,
        answer=enum_value(REFERRAL_ANSWER, case.referral_answer) if case.referral_answer else 0,
        answered_on=format_date(case.referral_answered_on), measure=case.referral_measure,
        answer_reason=case.referral_answer_reason)


def case_message(case_file: store.CaseFile, with_reporters: bool, today) -> pb.Case:
    case = case_file.case
    return pb.Case(
        summary=summary_message(case, today), description=domain.case_description(
            [(r.filed_on, r.description) for r in case_file.reports]),
        occurred_on=format_date(case.occurred_on), source_reference=case.source_reference,
        attachment_ids=case_file.attachment_ids,
        deadlines=[pb.Deadline(**d) for d in case.deadlines],
        timeline=[pb.TimelineEntry(revision=e.revision, at=timestamp(e.at), actor=e.actor, action=e.action,
                                   detail=e.detail, internal=e.internal, data=e.data) for e in case_file.timeline],
        allowed_actions=case.allowed_actions,
        reporters=[pb.Reporter(real_name=r.real_name, name=r.name, phone=r.phone, resident_id=r.resident_id,
                               organisation=r.organisation, email=r.email)
                   for r in case_file.reporters] if with_reporters else [],
        rules_version=case.rules_version, workflow_id=case.id, fine_cny=case.fine_cny,
        surcharge_cny=surcharge_on(case, today), paid_on=format_date(case.paid_on),
        surcharge_paused=[pb.ReviewSpan(filed_on=filed_on, concluded_on=concluded_on)
                          for filed_on, concluded_on in case.surcharge_paused])


def stage_fields(stage: str, next_deadline: date | None, provisional: bool,
                 messages: list[domain.ReporterMessage]) -> dict:
    """The fields of a reporter's page that tell how far the case is."""
    return dict(stage=enum_value(STAGE, stage), stage_label=domain.STAGE_LABELS.get(stage, stage),
                next_deadline=format_date(next_deadline), next_deadline_provisional=provisional,
                next_deadline_note=domain.provisional_note(next_deadline, provisional),
                messages=[reporter_message(domain.for_reporter(m)) for m in messages])


def reporter_message(message: domain.ReporterMessage) -> pb.ReporterMessage:
    """What a reporter reads: the code and data a client words, and the Chinese for one that shows
    the message as it is; a message recorded in words before codes existed, those words alone."""
    if message.recorded:
        return pb.ReporterMessage(sent_at=timestamp(message.at), text=message.recorded)
    return pb.ReporterMessage(sent_at=timestamp(message.at), text=domain.reporter_text(message),
                              action=message.action, notice=message.notice, data=message.data)


@functools.lru_cache(maxsize=None)
def surcharge_rule(rules_version: str) -> Surcharge:
    """The surcharge rule of a rules version, read once: a case keeps the version it was opened
    under, and a page of records reads the same few versions again and again."""
    return Rules.load_version(rules_version).surcharge


def surcharge_on(case: store.Case, today: date) -> int:
    """The surcharge owed on the day the record is read (加处罚款 grows every day the fine is
    late, whether or not the workflow has woken since)."""
    return domain.surcharge_owed(surcharge_rule(case.rules_version), case.fine_cny, case.deadlines, case.paid_on,
                                 case.surcharge_paused, today)


def statistics_message(counted: statistics.CaseStatistics, region_prefix: str) -> pb.GetCaseStatisticsResponse:
    return pb.GetCaseStatisticsResponse(
        region_code=region_prefix.ljust(6, "0"), total_cases=counted.total,
        by_stage=[pb.StageCount(stage=enum_value(STAGE, s), cases=n) for s, n in sorted(
            counted.by_stage.items(), key=lambda item: enum_value(STAGE, item[0]))],
        by_category=[pb.CategoryCount(category=enum_value(CATEGORY, c), cases=n)
                     for c, n in counted.by_category.most_common()],
        by_region=[pb.RegionCount(region_code=r, cases=n) for r, n in sorted(counted.by_region.items())],
        by_outcome=[pb.OutcomeCount(outcome=enum_value(OUTCOME, o) if o else 0, cases=n)
                    for o, n in counted.by_outcome.most_common()],
        periods=[pb.PeriodCompliance(period_id=t.period_id, legal_source=t.legal_source, description=t.description,
                                     met=t.met, missed=t.missed, lapsed=t.lapsed, running=t.running,
                                     cancelled=t.cancelled, share_met=t.share_met)
                 for t in counted.periods.values()],
        closed_cases=counted.closed, closed_within_periods=counted.closed_within_periods,
        by_agency_kind=[pb.AgencyKindCount(subject_kind=enum_value(SUBJECT_KIND, kind), agency_kind=agency_kind,
                                           cases=n) for (kind, agency_kind), n in counted.by_agency_kind.most_common()],
        by_source=[pb.SourceCount(source=enum_value(SOURCE, source), cases=n)
                   for source, n in counted.by_source.most_common()],
        compliance_by_month=[pb.MonthCompliance(month=month, met=t.met, missed=t.missed, share_met=t.share_met)
                             for month, t in sorted(counted.by_month.items())])


def exported_message(case: store.Case, changes: list[store.CaseStageChange], today) -> pb.ExportedCase:
    """A case's stages and statuses from its record: received into verification, then each
    recorded change."""
    history = [pb.StageChange(stage=enum_value(STAGE, domain.VERIFICATION), entered_at=timestamp(case.created_at),
                              revision=0, status=domain.INITIAL_STATUS)]
    history += [pb.StageChange(stage=enum_value(STAGE, c.stage), entered_at=timestamp(c.entered_at),
                               revision=c.revision, status=c.status) for c in changes]
    return pb.ExportedCase(summary=summary_message(case, today), stage_changes=history, fine_cny=case.fine_cny,
                           surcharge_cny=surcharge_on(case, today))
