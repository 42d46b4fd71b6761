"""gRPC servicer of ipss.inspections.v1.InspectionsService: messages in, domain, store, registry
and workflow calls, messages out. Authorization, validation and error statuses happen before and
after, in the suite's interceptor; here only what depends on the data (region scope, an
inspector's own tasks)."""

from __future__ import annotations

import gzip
import hashlib
import json

from contracts.case_actions import ActionSpec
from contracts.inspections import (TASK_ACTIONS, AddTargetsOrder, CampaignStart, CampaignState, CloseOrder, ExtendOrder,
                                   Figures, NO_PROBLEM, TaskAction)
from ipss.complaints.v1 import complaints_pb2 as cpb
from ipss.inspections.v1 import inspections_pb2 as pb
from ipss.inspections.v1 import inspections_pb2_grpc as pb_grpc
from ipss.registry.v1 import registry_pb2 as rpb
from rules import Rules
from services.inspections import store
from services.inspections.domain import directory, draw, plans
from services.inspections.registry_client import InspectionTargets
from services.inspections.workflow_client import InspectionWorkflows, campaign_start_message
from suite import auth, clock, idempotency, workflow_outbox
from suite import logging as suite_logging
from suite.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound, PermissionDenied
from suite.protos import enum_value, enum_word, format_date, optional_word, parse_date, timestamp
from suite.regions import scoped_prefix

KIND = rpb.AgencyKind.DESCRIPTOR
CATEGORY = cpb.ViolationCategory.DESCRIPTOR
REASON = pb.ExclusionReason.DESCRIPTOR
RISK = pb.RiskClass.DESCRIPTOR
PLAN_STATUS = pb.PlanStatus.DESCRIPTOR
CAMPAIGN_KIND = pb.CampaignKind.DESCRIPTOR
CAMPAIGN_STATUS = pb.CampaignStatus.DESCRIPTOR
STAGE = pb.TaskStage.DESCRIPTOR
OUTCOME = pb.CheckOutcome.DESCRIPTOR
DEFAULT_PAGE_SIZE = 50
# Who sees a draw's pairings before they are published (in their scope).
OFFICERS = frozenset({"supervisor", "handler", "operator", "admin"})

log = suite_logging.get("inspections")


