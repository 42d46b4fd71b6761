"""One case, from the report to the archive (案件办理): the workflow that holds its state, runs its
clock and takes handlers' and supervisors' actions.

Where things live: the state in one value (`state.py`), the clock and its periods (`clock.py`),
what each action does, grouped by stage (`actions/`, declared once in
`contracts.case_actions`), the view and the case record written to the complaints service
(`record.py`), the penalty rules (`procedure.py`). This module only wires them to Temporal: the
run loop that sleeps until the next date that matters, the `act` update, the `merge_in` update
(another case merged into this one), the signals that a reporter joined and that a year's
holiday schedule is out, and the `state` query.

The workflow runs outside the workflow sandbox: re-importing its modules into a fresh sandbox
for every case cost the worker more than all else it does to open one. Its code does only
deterministic things (no I/O, no clock but workflow.now(), no randomness), and tests replay
whole cases' histories against it."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import FailureError

from contracts.case import (ACT_UPDATE, JOIN_SIGNAL, MERGE_IN_UPDATE, STATE_QUERY, WORKFLOW_NAME, CaseAction,
                            CaseMerger, CaseStart, CaseView, ReporterRef, TimelineItem)
from contracts.case_actions import CLOSED
from contracts.provisional import SCHEDULE_PUBLISHED_SIGNAL, SchedulePublished
from contracts.refusals import refuse, step_failed
from rules.statutes import Rules
from workflows.case import actions, clock, merging, record
from workflows.case.state import CaseState


@workflow.defn(name=WORKFLOW_NAME, sandboxed=False)
class CaseWorkflow:
    # The start's state is there before any handler runs: an update that arrives with the start,
    # in the case's first workflow task, is validated against the case, not against nothing.
    @workflow.init
    def __init__(self, start: CaseStart) -> None:
        self.start = start
        self.rules: Rules | None = None
        self.state = CaseState(region_code=start.region_code, last_effective_on=start.received_on,
                               agency=start.agency, practitioner=start.practitioner, subject_kind=start.subject_kind)
        self.reporters: list[ReporterRef] = list(start.reporters)
        self.revision = 0
        self.recorded_entries = 0
        self.handled_requests: set[str] = set()
        self.published_years: set[int] = set()
        self.lock = asyncio.Lock()
        self.acting = False
        self.woken = False
        self.finished = False

    @workflow.run
    async def run(self, start: CaseStart) -> CaseView:
        async with self.lock:
            await clock.open_case(self)
            self.note("system", "received", internal=False, on=start.received_on)
            await record.write(self)
        while not self.finished:
            wake_at = clock.next_wake(self)
            self.woken = False
            try:
                await workflow.wait_condition(lambda: self.woken or self.finished,
                                              timeout=None if wake_at is None else
                                              max(timedelta(0), wake_at - workflow.now()))
            except asyncio.TimeoutError:
                async with self.lock:
                    if await clock.on_dates_passed(self):
                        await record.write(self)
                    self._finish_if_done()
            if self.published_years:
                async with self.lock:
                    years, self.published_years = sorted(self.published_years), set()
                    if await clock.retime(self, years):
                        await record.write(self)
        return record.view(self)

    def _finish_if_done(self) -> None:
        if self.state.stage == CLOSED and not any(x.state == "running" for x in self.state.periods.values()):
            self.finished = True

    @workflow.query(name=STATE_QUERY)
    def view(self) -> CaseView:
        return record.view(self)

    @workflow.signal(name=SCHEDULE_PUBLISHED_SIGNAL)
    def schedule_published(self, published: SchedulePublished) -> None:
        self.published_years.update(published.years)
        self.woken = True

    @workflow.signal(name=JOIN_SIGNAL)
    async def join(self, reporter: ReporterRef) -> None:
        """Another reporter's report joined the case (并案). A signal, so that the complaints
        service's outbox can hand it to Temporal without waiting for a worker; sent again, it
        changes nothing, and a case closed meanwhile keeps its reporters (the report stays on
        record, and its reporter's page shows the outcome)."""
        async with self.lock:
            if self.state.stage == CLOSED or any(r.reference == reporter.reference for r in self.reporters):
                return
            self.reporters.append(reporter)
            self.note("system", "reporter_joined")
            await record.write(self)

    @workflow.update(name=ACT_UPDATE)
    async def act(self, action: CaseAction) -> CaseView:
        return await self._take(action.action, action, lambda: actions.check(self, action),
                                lambda on: actions.apply(self, action, on))

    @act.validator
    def _validate_act(self, action: CaseAction) -> None:
        if action.request_id not in self.handled_requests:
            actions.check(self, action)

    @workflow.update(name=MERGE_IN_UPDATE)
    async def merge_in(self, merger: CaseMerger) -> CaseView:
        """Another case on the same conduct is merged into this one (并案): its reporters join."""
        return await self._take("merge_in", merger, lambda: merging.check_merge_in(self, merger),
                                lambda on: merging.merge_in(self, merger, on))

    @merge_in.validator
    def _validate_merge_in(self, merger: CaseMerger) -> None:
        if merger.request_id not in self.handled_requests:
            merging.check_merge_in(self, merger)

    async def _take(self, name: str, request: CaseAction | CaseMerger, check: Callable[[], None],
                    apply: Callable[[str], Awaitable[None]]) -> CaseView:
        """Take a handler's or supervisor's request once: checked again (another update may have
        moved the case meanwhile), applied on its legal day, and recorded; one that fails half-way
        leaves the case as it was."""
        await workflow.wait_condition(lambda: self.rules is not None)  # the case is open (run's first step)
        async with self.lock:
            if request.request_id in self.handled_requests:
                return record.view(self)
            check()
            on = self.effective_on(request)
            before, reporters = copy.deepcopy(self.state), list(self.reporters)
            self.acting = True
            try:
                await apply(on)
            except FailureError as failure:
                # A refusal found half-way (a date, a service) leaves the case as it was.
                self.state, self.reporters = before, reporters
                workflow.logger.warning("%s of %s failed: %s", name, self.start.case_id, failure)
                raise step_failed(failure, "案件", request.request_id) from None
            finally:
                self.acting = False
            self.handled_requests.add(request.request_id)
            self.state.last_effective_on = max(self.state.last_effective_on, on)
            await record.write(self)
            self._finish_if_done()
            self.woken = True
        return record.view(self)

    def effective_on(self, action: CaseAction | CaseMerger) -> str:
        """The legal day an action takes effect: today unless it says an earlier one, never before
        the case's last step."""
        today = clock.today(self).isoformat()
        on = action.effective_on or today
        if on > today:
            raise refuse("EFFECTIVE_ON_IN_FUTURE", "effective_on must not be in the future", field="effective_on",
                         today=today)
        if on < self.state.last_effective_on:
            raise refuse("EFFECTIVE_ON_BEFORE_LAST_STEP",
                         f"effective_on must not be before the case's last step ({self.state.last_effective_on})",
                         field="effective_on", last_step_on=self.state.last_effective_on)
        return on

    def note(self, actor: str, action: str, internal: bool = True, **data: object) -> None:
        """Put what happened on the timeline as its code and the values its words need, as text
        (`contracts.timeline`): the readers word it, so rewording an entry changes no history."""
        self.state.timeline.append(TimelineItem(revision=self.revision + 1, at=workflow.now().isoformat(),
                                                actor=actor, action=action, internal=internal,
                                                data={name: str(value) for name, value in data.items()}))
