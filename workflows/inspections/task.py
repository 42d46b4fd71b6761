"""One inspection task (检查任务): an agency, its inspectors, the check and its result.

The inspectors record the check as the `act` update: no problem; a problem, which orders a
rectification (责令整改) whose deadline comes from the rules file, then a re-check; or a
violation, which opens a case through the complaints intake with source `inspection`. Not
rectified at the re-check is a violation too. The result is to be published (公示) within the
rules' period after it was reached; a supervisor publishes it, and a missed day makes the task
overdue. Every step writes the task's record in the inspections service and tells the campaign
(a signal, once per event), so that neither lists nor statistics ask workflows one by one."""

from __future__ import annotations

import asyncio
import copy
from datetime import date, datetime, time, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from suite.clock import CHINA
    from workflows.activities.inspections import CaseOrder, InspectionActivities
    from contracts.periods import PeriodPlan, PeriodQuestion
    from workflows.activities.periods import PeriodActivities
    from contracts import search_attributes
    from contracts.inspections import (ACT_UPDATE, ASSIGNED, CLOSED, CONCLUDED, NO_PROBLEM, OUTCOMES, PROBLEM,
                                       RECTIFYING, STATE_QUERY, TASK_ACTIONS, TASK_EVENT_SIGNAL, TASK_WORKFLOW,
                                       TaskAction, TaskEvent, TaskStart, TaskView, VIOLATION, allowed_actions)
    from contracts.provisional import SCHEDULE_PUBLISHED_SIGNAL, SchedulePublished
    from contracts.refusals import deny, refuse, step_failed

CALENDAR_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=4,
                             maximum_interval=timedelta(hours=1))
SERVICE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
ACTIVITY_TIMEOUT = timedelta(seconds=30)
PUBLISH_PERIOD = "publish_inspection_result"
RECTIFY_PERIOD = "rectify_inspection_finding"
# Tasks started before provisional years existed replay without their search attribute.
PROVISIONAL_YEARS_PATCH = "provisional-years"