class InspectionsApi(pb_grpc.InspectionsServiceServicer):
    def __init__(self, inspections: store.InspectionsStore, registry: InspectionTargets,
                 workflows: InspectionWorkflows, outbox: workflow_outbox.WorkflowRelay, legal: clock.LegalClock,
                 batch_size: int = 200, progress_interval_seconds: int = 30, history_limit: int = 3000):
        self.store = inspections
        self.outbox = outbox
        self._once = idempotency.runner(inspections.sessions, store.IdempotencyRecord)
        # Campaigns (and their tasks) keep the rules version they were created under.
        self.rules_version = Rules.load().version
        self.registry = registry
        self.workflows = workflows
        self.legal = legal
        self.batch_size = batch_size
        self.progress_interval_seconds = progress_interval_seconds
        self.history_limit = history_limit

    # -- the inspector directory --

    async def RegisterInspector(self, request: pb.RegisterInspectorRequest, context) -> pb.RegisterInspectorResponse:
        auth.require_region(request.region_code, "an inspector's office")
        fields = dict(id=request.id, name=request.name, office=request.office, region_code=request.region_code)

        async def write(session):
            inspector = await self.store.register_inspector(session, fields, auth.current().subject)
            return pb.RegisterInspectorResponse(inspector=inspector_message(inspector))
        return await self._once("RegisterInspector", request, pb.RegisterInspectorResponse, write)

    async def GetInspector(self, request: pb.GetInspectorRequest, context) -> pb.GetInspectorResponse:
        principal = auth.current()
        if principal.role == "inspector" and principal.subject != request.id:
            raise PermissionDenied("INSPECTOR_READS_OWN_ENTRY", "an inspector reads only their own entry")
        inspector = await self.store.get_inspector(request.id)
        auth.require_region(inspector.region_code, "the inspector")
        return pb.GetInspectorResponse(inspector=inspector_message(inspector))

    async def ListInspectors(self, request: pb.ListInspectorsRequest, context) -> pb.ListInspectorsResponse:
        found, next_token = await self.store.list_inspectors(
            scoped_prefix(request.region_code), request.page_size or DEFAULT_PAGE_SIZE,
            store.decode_page_token(request.page_token))
        return pb.ListInspectorsResponse(inspectors=[inspector_message(i) for i in found], next_page_token=next_token)

    async def AddExclusion(self, request: pb.AddExclusionRequest, context) -> pb.AddExclusionResponse:
        reason = enum_word(REASON, request.reason)
        directory.check_exclusion(reason, request.agency_credit_code, request.region_code)
        fields = dict(reason=reason, agency_credit_code=request.agency_credit_code or None,
                      region_code=request.region_code or None, note=request.note)

        async def write(session):
            inspector = await self.store.add_exclusion(session, request.inspector_id, fields, auth.current().subject,
                                                       lambda region: auth.require_region(region, "the inspector"))
            return pb.AddExclusionResponse(inspector=inspector_message(inspector))
        return await self._once("AddExclusion", request, pb.AddExclusionResponse, write)

    async def RemoveExclusion(self, request: pb.RemoveExclusionRequest, context) -> pb.RemoveExclusionResponse:
        async def write(session):
            inspector = await self.store.remove_exclusion(
                session, request.inspector_id, request.exclusion_id, request.reason, auth.current().subject,
                lambda region: auth.require_region(region, "the inspector"))
            return pb.RemoveExclusionResponse(inspector=inspector_message(inspector))
        return await self._once("RemoveExclusion", request, pb.RemoveExclusionResponse, write)

    async def RecordInspectorDeparture(self, request: pb.RecordInspectorDepartureRequest, context
                                       ) -> pb.RecordInspectorDepartureResponse:
        async def write(session):
            inspector = await self.store.record_departure(
                session, request.inspector_id, parse_date(request.left_on), request.reason, auth.current().subject,
                lambda region: auth.require_region(region, "the inspector"))
            return pb.RecordInspectorDepartureResponse(inspector=inspector_message(inspector))
        return await self._once("RecordInspectorDeparture", request, pb.RecordInspectorDepartureResponse, write)

    # -- plans, snapshots and draws --

    async def CreatePlan(self, request: pb.CreatePlanRequest, context) -> pb.CreatePlanResponse:
        ratios = [draw.Ratio(risk=enum_word(RISK, r.risk_class), kind=optional_word(KIND, r.kind),
                             region_code=r.region_code, basis_points=r.basis_points) for r in request.ratios]
        kinds = [enum_word(KIND, k) for k in request.kinds]
        spec = plans.check_plan(list(request.region_codes), kinds, request.all_in_scope, ratios,
                                request.inspectors_per_target)
        require_regions(spec.regions, "a plan")
        fields = dict(name=request.name, regions=list(spec.regions), kinds=list(spec.kinds),
                      all_in_scope=spec.all_in_scope, ratios=[r.to_data() for r in spec.ratios],
                      inspectors_per_target=spec.inspectors_per_target)

        async def write(session):
            plan = await self.store.create_plan(session, fields, auth.current().subject, self.legal.today().year)
            return pb.CreatePlanResponse(plan=plan_message(plan))
        return await self._once("CreatePlan", request, pb.CreatePlanResponse, write)

    async def GetPlan(self, request: pb.GetPlanRequest, context) -> pb.GetPlanResponse:
        plan = await self.store.get_plan(request.plan_id)
        require_regions(plan.regions, "the plan")
        return pb.GetPlanResponse(plan=plan_message(plan))

    async def TakeSnapshot(self, request: pb.TakeSnapshotRequest, context) -> pb.TakeSnapshotResponse:
        """The snapshot commits the plan: to it, to the inspector pool of today, to the algorithm
        version and to the seed source named in advance (see domain.draw, the commitment)."""
        plan = await self.store.get_plan(request.plan_id)
        require_regions(plan.regions, "the plan")
        as_of = self.legal.today()
        seed_available_on = parse_date(request.seed_available_on)
        plans.check_commitment(request.seed_source, seed_available_on, as_of)
        # Read the registry before the write transaction, which then holds the lock only briefly.
        entries = None
        if plan.status == plans.DRAFT:
            entries = draw.snapshot_entries(await self.registry.graded_agencies(plan.regions, plan.kinds,
                                                                                as_of.isoformat()))

        async def write(session):
            locked = await self.store.lock_plan(session, request.plan_id)
            if locked.status != plans.DRAFT or entries is None:
                raise FailedPrecondition("PLAN_SNAPSHOT_ALREADY_TAKEN", f"plan {locked.id} already has its snapshot "
                                         f"({locked.snapshot_hash or locked.status})", subject="plan.status",
                                         plan_id=locked.id, plan_status=locked.status)
            snapshot_hash = draw.sha256_hex(entries)
            pool = draw.pool_entries(directory.pool_rows(
                await self.store.directory(session, [draw.significant_prefix(r) for r in locked.regions], as_of),
                locked.regions))
            pool_hash = draw.sha256_hex(pool)
            taken_at = clock.now()
            committed = draw.commitment(locked.id, snapshot_hash, as_of.isoformat(), pool_hash, request.seed_source,
                                        seed_available_on.isoformat(), taken_at.isoformat())
            saved = await self.store.save_snapshot(
                session, locked, entries, snapshot_hash, as_of, auth.current().subject,
                dict(document=committed, seed_source=request.seed_source, seed_available_on=seed_available_on,
                     pool_hash=pool_hash, sha256=draw.sha256_hex(committed), taken_at=taken_at), pool)
            return pb.TakeSnapshotResponse(plan=plan_message(saved))
        response = await self._once("TakeSnapshot", request, pb.TakeSnapshotResponse, write)
        log.info("snapshot taken", plan_id=request.plan_id, agencies=response.plan.snapshot.agency_count,
                 content_hash=response.plan.snapshot.content_hash)
        return response

    async def Draw(self, request: pb.DrawRequest, context) -> pb.DrawResponse:
        """From the plan's commitment alone: its snapshot, its pool, its seed source (once that has
        published its value); the record repeats the commitment."""
        plans.check_seed(request.seed_value)

        async def write(session):
            plan = await self.store.lock_plan(session, request.plan_id, with_snapshot=True)
            require_regions(plan.regions, "the plan")
            if plan.status != plans.SNAPSHOT_TAKEN:
                raise FailedPrecondition(
                    "PLAN_NOT_READY_TO_DRAW",
                    f"plan {plan.id} is {plan.status}: a draw needs the plan's snapshot taken and not drawn yet",
                    subject="plan.status", plan_id=plan.id, plan_status=plan.status)
            today = self.legal.today()
            plans.check_draw_seed(plan.id, plan.seed_source, request.seed_source, plan.seed_available_on, today)
            spec = draw.PlanSpec.from_data(dict(plan_id=plan.id, regions=plan.regions, kinds=plan.kinds,
                                                all_in_scope=plan.all_in_scope, ratios=plan.ratios,
                                                inspectors_per_target=plan.inspectors_per_target))
            entries = store.decompress(plan.snapshot_content)
            pool = store.decompress(plan.pool_content)
            pool_hash = plan.pool_hash
            algorithm = plan.commitment["algorithm_version"]
            outcome = draw.draw(spec, request.seed_value, entries, plan.snapshot_hash, pool, pool_hash, algorithm)
            drawn_at = clock.now()
            names = {entry[0]: entry[1] for entry in entries}
            committed = plan.commitment
            document = draw.record_document(spec, request.seed_value, request.seed_source, entries,
                                            plan.snapshot_hash, format_date(plan.snapshot_as_of), pool, pool_hash,
                                            outcome, drawn_at.isoformat(), committed, today.isoformat())
            record = await self.store.save_draw(session, plan, dict(
                commitment_sha256=plan.commitment_sha256, committed_at=plan.snapshot_taken_at,
                algorithm_version=algorithm, seed_value=request.seed_value,
                seed_source=request.seed_source, snapshot_hash=plan.snapshot_hash, pool_hash=pool_hash,
                result_hash=outcome.result_hash, population=len(entries), inspector_count=len(pool),
                target_count=len(outcome.targets), drawn_by=auth.current().subject, drawn_at=drawn_at,
                result=outcome.canonical_bytes, target_names=[names[t[0]] for t in outcome.targets]), document)
            # Just drawn: the pairings are the supervisor's to see, not yet published.
            return pb.DrawResponse(record=draw_record_message(record, pairings_published=False))
        response = await self._once("Draw", request, pb.DrawResponse, write)
        log.info("drawn", plan_id=request.plan_id, targets=len(response.record.targets),
                 result_hash=response.record.result_hash)
        return response

    async def GetDrawRecord(self, request: pb.GetDrawRecordRequest, context) -> pb.GetDrawRecordResponse:
        record = await self.store.get_draw(request.plan_id)
        published, shown = await self._pairings_shown(record)
        return pb.GetDrawRecordResponse(record=draw_record_message(record, published, shown))

    async def GetDrawCommitment(self, request: pb.GetDrawCommitmentRequest, context
                                ) -> pb.GetDrawCommitmentResponse:
        plan = await self.store.get_plan(request.plan_id)
        if not plan.commitment:
            raise NotFound("draw commitment", request.plan_id)
        committed = plan.commitment
        return pb.GetDrawCommitmentResponse(commitment=pb.DrawCommitment(
            plan_id=plan.id, algorithm_version=committed["algorithm_version"], snapshot_hash=committed["snapshot_hash"],
            snapshot_as_of=committed["snapshot_as_of"], pool_hash=committed["pool_hash"],
            seed_source=committed["seed_source"], seed_available_on=committed["seed_available_on"],
            committed_at=timestamp(plan.snapshot_taken_at), commitment_sha256=plan.commitment_sha256,
            document=draw.canonical(committed), drawn=plan.status not in (plans.DRAFT, plans.SNAPSHOT_TAKEN)))

    async def ExportDrawRecord(self, request: pb.ExportDrawRecordRequest, context) -> pb.ExportDrawRecordResponse:
        record = await self.store.get_draw(request.plan_id, with_document=True)
        if (await self._pairings_shown(record))[1]:
            return pb.ExportDrawRecordResponse(document=record.document, document_sha256=record.document_sha256)
        content = draw.canonical(draw.withhold_pairings(store.decompress(record.document)))
        return pb.ExportDrawRecordResponse(document=gzip.compress(content, compresslevel=6, mtime=0),
                                           document_sha256=hashlib.sha256(content).hexdigest())

    async def _pairings_shown(self, record: store.Draw) -> tuple[bool, bool]:
        """Whether the draw's pairings are published, and whether this caller sees them: anyone
        once published; before, the office's staff whose scope holds the plan (a draw made
        before commitments were kept was published whole, and stays so)."""
        published = not record.commitment_sha256 or await self.store.pairings_published(record.plan_id)
        if published:
            return True, True
        if auth.current().role not in OFFICERS:
            return False, False
        plan = await self.store.get_plan(record.plan_id)
        try:
            require_regions(plan.regions, "the plan")
        except PermissionDenied:
            return False, False
        return False, True

    # -- campaigns --

    async def CreateCampaign(self, request: pb.CreateCampaignRequest, context) -> pb.CreateCampaignResponse:
        kind = enum_word(CAMPAIGN_KIND, request.kind)
        theme = [enum_word(CATEGORY, c) for c in request.theme]
        starts_on, ends_on = parse_date(request.starts_on), parse_date(request.ends_on)
        plans.check_campaign(kind, theme, starts_on, ends_on, self.legal.today())
        fields = dict(name=request.name, kind=kind, theme=theme, starts_on=starts_on, ends_on=ends_on,
                      rules_version=self.rules_version)

        async def write(session):
            plan = await self.store.lock_plan(session, request.plan_id)
            require_regions(plan.regions, "the plan")
            if plan.status != plans.DRAWN:
                raise FailedPrecondition("PLAN_NOT_DRAWN",
                                         f"plan {plan.id} is {plan.status}; a campaign runs a drawn plan",
                                         subject="plan.status", plan_id=plan.id, plan_status=plan.status)
            if plan.campaign_id:
                raise FailedPrecondition("PLAN_ALREADY_RUNS", f"plan {plan.id} already runs as {plan.campaign_id}",
                                         subject="plan.campaign", plan_id=plan.id, campaign_id=plan.campaign_id)
            record = await self.store.get_draw(plan.id, session=session)
            campaign = await self.store.create_campaign(session, fields, plan, record, auth.current().subject,
                                                        self.legal.today().year)
            messages[:] = await workflow_outbox.add(session, store.WorkflowOutbox,
                                                    [campaign_start_message(self._campaign_state(campaign))])
            return pb.CreateCampaignResponse(campaign=campaign_message(campaign))
        messages: list[str] = []
        response = await self._once("CreateCampaign", request, pb.CreateCampaignResponse, write)
        # The campaign is on record with its start: it runs as soon as Temporal takes the start
        # (now, or from the relay); a replay sends it if it is still waiting.
        if messages:
            await self.outbox.deliver(messages)
        else:
            await self.outbox.deliver_pending(response.campaign.id)
        log.info("campaign created", campaign_id=response.campaign.id, targets=response.campaign.progress.targets)
        return response

    def _campaign_state(self, campaign: store.Campaign) -> CampaignState:
        return CampaignState(
            start=CampaignStart(
                campaign_id=campaign.id, starts_on=campaign.starts_on.isoformat(), ends_on=campaign.ends_on.isoformat(),
                target_count=campaign.target_count, rules_version=campaign.rules_version,
                calendar_offset_days=self.legal.offset_days, batch_size=self.batch_size,
                progress_interval_seconds=self.progress_interval_seconds, history_limit=self.history_limit),
            figures=Figures(targets=campaign.target_count))

    async def GetCampaign(self, request: pb.GetCampaignRequest, context) -> pb.GetCampaignResponse:
        return pb.GetCampaignResponse(campaign=campaign_message(await self._campaign_in_scope(request.campaign_id)))

    async def _campaign_in_scope(self, campaign_id: str) -> store.Campaign:
        campaign = await self.store.get_campaign(campaign_id)
        require_regions(campaign.regions, "the campaign")
        return campaign

    async def ListCampaigns(self, request: pb.ListCampaignsRequest, context) -> pb.ListCampaignsResponse:
        principal = auth.current()
        found, next_token = await self.store.list_campaigns(
            tuple(enum_word(CAMPAIGN_STATUS, s) for s in request.statuses), request.page_size or DEFAULT_PAGE_SIZE,
            store.decode_page_token(request.page_token),
            visible=lambda campaign: all(principal.covers_region(r) for r in campaign.regions))
        return pb.ListCampaignsResponse(campaigns=[campaign_message(c) for c in found], next_page_token=next_token)

    async def AddCampaignTargets(self, request: pb.AddCampaignTargetsRequest, context
                                 ) -> pb.AddCampaignTargetsResponse:
        codes = [a.credit_code for a in request.agencies]
        repeated = [FieldViolation(f"agencies[{i}].credit_code", "NAMED_TWICE", "is named twice")
                    for i, code in enumerate(codes) if code in codes[:i]]
        if repeated:
            raise InvalidArgument(repeated)
        campaign = await self._campaign_in_scope(request.campaign_id)
        plans.check_running(campaign.status, "adding targets")
        found = await self.registry.agencies(codes, "agencies")
        outside = [FieldViolation(f"agencies[{i}].credit_code", "AGENCY_OUTSIDE_CAMPAIGN_REGIONS",
                                  f"the agency is in region {a.region_code}, outside the campaign's regions",
                                  {"region_code": a.region_code})
                   for i, a in enumerate(found) if not directory.in_regions(a.region_code, campaign.regions)]
        outside += [FieldViolation(f"agencies[{i}].credit_code", "AGENCY_NOT_INSPECTABLE",
                                   f"the agency is {a.status}; it cannot be inspected", {"agency_status": a.status})
                    for i, a in enumerate(found) if a.status not in ("active", "suspended")]
        if outside:
            raise InvalidArgument(outside)
        # The campaign's workflow hears of the addition before it commits, and with no transaction
        # open: it may refuse (the campaign is closing), and it waits a while for what it was
        # announced to be on record (an addition that never commits is then dropped).
        await self.workflows.add_targets(campaign.id, AddTargetsOrder(
            request_id=f"{auth.current().subject}:{request.idempotency_key}",
            target_count=campaign.target_count + len(found)))

        async def write(session):
            locked = await self.store.lock_campaign(session, request.campaign_id)
            plans.check_running(locked.status, "adding targets")
            pool = draw.pool_entries(directory.pool_rows(
                await self.store.directory(session, [draw.significant_prefix(r) for r in locked.regions],
                                           self.legal.today()), locked.regions))
            teams = draw.assign([(a.credit_code, a.region_code) for a in found], pool,
                                f"{locked.id}/{locked.additions + 1}", locked.inspectors_per_target)
            added = await self.store.add_targets(session, locked, [
                store.NewTask(a.credit_code, a.name, a.region_code, a.kind, team) for a, team in zip(found, teams)])
            return pb.AddCampaignTargetsResponse(campaign=campaign_message(locked),
                                                 added=[task_message(t, locked) for t in added])
        return await self._once("AddCampaignTargets", request, pb.AddCampaignTargetsResponse, write)

    async def ExtendCampaign(self, request: pb.ExtendCampaignRequest, context) -> pb.ExtendCampaignResponse:
        ends_on = parse_date(request.ends_on)
        campaign = await self._campaign_in_scope(request.campaign_id)
        plans.check_extension(campaign.status, campaign.ends_on, ends_on)
        # The workflow keeps the campaign's clock and decides; the record follows, with no
        # transaction open while the workflow answers.
        await self.workflows.extend(campaign.id, ExtendOrder(
            actor=auth.current().subject, request_id=f"{auth.current().subject}:{request.idempotency_key}",
            ends_on=request.ends_on))

        async def write(session):
            locked = await self.store.lock_campaign(session, request.campaign_id)
            locked.ends_on = max(locked.ends_on, ends_on)
            await session.flush()
            return pb.ExtendCampaignResponse(campaign=campaign_message(locked))
        return await self._once("ExtendCampaign", request, pb.ExtendCampaignResponse, write)

    async def CloseCampaign(self, request: pb.CloseCampaignRequest, context) -> pb.CloseCampaignResponse:
        """No transaction is held while the workflow closes: it writes its report to the same record."""
        campaign = await self._campaign_in_scope(request.campaign_id)
        subject = auth.current().subject
        try:
            plans.check_running(campaign.status, "closing")
            await self.workflows.close(campaign.id, CloseOrder(actor=subject, request_id=f"{subject}:"
                                                                 f"{request.idempotency_key}", reason=request.reason))
        except FailedPrecondition:
            # A retry after the close went through finds the campaign closed early: the same answer.
            closed = await self.store.get_campaign(campaign.id)
            if closed.status != plans.CLOSED_EARLY or (closed.report or {}).get("reason") != request.reason:
                raise
        log.info("campaign closed early", campaign_id=campaign.id)
        return pb.CloseCampaignResponse(campaign=campaign_message(await self.store.get_campaign(campaign.id)))

    # -- tasks --

    async def ListTasks(self, request: pb.ListTasksRequest, context) -> pb.ListTasksResponse:
        principal = auth.current()
        inspector_id = request.inspector_id
        region_prefix = auth.region_prefix(principal.region)
        if principal.role == "inspector":
            if inspector_id and inspector_id != principal.subject:
                raise PermissionDenied("INSPECTOR_SEES_OWN_TASKS", "an inspector sees only their own tasks")
            inspector_id, region_prefix = principal.subject, ""
        where = store.TaskFilter(campaign_id=request.campaign_id, stages=tuple(enum_word(STAGE, s)
                                                                              for s in request.stages),
                                 inspector_id=inspector_id, region_prefix=region_prefix,
                                 overdue_only=request.overdue_only)
        rows, next_token = await self.store.list_tasks(where, request.page_size or DEFAULT_PAGE_SIZE,
                                                       store.decode_page_token(request.page_token))
        return pb.ListTasksResponse(tasks=[task_message(t, c) for t, c in rows], next_page_token=next_token)

    async def GetTask(self, request: pb.GetTaskRequest, context) -> pb.GetTaskResponse:
        task, campaign = await self._task_for_caller(request.task_id)
        return pb.GetTaskResponse(task=task_message(task, campaign))

    async def _task_for_caller(self, task_id: str) -> tuple[store.Task, store.Campaign]:
        """Inspectors reach only the tasks they are assigned to; staff the tasks in their scope."""
        task, campaign = await self.store.get_task(task_id)
        principal = auth.current()
        if principal.role == "inspector":
            if principal.subject not in task.inspector_ids:
                raise PermissionDenied("INSPECTOR_NOT_ASSIGNED",
                                       "an inspector reaches only the tasks they are assigned to")
        else:
            auth.require_region(task.agency_region_code, "the task")
        return task, campaign

    async def _act(self, request, action: TaskAction):
        await self._task_for_caller(request.task_id)
        await self.workflows.act(request.task_id, action)
        task, campaign = await self.store.get_task(request.task_id)
        return task_message(task, campaign)

    def _action(self, name: str, request, **arguments) -> TaskAction:
        principal = auth.current()
        return TaskAction(action=name, actor=principal.subject, actor_role=principal.role,
                            request_id=f"{principal.subject}:{request.idempotency_key}",
                            effective_on=request.effective_on, **arguments)

    async def RecordCheck(self, request: pb.RecordCheckRequest, context) -> pb.RecordCheckResponse:
        outcome = enum_word(OUTCOME, request.outcome)
        category = optional_word(CATEGORY, request.category)
        if outcome != NO_PROBLEM and not category:
            raise InvalidArgument(FieldViolation("category", "CHECK_CATEGORY_REQUIRED",
                                                 "is required for a problem or a violation"))
        action = self._action("check", request, outcome=outcome, category=category, findings=request.findings)
        return pb.RecordCheckResponse(task=await self._act(request, action))

    async def ListPublishedResults(self, request: pb.ListPublishedResultsRequest, context
                                   ) -> pb.ListPublishedResultsResponse:
        rows, next_token = await self.store.published_results(
            request.campaign_id, request.credit_code, request.page_size or DEFAULT_PAGE_SIZE,
            store.decode_page_token(request.page_token))
        return pb.ListPublishedResultsResponse(results=[published_message(t, c) for t, c in rows],
                                               next_page_token=next_token)

    # -- written and read by the workflows --

    async def GetCampaignTargets(self, request: pb.GetCampaignTargetsRequest, context
                                 ) -> pb.GetCampaignTargetsResponse:
        tasks, campaign = await self.store.campaign_targets(request.campaign_id, request.from_position,
                                                            request.limit)
        return pb.GetCampaignTargetsResponse(targets=[task_message(t, campaign) for t in tasks],
                                             target_count=campaign.target_count)

    async def RecordCampaignProgress(self, request: pb.RecordCampaignProgressRequest, context
                                     ) -> pb.RecordCampaignProgressResponse:
        progress = {name: getattr(request.progress, name) for name in PROGRESS_FIELDS if name != "targets"}
        report = None
        if request.HasField("report"):
            report = dict(ending=enum_word(CAMPAIGN_STATUS, request.report.ending), closed_on=request.report.closed_on,
                          reason=request.report.reason,
                          figures={name: getattr(request.report.figures, name) for name in PROGRESS_FIELDS})
        applied = await self.store.record_campaign_progress(
            request.campaign_id, request.revision, progress, enum_word(CAMPAIGN_STATUS, request.status), report)
        return pb.RecordCampaignProgressResponse(applied=applied)

    async def RecordTaskProgress(self, request: pb.RecordTaskProgressRequest, context
                                 ) -> pb.RecordTaskProgressResponse:
        fields = dict(
            stage=enum_word(STAGE, request.stage), outcome=optional_word(OUTCOME, request.outcome),
            category=optional_word(CATEGORY, request.category), findings=request.findings,
            checked_on=parse_date(request.checked_on), rectify_due_on=parse_date(request.rectify_due_on),
            rectify_due_provisional=request.rectify_due_provisional, rechecked_on=parse_date(request.rechecked_on),
            rectified=request.rectified, case_id=request.case_id, publish_due_on=parse_date(request.publish_due_on),
            publish_due_provisional=request.publish_due_provisional, published_on=parse_date(request.published_on),
            overdue=request.overdue, allowed_actions=list(request.allowed_actions))
        return pb.RecordTaskProgressResponse(
            applied=await self.store.record_task_progress(request.task_id, request.revision, fields))


