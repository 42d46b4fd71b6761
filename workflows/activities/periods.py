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
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from temporalio import activity

from rules.statutes import Rules
from rules.workdays import CalendarError, Pause, WorkingDayCalendar
from suite import logging as suite_logging

log = suite_logging.get("periods")


@dataclass
class PeriodQuestion:
    rules_version: str
    period_id: str
    started_on: str
    # Extension length granted so far, in the period's unit (Period.extension_length).
    extra: int = 0
    # Stops of the clock so far: [stopped_on, resumed_on] pairs.
    pauses: list[list[str]] = field(default_factory=list)


@dataclass
class PeriodPlan:
    period_id: str
    started_on: str
    due_on: str
    # Empty for a period that counts back from an event (it has no elapsed share).
    warn_on: str
    length: int
    unit: str
    legal_source: str
    description: str
    suspended_by: list[str]
    # Years without the State Council's schedule that due_on and warn_on rest on (暂定).
    provisional_years: list[int] = field(default_factory=list)


@dataclass
class MonthsQuestion:
    start_on: str
    months: int


@lru_cache(maxsize=16)
def rules_of(version: str) -> Rules:
    current = Rules.load()
    return current if current.version == version else Rules.load_version(version)


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
        rules = rules_of(question.rules_version)
        period = rules.periods[question.period_id]
        start = date.fromisoformat(question.started_on)
        pauses = [Pause(date.fromisoformat(a), date.fromisoformat(b)) for a, b in question.pauses]

        calendar = self.calendar
        due = calendar.deadline(start, period, question.extra, pauses)
        warn = ("" if period.counts == "before" else
                calendar.warning_date(start, period, rules.warning_percent, question.extra, pauses).isoformat())
        return PeriodPlan(period_id=period.id, started_on=question.started_on, due_on=due.isoformat(),
                          warn_on=warn, length=period.length + question.extra, unit=period.unit,
                          legal_source=period.legal_source, description=period.description.zh,
                          suspended_by=list(period.suspended_by),
                          provisional_years=list(calendar.provisional_years(start, period, due)))

    @activity.defn(name="statutes.last_day_of_months")
    async def last_day_of_months(self, question: MonthsQuestion) -> str:
        """The last day of a term of whole months starting on `start_on` (e.g. a suspension from
        new business): the day before the same day `months` later."""
        start = date.fromisoformat(question.start_on)
        return (self.calendar.add_months(start, question.months, roll_forward=False) - timedelta(days=1)).isoformat()
