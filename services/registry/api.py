"""gRPC servicer of ipss.registry.v1.RegistryService: messages in, domain and store calls,
messages out. Authorization, validation and error statuses happen before and after, in the
suite's interceptor."""

from __future__ import annotations

from datetime import date, timezone

from ipss.registry.v1 import registry_pb2 as pb
from ipss.registry.v1 import registry_pb2_grpc as pb_grpc
from contracts.credit_repair import CreditRepairStart, RepairAction
from contracts.credit_repair import workflow_id as repair_workflow_id
from contracts.periods import PeriodQuestion
from rules import Rules, WorkingDayCalendar
from services.registry import domain, store
from services.registry.workflow_client import RepairWorkflows, repair_start_message
from suite import auth, clock, codes, idempotency, pages, signing, workflow_outbox
from suite import logging as suite_logging
from suite.errors import FieldViolation, InvalidArgument, NotFound
from suite.protos import enum_value, enum_word, format_date, parse_date, timestamp
from suite.periods import plan_period
from suite.regions import scoped_prefix

KIND = pb.AgencyKind.DESCRIPTOR
LEGAL_FORM = pb.LegalForm.DESCRIPTOR
STATUS = pb.AgencyStatus.DESCRIPTOR
PRACTITIONER_KIND = pb.PractitionerKind.DESCRIPTOR
EVENT_KIND = pb.CreditEventKind.DESCRIPTOR
EVENT_SOURCE = pb.CreditEventSource.DESCRIPTOR
GRADE = pb.CreditGrade.DESCRIPTOR
MEMBERSHIP_END = pb.MembershipEnd.DESCRIPTOR
MEASURE = pb.DisciplineMeasure.DESCRIPTOR
MEMBER_EVENT_KIND = pb.MemberEventKind.DESCRIPTOR
CREDIT_LIST = pb.CreditList.DESCRIPTOR
REPAIR_STAGE = pb.CreditRepairStage.DESCRIPTOR
CHECK_OUTCOME = pb.CreditRepairCheckOutcome.DESCRIPTOR
REPAIR_DECISION = pb.CreditRepairDecision.DESCRIPTOR
REPAIR_STEP = pb.CreditRepairStep.DESCRIPTOR
PUNISHMENT_KIND = pb.JointPunishmentKind.DESCRIPTOR
PUNISHMENT_BASIS = pb.JointPunishmentBasis.DESCRIPTOR
EXPORT_FORMAT = pb.ExportFormat.DESCRIPTOR
REPORT_WINDOW = "annual_report_window"
DEFAULT_PAGE_SIZE = 50
DEFAULT_PUBLIC_PAGE_SIZE = 10

log = suite_logging.get("registry")