def _task_action_rpc(spec: ActionSpec):
    """The RPC of a task action: the arguments its registry entry names, from its request, sent
    to the task's workflow; the answer is the task's record."""
    answer = getattr(pb, f"{spec.rpc}Response")

    async def rpc(self: InspectionsApi, request, context):
        action = self._action(spec.name, request, **{name: getattr(request, name) for name in spec.arguments})
        return answer(task=await self._act(request, action))
    rpc.__name__ = rpc.__qualname__ = spec.rpc
    return rpc


for _spec in TASK_ACTIONS.values():
    if _spec.rpc not in vars(InspectionsApi):  # RecordCheck reads its outcome and category first
        setattr(InspectionsApi, _spec.rpc, _task_action_rpc(_spec))


# ---- scope ----------------------------------------------------------------------------------------

def require_regions(regions, what: str) -> None:
    for region in regions:
        auth.require_region(region, what)


# ---- messages -------------------------------------------------------------------------------------

def inspector_message(inspector: store.Inspector) -> pb.Inspector:
    return pb.Inspector(
        id=inspector.id, name=inspector.name, office=inspector.office, region_code=inspector.region_code,
        exclusions=[pb.Exclusion(id=e.id, reason=enum_value(REASON, e.reason),
                                 agency_credit_code=e.agency_credit_code or "", region_code=e.region_code or "",
                                 note=e.note, recorded_by=e.recorded_by, recorded_at=timestamp(e.recorded_at))
                    for e in inspector.exclusions],
        created_at=timestamp(inspector.created_at), left_on=format_date(inspector.left_on),
        leaving_reason=inspector.leaving_reason)


