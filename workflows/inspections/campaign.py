"""A campaign (专项整治行动, or a routine double-random inspection): it fans out to every target
in batches of child workflows (one inspection task each), counts what its tasks tell it, writes
its progress to the inspections service's record, and closes with a report when its period ends
or a supervisor closes it early. Tasks carry no search attributes: they are found through the
service's record, and indexing ten thousand of them would slow the fan-out for nothing.

Both inspection workflows run outside the workflow sandbox: a campaign starts thousands of tasks
at once, and re-importing the workflow module into a fresh sandbox for each of them costs more
than everything else the worker does for a task. Their code does only deterministic things (no
I/O, no clock but workflow.now(), no randomness).

Histories stay small: targets are read a batch at a time from the service (never carried in the
workflow's input), and the campaign continues as new whenever its history grows past its
history limit (3,000 events by default; a batch adds about two events per child), handing on only
its cursor and its figures. Tasks outlive their campaign (ParentClosePolicy.ABANDON): closing
early drops the targets not started yet and keeps the tasks under way; the report counts them as
they were when it was written."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from suite.clock import CHINA
    from workflows.activities.inspections import CampaignRecord, InspectionActivities, TargetBatch, TargetsQuestion
    from contracts.inspections import (ADD_TARGETS_UPDATE, AddTargetsOrder, CAMPAIGN_WORKFLOW, CLOSE_UPDATE,
                                       CampaignProgressView, CampaignReport, CampaignState, CloseOrder, EXTEND_UPDATE,
                                       ExtendOrder, PROGRESS_QUERY, TASK_EVENT_SIGNAL, TaskEvent, TaskStart)
    from contracts.refusals import refuse
    from workflows.inspections.task import InspectionTaskWorkflow

SERVICE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
# How long the campaign waits for an announced addition to commit (about a minute and a half)
# before it takes the service's count as it stands: an addition whose transaction failed after
# its update never will.
ADDITION_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30),
                             maximum_attempts=8)
ACTIVITY_TIMEOUT = timedelta(seconds=60)


@workflow.defn(name=CAMPAIGN_WORKFLOW, sandboxed=False)
class CampaignWorkflow:
    @workflow.init
    def __init__(self, state: CampaignState) -> None:
        self.s = state
        self.closing: CloseOrder | None = None
        self.report: CampaignReport | None = None
        self.reported = False
        self.dirty = False
        self.woken = False
        self.last_write: datetime | None = None

    @workflow.run
    async def run(self, state: CampaignState) -> CampaignReport:
        start = self.s.start
        if self.s.figures.started == 0 and self.today().isoformat() < start.starts_on:
            try:
                await workflow.wait_condition(lambda: self.closing is not None,
                                              timeout=self._instant(start.starts_on) - workflow.now())
            except asyncio.TimeoutError:
                pass
        while self.closing is None and not self._period_over():
            figures = self.s.figures
            if figures.started < figures.targets:
                await self._start_batch()
                await self._record()
            else:
                await self._idle()
            if self._history_long():
                await workflow.wait_condition(workflow.all_handlers_finished)
                self.s.runs += 1
                workflow.continue_as_new(self.s)
        self.report = self._closing_report()
        await self._record()
        self.reported = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.report

    # ---- fan-out ------------------------------------------------------------------------------

    async def _start_batch(self) -> None:
        start, figures = self.s.start, self.s.figures
        batch = await self._next_targets()
        figures.targets = max(figures.targets, batch.target_count)
        if not batch.targets:
            # The service holds fewer targets than announced (an addition that never committed).
            figures.targets = figures.started
            return
        outcomes = await asyncio.gather(*(self._start_task(target) for target in batch.targets),
                                        return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, WorkflowAlreadyStartedError):
                raise outcome
        figures.started += len(batch.targets)

    async def _next_targets(self) -> TargetBatch:
        """The targets after those started, waiting a while for an addition announced but not
        yet committed; after that, what the service holds."""
        start, figures = self.s.start, self.s.figures
        try:
            return await workflow.execute_activity_method(
                InspectionActivities.campaign_targets,
                TargetsQuestion(start.campaign_id, figures.started, start.batch_size, announced=figures.targets),
                start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=ADDITION_RETRY)
        except ActivityError:
            return await workflow.execute_activity_method(
                InspectionActivities.campaign_targets, TargetsQuestion(start.campaign_id, figures.started,
                                                                       start.batch_size),
                start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=SERVICE_RETRY)

    async def _start_task(self, target) -> None:
        start = self.s.start
        await workflow.start_child_workflow(
            InspectionTaskWorkflow.run,
            TaskStart(task_id=target.task_id, campaign_id=start.campaign_id, credit_code=target.credit_code,
                        inspectors=target.inspectors, rules_version=start.rules_version,
                        calendar_offset_days=start.calendar_offset_days),
            id=target.task_id, parent_close_policy=ParentClosePolicy.ABANDON,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)

    async def _idle(self) -> None:
        """Everything is started: wait for the tasks' news, a supervisor, or the end of the period,
        and write the progress at most once per interval."""
        self.woken = False
        try:
            await workflow.wait_condition(lambda: self.dirty or self.woken or self.closing is not None,
                                          timeout=self._until_end())
        except asyncio.TimeoutError:
            return
        if self.dirty and self.closing is None:
            interval = timedelta(seconds=self.s.start.progress_interval_seconds)
            wait = interval if self.last_write is None else self.last_write + interval - workflow.now()
            if wait > timedelta(0):
                try:
                    await workflow.wait_condition(lambda: self.woken or self.closing is not None,
                                                  timeout=min(wait, self._until_end()))
                except asyncio.TimeoutError:
                    pass
            await self._record()

    def _history_long(self) -> bool:
        info = workflow.info()
        return info.get_current_history_length() > self.s.start.history_limit or info.is_continue_as_new_suggested()

    # ---- what tasks and supervisors say --------------------------------------------------------

    @workflow.signal(name=TASK_EVENT_SIGNAL)
    def task_event(self, event: TaskEvent) -> None:
        self.s.figures.count(event.kind)
        self.dirty = True

    @workflow.query(name=PROGRESS_QUERY)
    def progress(self) -> CampaignProgressView:
        return CampaignProgressView(campaign_id=self.s.start.campaign_id, status=self._status(),
                                      ends_on=self.s.start.ends_on, figures=self.s.figures, runs=self.s.runs,
                                      history_length=workflow.info().get_current_history_length())

    @workflow.update(name=CLOSE_UPDATE)
    async def close(self, order: CloseOrder) -> CampaignReport:
        if self.closing is None:
            self.closing = order
        # Answer once the report is on the record, so that the caller reads it there.
        await workflow.wait_condition(lambda: self.reported)
        return self.report

    @close.validator
    def _validate_close(self, order: CloseOrder) -> None:
        if self.closing is not None and self.closing.request_id != order.request_id:
            raise refuse("CAMPAIGN_ALREADY_CLOSING", "the campaign is already closing")

    @workflow.update(name=EXTEND_UPDATE)
    def extend(self, order: ExtendOrder) -> CampaignProgressView:
        self.s.start.ends_on = max(self.s.start.ends_on, order.ends_on)
        self.woken = True
        return self.progress()

    @extend.validator
    def _validate_extend(self, order: ExtendOrder) -> None:
        if self.closing is not None:
            raise refuse("CAMPAIGN_CLOSING", "the campaign is closing")
        if order.ends_on < self.s.start.ends_on:
            raise refuse("CAMPAIGN_ALREADY_RUNS_LONGER", f"the campaign already runs until {self.s.start.ends_on}",
                         field="ends_on", ends_on=self.s.start.ends_on)

    @workflow.update(name=ADD_TARGETS_UPDATE)
    def add_targets(self, order: AddTargetsOrder) -> CampaignProgressView:
        self.s.figures.targets = max(self.s.figures.targets, order.target_count)
        self.woken = True
        return self.progress()

    @add_targets.validator
    def _validate_add_targets(self, order: AddTargetsOrder) -> None:
        if self.closing is not None:
            raise refuse("CAMPAIGN_CLOSING", "the campaign is closing")

    # ---- the end --------------------------------------------------------------------------------

    def _closing_report(self) -> CampaignReport:
        figures = self.s.figures
        figures.not_started = figures.targets - figures.started
        if self.closing is not None:
            return CampaignReport(ending="closed_early", closed_on=self.today().isoformat(),
                                    reason=self.closing.reason, figures=figures)
        # Tasks still unchecked when the period ends missed the campaign's date.
        figures.overdue += figures.started - figures.checked
        return CampaignReport(ending="ended", closed_on=self.today().isoformat(),
                                reason=f"the campaign's period ended on {self.s.start.ends_on}", figures=figures)

    def _status(self) -> str:
        if self.report is not None:
            return self.report.ending
        return "running"

    async def _record(self) -> None:
        self.s.revision += 1
        self.dirty = False
        self.last_write = workflow.now()
        await workflow.execute_activity_method(
            InspectionActivities.record_campaign_progress,
            CampaignRecord(campaign_id=self.s.start.campaign_id, revision=self.s.revision, status=self._status(),
                           figures=self.s.figures, report=self.report),
            start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=SERVICE_RETRY)

    # ---- the legal calendar -------------------------------------------------------------------

    def today(self) -> date:
        return (workflow.now().astimezone(CHINA) - timedelta(days=self.s.start.calendar_offset_days)).date()

    def _instant(self, legal_day: str) -> datetime:
        day = date.fromisoformat(legal_day) + timedelta(days=self.s.start.calendar_offset_days)
        return datetime.combine(day, time(0), tzinfo=CHINA)

    def _period_over(self) -> bool:
        return self.today().isoformat() > self.s.start.ends_on

    def _until_end(self) -> timedelta:
        return max(timedelta(0), self._instant(self.s.start.ends_on) + timedelta(days=1) - workflow.now())