class RegistryApi(pb_grpc.RegistryServiceServicer):
    def __init__(self, registry: store.RegistryStore, grading: domain.GradingRules, rules: Rules,
                 calendar: WorkingDayCalendar, legal: clock.LegalClock, workflows: RepairWorkflows,
                 outbox: workflow_outbox.WorkflowRelay, signer: signing.Signer):
        self.store = registry
        self._once = idempotency.runner(registry.sessions, store.IdempotencyRecord)
        self.grading = grading
        # The rules file and the working-day calendar the credit lists' and repairs' periods are
        # planned on.
        self.rules, self.calendar, self.legal = rules, calendar, legal
        # The credit repair workflows, and the relay of their starts.
        self.workflows, self.outbox = workflows, outbox
        # Signs the joint-punishment lists given to partner departments.
        self.signer = signer

    # -- agencies --

    async def CreateAgency(self, request: pb.CreateAgencyRequest, context) -> pb.CreateAgencyResponse:
        auth.require_region(request.region_code, "an agency")
        fields = dict(
            name=request.name, kind=enum_word(KIND, request.kind), credit_code=request.credit_code,
            licence_number=request.licence_number or None, region_code=request.region_code,
            legal_form=enum_word(LEGAL_FORM, request.legal_form),
            parent_agency_id=request.parent_agency_id or None,
            legal_representative=request.legal_representative, address=request.address, phone=request.phone,
            established_on=parse_date(request.established_on))
        shareholders = [(s.name, s.holds_attorney_certificate) for s in request.shareholders]

        async def write(session):
            agency = await self.store.create_agency(session, fields, shareholders, auth.current().subject)
            return pb.CreateAgencyResponse(agency=agency_message(agency))
        return await self._once("CreateAgency", request, pb.CreateAgencyResponse, write)

    async def GetAgency(self, request: pb.GetAgencyRequest, context) -> pb.GetAgencyResponse:
        agency = await self.store.get_agency(request.id)
        auth.require_region(agency.region_code, "the agency")
        return pb.GetAgencyResponse(agency=agency_message(agency))

    async def SearchAgencies(self, request: pb.SearchAgenciesRequest, context) -> pb.SearchAgenciesResponse:
        where = store.AgencyFilter(
            query=request.query, kinds=tuple(enum_word(KIND, k) for k in request.kinds),
            region_prefix=scoped_prefix(request.region_code),
            statuses=tuple(enum_word(STATUS, s) for s in request.statuses))
        agencies, next_token = await self.store.search_agencies(
            where, request.page_size or DEFAULT_PAGE_SIZE, store.decode_page_token(request.page_token),
            details=request.view == pb.AGENCY_VIEW_FULL)
        return pb.SearchAgenciesResponse(agencies=[agency_message(a) for a in agencies],
                                         next_page_token=next_token)

    async def ChangeAgencyStatus(self, request: pb.ChangeAgencyStatusRequest, context
                                 ) -> pb.ChangeAgencyStatusResponse:
        change = domain.StatusChange(
            to_status=domain.AgencyStatus(enum_word(STATUS, request.to_status)),
            effective_on=parse_date(request.effective_on), suspended_until=parse_date(request.suspended_until),
            reason=request.reason, decision_reference=request.decision_reference)

        async def write(session):
            agency = await self.store.change_agency_status(
                session, request.agency_id, change, auth.current().subject,
                lambda region: auth.require_region(region, "the agency"))
            return pb.ChangeAgencyStatusResponse(agency=agency_message(agency))
        return await self._once("ChangeAgencyStatus", request, pb.ChangeAgencyStatusResponse, write)

    async def ReinstateAgency(self, request: pb.ReinstateAgencyRequest, context) -> pb.ReinstateAgencyResponse:
        async def write(session):
            agency = await self.store.reinstate_agency(
                session, request.agency_id, request.revocation_reference, parse_date(request.effective_on),
                request.reason, auth.current().subject, lambda region: auth.require_region(region, "the agency"))
            return pb.ReinstateAgencyResponse(agency=agency_message(agency))
        return await self._once("ReinstateAgency", request, pb.ReinstateAgencyResponse, write)

    # -- practitioners --

    async def RegisterPractitioner(self, request: pb.RegisterPractitionerRequest, context
                                   ) -> pb.RegisterPractitionerResponse:
        fields = dict(name=request.name, kind=enum_word(PRACTITIONER_KIND, request.kind),
                      resident_id=request.resident_id, phone=request.phone,
                      certificate_number=request.certificate_number or None,
                      qualified_on=parse_date(request.qualified_on))

        async def write(session):
            practitioner = await self.store.register_practitioner(session, fields)
            return pb.RegisterPractitionerResponse(practitioner=practitioner_message(practitioner, {}))
        return await self._once("RegisterPractitioner", request, pb.RegisterPractitionerResponse, write)

    async def GetPractitioner(self, request: pb.GetPractitionerRequest, context) -> pb.GetPractitionerResponse:
        practitioner = await self.store.get_practitioner(request.id)
        agencies = await self.store.agency_names({f.agency_id for f in practitioner.filings})
        if practitioner.current_agency_id:
            auth.require_region(agencies[practitioner.current_agency_id].region_code, "the practitioner's agency")
        return pb.GetPractitionerResponse(practitioner=practitioner_message(practitioner, agencies))

    async def SearchPractitioners(self, request: pb.SearchPractitionersRequest, context
                                  ) -> pb.SearchPractitionersResponse:
        people, next_token = await self.store.search_practitioners(
            request.query, request.agency_id, scoped_prefix(""), request.page_size or DEFAULT_PAGE_SIZE,
            store.decode_page_token(request.page_token))
        agencies = await self.store.agency_names({f.agency_id for p in people for f in p.filings})
        return pb.SearchPractitionersResponse(
            practitioners=[practitioner_message(p, agencies) for p in people], next_page_token=next_token)

    async def FilePractice(self, request: pb.FilePracticeRequest, context) -> pb.FilePracticeResponse:
        async def write(session):
            practitioner = await self.store.file_practice(
                session, request.practitioner_id, request.agency_id, request.filing_number,
                parse_date(request.started_on), request.transfer,
                lambda region: auth.require_region(region, "the agency"))
            return pb.FilePracticeResponse(practitioner=practitioner_message(practitioner, {}))
        return await self._once("FilePractice", request, pb.FilePracticeResponse, write)

    async def EndPractice(self, request: pb.EndPracticeRequest, context) -> pb.EndPracticeResponse:
        async def write(session):
            practitioner = await self.store.end_practice(
                session, request.practitioner_id, parse_date(request.ended_on), request.reason,
                lambda region: auth.require_region(region, "the agency"))
            return pb.EndPracticeResponse(practitioner=practitioner_message(practitioner, {}))
        return await self._once("EndPractice", request, pb.EndPracticeResponse, write)

    # -- annual reports --

    async def FileAnnualReport(self, request: pb.FileAnnualReportRequest, context) -> pb.FileAnnualReportResponse:
        report = dict(year=request.year, filed_on=parse_date(request.filed_on), employees=request.employees,
                      practitioners=request.practitioners, revenue_cny=request.revenue_cny, summary=request.summary)
        await self._member_of_callers_association(request.agency_id)

        async def write(session):
            stored = await self.store.file_annual_report(session, request.agency_id, report, self._in_reach)
            return pb.FileAnnualReportResponse(report=annual_report_message(stored))
        return await self._once("FileAnnualReport", request, pb.FileAnnualReportResponse, write)

    async def ListAnnualReports(self, request: pb.ListAnnualReportsRequest, context
                                ) -> pb.ListAnnualReportsResponse:
        agency, reports = await self.store.annual_reports(request.agency_id)
        auth.require_region(agency.region_code, "the agency")
        return pb.ListAnnualReportsResponse(reports=[annual_report_message(r) for r in reports])

    def _in_reach(self, region_code: str) -> None:
        """An agency the caller may act for: in its region; an association's member (checked by
        `_member_of_callers_association` before the write) whatever its region."""
        if auth.current().role != domain.ASSOCIATION_ROLE:
            auth.require_region(region_code, "the agency")

    async def _member_of_callers_association(self, agency_id: str) -> None:
        """An association acts for its members only: another agency is NOT_FOUND to it."""
        caller = auth.current()
        if caller.role == domain.ASSOCIATION_ROLE:
            await self.store.member(_association_asked(""), agency_id, self.legal.today())

    # -- the credit lists (经营异常名录, 严重违法失信名单) --

    async def ListAnnualReportNonFilers(self, request: pb.ListAnnualReportNonFilersRequest, context
                                        ) -> pb.ListAnnualReportNonFilersResponse:
        listed_on = parse_date(request.listed_on)
        domain.check_listing_day(request.report_year, listed_on,
                                 self.rules.windows[REPORT_WINDOW].day_after(request.report_year + 1))
        dates = domain.list_dates(domain.ABNORMAL_LIST, listed_on, self._period_end)
        async with self.store.sessions() as session, session.begin():
            listed, before = await self.store.list_non_filers(session, request.report_year, listed_on, dates,
                                                              clock.now())
        log.info("non-filers listed", report_year=request.report_year, listed=listed, already_listed=before)
        return pb.ListAnnualReportNonFilersResponse(listed=listed, already_listed=before)

    async def EscalateAbnormalListings(self, request: pb.EscalateAbnormalListingsRequest, context
                                       ) -> pb.EscalateAbnormalListingsResponse:
        on = parse_date(request.on)
        async with self.store.sessions() as session, session.begin():
            moved = await self.store.move_to_serious_list(
                session, on, lambda day: domain.list_dates(domain.SERIOUS_LIST, day, self._period_end), clock.now())
            next_move = await self.store.next_move_to_serious(session, on)
        if moved:
            log.info("moved to the serious-violation list", on=request.on, moved=moved)
        return pb.EscalateAbnormalListingsResponse(moved=moved, next_move_on=format_date(next_move))

    async def RequestListRemoval(self, request: pb.RequestListRemovalRequest, context
                                 ) -> pb.RequestListRemovalResponse:
        list_name = enum_word(CREDIT_LIST, request.list)
        await self._member_of_callers_association(request.agency_id)

        async def write(session):
            entry = await self.store.remove_from_list(session, request.agency_id, list_name, self.legal.today(),
                                                      clock.now(), self._in_reach)
            agency = await session.get(store.Agency, request.agency_id)
            return pb.RequestListRemovalResponse(entry=list_entry_message(entry, agency))
        return await self._once("RequestListRemoval", request, pb.RequestListRemovalResponse, write)

    async def ListCreditListEntries(self, request: pb.ListCreditListEntriesRequest, context
                                    ) -> pb.ListCreditListEntriesResponse:
        rows, token = await self.store.list_entries(
            enum_word(CREDIT_LIST, request.list), parse_date(request.on) or self.legal.today(),
            auth.region_prefix(request.region_code) if request.region_code else "", request.agency_id,
            request.page_size or DEFAULT_PAGE_SIZE,
            pages.decode(request.page_token, "credit-list", date.fromisoformat, str))
        return pb.ListCreditListEntriesResponse(entries=[list_entry_message(e, a) for e, a in rows],
                                                next_page_token=token)

    async def CountCreditListEntries(self, request: pb.CountCreditListEntriesRequest, context
                                     ) -> pb.CountCreditListEntriesResponse:
        bad = [FieldViolation(f"days[{i}]", problem.reason, problem.description, dict(problem.metadata))
               for i, day in enumerate(request.days) if (problem := codes.date_problem(day))]
        if bad:
            raise InvalidArgument(bad)
        days = [date.fromisoformat(day) for day in request.days]
        counts = await self.store.count_entries(enum_word(CREDIT_LIST, request.list), days,
                                                auth.region_prefix(request.region_code) if request.region_code else "")
        return pb.CountCreditListEntriesResponse(counts=[pb.CreditListCount(on=day.isoformat(), entries=n)
                                                         for day, n in zip(days, counts)])

    def _period_end(self, period_id: str, started_on: date) -> date:
        plan = plan_period(self.rules, self.calendar, PeriodQuestion(self.rules.version, period_id,
                                                                     started_on.isoformat()))
        return date.fromisoformat(plan.due_on)

    # -- credit --

    async def RecordCreditEvent(self, request: pb.RecordCreditEventRequest, context
                                ) -> pb.RecordCreditEventResponse:
        if bool(request.agency_id) == bool(request.practitioner_id):
            raise InvalidArgument([FieldViolation(name, "EXACTLY_ONE_SUBJECT_REQUIRED",
                                                  "exactly one of agency_id and practitioner_id is required")
                                   for name in ("agency_id", "practitioner_id")])
        fields = dict(agency_id=request.agency_id or None, practitioner_id=request.practitioner_id or None,
                      kind=enum_word(EVENT_KIND, request.kind), source=enum_word(EVENT_SOURCE, request.source),
                      source_reference=request.source_reference, occurred_on=parse_date(request.occurred_on),
                      publicity_ends_on=parse_date(request.publicity_ends_on), summary=request.summary,
                      fine_cny=request.fine_cny)

        async def write(session):
            event = await self.store.record_credit_event(
                session, fields, lambda region: auth.require_region(region, "the subject"))
            return pb.RecordCreditEventResponse(event=credit_event_message(event))
        return await self._once("RecordCreditEvent", request, pb.RecordCreditEventResponse, write)

    async def WithdrawCreditEvent(self, request: pb.WithdrawCreditEventRequest, context
                                  ) -> pb.WithdrawCreditEventResponse:
        async def write(session):
            event = await self.store.withdraw_credit_event(
                session, request.event_id, parse_date(request.withdrawn_on), request.reason,
                lambda region: auth.require_region(region, "the subject"))
            return pb.WithdrawCreditEventResponse(event=credit_event_message(event))
        return await self._once("WithdrawCreditEvent", request, pb.WithdrawCreditEventResponse, write)

    async def GetCreditProfile(self, request: pb.GetCreditProfileRequest, context) -> pb.GetCreditProfileResponse:
        agency, events = await self.store.credit_events(request.agency_id)
        auth.require_region(agency.region_code, "the agency")
        return pb.GetCreditProfileResponse(profile=credit_profile_message(
            agency.id, domain.grade([e.view() for e in events], parse_date(request.as_of) or clock.today(),
                                    self.grading)))

    async def ListAgencyCreditGrades(self, request: pb.ListAgencyCreditGradesRequest, context
                                     ) -> pb.ListAgencyCreditGradesResponse:
        as_of = parse_date(request.as_of) or clock.today()
        where = store.AgencyFilter(kinds=tuple(enum_word(KIND, k) for k in request.kinds),
                                   region_prefix=scoped_prefix(request.region_code),
                                   statuses=tuple(enum_word(STATUS, s) for s in request.statuses))
        page, events, raised, next_token = await self.store.agencies_for_grading(
            where, as_of, request.page_size or DEFAULT_PAGE_SIZE, store.decode_page_token(request.page_token))
        return pb.ListAgencyCreditGradesResponse(
            agencies=[pb.AgencyCreditGrade(
                agency_id=a.id, credit_code=a.credit_code, name=a.name, kind=enum_value(KIND, a.kind),
                region_code=a.region_code, status=enum_value(STATUS, a.status),
                grade=enum_value(GRADE, domain.grade([e.view() for e in events[a.id]], as_of, self.grading).grade),
                higher_inspection_ratio=a.id in raised)
                for a in page],
            next_page_token=next_token, as_of=format_date(as_of), rules_version=self.grading.version)

    # -- credit repair (信用修复) --

    async def ApplyForCreditRepair(self, request: pb.ApplyForCreditRepairRequest, context
                                   ) -> pb.ApplyForCreditRepairResponse:
        event_ids = list(request.credit_event_ids)
        domain.check_event_ids(event_ids)
        await self._member_of_callers_association(request.agency_id)
        caller = auth.current()
        fields = dict(applicant=caller.subject, statement=request.statement, compliance=request.compliance,
                      association_id=caller.association_id if caller.role == domain.ASSOCIATION_ROLE else "")
        today = self.legal.today()

        async def write(session):
            filed = await self.store.apply_for_repair(session, request.agency_id, event_ids, fields, today,
                                                      self.rules, self._period_end, self._in_reach)
            repair, agency, events = await self.store.repair(filed.id, session)
            messages[:] = await workflow_outbox.add(session, store.WorkflowOutbox, [
                repair_start_message(self._repair_start(repair, agency, events))])
            return pb.ApplyForCreditRepairResponse(repair=credit_repair_message(repair, agency, events))
        messages: list[str] = []
        response = await self._once("ApplyForCreditRepair", request, pb.ApplyForCreditRepairResponse, write)
        # On record with its workflow's start: it runs once Temporal takes the start (now, or from
        # the relay); a replay sends it if it is still waiting.
        if messages:
            await self.outbox.deliver(messages)
        else:
            await self.outbox.deliver_pending(repair_workflow_id(response.repair.id))
        log.info("credit repair applied for", repair_id=response.repair.id, agency_id=request.agency_id)
        return response

    def _repair_start(self, repair: store.CreditRepair, agency: store.Agency,
                      events: list[store.CreditEvent]) -> CreditRepairStart:
        return CreditRepairStart(
            repair_id=repair.id, agency_id=agency.id, region_code=agency.region_code, credit_code=agency.credit_code,
            credit_event_ids=[e.id for e in events], applied_on=repair.applied_on.isoformat(),
            eligible_from=repair.eligible_from.isoformat(),
            lapses_on=domain.lapse_day([store.repair_candidate(e, None) for e in events]).isoformat(),
            calendar_offset_days=self.legal.offset_days)

    async def GetCreditRepair(self, request: pb.GetCreditRepairRequest, context) -> pb.GetCreditRepairResponse:
        repair, agency, events = await self._repair_in_reach(request.id)
        return pb.GetCreditRepairResponse(repair=credit_repair_message(repair, agency, events))

    async def _repair_in_reach(self, repair_id: str):
        """An application the caller may see: of its region; an association's own (as if there
        were no other)."""
        repair, agency, events = await self.store.repair(repair_id)
        caller = auth.current()
        if caller.role == domain.ASSOCIATION_ROLE:
            if repair.association_id != caller.association_id:
                raise NotFound("credit repair", repair_id)
        else:
            auth.require_region(agency.region_code, "the agency")
        return repair, agency, events

    async def ListCreditRepairs(self, request: pb.ListCreditRepairsRequest, context
                                ) -> pb.ListCreditRepairsResponse:
        rows, token = await self.store.repairs(
            scoped_prefix(request.region_code), request.open_only, request.agency_id,
            request.page_size or DEFAULT_PAGE_SIZE, pages.decode(request.page_token, "credit-repairs",
                                                                 date.fromisoformat, str))
        return pb.ListCreditRepairsResponse(repairs=[credit_repair_message(*row) for row in rows],
                                            next_page_token=token)

    async def CheckCreditRepair(self, request: pb.CheckCreditRepairRequest, context
                                ) -> pb.CheckCreditRepairResponse:
        outcome = enum_word(CHECK_OUTCOME, request.outcome)
        domain.check_repair_check(outcome, request.compliance_evidence, request.reason)
        caller = auth.current()
        repair_id = await self._repair_step(request.repair_id, "check", self.workflows.check, RepairAction(
            request.idempotency_key, caller.subject, caller.role, outcome,
            compliance_evidence=request.compliance_evidence, reason=request.reason))
        return pb.CheckCreditRepairResponse(repair=credit_repair_message(*await self.store.repair(repair_id)))

    async def DecideCreditRepair(self, request: pb.DecideCreditRepairRequest, context
                                 ) -> pb.DecideCreditRepairResponse:
        decision = enum_word(REPAIR_DECISION, request.decision)
        domain.check_repair_decision(decision, request.reason)
        caller = auth.current()
        repair_id = await self._repair_step(request.repair_id, "decide", self.workflows.decide, RepairAction(
            request.idempotency_key, caller.subject, caller.role, decision, reason=request.reason))
        return pb.DecideCreditRepairResponse(repair=credit_repair_message(*await self.store.repair(repair_id)))

    async def _repair_step(self, repair_id: str, step: str, send, action: RepairAction) -> str:
        """The step as an update of the application's workflow, which records it; a start still
        waiting in the outbox is sent first."""
        repair, _, _ = await self._repair_in_reach(repair_id)
        if action.request_id in (repair.check_request_id, repair.decision_request_id):
            return repair.id  # a retry of a step taken: the record answers
        domain.check_repair_open(repair.stage, step)
        await self.outbox.deliver_pending(repair_workflow_id(repair.id))
        await send(repair.id, action)
        return repair.id

    async def RecordCreditRepairStep(self, request: pb.RecordCreditRepairStepRequest, context
                                     ) -> pb.RecordCreditRepairStepResponse:
        step = enum_word(REPAIR_STEP, request.step)
        async with self.store.writing() as session:
            repair = await self.store.record_repair_step(session, request.repair_id, step, parse_date(request.on),
                                                         request.actor, request.compliance_evidence, request.reason,
                                                         request.request_id)
            response = pb.RecordCreditRepairStepResponse(repair=credit_repair_message(
                *await self.store.repair(repair.id, session)))
        log.info("credit repair step", repair_id=request.repair_id, step=step)
        return response

    # -- joint punishment (联合惩戒) --

    async def RecordJointPunishment(self, request: pb.RecordJointPunishmentRequest, context
                                    ) -> pb.RecordJointPunishmentResponse:
        kinds = list(dict.fromkeys(enum_word(PUNISHMENT_KIND, k) for k in request.kinds))

        async def write(session):
            measures = await self.store.record_joint_punishment(
                session, request.credit_event_id, kinds, request.decision_reference, self.legal.today(),
                auth.current().subject, lambda region: auth.require_region(region, "the agency"))
            agency = await session.get(store.Agency, measures[0].agency_id)
            return pb.RecordJointPunishmentResponse(measures=[joint_punishment_message(m, agency) for m in measures])
        return await self._once("RecordJointPunishment", request, pb.RecordJointPunishmentResponse, write)

    async def ListJointPunishments(self, request: pb.ListJointPunishmentsRequest, context
                                   ) -> pb.ListJointPunishmentsResponse:
        rows, token = await self.store.joint_punishments(
            request.agency_id, parse_date(request.on), scoped_prefix(request.region_code),
            request.page_size or DEFAULT_PAGE_SIZE,
            pages.decode(request.page_token, "joint-punishments", str, date.fromisoformat, str))
        return pb.ListJointPunishmentsResponse(measures=[joint_punishment_message(m, a) for m, a in rows],
                                               next_page_token=token)

    async def ExportJointPunishments(self, request: pb.ExportJointPunishmentsRequest, context
                                     ) -> pb.ExportJointPunishmentsResponse:
        on = parse_date(request.on) or self.legal.today()
        fmt = enum_word(EXPORT_FORMAT, request.format)
        rows, _ = await self.store.joint_punishments("", on, scoped_prefix(request.region_code), None, None)
        content = domain.export_document([export_row(m, a) for m, a in rows], on, request.region_code, fmt)
        log.info("joint punishments exported", on=on.isoformat(), measures=len(rows), format=fmt)
        return pb.ExportJointPunishmentsResponse(
            content=content, media_type=domain.MEDIA_TYPES[fmt], signature=self.signer.sign(content),
            key_id=self.signer.key_id, on=on.isoformat(), measures=len(rows))

    # -- the public register --

    async def LookupAgencyPublic(self, request: pb.LookupAgencyPublicRequest, context
                                 ) -> pb.LookupAgencyPublicResponse:
        today = clock.today()
        found = await self.store.public_agencies(request.query, request.page_size or DEFAULT_PUBLIC_PAGE_SIZE)
        return pb.LookupAgencyPublicResponse(agencies=[
            public_agency_message(a, years, events, count, today, self.grading) for a, years, events, count in found])

    async def LookupPractitionerPublic(self, request: pb.LookupPractitionerPublicRequest, context
                                       ) -> pb.LookupPractitionerPublicResponse:
        today = clock.today()
        found = await self.store.public_practitioners(request.query, request.page_size or DEFAULT_PUBLIC_PAGE_SIZE)
        return pb.LookupPractitionerPublicResponse(practitioners=[
            pb.PublicPractitioner(
                name=p.name, kind=enum_value(PRACTITIONER_KIND, p.kind), certificate_number=p.certificate_number or "",
                resident_id_masked=domain.mask_resident_id(p.resident_id),
                agency_name=agency.name if agency else "", agency_credit_code=agency.credit_code if agency else "",
                penalties=public_penalties(events, today))
            for p, agency, events in found])


    # -- industry associations --

    async def CreateAssociation(self, request: pb.CreateAssociationRequest, context
                                ) -> pb.CreateAssociationResponse:
        fields = dict(name=request.name, credit_code=request.credit_code, region_code=request.region_code,
                      kinds=",".join(dict.fromkeys(enum_word(KIND, k) for k in request.kinds)))

        async def write(session):
            association = await self.store.create_association(session, fields)
            return pb.CreateAssociationResponse(association=association_message(association))
        return await self._once("CreateAssociation", request, pb.CreateAssociationResponse, write)

    async def ListAssociations(self, request: pb.ListAssociationsRequest, context) -> pb.ListAssociationsResponse:
        associations = await self.store.list_associations(scoped_prefix(request.region_code))
        return pb.ListAssociationsResponse(associations=[association_message(a) for a in associations])

    async def GetAssociation(self, request: pb.GetAssociationRequest, context) -> pb.GetAssociationResponse:
        association = await self.store.get_association(_association_asked(request.id, "id"))
        return pb.GetAssociationResponse(association=association_message(association))

    async def AdmitMember(self, request: pb.AdmitMemberRequest, context) -> pb.AdmitMemberResponse:
        async def write(session):
            membership = await self.store.admit_member(session, request.association_id, request.agency_id,
                                                       parse_date(request.joined_on))
            return pb.AdmitMemberResponse(membership=membership_message(membership))
        return await self._once("AdmitMember", request, pb.AdmitMemberResponse, write)

    async def EndMembership(self, request: pb.EndMembershipRequest, context) -> pb.EndMembershipResponse:
        async def write(session):
            membership = await self.store.end_membership(
                session, request.association_id, request.agency_id, parse_date(request.left_on),
                enum_word(MEMBERSHIP_END, request.ended_by), request.reference)
            return pb.EndMembershipResponse(membership=membership_message(membership))
        return await self._once("EndMembership", request, pb.EndMembershipResponse, write)

    async def ListMembers(self, request: pb.ListMembersRequest, context) -> pb.ListMembersResponse:
        association_id = _association_asked(request.association_id)
        on, today = parse_date(request.on) or clock.today(), clock.today()
        page, next_token = await self.store.members(association_id, on, request.page_size or DEFAULT_PAGE_SIZE,
                                                    store.decode_page_token(request.page_token))
        return pb.ListMembersResponse(members=[
            pb.Member(agency_id=membership.agency_id, membership=membership_message(membership),
                      agency=public_agency_message(a, years, events, count, today, self.grading))
            for membership, a, years, events, count in page], next_page_token=next_token, on=format_date(on))

    async def GetMember(self, request: pb.GetMemberRequest, context) -> pb.GetMemberResponse:
        association_id = _association_asked(request.association_id)
        on = parse_date(request.on) or clock.today()
        membership, agency, events = await self.store.member(association_id, request.agency_id, on)
        if auth.current().role != domain.ASSOCIATION_ROLE:
            auth.require_region(agency.region_code, "the agency")
        entry = (await self.store.public_agencies_of([agency.id]))[agency.id]
        return pb.GetMemberResponse(
            member=pb.Member(agency_id=agency.id, membership=membership_message(membership),
                             agency=public_agency_message(*entry, clock.today(), self.grading)),
            credit=credit_profile_message(agency.id, domain.grade([e.view() for e in events], on, self.grading)))

    async def RecordAssociationDiscipline(self, request: pb.RecordAssociationDisciplineRequest, context
                                          ) -> pb.RecordAssociationDisciplineResponse:
        async with self.store.writing() as session:
            event = await self.store.record_association_discipline(
                session, request.association_id, request.agency_id, enum_word(MEASURE, request.measure),
                request.document_number, parse_date(request.decided_on), parse_date(request.publicity_ends_on))
            return pb.RecordAssociationDisciplineResponse(event=credit_event_message(event))

    async def RecordPublicityEnded(self, request: pb.RecordPublicityEndedRequest, context
                                   ) -> pb.RecordPublicityEndedResponse:
        async with self.store.writing() as session:
            await self.store.record_publicity_ended(session, request.event_id)
        return pb.RecordPublicityEndedResponse()

    # -- association certificates --

    async def RegisterAssociationCertificate(self, request: pb.RegisterAssociationCertificateRequest, context
                                             ) -> pb.RegisterAssociationCertificateResponse:
        async with self.store.writing() as session:
            certificate = await self.store.register_certificate(
                session, request.association_id, request.fingerprint_sha256, parse_date(request.not_after))
            return pb.RegisterAssociationCertificateResponse(certificate=certificate_message(certificate))

    async def RevokeAssociationCertificate(self, request: pb.RevokeAssociationCertificateRequest, context
                                           ) -> pb.RevokeAssociationCertificateResponse:
        async with self.store.writing() as session:
            certificate = await self.store.revoke_certificate(session, request.fingerprint_sha256,
                                                              parse_date(request.revoked_on))
            return pb.RevokeAssociationCertificateResponse(certificate=certificate_message(certificate))

    async def ResolveAssociationCertificate(self, request: pb.ResolveAssociationCertificateRequest, context
                                            ) -> pb.ResolveAssociationCertificateResponse:
        certificate = await self.store.resolve_certificate(request.fingerprint_sha256)
        return pb.ResolveAssociationCertificateResponse(certificate=certificate_message(certificate))

    # -- the member events feed --

    async def AppendMemberEvents(self, request: pb.AppendMemberEventsRequest, context
                                 ) -> pb.AppendMemberEventsResponse:
        appended = await self.store.append_member_events([feed_draft(d) for d in request.events])
        return pb.AppendMemberEventsResponse(appended=appended)

    async def ReadMemberEvents(self, request: pb.ReadMemberEventsRequest, context) -> pb.ReadMemberEventsResponse:
        association_id = _association_asked(request.association_id)
        events, last_position = await self.store.read_member_events(
            association_id, None if request.from_acknowledged else request.after_position,
            request.limit or domain.DEFAULT_FEED_LIMIT)
        return pb.ReadMemberEventsResponse(events=[member_event_message(e) for e in events],
                                           last_position=last_position)

    async def AcknowledgeMemberEvents(self, request: pb.AcknowledgeMemberEventsRequest, context
                                      ) -> pb.AcknowledgeMemberEventsResponse:
        position = await self.store.acknowledge_member_events(_association_asked(request.association_id),
                                                              request.position)
        return pb.AcknowledgeMemberEventsResponse(acknowledged_position=position)

    async def PruneMemberEvents(self, request: pb.PruneMemberEventsRequest, context
                                ) -> pb.PruneMemberEventsResponse:
        pruned, oldest = await self.store.prune_member_events(parse_date(request.before))
        return pb.PruneMemberEventsResponse(pruned=pruned, oldest_position=oldest)