def plan_message(plan: store.Plan) -> pb.Plan:
    message = pb.Plan(
        id=plan.id, name=plan.name, region_codes=plan.regions, kinds=[enum_value(KIND, k) for k in plan.kinds],
        all_in_scope=plan.all_in_scope,
        ratios=[pb.SamplingRatio(risk_class=enum_value(RISK, r["risk"]),
                                 kind=enum_value(KIND, r["kind"]) if r["kind"] else 0, region_code=r["region_code"],
                                 basis_points=r["basis_points"]) for r in plan.ratios],
        inspectors_per_target=plan.inspectors_per_target, status=enum_value(PLAN_STATUS, plan.status),
        campaign_id=plan.campaign_id or "", created_by=plan.created_by, created_at=timestamp(plan.created_at))
    if plan.snapshot_hash:
        message.snapshot.CopyFrom(pb.Snapshot(
            content_hash=plan.snapshot_hash, agency_count=plan.snapshot_count, as_of=format_date(plan.snapshot_as_of),
            taken_by=plan.snapshot_taken_by, taken_at=timestamp(plan.snapshot_taken_at),
            seed_source=plan.seed_source, seed_available_on=format_date(plan.seed_available_on),
            pool_hash=plan.pool_hash, algorithm_version=(plan.commitment or {}).get("algorithm_version", ""),
            commitment_sha256=plan.commitment_sha256))
    return message