@workflow.defn(name=TASK_WORKFLOW, sandboxed=False)
class InspectionTaskWorkflow:
    @workflow.init
    def __init__(self, task: TaskStart) -> None:
        self.task = task
        self.view_state = TaskView(task_id=task.task_id, revision=0, stage=ASSIGNED)
        self.last_effective_on = ""
        self.handled: set[str] = set()
        self.lock = asyncio.Lock()
        self.woken = False
        # Provisional years (暂定) each due day rests on, by the view field holding the day.
        self.provisional: dict[str, list[int]] = {}
        self.published_years: set[int] = set()
        self.acting = False

    @workflow.run
    async def run(self, task: TaskStart) -> TaskView:
        while not self._finished():
            wake_at = self._next_wake()
            self.woken = False
            try:
                await workflow.wait_condition(lambda: self.woken, timeout=None if wake_at is None else
                                              max(timedelta(0), wake_at - workflow.now()))
            except asyncio.TimeoutError:
                async with self.lock:
                    await self._on_dates_passed()
            if self.published_years:
                async with self.lock:
                    await self._retime()
        return self.view()

    def _finished(self) -> bool:
        return self.view_state.stage == CLOSED

    def _next_wake(self) -> datetime | None:
        """The day after the publication deadline, while the result is unpublished."""
        state = self.view_state
        if state.publish_due_on and not state.published_on and not state.overdue:
            return self._instant(state.publish_due_on) + timedelta(days=1)
        return None

    async def _on_dates_passed(self) -> None:
        state = self.view_state
        if state.publish_due_on and not state.published_on and state.publish_due_on < self.today().isoformat():
            state.overdue = True
            await self._record(["overdue"])

    # ---- the actions --------------------------------------------------------------------------

    @workflow.query(name=STATE_QUERY)
    def state(self) -> TaskView:
        return self.view()

    @workflow.signal(name=SCHEDULE_PUBLISHED_SIGNAL)
    def schedule_published(self, published: SchedulePublished) -> None:
        self.published_years.update(published.years)
        self.woken = True

    async def _retime(self) -> None:
        """The schedule of a year a due day rested on is out: compute that day again."""
        years, self.published_years = set(self.published_years), set()
        state = self.view_state
        stale = [name for name, rests_on in self.provisional.items() if set(rests_on) & years]
        for name in stale:
            period_id, start_on = {"publish_due_on": (PUBLISH_PERIOD, state.checked_on),
                                   "rectify_due_on": (RECTIFY_PERIOD, state.checked_on)}[name]
            setattr(state, name, await self._due(name, period_id, start_on))
        if stale:
            if state.overdue and state.publish_due_on >= self.today().isoformat():
                state.overdue = False
            await self._record([])

    @workflow.update(name=ACT_UPDATE)
    async def act(self, action: TaskAction) -> TaskView:
        async with self.lock:
            if action.request_id in self.handled:
                return self.view()
            self._check(action)
            on = self._effective_on(action)
            before = (copy.deepcopy(self.view_state), dict(self.provisional))
            self.acting = True
            try:
                events = await getattr(self, f"_do_{action.action}")(action, on)
            except FailureError as failure:
                # Whatever failed half-way (a date, a service) leaves the task as it was.
                self.view_state, self.provisional = before
                workflow.logger.warning("%s of %s failed: %s", action.action, self.task.task_id, failure)
                raise step_failed(failure, "检查任务", action.request_id) from None
            finally:
                self.acting = False
            self.handled.add(action.request_id)
            self.last_effective_on = max(self.last_effective_on, on)
            await self._record(events)
            self.woken = True
        return self.view()

    @act.validator
    def _validate_act(self, action: TaskAction) -> None:
        if action.request_id not in self.handled:
            self._check(action)

    def _check(self, action: TaskAction) -> None:
        if action.action not in TASK_ACTIONS:
            raise refuse("ACTION_UNKNOWN", f"unknown action {action.action!r}", field="action", action=action.action)
        spec = TASK_ACTIONS[action.action]
        roles, stages = spec.roles, spec.stages
        if action.actor_role not in roles:
            raise deny("ACTION_NOT_FOR_ROLE", f"{action.action} is for {', '.join(sorted(roles))}",
                       action=action.action, role=action.actor_role)
        if action.actor_role == "inspector" and action.actor not in self.task.inspectors:
            raise deny("NOT_AN_INSPECTOR_OF_TASK", f"{action.actor} is not an inspector of this task",
                       inspector=action.actor)
        state = self.view_state
        if action.action == "publish" and state.published_on:
            raise refuse("RESULT_ALREADY_PUBLISHED", f"the result was already published on {state.published_on}",
                         published_on=state.published_on)
        if state.stage not in stages:
            raise refuse("ACTION_NOT_IN_TASK_STAGE", f"{action.action} is not possible while the task is {state.stage}",
                         action=action.action, task_stage=state.stage)
        if action.action == "check":
            if action.outcome not in OUTCOMES:
                raise refuse("CHECK_OUTCOME_UNKNOWN", f"unknown outcome {action.outcome!r}", field="outcome",
                             outcome=action.outcome)
            if action.outcome != NO_PROBLEM and not action.category:
                raise refuse("CHECK_CATEGORY_REQUIRED", "a problem or a violation names its category",
                             field="category")
        self._effective_on(action)

    def _effective_on(self, action: TaskAction) -> str:
        today = self.today().isoformat()
        on = action.effective_on or today
        if on > today:
            raise refuse("EFFECTIVE_ON_IN_FUTURE", "effective_on must not be in the future", field="effective_on",
                         today=today)
        if on < self.last_effective_on:
            raise refuse("EFFECTIVE_ON_BEFORE_LAST_STEP",
                         f"effective_on must not be before the task's last step ({self.last_effective_on})",
                         field="effective_on", last_step_on=self.last_effective_on)
        return on

    async def _do_check(self, action: TaskAction, on: str) -> list[str]:
        state = self.view_state
        state.outcome, state.category, state.findings, state.checked_on = (
            action.outcome, action.category, action.findings, on)
        state.publish_due_on = await self._due("publish_due_on", PUBLISH_PERIOD, on)
        events = [f"checked_{action.outcome}"]
        if action.outcome == PROBLEM:
            state.rectify_due_on = await self._due("rectify_due_on", RECTIFY_PERIOD, on)
            state.stage = RECTIFYING
        else:
            state.stage = CONCLUDED
        if action.outcome == VIOLATION:
            events.append(await self._open_case(on, action.findings))
        return events

    async def _do_recheck(self, action: TaskAction, on: str) -> list[str]:
        state = self.view_state
        state.rechecked_on, state.rectified = on, action.rectified
        state.findings = f"{state.findings}\n复查 re-check {on}: {action.findings}"
        state.stage = CLOSED if state.published_on else CONCLUDED
        if action.rectified:
            return ["rectified"]
        return ["not_rectified", await self._open_case(on, f"逾期未整改 not rectified by {state.rectify_due_on}: "
                                                           f"{action.findings}")]

    async def _do_publish(self, action: TaskAction, on: str) -> list[str]:
        state = self.view_state
        state.published_on = on
        if state.stage == CONCLUDED:
            state.stage = CLOSED
        return ["published"]

    async def _open_case(self, on: str, findings: str) -> str:
        task = self.task
        self.view_state.case_id = await workflow.execute_activity_method(
            InspectionActivities.open_case,
            CaseOrder(task_id=task.task_id, credit_code=task.credit_code, category=self.view_state.category,
                      findings=f"检查发现 inspection finding of {task.task_id}: {findings}", occurred_on=on),
            start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=SERVICE_RETRY)
        return "case_opened"

    # ---- helpers ----------------------------------------------------------------------------

    def today(self) -> date:
        return (workflow.now().astimezone(CHINA) - timedelta(days=self.task.calendar_offset_days)).date()

    def _instant(self, legal_day: str) -> datetime:
        day = date.fromisoformat(legal_day) + timedelta(days=self.task.calendar_offset_days)
        return datetime.combine(day, time(0), tzinfo=CHINA)

    async def _due(self, name: str, period_id: str, start_on: str) -> str:
        """The due day of a period, remembering which provisional years it rests on."""
        plan = await self._plan(period_id, start_on)
        self.provisional[name] = plan.provisional_years
        return plan.due_on

    async def _plan(self, period_id: str, start_on: str) -> PeriodPlan:
        """Within an inspector's action the period is computed once, so that a failure answers the
        inspector at once; the task's own re-timing retries until it can count."""
        return await workflow.execute_local_activity_method(
            PeriodActivities.plan_period, PeriodQuestion(self.task.rules_version, period_id, start_on),
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=1) if self.acting else CALENDAR_RETRY)

    def view(self) -> TaskView:
        state = self.view_state
        return TaskView(**{**vars(state), "allowed_actions": allowed_actions(state.stage, state.published_on),
                             "publish_due_provisional": bool(self.provisional.get("publish_due_on")),
                             "rectify_due_provisional": bool(self.provisional.get("rectify_due_on"))})

    async def _record(self, events: list[str]) -> None:
        """Write the task's record, then tell the campaign what happened. A campaign that has
        closed keeps its report as it was: the task's record alone goes on."""
        self.view_state.revision += 1
        await workflow.execute_activity_method(InspectionActivities.record_task_progress, self.view(),
                                               start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=SERVICE_RETRY)
        if workflow.patched(PROVISIONAL_YEARS_PATCH):
            years = sorted({str(year) for rests_on in self.provisional.values() for year in rests_on})
            key = search_attributes.PROVISIONAL_YEARS
            workflow.upsert_search_attributes([key.value_set(years) if years else key.value_unset()])
        campaign = workflow.get_external_workflow_handle(self.task.campaign_id)
        for kind in events:
            try:
                await campaign.signal(TASK_EVENT_SIGNAL, TaskEvent(self.task.task_id, kind))
            except FailureError:
                workflow.logger.info("campaign %s no longer runs; %s not counted", self.task.campaign_id, kind)