def _association_asked(requested: str, field_name: str = "association_id") -> str:
    """The association a request is about, within the caller's reach (domain.scoped_association)."""
    caller = auth.current()
    return domain.scoped_association(caller.role, caller.association_id, requested, field_name)


def public_agency_message(a, years: list[int], events: list[store.LiveEvent], count: int, today,
                          grading: domain.GradingRules) -> pb.PublicAgency:
    """An agency's entry in the public register: what anyone may see of it."""
    return pb.PublicAgency(
        name=a.name, kind=enum_value(KIND, a.kind), credit_code=a.credit_code,
        licence_number=a.licence_number or "", region_code=a.region_code,
        legal_form=enum_value(LEGAL_FORM, a.legal_form), status=enum_value(STATUS, a.status),
        suspended_until=format_date(a.suspended_until), legal_representative=a.legal_representative,
        annual_report_years=years,
        credit_grade=enum_value(GRADE, domain.grade([e.view() for e in events], today, grading).grade),
        penalties=public_penalties(events, today), practitioner_count=count,
        repairs=public_repairs(events, today))


def credit_profile_message(agency_id: str, profile: domain.CreditProfile) -> pb.CreditProfile:
    return pb.CreditProfile(
        agency_id=agency_id, as_of=format_date(profile.as_of), grade=enum_value(GRADE, profile.grade),
        score=profile.score, rules_version=profile.rules_version,
        reasons=[pb.CreditReason(event_id=r.event_id, kind=enum_value(EVENT_KIND, r.kind), points=r.points,
                                 counts_until=format_date(r.counts_until), explanation=r.explanation)
                 for r in profile.reasons])