def draw_record_message(record: store.Draw, pairings_published: bool = True, pairings_shown: bool = True
                        ) -> pb.DrawRecord:
    result = json.loads(record.result)
    if not pairings_shown:
        result["targets"] = [[*target[:4], []] for target in result["targets"]]
    return pb.DrawRecord(
        commitment_sha256=record.commitment_sha256,
        committed_at=timestamp(record.committed_at) if record.committed_at else None,
        pairings_published=pairings_published,
        plan_id=record.plan_id, algorithm_version=record.algorithm_version, seed_value=record.seed_value,
        seed_source=record.seed_source, snapshot_hash=record.snapshot_hash, pool_hash=record.pool_hash,
        result_hash=record.result_hash, population=record.population, inspector_count=record.inspector_count,
        strata=[pb.StratumResult(region_code=region, kind=enum_value(KIND, kind), risk_class=enum_value(RISK, risk),
                                 population=population, basis_points=ratio, drawn=drawn)
                for region, kind, risk, population, ratio, drawn in result["strata"]],
        targets=[pb.DrawnTarget(credit_code=code, agency_name=name, region_code=region, kind=enum_value(KIND, kind),
                                risk_class=enum_value(RISK, risk), inspector_ids=inspectors)
                 for (code, region, kind, risk, inspectors), name in zip(result["targets"], record.target_names)],
        drawn_at=timestamp(record.drawn_at))


