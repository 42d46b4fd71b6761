"""The calendar watcher: when a year's holiday schedule (节假日安排) becomes official, by
`ipss calendar import`, a schedule file or a new chinesecalendar release, every running workflow
whose dates were provisional on that year computes them again, without a restart.

It runs in the worker, beside the activities whose calendar it reloads: every few seconds it
reads the schedules again, then asks Temporal's visibility for the running workflows whose
`ProvisionalYears` name an official year and signals each `SchedulePublished`. A workflow drops
the year from its search attribute once re-timed, so the question answers nothing in between;
the watcher keeps no state of its own but the signals it sent lately, which it does not repeat
while the workflow is still at work on them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from temporalio.client import Client
from temporalio.service import RPCError

from suite import logging as suite_logging
from contracts import search_attributes
from workflows.activities.periods import PeriodActivities
from contracts.provisional import SCHEDULE_PUBLISHED_SIGNAL, SchedulePublished

log = suite_logging.get("calendar_watch")

EVERY_SECONDS = 10.0
# The newest official years are the only ones a running workflow can still hold as provisional.
RECENT_YEARS = 4
SIGNALS_IN_FLIGHT = 64
# A signal the server accepted is delivered: a workflow signalled this recently is still at work on
# it (ten thousand take minutes), and is signalled again only if it still lists the year after
# this long (a worker whose calendar was read before the schedule came may have planned on it).
RESIGNAL_AFTER_SECONDS = 900.0


class CalendarWatch:
    def __init__(self, client: Client, periods: PeriodActivities):
        self._client = client
        self._periods = periods
        self._signalled: dict[str, float] = {}

    async def run(self, stopping: asyncio.Event, every: float = EVERY_SECONDS) -> None:
        while not stopping.is_set():
            try:
                await self.once()
            except RPCError as error:  # Temporal away for a moment: the next round asks again
                log.warning("calendar watch round failed", error=str(error))
            try:
                await asyncio.wait_for(stopping.wait(), every)
            except TimeoutError:
                pass

    async def once(self) -> int:
        """One round: reload the calendar, signal the workflows still provisional on an official
        year; answers how many were signalled."""
        published = await asyncio.to_thread(self._periods.reload)
        if published:
            log.info("holiday schedules loaded", years=published)
        years = self._periods.calendar.years[-RECENT_YEARS:]
        return await self.signal_provisional(years)

    async def signal_provisional(self, years: Sequence[int]) -> int:
        if not years:
            return 0
        now = time.monotonic()
        self._signalled = {key: at for key, at in self._signalled.items() if now - at < RESIGNAL_AFTER_SECONDS}
        # Counting is cheap where listing a backlog of thousands is not: while no more workflows are
        # provisional than were signalled lately, those are still at work and there is nothing new.
        query = provisional_query(years)
        if (await self._client.count_workflows(query)).count <= len(self._signalled):
            return 0
        slots = asyncio.Semaphore(SIGNALS_IN_FLIGHT)
        sent: list[asyncio.Task] = []
        async for execution in self._client.list_workflows(query):
            held = sorted({int(y) for y in execution.typed_search_attributes.get(
                search_attributes.PROVISIONAL_YEARS) or ()} & set(years))
            key = f"{execution.id}/{execution.run_id}/{held}"
            if not held or key in self._signalled:
                continue
            self._signalled[key] = now
            await slots.acquire()
            sent.append(asyncio.create_task(self._signal(execution.id, execution.run_id, held, slots)))
        await asyncio.gather(*sent)
        if sent:
            log.info("workflows re-timed", count=len(sent), years=list(years))
        return len(sent)

    async def _signal(self, workflow_id: str, run_id: str, years: list[int], slots: asyncio.Semaphore) -> None:
        try:
            await self._client.get_workflow_handle(workflow_id, run_id=run_id).signal(
                SCHEDULE_PUBLISHED_SIGNAL, SchedulePublished(years))
        except RPCError as error:  # finished meanwhile: nothing left to re-time
            log.info("not re-timed", workflow_id=workflow_id, error=str(error))
        finally:
            slots.release()


def provisional_query(years: Sequence[int]) -> str:
    """Running workflows whose dates rest on one of `years` as provisional."""
    listed = ", ".join(f"'{year}'" for year in years)
    return f"{search_attributes.PROVISIONAL_YEARS.name} IN ({listed}) AND ExecutionStatus = 'Running'"