def association_message(association: store.Association) -> pb.Association:
    return pb.Association(id=association.id, name=association.name, credit_code=association.credit_code,
                          region_code=association.region_code,
                          kinds=[enum_value(KIND, k) for k in association.kind_words],
                          created_at=timestamp(association.created_at))


def membership_message(membership: store.Membership) -> pb.Membership:
    return pb.Membership(id=membership.id, association_id=membership.association_id,
                         agency_id=membership.agency_id, joined_on=format_date(membership.joined_on),
                         left_on=format_date(membership.left_on),
                         ended_by=enum_value(MEMBERSHIP_END, membership.ended_by), reference=membership.reference)


def certificate_message(certificate: store.AssociationCertificate) -> pb.AssociationCertificate:
    return pb.AssociationCertificate(fingerprint_sha256=certificate.fingerprint_sha256,
                                     association_id=certificate.association_id,
                                     not_after=format_date(certificate.not_after),
                                     revoked_on=format_date(certificate.revoked_on))


def member_event_message(row) -> pb.MemberEvent:
    return pb.MemberEvent(position=row.position, kind=enum_value(MEMBER_EVENT_KIND, row.kind),
                          agency_id=row.agency_id, agency_name=row.agency_name,
                          agency_credit_code=row.agency_credit_code, occurred_at=timestamp(row.occurred_at),
                          subject_id=row.subject_id, facts={k: str(v) for k, v in (row.facts or {}).items()})