PROGRESS_FIELDS = [f.name for f in pb.CampaignProgress.DESCRIPTOR.fields]


def campaign_message(campaign: store.Campaign) -> pb.Campaign:
    progress = pb.CampaignProgress(targets=campaign.target_count,
                                   **{name: getattr(campaign, name) for name in PROGRESS_FIELDS if name != "targets"})
    message = pb.Campaign(
        id=campaign.id, name=campaign.name, kind=enum_value(CAMPAIGN_KIND, campaign.kind),
        theme=[enum_value(CATEGORY, c) for c in campaign.theme], plan_id=campaign.plan_id,
        region_codes=campaign.regions, starts_on=format_date(campaign.starts_on), ends_on=format_date(campaign.ends_on),
        status=enum_value(CAMPAIGN_STATUS, campaign.status), progress=progress, created_by=campaign.created_by,
        created_at=timestamp(campaign.created_at), workflow_id=campaign.id)
    if campaign.report:
        report = campaign.report
        message.report.CopyFrom(pb.CampaignReport(ending=enum_value(CAMPAIGN_STATUS, report["ending"]),
                                                  closed_on=report["closed_on"], reason=report["reason"],
                                                  figures=pb.CampaignProgress(**report["figures"])))
    return message


def task_message(task: store.Task, campaign: store.Campaign) -> pb.Task:
    return pb.Task(
        id=task.id, campaign_id=task.campaign_id, position=task.position,
        agency=pb.TaskAgency(credit_code=task.agency_credit_code, name=task.agency_name,
                             region_code=task.agency_region_code, kind=enum_value(KIND, task.agency_kind)),
        inspector_ids=task.inspector_ids, stage=enum_value(STAGE, task.stage),
        outcome=enum_value(OUTCOME, task.outcome) if task.outcome else 0,
        category=enum_value(CATEGORY, task.category) if task.category else 0, findings=task.findings,
        checked_on=format_date(task.checked_on), rectify_due_on=format_date(task.rectify_due_on),
        rectify_due_provisional=task.rectify_due_provisional, rechecked_on=format_date(task.rechecked_on),
        rectified=task.rectified, case_id=task.case_id, publish_due_on=format_date(task.publish_due_on),
        publish_due_provisional=task.publish_due_provisional, published_on=format_date(task.published_on),
        overdue=task.overdue, due_on=format_date(campaign.ends_on), added=task.added,
        updated_at=timestamp(task.updated_at), allowed_actions=task.allowed_actions or [])


def published_message(task: store.Task, campaign: store.Campaign) -> pb.PublishedResult:
    rectification = "" if task.rechecked_on is None else ("rectified" if task.rectified else "not_rectified")
    return pb.PublishedResult(
        campaign_id=campaign.id, campaign_name=campaign.name, agency_name=task.agency_name,
        credit_code=task.agency_credit_code, region_code=task.agency_region_code,
        outcome=enum_value(OUTCOME, task.outcome), category=enum_value(CATEGORY, task.category) if task.category else 0,
        checked_on=format_date(task.checked_on), rectification=rectification,
        published_on=format_date(task.published_on), plan_id=campaign.plan_id)
