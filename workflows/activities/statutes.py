"""Calendar arithmetic for workflows: the last day and the warning day of a statutory period
under a case's rules version, on the working-day calendar as the operator has loaded it.

These run as (local) activities so their answers are recorded in the workflow's history: a
schedule loaded later, or a new rules version, never changes a date a case already relies on.
A year with no schedule fails with the calendar's own message, and the activity is retried
until an operator loads it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from temporalio import activity

from rules.statutes import Rules
from rules.workdays import CalendarError, Pause, WorkingDayCalendar


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


@dataclass
class MonthsQuestion:
    start_on: str
    months: int


@lru_cache(maxsize=16)
def rules_of(version: str) -> Rules:
    current = Rules.load()
    return current if current.version == version else Rules.load_version(version)


class StatuteActivities:
    def __init__(self, calendar: WorkingDayCalendar | None = None):
        self._calendar = calendar

    def calendar(self, fresh: bool = False) -> WorkingDayCalendar:
        if self._calendar is None or fresh:
            self._calendar = WorkingDayCalendar.load()
        return self._calendar

    def _with_calendar(self, compute):
        """An operator may have loaded a year's schedule since the calendar was read: look again
        once before failing."""
        try:
            return compute(self.calendar())
        except CalendarError:
            return compute(self.calendar(fresh=True))

    @activity.defn(name="statutes.rules")
    async def rules(self, version: str) -> dict[str, Any]:
        return rules_of(version).to_data()

    @activity.defn(name="statutes.plan_period")
    async def plan_period(self, question: PeriodQuestion) -> PeriodPlan:
        rules = rules_of(question.rules_version)
        period = rules.periods[question.period_id]
        start = date.fromisoformat(question.started_on)
        pauses = [Pause(date.fromisoformat(a), date.fromisoformat(b)) for a, b in question.pauses]

        def compute(calendar: WorkingDayCalendar) -> PeriodPlan:
            due = calendar.deadline(start, period, question.extra, pauses)
            warn = ("" if period.counts == "before" else
                    calendar.warning_date(start, period, rules.warning_percent, question.extra, pauses).isoformat())
            return PeriodPlan(period_id=period.id, started_on=question.started_on, due_on=due.isoformat(),
                              warn_on=warn, length=period.length + question.extra, unit=period.unit,
                              legal_source=period.legal_source, description=period.description.zh,
                              suspended_by=list(period.suspended_by))
        return self._with_calendar(compute)

    @activity.defn(name="statutes.last_day_of_months")
    async def last_day_of_months(self, question: MonthsQuestion) -> str:
        """The last day of a term of whole months starting on `start_on` (e.g. a suspension from
        new business): the day before the same day `months` later."""
        start = date.fromisoformat(question.start_on)
        return self._with_calendar(
            lambda calendar: (calendar.add_months(start, question.months, roll_forward=False)
                              - timedelta(days=1)).isoformat())