def feed_draft(draft: pb.MemberEventDraft) -> store.FeedDraft:
    """A relayed draft: to the association it names, else to those the agency is a member of on
    the day (China time) it occurred."""
    occurred_at = draft.occurred_at.ToDatetime(tzinfo=timezone.utc)
    return store.FeedDraft(
        source_key=draft.source_key, kind=enum_word(MEMBER_EVENT_KIND, draft.kind), agency_id=draft.agency_id,
        occurred_at=occurred_at, subject_id=draft.subject_id, facts=dict(draft.facts),
        associations=(draft.association_id,) if draft.association_id else (),
        members_on=None if draft.association_id else occurred_at.astimezone(clock.CHINA).date())


def agency_message(agency: store.Agency) -> pb.Agency:
    return pb.Agency(
        id=agency.id, name=agency.name, kind=enum_value(KIND, agency.kind), credit_code=agency.credit_code,
        licence_number=agency.licence_number or "", region_code=agency.region_code,
        legal_form=enum_value(LEGAL_FORM, agency.legal_form),
        shareholders=[pb.Shareholder(name=s.name, holds_attorney_certificate=s.holds_attorney_certificate)
                      for s in agency.shareholders],
        parent_agency_id=agency.parent_agency_id or "", status=enum_value(STATUS, agency.status),
        suspended_until=format_date(agency.suspended_until), legal_representative=agency.legal_representative,
        address=agency.address, phone=agency.phone, established_on=format_date(agency.established_on),
        status_history=[pb.StatusChange(
            from_status=enum_value(STATUS, c.from_status), to_status=enum_value(STATUS, c.to_status),
            effective_on=format_date(c.effective_on), suspended_until=format_date(c.suspended_until),
            reason=c.reason, decision_reference=c.decision_reference, recorded_by=c.recorded_by,
            recorded_at=timestamp(c.recorded_at)) for c in agency.status_history],
        created_at=timestamp(agency.created_at))


