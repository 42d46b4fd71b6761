"""The credit lists' clocks (信用名录管理): on the day after the annual-report window closes (1 April
by default), every patent agency that has not filed the previous year's report goes on the
abnormal-operations list (经营异常名录); on the day an agency's three years on it run out, it moves
to the serious-violation list (严重违法失信名单). Both days come from the rules file; the registry
keeps the entries and does the listing in bulk, so one workflow serves the whole register with
one durable timer at a time: it sleeps until the nearer of the two days, acts, and sleeps again.

Removals are not the workflow's: an agency asks, and the registry decides on its record."""

from __future__ import annotations

from datetime import date, timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy, WorkflowIDConflictPolicy

with workflow.unsafe.imports_passed_through():
    from contracts import search_attributes
    from contracts.credit_lists import (CREDIT_LISTS_WORKFLOW, VIEW_QUERY, WORKFLOW_ID, CreditListsState,
                                         CreditListsView)
    from rules.statutes import Rules
    from suite.clock import CHINA
    from workflows.activities.registry import ListingOrder, RegistryActivities
    from workflows.agency_suspension import lift_moment

REPORT_WINDOW = "annual_report_window"
SERVICE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
# A listing of a whole register is one statement; it may take a while on a large one.
LISTING_TIMEOUT = timedelta(minutes=10)
RULES_TIMEOUT = timedelta(seconds=10)
# Each year adds a few events; a fresh run every ten years keeps the history short.
RUNS_BEFORE_CONTINUING = 10


@activity.defn(name="credit_lists.listing_day")
async def listing_day(report_year: int) -> str:
    """The day non-filers of `report_year` are listed: the day after next year's window, by the
    rules in force (a local activity: the answer is recorded in the history)."""
    return Rules.load().windows[REPORT_WINDOW].day_after(report_year + 1).isoformat()


@workflow.defn(name=CREDIT_LISTS_WORKFLOW)
class CreditListsWorkflow:
    def __init__(self) -> None:
        self.view_ = CreditListsView(listed_through_year=0, next_listing_on="", next_move_on="", wakes_on="")

    @workflow.query(name=VIEW_QUERY)
    def view(self) -> CreditListsView:
        return self.view_

    @workflow.run
    async def run(self, state: CreditListsState) -> None:
        if not state.listed_through_year:
            state.listed_through_year = await self._listed_before_start(state)
        self.view_.listed_through_year = state.listed_through_year
        for _ in range(RUNS_BEFORE_CONTINUING):
            today = self._today(state)
            listing_on = date.fromisoformat(await self._listing_day(state.listed_through_year + 1))
            moves = await self._move(today)
            next_move = date.fromisoformat(moves) if moves else None
            wakes_on = min(listing_on, next_move) if next_move else listing_on
            self.view_.next_listing_on, self.view_.next_move_on = listing_on.isoformat(), moves
            self.view_.wakes_on = wakes_on.isoformat()
            wake_at = lift_moment((wakes_on - timedelta(days=1)).isoformat(), state.calendar_offset_days)
            workflow.upsert_search_attributes([search_attributes.NEXT_DEADLINE.value_set(wake_at)])
            if wake_at > workflow.now():  # a timer of nothing would still cost the server's second
                await workflow.sleep(wake_at - workflow.now())
            if wakes_on == listing_on:
                await self._list(state.listed_through_year + 1, listing_on)
                state.listed_through_year += 1
                self.view_.listed_through_year = state.listed_through_year
        workflow.continue_as_new(state)

    async def _listed_before_start(self, state: CreditListsState) -> int:
        """A first start lists nobody for a year whose listing day has passed: that listing was
        the office's before the suite kept the lists. On the listing day itself it lists."""
        today = self._today(state)
        last_year = today.year - 1
        passed = date.fromisoformat(await self._listing_day(last_year)) < today
        return last_year if passed else last_year - 1

    def _today(self, state: CreditListsState) -> date:
        return (workflow.now().astimezone(CHINA) - timedelta(days=state.calendar_offset_days)).date()

    async def _listing_day(self, report_year: int) -> str:
        return await workflow.execute_local_activity(listing_day, report_year, start_to_close_timeout=RULES_TIMEOUT,
                                                     retry_policy=SERVICE_RETRY)

    async def _list(self, report_year: int, listed_on: date) -> None:
        self.view_.last_listed = await workflow.execute_activity_method(
            RegistryActivities.list_non_filers, ListingOrder(report_year, listed_on.isoformat()),
            start_to_close_timeout=LISTING_TIMEOUT, retry_policy=SERVICE_RETRY)

    async def _move(self, today: date) -> str:
        """Move whoever is due by today; the next day anyone is."""
        result = await workflow.execute_activity_method(
            RegistryActivities.move_to_serious_list, today.isoformat(), start_to_close_timeout=LISTING_TIMEOUT,
            retry_policy=SERVICE_RETRY)
        if result.moved:
            self.view_.last_moved = result.moved
        return result.next_move_on


async def start_credit_lists(client: Client, task_queue: str, calendar_offset_days: int = 0) -> None:
    """Start the office's CreditLists workflow, or find it running (the worker does, as it starts)."""
    await client.start_workflow(
        CREDIT_LISTS_WORKFLOW, CreditListsState(calendar_offset_days=calendar_offset_days), id=WORKFLOW_ID,
        task_queue=task_queue, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
