"""Calendar arithmetic shared by the worker's period activities and the complaints service (which
places a new case's first period at intake): a period of a rules version on the working-day
calendar, with its warning day and the provisional years it rests on."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

from contracts.periods import PeriodPlan, PeriodQuestion
from rules import Pause, Rules, WorkingDayCalendar


@lru_cache(maxsize=16)
def rules_of(version: str) -> Rules:
    """The rules of a version (kept unchanged once a case runs on it: rules/history/README.md)."""
    return Rules.load_version(version)


def plan_period(rules: Rules, calendar: WorkingDayCalendar, question: PeriodQuestion) -> PeriodPlan:
    period = rules.periods[question.period_id]
    start = date.fromisoformat(question.started_on)
    pauses = [Pause(date.fromisoformat(a), date.fromisoformat(b)) for a, b in question.pauses]
    due = calendar.deadline(start, period, question.extra, pauses)
    warn = ("" if period.counts == "before" else
            calendar.warning_date(start, period, rules.warning_percent, question.extra, pauses).isoformat())
    return PeriodPlan(period_id=period.id, started_on=question.started_on, due_on=due.isoformat(),
                      warn_on=warn, length=period.length + question.extra, unit=period.unit,
                      legal_source=period.legal_source, description=period.description.zh,
                      suspended_by=list(period.suspended_by),
                      provisional_years=list(calendar.provisional_years(start, period, due)))