def practitioner_message(practitioner: store.Practitioner, agencies: dict[str, store.Agency]) -> pb.Practitioner:
    return pb.Practitioner(
        id=practitioner.id, name=practitioner.name, kind=enum_value(PRACTITIONER_KIND, practitioner.kind),
        resident_id=practitioner.resident_id, phone=practitioner.phone,
        certificate_number=practitioner.certificate_number or "", qualified_on=format_date(practitioner.qualified_on),
        current_agency_id=practitioner.current_agency_id or "",
        filings=[pb.PracticeFiling(
            agency_id=f.agency_id, agency_name=agencies[f.agency_id].name if f.agency_id in agencies else "",
            filing_number=f.filing_number, started_on=format_date(f.started_on), ended_on=format_date(f.ended_on),
            end_reason=f.end_reason) for f in practitioner.filings],
        created_at=timestamp(practitioner.created_at))


def list_entry_message(entry: store.CreditListEntry, agency: store.Agency) -> pb.CreditListEntry:
    return pb.CreditListEntry(
        id=entry.id, agency_id=entry.agency_id, agency_name=agency.name, credit_code=agency.credit_code,
        region_code=agency.region_code, list=enum_value(CREDIT_LIST, entry.list), reason=entry.reason,
        report_year=entry.report_year, listed_on=format_date(entry.listed_on),
        moves_to_serious_on=format_date(entry.moves_to_serious_on),
        early_removal_from=format_date(entry.early_removal_from), removed_on=format_date(entry.removed_on),
        removal_reason=entry.removal_reason, credit_event_id=entry.credit_event_id)


