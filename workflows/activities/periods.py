"""Calendar arithmetic for workflows: the last day and the warning day of a statutory period
under a case's rules version, on the working-day calendar as the operator has loaded it.

These run as (local) activities so their answers are recorded in the workflow's history: a
schedule loaded later, or a new rules version, never changes a date a case already relies on
unless the case asks again (re-timing, see contracts.provisional). A year without the State
Council's schedule is counted provisionally, and each plan names the provisional years it rests
on. The calendar is read when the worker starts and again by `reload` (the calendar watcher): a
schedule file that does not read keeps the last good calendar, so a broken file never stops a
case."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from temporalio import activity

from contracts.periods import PeriodPlan, PeriodQuestion
from rules.workdays import CalendarError, WorkingDayCalendar
from suite import logging as suite_logging
from suite.periods import plan_period, rules_of

log = suite_logging.get("periods")


@dataclass
class MonthsQuestion:
    start_on: str
    months: int


class PeriodActivities:
    """The period plans of the workflows' statutory periods, and the rules they rest on. The
    activities keep the names they were first registered under (statutes.*), which the histories
    of running workflows name."""

    def __init__(self, source: Callable[[], WorkingDayCalendar] = WorkingDayCalendar.load):
        """`source` reads the schedules (the package and the operator's files by default)."""
        self._source = source
        self.calendar = source()

    def reload(self) -> list[int]:
        """Read the schedules again; answer the years whose official schedule is new or changed
        since the last read. A calendar that does not read is not taken."""
        try:
            fresh = self._source()
        except CalendarError as error:
            log.error("calendar not reloaded; the last good one stays", error=str(error))
            return []
        published = [year for year in fresh.years if fresh.schedules[year] != self.calendar.schedules.get(year)]
        self.calendar = fresh
        return published

    @activity.defn(name="statutes.rules")
    async def rules(self, version: str) -> dict[str, Any]:
        return rules_of(version).to_data()

    @activity.defn(name="statutes.plan_period")
    async def plan_period(self, question: PeriodQuestion) -> PeriodPlan:
        return plan_period(rules_of(question.rules_version), self.calendar, question)

    @activity.defn(name="statutes.last_day_of_months")
    async def last_day_of_months(self, question: MonthsQuestion) -> str:
        """The last day of a term of whole months starting on `start_on` (e.g. a suspension from
        new business): the day before the same day `months` later."""
        start = date.fromisoformat(question.start_on)
        return (self.calendar.add_months(start, question.months, roll_forward=False) - timedelta(days=1)).isoformat()