def annual_report_message(report: store.AnnualReport) -> pb.AnnualReport:
    return pb.AnnualReport(agency_id=report.agency_id, year=report.year, filed_on=format_date(report.filed_on),
                           employees=report.employees, practitioners=report.practitioners,
                           revenue_cny=report.revenue_cny, summary=report.summary)


def credit_event_message(event: store.CreditEvent) -> pb.CreditEvent:
    return pb.CreditEvent(
        id=event.id, agency_id=event.agency_id or "", practitioner_id=event.practitioner_id or "",
        kind=enum_value(EVENT_KIND, event.kind), source=enum_value(EVENT_SOURCE, event.source),
        source_reference=event.source_reference, occurred_on=format_date(event.occurred_on),
        publicity_ends_on=format_date(event.publicity_ends_on), summary=event.summary, fine_cny=event.fine_cny,
        withdrawn_on=format_date(event.withdrawn_on), withdrawal_reason=event.withdrawal_reason or "")


def credit_repair_message(repair: store.CreditRepair, agency: store.Agency,
                          events: list[store.CreditEvent]) -> pb.CreditRepair:
    return pb.CreditRepair(
        id=repair.id, agency_id=agency.id, agency_name=agency.name, credit_code=agency.credit_code,
        region_code=agency.region_code,
        events=[pb.CreditRepairEvent(credit_event_id=e.id, kind=enum_value(EVENT_KIND, e.kind),
                                     occurred_on=format_date(e.occurred_on),
                                     publicity_ends_on=format_date(e.publicity_ends_on), summary=e.summary,
                                     fine_cny=e.fine_cny, source_reference=e.source_reference) for e in events],
        stage=enum_value(REPAIR_STAGE, repair.stage), applied_on=format_date(repair.applied_on),
        eligible_from=format_date(repair.eligible_from), applicant=repair.applicant,
        association_id=repair.association_id, statement=repair.statement, compliance=repair.compliance,
        checked_by=repair.checked_by, checked_on=format_date(repair.checked_on),
        compliance_evidence=repair.compliance_evidence, decided_by=repair.decided_by,
        decided_on=format_date(repair.decided_on), refusal_reason=repair.refusal_reason,
        workflow_id=repair_workflow_id(repair.id), revision=repair.revision)


def joint_punishment_message(measure: store.JointPunishment, agency: store.Agency) -> pb.JointPunishment:
    return pb.JointPunishment(
        id=measure.id, agency_id=agency.id, agency_name=agency.name, credit_code=agency.credit_code,
        region_code=agency.region_code, kind=enum_value(PUNISHMENT_KIND, measure.kind),
        basis=enum_value(PUNISHMENT_BASIS, measure.basis), basis_id=measure.basis_id,
        starts_on=format_date(measure.starts_on), ends_on=format_date(measure.ends_on),
        ended_because=measure.ended_because, decision_reference=measure.decision_reference,
        recorded_by=measure.recorded_by)


def export_row(measure: store.JointPunishment, agency: store.Agency) -> dict[str, str]:
    return dict(credit_code=agency.credit_code, agency_name=agency.name, region_code=agency.region_code,
                measure=measure.kind, measure_name=domain.JOINT_PUNISHMENT_KINDS[measure.kind], basis=measure.basis,
                basis_id=measure.basis_id, starts_on=measure.starts_on.isoformat(),
                ends_on=measure.ends_on.isoformat(), decision_reference=measure.decision_reference)


def public_repairs(events: list[store.LiveEvent], today) -> list[pb.PublicRepair]:
    """The penalties a repair took off the register, said to be repaired (已信用修复)."""
    return [pb.PublicRepair(kind=enum_value(EVENT_KIND, e.kind), decided_on=format_date(e.occurred_on),
                            repaired_on=format_date(e.repaired_on))
            for e in sorted(events, key=lambda e: e.occurred_on)
            if domain.publicly_repaired(e.repaired_on, e.publicity_planned_until, today)]


def public_penalties(events: list[store.LiveEvent], today) -> list[pb.PublicPenalty]:

    return [pb.PublicPenalty(kind=enum_value(EVENT_KIND, e.kind), decided_on=format_date(e.occurred_on),
                             publicity_ends_on=format_date(e.publicity_ends_on), summary=e.summary,
                             fine_cny=e.fine_cny)
            for e in sorted(events, key=lambda e: e.occurred_on) if domain.publicly_visible(e.view(), today)]
